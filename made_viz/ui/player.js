// The sampling player: draws a precomputed SamplingRun at any position, and plays it in the
// browser (the whole run is already here, so playing needs no server round trip per frame).
//
// The server stays the authority on the position. The player runs ahead of it only while
// playing, and for a moment after it reports a position of its own (the trigger value
// "position": where Pause stopped it, the end of playback, or a button click it took over).
// `moves` counts the server's moves of the run, so a server move (slider, Reset while playing)
// is told apart from a rerun that merely repeats the old position.
//
// Streamlit calls this module's function again on every data change (every rerun) but runs
// the returned cleanup only when the component unmounts; so the state, the listeners and the
// animation loop live on parentElement and are installed once.

const TICKS_PER_SECOND = 30;  // the speed control counts pixels per tick of this clock
const MAX_CATCH_UP_MS = 200;  // after a stalled frame, catch up a little, never leap
const NEXT = "#ff6a00";
const RGB = {
  ink: [17, 17, 27], paper: [255, 255, 255], pending: [74, 120, 208], faintInk: [138, 144, 160],
  receptive: [16, 160, 96], raises: [215, 48, 31], lowers: [43, 108, 176], empty: [238, 241, 246],
};
const BLUES = [[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];

function blues(p) {
  const x = Math.min(Math.max(p, 0), 1) * (BLUES.length - 1);
  const k = Math.min(Math.floor(x), BLUES.length - 2), t = x - k;
  return BLUES[k].map((v, j) => v + (BLUES[k + 1][j] - v) * t);
}

function prepare(S, data) {
  const D = data.order.length;
  S.D = D;
  S.side = data.side;
  S.order = Int32Array.from(data.order);
  S.final = Uint8Array.from(data.final, (ch) => (ch === "1" ? 1 : 0));
  S.probs = Float64Array.from(data.probs);
  S.loglik = Float64Array.from(data.loglik);
  S.uniforms = Float64Array.from(data.uniforms);
  S.rank = new Int32Array(D);
  S.order.forEach((pixel, k) => { S.rank[pixel] = k; });
  S.llMin = Math.min(...S.loglik, -1e-9);
  S.tile = document.createElement("canvas");  // one MNIST pixel per canvas pixel, then scaled
  S.tile.width = S.tile.height = S.side;
}

function setupCanvas(canvas, cssWidth, cssHeight) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(cssWidth * dpr), h = Math.round(cssHeight * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
    canvas.style.width = `${cssWidth}px`;
    canvas.style.height = `${cssHeight}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.imageSmoothingEnabled = false;
  return ctx;
}

// RGBA of the digit at position `pos`: drawn pixels in ink or paper, the others tinted by how
// soon they come (darker = sooner), so the ordering itself is visible.
function digitPixels(S, pos, faint) {
  const { D, final, rank } = S;
  const rgba = new Uint8ClampedArray(4 * D);
  const remaining = Math.max(1, D - pos);
  for (let i = 0; i < D; i++) {
    let c;
    if (rank[i] < pos) {
      c = final[i] ? (faint ? RGB.faintInk : RGB.ink) : RGB.paper;
    } else {
      const alpha = faint ? 0.1 : 0.45 - 0.37 * (rank[i] - pos) / remaining;
      c = mix(RGB.paper, RGB.pending, alpha);
    }
    rgba.set(c, 4 * i);
    rgba[4 * i + 3] = 255;
  }
  return rgba;
}

function mix(base, over, alpha) {
  return [0, 1, 2].map((j) => base[j] + (over[j] - base[j]) * alpha);
}

// Colours of the receptive field or the sensitivity over the digit.
function overlayPixels(S, rgba, views, kind) {
  for (let i = 0; i < S.D; i++) {
    let over = null, alpha = 0;
    if (kind === "receptive") {
      if (views.receptive[i] === "1") { over = RGB.receptive; alpha = 0.45; }
    } else {
      const s = views.sensitivity[i];
      if (s !== 0) { over = s > 0 ? RGB.raises : RGB.lowers; alpha = 0.9 * Math.abs(s); }
    }
    if (over) rgba.set(mix([rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]], over, alpha), 4 * i);
  }
  return rgba;
}

function probPixels(S, pos) {
  const rgba = new Uint8ClampedArray(4 * S.D);
  for (let i = 0; i < S.D; i++) {
    rgba.set(S.rank[i] < pos ? blues(S.probs[i]) : RGB.empty, 4 * i);
    rgba[4 * i + 3] = 255;
  }
  return rgba;
}

// Draw a side x side RGBA image with each pixel a crisp cell x cell square.
function blit(ctx, S, rgba, cell) {
  S.tile.getContext("2d").putImageData(new ImageData(rgba, S.side, S.side), 0, 0);
  ctx.drawImage(S.tile, 0, 0, S.side * cell, S.side * cell);
}

function grid(ctx, side, cell) {
  const n = side * cell;
  ctx.strokeStyle = "rgba(0,0,0,0.07)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let k = 1; k < side; k++) {
    ctx.moveTo(k * cell + 0.5, 0); ctx.lineTo(k * cell + 0.5, n);
    ctx.moveTo(0, k * cell + 0.5); ctx.lineTo(n, k * cell + 0.5);
  }
  ctx.stroke();
}

// Under an overlay the ink is redrawn as inner squares, so the digit stays readable.
function inkDots(ctx, S, pos, cell) {
  const inset = Math.max(1, Math.round(cell * 0.28));
  ctx.fillStyle = `rgb(${RGB.ink})`;
  for (let k = 0; k < pos; k++) {
    const i = S.order[k];
    if (S.final[i]) {
      ctx.fillRect((i % S.side) * cell + inset, Math.floor(i / S.side) * cell + inset,
                   cell - 2 * inset, cell - 2 * inset);
    }
  }
}

function markNext(ctx, S, pixel, cell) {
  const x = (pixel % S.side) * cell, y = Math.floor(pixel / S.side) * cell;
  const w = Math.max(2, Math.round(cell / 5));
  ctx.fillStyle = "rgba(255,106,0,0.25)";
  ctx.fillRect(x, y, cell, cell);
  ctx.strokeStyle = NEXT;
  ctx.lineWidth = w;
  ctx.strokeRect(x + w / 2, y + w / 2, cell - w, cell - w);
}

function paintCurve(canvas, S, pos, start, width) {
  const height = canvas.clientHeight || 120;
  const ctx = setupCanvas(canvas, width, height);
  const left = 44, right = 8, top = 18, bottom = 16;
  const w = width - left - right, h = height - top - bottom;
  const X = (k) => left + w * (k - start) / Math.max(1, S.D - start);
  const Y = (v) => top + h * (v / S.llMin);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px sans-serif";
  ctx.fillStyle = "#6b7080";
  ctx.fillText("running log-likelihood (nats)", left, 11);
  ctx.textAlign = "right";
  ctx.fillText("0", left - 4, top + 4);
  ctx.fillText(S.llMin.toFixed(0), left - 4, top + h);
  ctx.textAlign = "left";
  ctx.fillText(`pixels drawn: ${start} … ${S.D}`, left, height - 3);
  ctx.strokeStyle = "#d5dbe6";
  ctx.strokeRect(left, top, w, h);
  ctx.strokeStyle = "#31333f";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  for (let k = start; k <= pos; k++) {
    if (k === start) ctx.moveTo(X(k), Y(S.loglik[k])); else ctx.lineTo(X(k), Y(S.loglik[k]));
  }
  ctx.stroke();
  ctx.fillStyle = NEXT;
  ctx.beginPath();
  ctx.arc(X(pos), Y(S.loglik[pos]), 3.5, 0, 2 * Math.PI);
  ctx.fill();
}

function formatP(p) {
  return p === 0 || p >= 0.001 ? p.toFixed(3) : p.toExponential(1);
}

// How far below the top of the page an element sits, whatever is scrolled.
function pageTop(element) {
  let top = element.getBoundingClientRect().top + window.scrollY;
  for (let node = element; node; node = node.parentNode || node.host) {
    if (node instanceof Element && node.scrollTop) top += node.scrollTop;
  }
  return top;
}

// Pixels per MNIST pixel: data.size at most, and small enough that the digit fits the window
// with the panel beside it (a projector's screen is often small).
function cellSize(root, S) {
  const panel = S.data.lecture ? 280 : 300;
  const byWidth = (root.clientWidth || 1000) - panel - 24;
  const byHeight = window.innerHeight - pageTop(root) - 16;
  return Math.max(8, Math.floor(Math.min(S.data.size, byWidth, byHeight) / S.side));
}

function draw(root, S) {
  const data = S.data, pos = S.pos, D = S.D, side = S.side;
  if (!S.cell || !S.playing) S.cell = cellSize(root, S);  // playing never re-lays out
  const cell = S.cell;
  // The views (receptive field, sensitivity) come from the server for its position: after a
  // click they are one rerun behind, so the last ones stay until the new ones arrive; while
  // playing they would be far behind, so they are hidden.
  const views = data.views;
  const fresh = !S.playing && views && views.receptive.length === D;
  const showOverlay = fresh && data.overlay !== "none";
  const digit = setupCanvas(root.querySelector("canvas.digit"), cell * side, cell * side);
  const pixels = digitPixels(S, pos, false);
  blit(digit, S, showOverlay ? overlayPixels(S, pixels, views, data.overlay) : pixels, cell);
  if (cell >= 8) grid(digit, side, cell);  // so single pixels can be pointed at and counted
  if (showOverlay) inkDots(digit, S, pos, cell);
  if (pos < D) markNext(digit, S, S.order[pos], cell);
  root.classList.toggle("stale", S.playing);
  root.dataset.position = String(pos);
  root.dataset.playing = S.playing ? "true" : "false";

  root.querySelector(".drawn").textContent = String(pos);
  root.querySelector(".total").textContent = String(D);
  const pvalue = root.querySelector(".pvalue"), fill = root.querySelector(".fill");
  const nextline = root.querySelector(".nextline");
  if (pos < D) {
    const pixel = S.order[pos], p = S.probs[pixel];
    nextline.textContent =
      `next: pixel ${pixel} (row ${Math.floor(pixel / side)}, column ${pixel % side})`;
    pvalue.textContent = formatP(p);
    fill.style.width = `${(100 * p).toFixed(1)}%`;
  } else {
    nextline.textContent = "done: every pixel is drawn";
    pvalue.textContent = "–";
    fill.style.width = "0";
  }
  const last = root.querySelector(".lastline");
  if (pos > data.start) {
    const pixel = S.order[pos - 1], u = S.uniforms[pixel], p = S.probs[pixel];
    // the sign comes from the drawn value itself: u and p are rounded here, the decision was not
    last.textContent = `last pixel: u = ${formatP(u)} ${S.final[pixel] ? "<" : "≥"}` +
      ` p = ${formatP(p)}, so x = ${S.final[pixel]}`;
  } else {
    last.textContent = "each pixel is 1 exactly when its uniform draw u < p";
  }
  // A log-likelihood is never above 0; a tiny negative one reads 0.00, not -0.00.
  root.querySelector(".llvalue").textContent =
    S.loglik[pos].toFixed(2).replace(/^-0\.00$/, "0.00");
  if (data.lecture) return;  // lecture mode hides the secondary views: skip drawing them

  const panel = root.querySelector(".panel");
  paintCurve(root.querySelector("canvas.llcurve"), S, pos, data.start,
             Math.max(260, panel.clientWidth - 4));
  const small = 5;
  blit(setupCanvas(root.querySelector("canvas.probmap"), small * side, small * side),
       S, probPixels(S, pos), small);
  for (const [kind, selector] of [["receptive", "canvas.rf"], ["sensitivity", "canvas.sens"]]) {
    const ctx = setupCanvas(root.querySelector(selector), small * side, small * side);
    const faint = digitPixels(S, pos, true);
    blit(ctx, S, fresh ? overlayPixels(S, faint, views, kind) : faint, small);
    if (fresh) inkDots(ctx, S, pos, small);
    if (pos < D) markNext(ctx, S, S.order[pos], small);
  }
  root.querySelector(".rfcount").textContent = fresh && pos < D
    ? `(${[...views.receptive].filter((ch) => ch === "1").length} pixels)` : "";
}

function tick(S, now) {
  S.raf = 0;
  if (!S.playing) return;
  const elapsed = Math.min(now - S.lastTime, MAX_CATCH_UP_MS);
  S.lastTime = now;
  S.fraction += elapsed / 1000 * TICKS_PER_SECOND * S.data.speed;
  const advance = Math.floor(S.fraction);
  if (advance > 0) {
    S.fraction -= advance;
    S.pos = Math.min(S.D, S.pos + advance);
    S.frames.push(now);
    while (S.frames.length && now - S.frames[0] > 1000) S.frames.shift();
    S.root.dataset.fps = String(S.frames.length);
    if (S.pos >= S.D) {
      S.playing = false;
      S.report(S.pos);
    }
    draw(S.root, S);
  }
  if (S.playing) S.raf = requestAnimationFrame((t) => tick(S, t));
}

// Step, Step row, Finish and Reset are Streamlit buttons, but their result is already known
// here (the run is precomputed). So a click on one is taken over: the new position is drawn at
// once and sent to the server as an absolute position, like a Pause report. Absolute positions
// survive Streamlit merging quick clicks into one rerun, where counting clicks would not. Where
// this code is not running (tests without a browser), the buttons work on the server as usual.
function onClick(S, event) {
  const button = event.target instanceof Element ? event.target.closest("button") : null;
  if (!button || button.disabled) return;
  const play = S.data.keys && S.data.keys.play;
  if (play && button.closest(`.st-key-${play}`) && S.data.playing && !S.playing
      && S.inflight.length) {
    // "Pause" clicked after playback ended here, before the server heard of the end (the
    // label is a rerun behind). Sent on, it would start the run over: nothing plays, so
    // there is nothing to pause.
    event.preventDefault();
    event.stopPropagation();
    return;
  }
  if (S.playing) return;
  for (const [key, move] of Object.entries(S.data.buttons || {})) {
    if (!button.closest(`.st-key-${key}`)) continue;
    event.preventDefault();
    event.stopPropagation();  // Streamlit never sees this click: the report replaces it
    const target = move === "end" ? S.D : move === "start" ? S.start : Math.min(S.D, S.pos + move);
    if (target !== S.pos) {
      S.pos = target;
      draw(S.root, S);
      S.report(target);
    }
    return;
  }
}

// A presenter's clicker sends arrow keys: Right steps, Shift+Right steps a row, "p" plays.
function onKey(S, event) {
  const keys = S.data.keys, target = event.target;
  if (!keys || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  if (target instanceof Element &&
      target.closest("input, textarea, select, [role=slider], [contenteditable]")) return;
  const key = event.key === "ArrowRight" || event.key === "PageDown"
    ? (event.shiftKey ? keys.step_row : keys.step)
    : (event.key === "p" ? keys.play : null);
  const button = key && document.querySelector(`.st-key-${key} button`);
  if (button && !button.disabled) {
    event.preventDefault();
    button.click();
  }
}

export default function (component) {
  const { parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".made-player");
  if (!root || !component.data) return undefined;
  const data = JSON.parse(component.data.json);  // one string: see player.py
  const S = parentElement.__madePlayer || (parentElement.__madePlayer = {
    runId: null, moves: -1, serverPos: 0, pos: 0, playing: false, raf: 0, frames: [],
    inflight: [], listeners: null,
  });
  const newRun = S.runId !== data.run_id;
  const moved = data.moves !== S.moves;
  if (newRun) prepare(S, data);
  Object.assign(S, { runId: data.run_id, moves: data.moves, serverPos: data.position,
                     start: data.start, data, root });
  // Positions we sent that the server has not confirmed yet, oldest first.
  S.report = (position) => {
    S.inflight.push(position);
    clearTimeout(S.inflightTimer);
    S.inflightTimer = setTimeout(() => {  // a lost report must not leave us ahead for good
      if (S.inflight.length && !S.playing) { S.inflight = []; S.pos = S.serverPos; draw(root, S); }
    }, 5000);
    // Tagged with the run: a report still on its way when the seed changes must not move
    // the new run.
    setTriggerValue("position", { run: S.runId, position });
  };
  if (newRun) {
    Object.assign(S, { pos: data.position, playing: false, inflight: [] });
  } else if (moved && S.inflight.includes(data.position)) {
    // The server confirmed one of our positions; later ones may still be on their way.
    S.inflight = S.inflight.slice(S.inflight.lastIndexOf(data.position) + 1);
    if (!S.inflight.length && !S.playing) S.pos = data.position;
  } else if (moved) {
    S.inflight = [];  // the server moved the run itself (the slider, Reset while playing)
    S.pos = data.position;
  } else if (!S.playing && !S.inflight.length) {
    S.pos = data.position;  // idle: the server is the authority
  }
  root.classList.toggle("lecture", !!data.lecture);

  if (data.playing) {
    if (!S.playing && !S.inflight.length && S.pos < S.D) {
      Object.assign(S, { playing: true, lastTime: performance.now(), fraction: 0, frames: [] });
    }
  } else if (S.playing) {
    S.playing = false;  // Pause: tell the server where we stopped
    if (S.pos !== data.position) S.report(S.pos);
  }
  if (S.playing && !S.raf) S.raf = requestAnimationFrame((t) => tick(S, t));

  // One set of page-wide listeners, for the player mounted last: a remounted player (a new
  // element, a new state) must not leave its predecessor catching clicks for a dead component.
  const previous = window.__madePlayerActive;
  if (previous !== S || !S.listeners) {
    if (previous && previous !== S && previous.listeners) {
      document.removeEventListener("click", previous.listeners.click, true);
      document.removeEventListener("keydown", previous.listeners.keydown);
      window.removeEventListener("resize", previous.listeners.resize);
    }
    S.listeners = {
      click: (e) => onClick(S, e),
      keydown: (e) => onKey(S, e),
      resize: () => { S.cell = 0; draw(S.root, S); },
    };
    document.addEventListener("click", S.listeners.click, true);
    document.addEventListener("keydown", S.listeners.keydown);
    window.addEventListener("resize", S.listeners.resize);
    window.__madePlayerActive = S;
  }
  draw(root, S);  // sets data-position, which makes the player visible (player.css)
  return () => {
    // Streamlit also calls this when newer data overtook this call while its module was still
    // loading (on the first mount, a quick rerun): the player is still on the page then, and
    // tearing its listeners down would drop a key pressed before the next call. Only an
    // unmount takes the player off the page.
    if (root.isConnected || !S.listeners) return;
    cancelAnimationFrame(S.raf);
    clearTimeout(S.inflightTimer);
    Object.assign(S, { raf: 0, playing: false });
    document.removeEventListener("click", S.listeners.click, true);
    document.removeEventListener("keydown", S.listeners.keydown);
    window.removeEventListener("resize", S.listeners.resize);
    S.listeners = null;
    if (window.__madePlayerActive === S) window.__madePlayerActive = null;
  };
}

// The sampling player: draws a precomputed SamplingRun at any position, and plays it in the
// browser (the whole run is already here, so playing needs no server round trip per frame).
//
// Streamlit calls this function again whenever `data` changes (every rerun). State that must
// survive those calls lives on parentElement: the local position while playing, the last
// position the server sent. The server stays the authority on the position: when it moves
// (Step, slider, Reset, a new seed) we jump there; when we stop playing we report where we
// stopped, as the trigger value "position".

const TICK_MS = 1000 / 30;  // the speed control counts pixels per tick of this clock
const MAX_TICKS = 6;        // after a stalled frame, catch up a little, never leap
const INK = "#11111b", PAPER = "#ffffff", NEXT = "#ff6a00";
const BLUES = [[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];

function blues(p) {
  const x = Math.min(Math.max(p, 0), 1) * (BLUES.length - 1);
  const k = Math.min(Math.floor(x), BLUES.length - 2), t = x - k;
  const c = BLUES[k].map((v, j) => Math.round(v + (BLUES[k + 1][j] - v) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function prepare(S, data) {
  const D = data.order.length;
  S.D = D;
  S.side = data.side;
  S.order = Int32Array.from(data.order);
  S.final = Uint8Array.from(data.final, (ch) => ch === "1" ? 1 : 0);
  S.probs = Float64Array.from(data.probs);
  S.loglik = Float64Array.from(data.loglik);
  S.uniforms = Float64Array.from(data.uniforms);
  S.rank = new Int32Array(D);
  S.order.forEach((pixel, k) => { S.rank[pixel] = k; });
  S.llMin = Math.min(...S.loglik, -1e-9);
}

function setupCanvas(canvas, cssWidth, cssHeight) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(cssWidth * dpr), h = Math.round(cssHeight * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w; canvas.height = h;
    canvas.style.width = `${cssWidth}px`; canvas.style.height = `${cssHeight}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.imageSmoothingEnabled = false;
  return ctx;
}

// The digit as it stands at position `pos`: drawn pixels in ink or paper, the rest tinted by
// how soon they come (darker = sooner), so the ordering itself is visible.
function paintDigit(ctx, S, pos, cell, faint) {
  const { D, side, order, final, rank } = S;
  const n = side * cell;
  ctx.fillStyle = PAPER;
  ctx.fillRect(0, 0, n, n);
  const remaining = Math.max(1, D - pos);
  for (let i = 0; i < D; i++) {
    const x = (i % side) * cell, y = Math.floor(i / side) * cell, k = rank[i];
    if (k < pos) {
      if (final[i]) { ctx.fillStyle = faint ? "#8a90a0" : INK; ctx.fillRect(x, y, cell, cell); }
    } else {
      const alpha = faint ? 0.10 : 0.45 - 0.37 * (k - pos) / remaining;
      ctx.fillStyle = `rgba(74,120,208,${alpha.toFixed(3)})`;
      ctx.fillRect(x, y, cell, cell);
    }
  }
  if (cell >= 8) {  // a faint grid, so single pixels can be pointed at and counted
    ctx.strokeStyle = "rgba(0,0,0,0.07)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let k = 1; k < side; k++) {
      ctx.moveTo(k * cell + 0.5, 0); ctx.lineTo(k * cell + 0.5, n);
      ctx.moveTo(0, k * cell + 0.5); ctx.lineTo(n, k * cell + 0.5);
    }
    ctx.stroke();
  }
  if (pos < D) markNext(ctx, S, order[pos], cell);
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

// Overlay colours over the digit; ink pixels are redrawn as an inner square on top, so the
// digit stays readable under the colours.
function paintOverlay(ctx, S, views, kind, cell, pos) {
  const { D, side, final, rank } = S;
  for (let i = 0; i < D; i++) {
    const x = (i % side) * cell, y = Math.floor(i / side) * cell;
    if (kind === "receptive") {
      if (views.receptive[i] === "1") {
        ctx.fillStyle = "rgba(16,160,96,0.45)";
        ctx.fillRect(x, y, cell, cell);
      }
    } else {
      const s = views.sensitivity[i];
      if (s !== 0) {
        ctx.fillStyle = s > 0 ? `rgba(215,48,31,${(0.9 * s).toFixed(3)})`
                              : `rgba(43,108,176,${(-0.9 * s).toFixed(3)})`;
        ctx.fillRect(x, y, cell, cell);
      }
    }
  }
  const inset = Math.max(1, Math.round(cell * 0.28));
  ctx.fillStyle = INK;
  for (let i = 0; i < D; i++) {
    if (rank[i] < pos && final[i]) {
      ctx.fillRect((i % side) * cell + inset, Math.floor(i / side) * cell + inset,
                   cell - 2 * inset, cell - 2 * inset);
    }
  }
}

function paintProbMap(ctx, S, pos, cell) {
  const { D, side, probs, rank } = S;
  for (let i = 0; i < D; i++) {
    ctx.fillStyle = rank[i] < pos ? blues(probs[i]) : "#eef1f6";
    ctx.fillRect((i % side) * cell, Math.floor(i / side) * cell, cell, cell);
  }
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
  ctx.fillText(`pixels drawn: 0 … ${S.D - start}`, left, height - 3);
  ctx.strokeStyle = "#d5dbe6";
  ctx.strokeRect(left, top, w, h);
  ctx.strokeStyle = "#31333f";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  for (let k = start; k <= pos; k++) {
    const x = X(k), y = Y(S.loglik[k]);
    if (k === start) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  }
  ctx.stroke();
  ctx.fillStyle = NEXT;
  ctx.beginPath();
  ctx.arc(X(pos), Y(S.loglik[pos]), 3.5, 0, 2 * Math.PI);
  ctx.fill();
}

function formatP(p) {
  if (p === 0 || p >= 0.001) return p.toFixed(3);
  return p.toExponential(1);
}

function draw(root, S) {
  const data = S.data, pos = S.pos, D = S.D;
  const cell = Math.max(4, Math.floor(data.size / S.side));
  const digit = setupCanvas(root.querySelector("canvas.digit"), cell * S.side, cell * S.side);
  // The views (receptive field, sensitivity) are computed on the server for its position:
  // after a Step they are one rerun behind, so keep the last ones until the new ones arrive;
  // while playing they would be far behind, so hide them.
  const views = data.views;
  const fresh = views && !S.playing && views.receptive.length > 0;
  paintDigit(digit, S, pos, cell, false);
  if (fresh && data.overlay !== "none") {
    paintOverlay(digit, S, views, data.overlay, cell, pos);
    if (pos < D) markNext(digit, S, S.order[pos], cell);
  }
  root.classList.toggle("stale", S.playing);
  root.dataset.position = String(pos);
  root.dataset.playing = S.playing ? "true" : "false";

  root.querySelector(".drawn").textContent = String(pos);
  root.querySelector(".total").textContent = String(D);
  const pvalue = root.querySelector(".pvalue"), fill = root.querySelector(".fill");
  if (pos < D) {
    const pixel = S.order[pos], p = S.probs[pixel];
    root.querySelector(".nextline").textContent =
      `next: pixel ${pixel} (row ${Math.floor(pixel / S.side)}, column ${pixel % S.side})`;
    pvalue.textContent = formatP(p);
    fill.style.width = `${(100 * p).toFixed(1)}%`;
  } else {
    root.querySelector(".nextline").textContent = "done: every pixel is drawn";
    pvalue.textContent = "–";
    fill.style.width = "0";
  }
  const last = root.querySelector(".lastline");
  if (pos > data.start) {
    const pixel = S.order[pos - 1], u = S.uniforms[pixel], p = S.probs[pixel];
    last.textContent = `last pixel: u = ${formatP(u)} ${u < p ? "<" : "≥"} p = ${formatP(p)},` +
      ` so x = ${S.final[pixel]}`;
  } else {
    last.textContent = "each pixel is 1 exactly when its uniform draw u < p";
  }
  root.querySelector(".llvalue").textContent = S.loglik[pos].toFixed(2);
  if (data.lecture) return;  // lecture mode hides the secondary views: skip drawing them

  const panel = root.querySelector(".panel");
  paintCurve(root.querySelector("canvas.llcurve"), S, pos, data.start, Math.max(260, panel.clientWidth - 4));
  const small = 5;
  paintProbMap(setupCanvas(root.querySelector("canvas.probmap"), small * S.side, small * S.side), S, pos, small);
  for (const kind of ["receptive", "sensitivity"]) {
    const ctx = setupCanvas(root.querySelector(kind === "receptive" ? "canvas.rf" : "canvas.sens"),
                            small * S.side, small * S.side);
    paintDigit(ctx, S, pos, small, true);
    if (fresh) paintOverlay(ctx, S, views, kind, small, pos);
    if (pos < D) markNext(ctx, S, S.order[pos], small);
  }
  const rfCount = root.querySelector(".rfcount");
  rfCount.textContent = fresh && pos < D
    ? `(${[...views.receptive].filter((ch) => ch === "1").length} pixels)` : "";
}

// Step, Step row, Finish and Reset are Streamlit buttons, but their result is already known
// here (the run is precomputed). So a click on one is taken over: the new position is drawn at
// once and sent to the server as an absolute position, like a Pause report. Absolute positions
// survive Streamlit merging quick clicks into one rerun, where counting clicks would not. Where
// this code is not running (tests without a browser), the buttons work on the server as usual.
function buttonTarget(S, move) {
  if (move === "end") return S.D;
  if (move === "start") return S.start;
  return Math.min(S.D, S.pos + move);
}

function tick(S, now) {
  S.raf = 0;
  if (!S.playing) return;
  const ticks = Math.floor((now - S.lastTick) / TICK_MS);
  if (ticks > 0) {
    S.lastTick = ticks > MAX_TICKS ? now : S.lastTick + ticks * TICK_MS;
    S.pos = Math.min(S.D, S.pos + Math.min(ticks, MAX_TICKS) * S.data.speed);
    S.frames.push(now);
    while (S.frames.length && now - S.frames[0] > 1000) S.frames.shift();
    S.root.dataset.fps = String(S.frames.length);
    if (S.pos >= S.D) {
      S.playing = false;
      S.report(S.pos);
    }
    draw(S.root, S);
    if (!S.playing) return;
  }
  S.raf = requestAnimationFrame((t) => tick(S, t));
}

function onClick(S, event) {
  const button = event.target instanceof Element ? event.target.closest("button") : null;
  if (!button || button.disabled || S.playing) return;
  for (const [key, move] of Object.entries(S.data.optimistic || {})) {
    if (!button.closest(`.st-key-${key}`)) continue;
    event.preventDefault();
    event.stopPropagation();  // Streamlit never sees this click: the report below replaces it
    const target = buttonTarget(S, move);
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
  if (button && !button.disabled) { event.preventDefault(); button.click(); }
}

// Streamlit calls this again on every data change but runs the returned cleanup only when the
// component unmounts: listeners and the animation loop are therefore installed once, on S.
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".made-player");
  if (!root || !data) return undefined;
  const S = parentElement.__madePlayer || (parentElement.__madePlayer = {
    runId: null, moves: -1, serverPos: 0, pos: 0, playing: false, raf: 0, frames: [],
    inflight: [], listeners: null,
  });
  const newRun = S.runId !== data.run_id;
  const moved = data.moves !== S.moves;
  if (newRun) prepare(S, data);
  S.runId = data.run_id;
  S.moves = data.moves;
  S.serverPos = data.position;
  S.start = data.start;
  S.data = data;
  S.root = root;
  // Positions we sent and the server has not confirmed yet, oldest first.
  S.report = (position) => {
    S.inflight.push(position);
    clearTimeout(S.inflightTimer);
    S.inflightTimer = setTimeout(() => {  // never stay ahead of the server for good
      if (S.inflight.length && !S.playing) { S.inflight = []; S.pos = S.serverPos; draw(S.root, S); }
    }, 5000);
    setTriggerValue("position", position);
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
      S.playing = true;
      S.lastTick = performance.now();
      S.frames = [];
    }
  } else if (S.playing) {
    S.playing = false;  // Pause: tell the server where we stopped
    if (S.pos !== data.position) S.report(S.pos);
  }
  if (S.playing && !S.raf) S.raf = requestAnimationFrame((t) => tick(S, t));

  if (!S.listeners) {
    S.listeners = { click: (e) => onClick(S, e), keydown: (e) => onKey(S, e) };
    document.addEventListener("click", S.listeners.click, true);
    document.addEventListener("keydown", S.listeners.keydown);
  }
  draw(root, S);
  return () => {
    cancelAnimationFrame(S.raf);
    S.raf = 0;
    S.playing = false;
    clearTimeout(S.inflightTimer);
    if (S.listeners) {
      document.removeEventListener("click", S.listeners.click, true);
      document.removeEventListener("keydown", S.listeners.keydown);
      S.listeners = null;
    }
  };
}

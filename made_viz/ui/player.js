// The sampling player: every control and read-out of the step-by-step view. The whole run
// (order, final image, probabilities, uniforms, running log-likelihood) arrives as data, so
// Step, Step row, Play, Finish, Reset, the speed, the history scrubber and the keyboard all
// work here, in the next frame, with no server round trip.
//
// The player owns the position. The server learns it through the component's state value
// "position" ({run, position}) only where a view of its own needs it: the receptive field and
// sensitivity (shown beside the digit unless in lecture mode, or over it as an overlay) once
// the player comes to rest, and the Export tab or any other control the moment the user
// reaches for it (see onOutside). A rerun never moves the player: it takes the server's
// position only when it is mounted and when the run changes (a new seed, model or ordering).
//
// Streamlit calls this module's function again on every data change (every rerun) but runs
// the returned cleanup only when the component unmounts; so the state, the listeners and the
// animation loop live on parentElement and are installed once.

const TICKS_PER_SECOND = 30;  // the speed control counts pixels per tick of this clock
const MAX_CATCH_UP_MS = 200;  // after a stalled frame, catch up a little, never leap
const REST_MS = 120;  // a move is reported once the player has rested this long
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
  S.probColours = new Uint8ClampedArray(4 * D);
  S.probs.forEach((p, i) => { S.probColours.set([...blues(p), 255], 4 * i); });
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
// (Drawn on every frame of Play: it writes the channels itself, allocating nothing per pixel.)
function digitPixels(S, pos, faint) {
  const { D, final, rank } = S;
  const rgba = new Uint8ClampedArray(4 * D);
  const remaining = Math.max(1, D - pos), ink = faint ? RGB.faintInk : RGB.ink;
  const [pr, pg, pb] = RGB.paper, [qr, qg, qb] = RGB.pending;
  for (let i = 0, k = 0; i < D; i++, k += 4) {
    if (rank[i] < pos) {
      const c = final[i] ? ink : RGB.paper;
      rgba[k] = c[0]; rgba[k + 1] = c[1]; rgba[k + 2] = c[2];
    } else {
      const alpha = faint ? 0.1 : 0.45 - 0.37 * (rank[i] - pos) / remaining;
      rgba[k] = pr + (qr - pr) * alpha;
      rgba[k + 1] = pg + (qg - pg) * alpha;
      rgba[k + 2] = pb + (qb - pb) * alpha;
    }
    rgba[k + 3] = 255;
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
  const rgba = S.probColours.slice();  // each pixel's colour once drawn (prepare)
  const [er, eg, eb] = RGB.empty;
  for (let i = 0, k = 0; i < S.D; i++, k += 4) {
    if (S.rank[i] >= pos) { rgba[k] = er; rgba[k + 1] = eg; rgba[k + 2] = eb; }
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

function paintCurve(canvas, S, pos, start, width, height) {
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
  const byWidth = (root.clientWidth || 1000) - panel - 24 - 8;  // the gap, borders, rounding
  const byHeight = window.innerHeight - pageTop(S.el.digit) - 16;
  return Math.max(8, Math.floor(Math.min(S.data.size, byWidth, byHeight) / S.side));
}

// Reads the page's layout (which forces one): only when something may have moved it (a mount,
// a rerun, a resize), never per step, and never while playing.
function layout(S) {
  if (S.cell && (S.playing || !S.layoutStale)) return;
  S.cell = cellSize(S.root, S);
  S.curveWidth = Math.max(260, S.el.panel.clientWidth - 4);
  S.curveHeight = S.el.llcurve.clientHeight || 120;
  S.layoutStale = false;
}

function drawDigit(S, fresh) {
  const data = S.data, pos = S.pos, side = S.side;
  const cell = S.cell, views = data.views;
  const showOverlay = fresh && S.overlay !== "none";
  const digit = setupCanvas(S.el.digit, cell * side, cell * side);
  const pixels = digitPixels(S, pos, false);
  blit(digit, S, showOverlay ? overlayPixels(S, pixels, views, S.overlay) : pixels, cell);
  if (cell >= 8) grid(digit, side, cell);  // so single pixels can be pointed at and counted
  if (showOverlay) inkDots(digit, S, pos, cell);
  if (pos < S.D) markNext(digit, S, S.order[pos], cell);
}

function drawReadouts(S) {
  const { el, pos, D, side } = S;
  el.drawn.textContent = String(pos);
  el.total.textContent = String(D);
  if (pos < D) {
    const pixel = S.order[pos], p = S.probs[pixel];
    el.nextline.textContent =
      `next: pixel ${pixel} (row ${Math.floor(pixel / side)}, column ${pixel % side})`;
    el.pvalue.textContent = formatP(p);
    el.fill.style.width = `${(100 * p).toFixed(1)}%`;
  } else {
    el.nextline.textContent = "done: every pixel is drawn";
    el.pvalue.textContent = "–";
    el.fill.style.width = "0";
  }
  if (pos > S.start) {
    const pixel = S.order[pos - 1], u = S.uniforms[pixel], p = S.probs[pixel];
    // the sign comes from the drawn value itself: u and p are rounded here, the decision was not
    el.lastline.textContent = `last pixel: u = ${formatP(u)} ${S.final[pixel] ? "<" : "≥"}` +
      ` p = ${formatP(p)}, so x = ${S.final[pixel]}`;
  } else {
    el.lastline.textContent = "each pixel is 1 exactly when its uniform draw u < p";
  }
  // A log-likelihood is never above 0; a tiny negative one reads 0.00, not -0.00.
  el.llvalue.textContent = S.loglik[pos].toFixed(2).replace(/^-0\.00$/, "0.00");
}

function drawSecondary(S, fresh) {
  const { el, pos, D, side } = S, views = S.data.views;
  paintCurve(el.llcurve, S, pos, S.start, S.curveWidth, S.curveHeight);
  const small = 5;
  blit(setupCanvas(el.probmap, small * side, small * side), S, probPixels(S, pos), small);
  const faint = digitPixels(S, pos, true);
  for (const [kind, canvas] of [["receptive", el.rf], ["sensitivity", el.sens]]) {
    const ctx = setupCanvas(canvas, small * side, small * side);
    blit(ctx, S, fresh ? overlayPixels(S, faint.slice(), views, kind) : faint, small);
    if (fresh) inkDots(ctx, S, pos, small);
    if (pos < D) markNext(ctx, S, S.order[pos], small);
  }
  el.rfcount.textContent = fresh && pos < D
    ? `(${[...views.receptive].filter((ch) => ch === "1").length} pixels)` : "";
}

// The finished digit's nearest training digits: shown only once every pixel is drawn (before,
// they would give the digit away), drawn once per run and mode.
function drawNearest(S) {
  const near = S.data.nearest || [], box = S.el.nearest;
  box.hidden = !(near.length && S.pos >= S.D);
  const key = `${S.runId}:${!!S.data.lecture}`;
  if (box.hidden || box.dataset.run === key) return;
  box.dataset.run = key;
  const lecture = !!S.data.lecture, cell = lecture ? 3 : 4;  // three abreast in either panel
  box.querySelector(".nearest-row").replaceChildren(...near.map((n) => {
    const figure = document.createElement("figure"), canvas = document.createElement("canvas");
    const caption = document.createElement("figcaption"), rgba = new Uint8ClampedArray(4 * S.D);
    for (let i = 0; i < S.D; i++) {
      rgba.set([...(n.image[i] === "1" ? RGB.ink : RGB.paper), 255], 4 * i);
    }
    blit(setupCanvas(canvas, cell * S.side, cell * S.side), S, rgba, cell);
    caption.textContent = lecture ? `a ${n.label}: ${n.distance} px`
      : `training #${n.index}, a ${n.label}: ${n.distance} pixels differ`;
    figure.append(canvas, caption);
    return figure;
  }));
}

function drawControls(S) {
  const { el, pos, D, playing } = S, busy = playing || pos >= D;
  el.step.disabled = el.stepRow.disabled = el.finish.disabled = busy;
  el.reset.disabled = pos === S.start && !playing;
  el.play.textContent = playing ? "Pause" : "Play";
  el.scrubber.min = String(S.start);
  el.scrubber.max = String(D);
  el.scrubber.value = String(pos);
  el.scrubber.setAttribute("aria-valuetext", `${pos} of ${D} pixels drawn`);
  if (el.speed.value !== String(S.speed)) el.speed.value = String(S.speed);
  for (const radio of el.overlays) radio.checked = radio.value === S.overlay;
}

// The views (receptive field, sensitivity) come from the server for the position it was last
// told: they are shown only when that is the player's own position, and faded meanwhile.
function viewsFresh(S) {
  const views = S.data.views;
  return !S.playing && views && views.run === S.runId && views.position === S.pos
    && views.receptive.length === S.D;
}

function draw(S) {
  const fresh = viewsFresh(S);
  layout(S);
  drawDigit(S, fresh);
  drawReadouts(S);
  drawNearest(S);
  drawControls(S);
  // faded while the server's views are of another position (at the end there are none)
  S.root.classList.toggle("stale", !fresh && S.pos < S.D && needsServer(S));
  S.root.classList.add("ready");  // visible only now: it listens for keys (player.css)
  if (!S.data.lecture) drawSecondary(S, fresh);  // lecture mode hides them: skip the work
}

// --- telling the server ------------------------------------------------------------------------

// Does a view on screen need the server (the receptive field and sensitivity maps beside the
// digit, or an overlay on it)?
function needsServer(S) {
  return !S.data.lecture || S.overlay !== "none";
}

function flushReport(S) {
  clearTimeout(S.reportTimer);
  S.reportTimer = 0;
  if (S.reported === S.pos) return;
  S.reported = S.pos;
  // Tagged with the run: a report still on its way when the seed changes must not move the
  // new run. A state value (not a trigger): Streamlit keeps it across reruns.
  S.setStateValue("position", { run: S.runId, position: S.pos });
}

// After a move: tell the server once the player rests, if a view on screen needs it; else
// only when the user reaches for anything else on the page (onOutside).
function moved(S) {
  clearTimeout(S.reportTimer);
  S.reportTimer = 0;
  if (!S.playing && needsServer(S)) S.reportTimer = setTimeout(() => flushReport(S), REST_MS);
}

// --- moving ------------------------------------------------------------------------------------

function moveTo(S, target) {
  const pos = Math.max(S.start, Math.min(S.D, target));
  if (S.playing) S.playing = false;
  if (pos !== S.pos) S.pos = pos;
  draw(S);
  moved(S);
}

function togglePlay(S) {
  if (S.playing) {
    S.playing = false;
    draw(S);
    moved(S);
    return;
  }
  if (S.pos >= S.D) S.pos = S.start;  // Play at the end starts over
  Object.assign(S, { playing: true, lastTime: performance.now(), fraction: 0 });
  clearTimeout(S.reportTimer);
  draw(S);
  if (!S.raf) S.raf = requestAnimationFrame((t) => tick(S, t));
}

function tick(S, now) {
  S.raf = 0;
  if (!S.playing) return;
  const elapsed = Math.min(now - S.lastTime, MAX_CATCH_UP_MS);
  S.lastTime = now;
  S.fraction += elapsed / 1000 * TICKS_PER_SECOND * S.speed;
  const advance = Math.floor(S.fraction);
  if (advance > 0) {
    S.fraction -= advance;
    S.pos = Math.min(S.D, S.pos + advance);
    if (S.pos >= S.D) S.playing = false;
    draw(S);
    if (!S.playing) moved(S);
  }
  if (S.playing) S.raf = requestAnimationFrame((t) => tick(S, t));
}

// A row is one side of the square image (28 pixels for MNIST).
const MOVES = {
  step: (S) => S.pos + 1, stepRow: (S) => S.pos + S.side, finish: (S) => S.D,
  reset: (S) => S.start,
};

function onClick(S, event) {
  const button = event.target instanceof Element ? event.target.closest("button") : null;
  if (!button || button.disabled) return;
  if (button === S.el.play) { togglePlay(S); return; }
  for (const [name, target] of Object.entries(MOVES)) {
    if (button === S.el[name]) { moveTo(S, target(S)); return; }
  }
}

// The keyboard, for a presenter's clicker too (it sends arrows or Page Up/Down): Right steps,
// Shift+Right steps a row, Left and Shift+Left go back, Home and End, space or "p" plays.
function keyMove(S, event) {
  const row = event.shiftKey ? S.side : 1;
  switch (event.key) {
    case "ArrowRight": case "PageDown": return S.pos + row;
    case "ArrowLeft": case "PageUp": return S.pos - row;
    case "Home": return S.start;
    case "End": return S.D;
    default: return null;
  }
}

function onKey(S, event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.composedPath()[0];  // inside the player's shadow root too
  if (target instanceof Element &&
      target.closest("input, textarea, select, [role=slider], [contenteditable], [role=tab]")) return;
  const ours = target instanceof Element && S.root.contains(target);
  const play = event.key === " " || event.key === "p";
  // Space and Enter on any other focused control are that control's own.
  if ((event.key === " " || event.key === "Enter") && !ours &&
      target instanceof Element && target.closest("button, a, [role=button]")) return;
  if (play) {
    event.preventDefault();  // on our own buttons, space means play too, not "press me"
    togglePlay(S);
    return;
  }
  const to = keyMove(S, event);
  if (to === null) return;
  event.preventDefault();  // no page scroll
  moveTo(S, to);  // pauses, if playing
}

// The user reached for something outside the player (a tab, a widget): the server's views
// (Export's PNG, the sensitivity) must be at the player's position by the time it reruns,
// even mid-play (a player that leaves the page comes back where it was).
function onOutside(S, event) {
  if (!event.composedPath().includes(S.root)) flushReport(S);
}

function install(S) {
  const previous = window.__madePlayerActive;
  if (previous === S && S.listeners) return;
  if (previous && previous !== S) uninstall(previous);
  S.listeners = {
    keydown: (e) => onKey(S, e),
    // Space on a focused button of ours was play/pause at keydown: no click at keyup.
    keyup: (e) => { if (e.key === " " && S.root.contains(e.composedPath()[0])) e.preventDefault(); },
    outside: (e) => onOutside(S, e),
    resize: () => { S.layoutStale = true; draw(S); },
  };
  for (const [target, type, name, capture] of pageListeners()) {
    target.addEventListener(type, S.listeners[name], capture);
  }
  window.__madePlayerActive = S;
}

// (target, event, listener name, capture): what install adds and uninstall removes.
function pageListeners() {
  return [[document, "keydown", "keydown", false], [document, "keyup", "keyup", true],
          [document, "pointerdown", "outside", true], [document, "focusin", "outside", true],
          [window, "resize", "resize", false]];
}

function uninstall(S) {
  if (!S.listeners) return;
  cancelAnimationFrame(S.raf);
  clearTimeout(S.reportTimer);
  Object.assign(S, { raf: 0, playing: false });
  for (const [target, type, name, capture] of pageListeners()) {
    target.removeEventListener(type, S.listeners[name], capture);
  }
  S.listeners = null;
  if (window.__madePlayerActive === S) window.__madePlayerActive = null;
}

function mount(S, root) {
  const q = (selector) => root.querySelector(selector);
  S.el = {
    step: q("button.step"), stepRow: q("button.step-row"), play: q("button.play"),
    finish: q("button.finish"), reset: q("button.reset"), speed: q(".speed select"),
    scrubber: q("input.scrubber"), digit: q("canvas.digit"), drawn: q(".drawn"),
    total: q(".total"), nextline: q(".nextline"), pvalue: q(".pvalue"), fill: q(".fill"),
    lastline: q(".lastline"), llvalue: q(".llvalue"), panel: q(".panel"),
    llcurve: q("canvas.llcurve"), probmap: q("canvas.probmap"), rf: q("canvas.rf"),
    sens: q("canvas.sens"), rfcount: q(".rfcount"), nearest: q(".nearest"),
    overlays: root.querySelectorAll(".overlay input"),
  };
  q(".controls").addEventListener("click", (e) => onClick(S, e));
  S.el.scrubber.addEventListener("input", () => moveTo(S, Number(S.el.scrubber.value)));
  S.el.speed.addEventListener("change", () => {
    S.speed = Number(S.el.speed.value);
    S.setStateValue("speed", S.speed);  // kept by the server for the next mount
  });
  root.querySelector(".overlay").addEventListener("change", (e) => {
    S.overlay = e.target.value;
    S.setStateValue("overlay", S.overlay);  // kept by the server for the next mount
    draw(S);
    if (needsServer(S)) flushReport(S);
  });
}

export default function (component) {
  const { parentElement, setStateValue } = component;
  const root = parentElement.querySelector(".made-player");
  if (!root || !component.data) return undefined;
  const data = JSON.parse(component.data.json);  // one string: see player.py
  let S = parentElement.__madePlayer;
  if (!S) {
    S = parentElement.__madePlayer = { runId: null, pos: 0, playing: false, raf: 0, root,
                                       speed: data.speed, overlay: data.overlay,
                                       listeners: null };
    mount(S, root);
  }
  Object.assign(S, { data, setStateValue });
  if (S.runId !== data.run_id) {  // mounted, or a new run: the server's position, at rest
    prepare(S, data);
    Object.assign(S, { runId: data.run_id, start: data.start, pos: data.position,
                       reported: data.position, playing: false });
    clearTimeout(S.reportTimer);
  }
  root.classList.toggle("lecture", !!data.lecture);
  S.layoutStale = true;  // a rerun may have moved what is above the player
  install(S);
  draw(S);
  return () => {
    // Streamlit also calls this when newer data overtook this call while its module was still
    // loading (on the first mount, a quick rerun): the player is still on the page then, and
    // tearing its listeners down would drop a key pressed before the next call. Only an
    // unmount takes the player off the page.
    if (!root.isConnected) uninstall(S);
  };
}

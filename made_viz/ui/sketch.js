// The sketch pad: the 28x28 image as the model sees it, edited with a pointer (mouse, pen or
// finger): Flip (a click flips one pixel; a drag sets the pixels it crosses to the value the
// first one flipped to), Brush and Eraser (thick strokes), Clear. Edits are drawn here at once;
// when the pointer lifts, the whole image is sent as the trigger value "stroke" (784
// characters of 0/1), so an edit costs one rerun. Hovering a pixel shows what the model made
// of it (data.info: p(x_d = 1 | x_<d), its cost in nats, its step in the ordering).
// The server's image (data.image) is the authority: it is shown whenever it changes, except
// while a stroke is being drawn. State lives on parentElement (this function runs on every
// rerun; its cleanup only when the component unmounts).

const INK = [17, 17, 27], PAPER = [255, 255, 255], GRID = [226, 230, 238];
const BRUSH_RADIUS = 1.05;  // cells whose centre is this close to the pointer are painted

function draw(S) {
  const { ctx, side, cell, image } = S;
  const img = ctx.createImageData(side, side);
  for (let i = 0; i < side * side; i++) {
    const rgb = image[i] ? INK : PAPER;
    img.data.set([...rgb, 255], i * 4);
  }
  S.tile.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, S.px, S.px);
  ctx.drawImage(S.tile, 0, 0, S.px, S.px);
  ctx.strokeStyle = `rgb(${GRID.join(",")})`;
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let k = 1; k < side; k++) {  // a faint grid: every cell is a pixel the model sees
    ctx.moveTo(Math.round(k * cell) + 0.5, 0); ctx.lineTo(Math.round(k * cell) + 0.5, S.px);
    ctx.moveTo(0, Math.round(k * cell) + 0.5); ctx.lineTo(S.px, Math.round(k * cell) + 0.5);
  }
  ctx.stroke();
  // Ink over the grid lines, so a stroke reads as one shape.
  for (let i = 0; i < side * side; i++) {
    if (!image[i]) continue;
    const r = Math.floor(i / side), c = i % side;
    ctx.fillStyle = `rgb(${INK.join(",")})`;
    ctx.fillRect(Math.round(c * cell), Math.round(r * cell),
                 Math.round((c + 1) * cell) - Math.round(c * cell),
                 Math.round((r + 1) * cell) - Math.round(r * cell));
  }
}

function paintAt(S, x, y) {
  const cx = x / S.cell, cy = y / S.cell;
  if (S.tool === "flip") {  // one pixel wide, to the value the stroke's first pixel took
    const r = Math.floor(cy), c = Math.floor(cx);
    if (r < 0 || c < 0 || r >= S.side || c >= S.side) return false;
    const i = r * S.side + c;
    if (S.value === null) S.value = 1 - S.image[i];
    if (S.image[i] === S.value) return false;
    S.image[i] = S.value;
    return true;
  }
  const value = S.tool === "eraser" ? 0 : 1;
  let changed = false;
  for (let r = Math.floor(cy - BRUSH_RADIUS); r <= Math.floor(cy + BRUSH_RADIUS); r++) {
    for (let c = Math.floor(cx - BRUSH_RADIUS); c <= Math.floor(cx + BRUSH_RADIUS); c++) {
      if (r < 0 || c < 0 || r >= S.side || c >= S.side) continue;
      if (Math.hypot(c + 0.5 - cx, r + 0.5 - cy) > BRUSH_RADIUS) continue;
      const i = r * S.side + c;
      if (S.image[i] !== value) { S.image[i] = value; changed = true; }
    }
  }
  return changed;
}

function paintTo(S, x, y) {
  // Every quarter cell along the segment from the last point: fast strokes stay unbroken.
  const [x0, y0] = S.last || [x, y];
  const steps = Math.max(1, Math.ceil(Math.hypot(x - x0, y - y0) / (S.cell / 4)));
  let changed = false;
  for (let k = 1; k <= steps; k++) {
    changed = paintAt(S, x0 + (x - x0) * k / steps, y0 + (y - y0) * k / steps) || changed;
  }
  S.last = [x, y];
  if (changed) draw(S);
}

function point(S, e) {
  const box = S.canvas.getBoundingClientRect();
  return [(e.clientX - box.left) * S.px / box.width, (e.clientY - box.top) * S.px / box.height];
}

function describe(S, x, y) {
  const r = Math.floor(y / S.cell), c = Math.floor(x / S.cell);
  const info = S.info;
  if (r < 0 || c < 0 || r >= S.side || c >= S.side || !info) return "";
  const i = r * S.side + c;
  return `pixel (${r}, ${c}) · value ${S.image[i]} · p(x=1 | before) = ${info.p[i].toFixed(3)}`
    + ` · cost ${info.cost[i].toFixed(2)} nats · step ${info.step[i]} of ${S.side * S.side}`;
}

function install(S, setTriggerValue) {
  const c = S.canvas;
  c.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    c.setPointerCapture(e.pointerId);
    S.drawing = true;
    S.last = null;
    S.value = null;
    paintTo(S, ...point(S, e));
  });
  c.addEventListener("pointermove", (e) => {
    if (S.drawing) paintTo(S, ...point(S, e));
    else S.status.textContent = describe(S, ...point(S, e)) || S.hint;
  });
  c.addEventListener("pointerleave", () => { if (!S.drawing) S.status.textContent = S.hint; });
  const finish = () => {
    if (!S.drawing) return;
    S.drawing = false;
    S.last = null;
    S.sent = Array.from(S.image).join("");
    setTriggerValue("stroke", S.sent);
  };
  c.addEventListener("pointerup", finish);
  c.addEventListener("pointercancel", finish);
  S.root.querySelectorAll("button[data-tool]").forEach((b) => b.addEventListener("click", () => {
    S.tool = b.dataset.tool;
    S.root.querySelectorAll("button[data-tool]").forEach(
      (o) => o.classList.toggle("on", o === b));
  }));
  S.root.querySelector("button.clear").addEventListener("click", () => {
    S.image.fill(0);
    draw(S);
    S.sent = Array.from(S.image).join("");
    setTriggerValue("stroke", S.sent);
  });
}

export default function (component) {
  const { parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".made-sketch");
  if (!root || !component.data) return undefined;
  const data = JSON.parse(component.data.json);  // one string: see sketch.py
  let S = parentElement.__madeSketch;
  if (!S) {
    const canvas = root.querySelector("canvas.pad");
    S = parentElement.__madeSketch = {
      root, canvas, tool: "flip", drawing: false, shown: null, side: data.side,
      status: root.querySelector(".status"),
      image: new Uint8Array(data.side * data.side), tile: document.createElement("canvas"),
    };
    S.tile.width = S.tile.height = data.side;
    install(S, setTriggerValue);
  }
  // As large as asked, or as the column allows, in whole screen pixels per cell (crisp).
  const host = parentElement.host || parentElement;  // a shadow root has no box of its own
  const room = host.getBoundingClientRect ? host.getBoundingClientRect().width : 0;
  const css = room > 0 ? Math.min(data.size, Math.floor(room / S.side) * S.side) : data.size;
  const dpr = window.devicePixelRatio || 1;
  S.px = Math.round(css * dpr);
  S.cell = S.px / S.side;
  if (S.canvas.width !== S.px) {
    S.canvas.width = S.canvas.height = S.px;
    S.canvas.style.width = S.canvas.style.height = `${css}px`;
    S.shown = null;
  }
  S.ctx = S.canvas.getContext("2d");
  S.info = data.info || null;
  S.hint = data.hint || "";
  if (!S.drawing && S.status.textContent === "") S.status.textContent = S.hint;
  if (!S.drawing && data.image !== S.shown) {  // the server's image, unless mid-stroke
    S.image.set(Array.from(data.image, (ch) => (ch === "1" ? 1 : 0)));
    S.shown = data.image;
    draw(S);
  }
  // Streamlit also calls this when newer data overtook this call on the first mount: the pad
  // is still on the page then, and its state must stay (or a second one would listen too).
  return () => { if (!root.isConnected) delete parentElement.__madeSketch; };
}

// The tour's card and navigation: the step's title, text and formula, the progress bar, the
// "open in the full page" link, Back and Next, and the keys a presenter uses (Right/Left,
// Page Down/Page Up, which clickers send, Home/End). The card of every step arrives as data,
// so a step's card shows in the next frame; the component then reports the step ("step") and
// the server draws that step's live view.
//
// The component owns the step once mounted: a rerun never moves it, except when the server
// sends a new `nonce` (another tour, or a step the server chose). Keys never fire while the
// user types in a field or draws on the sketch pad. Streamlit calls this function on every
// rerun but runs the cleanup only on unmount, so the state lives on parentElement.

const EDITABLE = "input, textarea, select, [contenteditable=''], [contenteditable=true], "
  + "[role=slider], [role=combobox], [role=listbox], [role=textbox], [role=spinbutton], "
  + ".made-sketch";

function show(S) {
  const { el } = S, steps = S.data.steps, step = steps[S.step - 1];
  el.n.textContent = String(S.step);
  el.total.textContent = String(steps.length);
  el.fill.style.width = `${(100 * S.step) / steps.length}%`;
  el.title.textContent = step.title;
  el.text.textContent = step.text;
  el.formula.innerHTML = step.formula;  // built by the server from escaped text (tour_nav.py)
  el.full.href = step.link;
  el.back.disabled = S.step <= 1;
  el.next.disabled = S.step >= steps.length;
}

function go(S, step) {
  const to = Math.min(Math.max(step, 1), S.data.steps.length);
  if (to === S.step) return;  // Back at the first step, Next at the last: nothing to do
  S.step = to;
  show(S);
  S.setStateValue("step", to);
}

// Whether this key press belongs to something else on the page: a field being typed in, a
// focused slider or list, the sketch pad (focused, or a stroke in progress).
function elsewhere(S, event) {
  if (S.drawing) return true;
  return event.composedPath().some((node) => node instanceof Element && node.matches(EDITABLE));
}

function onKey(S, event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey
      || event.shiftKey || elsewhere(S, event)) return;
  const moves = {
    ArrowRight: S.step + 1, PageDown: S.step + 1, ArrowLeft: S.step - 1, PageUp: S.step - 1,
    Home: 1, End: S.data.steps.length,
  };
  if (!(event.key in moves)) return;
  event.preventDefault();  // no page scroll, and the Sampling player leaves the key alone
  // Whatever had the focus (a button, the page) no longer shows a focus ring over the new step.
  if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
  go(S, moves[event.key]);
}

function install(S) {
  const previous = window.__madeTourActive;
  if (previous === S && S.listeners) return;
  if (previous && previous !== S) uninstall(previous);
  S.listeners = {
    // Capture on window: before the Sampling player's listener on document sees the key.
    keydown: (e) => onKey(S, e),
    pointerdown: (e) => {
      S.drawing = e.composedPath().some((n) => n instanceof Element && n.matches(".made-sketch"));
    },
    pointerup: () => { S.drawing = false; },
  };
  window.addEventListener("keydown", S.listeners.keydown, true);
  window.addEventListener("pointerdown", S.listeners.pointerdown, true);
  window.addEventListener("pointerup", S.listeners.pointerup, true);
  window.addEventListener("pointercancel", S.listeners.pointerup, true);
  window.__madeTourActive = S;
}

function uninstall(S) {
  if (!S.listeners) return;
  window.removeEventListener("keydown", S.listeners.keydown, true);
  window.removeEventListener("pointerdown", S.listeners.pointerdown, true);
  window.removeEventListener("pointerup", S.listeners.pointerup, true);
  window.removeEventListener("pointercancel", S.listeners.pointerup, true);
  S.listeners = null;
  if (window.__madeTourActive === S) window.__madeTourActive = null;
}

export default function (component) {
  const { parentElement, setStateValue } = component;
  const root = parentElement.querySelector(".made-tour");
  if (!root || !component.data) return undefined;
  const data = JSON.parse(component.data.json);  // one string: see tour_nav.py
  let S = parentElement.__madeTour;
  if (!S) {
    const q = (selector) => root.querySelector(selector);
    S = parentElement.__madeTour = {
      root, nonce: null, step: 1, drawing: false, listeners: null,
      el: { n: q(".n"), total: q(".total"), fill: q(".fill"), title: q(".title"),
            text: q(".text"), formula: q(".formula"), full: q(".full"), back: q(".back"),
            next: q(".next") },
    };
    S.el.back.addEventListener("click", () => go(S, S.step - 1));
    S.el.next.addEventListener("click", () => go(S, S.step + 1));
  }
  Object.assign(S, { data, setStateValue });
  if (S.nonce !== data.nonce) {  // mounted, another tour, or a step the server chose
    S.nonce = data.nonce;
    S.step = Math.min(Math.max(data.step, 1), data.steps.length);
  }
  root.classList.toggle("present", !!data.present);
  show(S);
  install(S);
  root.classList.add("ready");  // visible only now: it listens for keys (tour_nav.css)
  return () => { if (!root.isConnected) uninstall(S); };
}

"""Sampling studio: watch a pretrained MADE draw a digit one pixel at a time.

The seed, model and ordering live in the URL, so a link replays the same digit. A run is
sampled in full when its seed is chosen (SamplingRun); Step, the history slider and Play only
reveal it. So a click reruns one small fragment (no model call except one backward pass for the
sensitivity view), and Play runs in the browser from the whole run sent once (player.py).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from made_viz import checkpoint, export, sampling
from made_viz.data import load_test_subset
from made_viz.model import MADE
from made_viz.ui import player
from made_viz.ui.widgets import choice, flag, int_input

SEED_MAX = 2**32 - 1
ROW = 28
SPEEDS = (1, 2, 4, 7, 14, 28)  # pixels per tick; the player ticks 30 times a second
GRID_SIZE = 16
DIGIT_PX = {False: 448, True: 644}  # 16 or 23 screen pixels per MNIST pixel
OVERLAYS = {"none": "none", "receptive field": "receptive", "sensitivity": "sensitivity"}
VIEWS = ("Step by step", "16 at once", "Completion", "Export")
GIF_STRIDES = (1, 2, 4, 8, 14, 28, 56)
COMPLETIONS = 6
HALVES = {"natural": "the bottom half (raster order)", "columns": "the right half (column order)"}

STYLE = """<style>
[data-testid="stImage"] img { image-rendering: pixelated; }
.st-key-sampling_controls button { min-width: 6.5rem; }
</style>"""
# Lecture mode: big controls readable from the back row of a lecture hall.
LECTURE_STYLE = """<style>
.st-key-sampling_controls button { min-height: 3.6rem; min-width: 9rem; padding: .4rem 1.6rem; }
.st-key-sampling_controls button p { font-size: 1.7rem; }
.st-key-sampling_controls label p, .st-key-sampling_history label p { font-size: 1.3rem; }
</style>"""


@dataclass(frozen=True)
class Bundled:
    """A pretrained model shared by every session: read-only, used under its lock."""

    name: str
    model: MADE
    mask_names: tuple[str, ...]
    stand_in: bool
    # set_mask followed by a forward pass must not interleave with another session's.
    lock: threading.Lock

    def orderings(self) -> list[str]:
        return list(dict.fromkeys(self.mask_names))

    def masks_with(self, ordering: str) -> list[int]:
        return [k for k, name in enumerate(self.mask_names) if name == ordering]

    def pick_mask(self, ordering: str, seed: int) -> int:
        """Masks sharing an ordering are told apart by the seed, so a link still replays."""
        candidates = self.masks_with(ordering)
        return candidates[seed % len(candidates)]


@st.cache_resource(show_spinner="Loading the pretrained model...")
def bundled(name: str) -> Bundled:
    model, config = checkpoint.load_pretrained(name)
    model.requires_grad_(False)  # gradients are only ever taken with respect to the input
    names = config.get("mask_names")
    if not (isinstance(names, list) and len(names) == model.num_masks
            and all(isinstance(n, str) and n for n in names)):
        names = [f"mask {k}" for k in range(model.num_masks)]
    return Bundled(name, model, tuple(names), bool(config.get("stand_in")), threading.Lock())


@st.cache_resource(show_spinner=False)
def test_digits():
    return load_test_subset()


def running_log_likelihood(order, final_image, probs) -> np.ndarray:
    """log p(x_<k) in nats for k = 0..D: entry k sums the first k conditionals of the run."""
    p = np.clip(np.asarray(probs, dtype=np.float64)[order], 1e-12, 1 - 1e-12)
    x = np.asarray(final_image)[order]
    return np.concatenate([[0.0], np.cumsum(np.where(x == 1, np.log(p), np.log1p(-p)))])


def logit_gradient(model: MADE, mask: int, image: np.ndarray, index: int) -> np.ndarray:
    """d logit_index / d x at x = image: how much each pixel pushes the next pixel's odds.

    One forward and one backward pass; torch.autograd.grad leaves the shared model's .grad alone.
    """
    model.set_mask(mask)
    x = torch.tensor(np.asarray(image), dtype=torch.float32, requires_grad=True)
    logit = model(x[None])[0, index]
    (gradient,) = torch.autograd.grad(logit, x)
    return gradient.numpy()


# --- the run this session is stepping through ---------------------------------------------

def _run() -> sampling.SamplingRun:
    return st.session_state["sampling_run"]


def current_run(b: Bundled, mask: int, seed: int) -> sampling.SamplingRun:
    """This session's run, rebuilt when the model, mask or seed changes."""
    ss = st.session_state
    key = (b.name, mask, seed)
    if ss.get("sampling_run_key") != key:
        with b.lock:
            run = sampling.SamplingRun(b.model, seed=seed, mask=mask)
        ss["sampling_run"], ss["sampling_run_key"] = run, key
        ss["sampling_payload"] = player.run_payload(
            f"{b.name}/{mask}/{seed}", run.order, run.final_image, run.probs,
            running_log_likelihood(run.order, run.final_image, run.probs))
        ss["sampling_playing"] = False
    return ss["sampling_run"]


def _step(pixels: int) -> None:
    run = _run()
    run.step(min(pixels, len(run.order) - run.position))


def _finish() -> None:
    _run().finish()


def _reset() -> None:
    _run().reset()
    st.session_state["sampling_playing"] = False


def _play_pause() -> None:
    ss = st.session_state
    if ss["sampling_playing"]:
        ss["sampling_playing"] = False  # the player reports where it stopped
        return
    if _run().done:
        _run().reset()
    ss["sampling_playing"] = True


def _seek_history() -> None:
    _run().seek(int(st.session_state["sampling_history"]))


def _player_stopped() -> None:
    """The browser stopped playing (Pause or the end): move the run to where it stopped."""
    ss = st.session_state
    position = ss["sampling_player"].get("position")
    run = _run()
    if isinstance(position, int) and 0 <= position <= len(run.order):
        run.seek(position)
    ss["sampling_playing"] = False


def next_pixel_views(b: Bundled, mask: int, run) -> dict:
    if run.done:
        return player.views_payload(run.position, None, None)
    index = run.next_index
    receptive = b.model.mask_sets[mask].connectivity()[index] > 0
    with b.lock:
        gradient = logit_gradient(b.model, mask, run.image, index)
    return player.views_payload(run.position, receptive, gradient * run.drawn)


@st.fragment
def studio(name: str, mask: int, lecture: bool) -> None:
    """Controls and player; a click here reruns only this fragment."""
    ss = st.session_state
    b, run = bundled(name), _run()
    D, playing = len(run.order), ss["sampling_playing"]
    ss["sampling_history"] = run.position
    with st.container(key="sampling_controls", horizontal=True, vertical_alignment="bottom"):
        busy = playing or run.done
        st.button("Step", on_click=_step, args=(1,), disabled=busy, key="sampling_step",
                  help="draw the next pixel")
        st.button("Step row", on_click=_step, args=(ROW,), disabled=busy, key="sampling_step_row",
                  help=f"draw the next {ROW} pixels")
        st.button("Pause" if playing else "Play", on_click=_play_pause, key="sampling_play",
                  type="primary", help="play the run in the browser")
        st.button("Finish", on_click=_finish, disabled=busy, key="sampling_finish",
                  help="draw every remaining pixel")
        st.button("Reset", on_click=_reset, disabled=run.position == 0 and not playing,
                  key="sampling_reset", help="back to an empty canvas (same seed, same digit)")
        st.select_slider("Speed (pixels per tick, 30 ticks/s)", SPEEDS, value=4,
                         key="sampling_speed", width=300)
    with st.container(key="sampling_history_row", horizontal=True, vertical_alignment="bottom"):
        st.slider("History: pixels drawn", 0, D, key="sampling_history", on_change=_seek_history,
                  disabled=playing, width="stretch")
        overlay = st.radio("Overlay on the digit", list(OVERLAYS), horizontal=True,
                           key="sampling_overlay", width=360,
                           help="the next pixel's receptive field (the pixels it may depend on)"
                                " or its sensitivity (gradient of its logit)")
    player.player(ss["sampling_payload"], position=run.position, playing=playing,
                  speed=ss["sampling_speed"], size=DIGIT_PX[lecture], lecture=lecture,
                  overlay=OVERLAYS[overlay], views=next_pixel_views(b, mask, run),
                  on_position=_player_stopped, key="sampling_player")


# --- 16 at once, completion, export ------------------------------------------------------------

@st.cache_data(max_entries=64, show_spinner="Sampling 16 digits...")
def grid_samples(name: str, mask: int, seeds: tuple[int, ...]) -> np.ndarray:
    """One digit per seed, each the very digit that seed gives in the step-by-step view."""
    b = bundled(name)
    with b.lock:
        return np.stack([sampling.sample(b.model, 1, seed=s, mask=mask)[0] for s in seeds])


def _open_seed(seed: int) -> None:
    st.session_state["seed"] = str(seed)
    st.session_state["sampling_view"] = VIEWS[0]


def digit_png(order, image, position: int | None = None, scale: int = 5) -> bytes:
    position = len(order) if position is None else position
    return export.png_bytes(export.frame_at(order, image, position), scale=scale)


def grid_view(b: Bundled, mask: int, seed: int) -> None:
    seeds = tuple((seed + i) % (SEED_MAX + 1) for i in range(GRID_SIZE))
    images = grid_samples(b.name, mask, seeds)
    order = b.model.mask_sets[mask].order
    st.caption(f"{GRID_SIZE} digits drawn at once with the fast sampler, seeds {seeds[0]} to"
               f" {seeds[-1]}. Each one is the digit its seed draws step by step: click a seed"
               " to watch it.")
    columns = st.columns(GRID_SIZE // 2)
    for i, (s, image) in enumerate(zip(seeds, images)):
        with columns[i % len(columns)]:
            st.image(digit_png(order, image, scale=5), width=140)
            st.button(f"seed {s}", key=f"sampling_grid_{i}", type="tertiary",
                      on_click=_open_seed, args=(s,))


@st.cache_data(max_entries=64, show_spinner="Completing...")
def completions(name: str, mask: int, index: int, seed: int, n: int):
    """The test digit, the pixels kept (first half of the mask's ordering) and n completions."""
    b = bundled(name)
    original = test_digits().images[index]
    order = b.model.mask_sets[mask].order
    kept = order[: len(order) // 2]
    given = np.full(len(order), -1, dtype=np.int64)
    given[kept] = original[kept]
    with b.lock:
        drawn = sampling.sample(b.model, n, seed=seed, mask=mask, given=given)
    return original, kept, drawn


def completion_view(b: Bundled, seed: int) -> None:
    usable = [o for o in HALVES if o in b.mask_names]
    if not usable:
        st.info(f"Completion needs a mask in raster or column order; model {b.name!r} has"
                f" {', '.join(b.orderings())}.")
        return
    digits = test_digits()
    left, middle, right = st.columns(3)
    with left:
        hide = st.radio("Hide", usable, format_func=lambda o: HALVES[o], key="sampling_hide",
                        help="the hidden half comes last in the ordering, so MADE can fill it in")
    with middle:
        by = st.radio("Pick the test digit by", ["label", "index"], horizontal=True,
                      key="sampling_pick_by")
        if by == "label":
            label = st.selectbox("label", list(range(10)), key="sampling_label")
            matches = np.flatnonzero(digits.labels == label)
            which = st.number_input(f"which {label} (1..{len(matches)})", 1, len(matches), 1,
                                    key="sampling_which")
            index = int(matches[which - 1])
        else:
            index = int(st.number_input(f"index (0..{len(digits.labels) - 1})", 0,
                                        len(digits.labels) - 1, 0, key="sampling_index"))
    with right:
        n = st.slider("completions", 1, 8, COMPLETIONS, key="sampling_completions")
    mask = b.pick_mask(hide, seed)
    original, kept, drawn = completions(b.name, mask, index, seed, n)
    order = b.model.mask_sets[mask].order
    half = len(kept)
    st.session_state["sampling_completion"] = {"index": index, "mask": mask, "original": original,
                                               "kept": kept, "completions": drawn}
    columns = st.columns(n + 2)
    columns[0].image(digit_png(order, original, scale=4), width=112,
                     caption=f"test #{index} (a {digits.labels[index]})")
    columns[1].image(digit_png(order, original, half, scale=4), width=112, caption="what MADE sees")
    for k in range(n):
        columns[k + 2].image(digit_png(order, drawn[k], scale=4), width=112,
                             caption=f"completion {k + 1}")
    kept_ok = bool((drawn[:, kept] == original[kept]).all())
    if kept_ok:
        st.caption(f"Every completion keeps the {half} given pixels exactly. Mask {mask}"
                   f" ({hide} order), seed {seed}.")
    else:
        st.error(f"A completion changed some of the {half} given pixels: that is a bug.")


@st.cache_data(max_entries=32, show_spinner="Making the GIF...")
def run_gif(run_key: tuple, _run, every: int) -> bytes:
    return export.gif_bytes(export.frames_from_run(_run, every=every), scale=8)


def export_view(name: str, ordering: str, seed: int) -> None:
    run = _run()
    stem = f"made-{name}-{ordering}-seed{seed}"
    left, right = st.columns(2)
    with left:
        st.subheader("Animated GIF of this run")
        every = st.select_slider("a frame every k pixels", GIF_STRIDES, value=8,
                                 key="sampling_gif_every")
        gif = run_gif(st.session_state["sampling_run_key"], run, every)
        st.image(gif, width=ROW * 8)
        st.download_button("Download GIF", gif, file_name=f"{stem}.gif", mime="image/gif",
                           key="sampling_download_gif", on_click="ignore")
        st.caption(f"{len(gif) / 1024:.0f} KB, loops, holds the finished digit for 2 s.")
    with right:
        st.subheader("PNG of the current image")
        png = digit_png(run.order, run.final_image, run.position, scale=10)
        st.image(png, width=ROW * 10)
        st.download_button("Download PNG", png, file_name=f"{stem}-{run.position}px.png",
                           mime="image/png", key="sampling_download_png", on_click="ignore")
        st.caption(f"{run.position} / {len(run.order)} pixels drawn.")


# --- the page -------------------------------------------------------------------------------

def render() -> None:
    st.html(STYLE)
    available = checkpoint.list_pretrained()
    if not available:
        st.title("Sampling studio")
        st.error(f"No pretrained model in {checkpoint.pretrained_root()}: run"
                 " `python -m made_viz.train` or restore the pretrained/ folder.")
        return
    top = st.container()
    settings = st.columns([2, 2, 2, 2])
    with settings[0]:
        name = choice("model", "model", available,
                      default="mnist" if "mnist" in available else available[0],
                      help="a bundled pretrained MADE")
    try:
        b = bundled(name)
    except (checkpoint.CheckpointError, OSError) as error:
        st.error(f"model {name!r} could not be loaded: {error}")
        return
    orderings = b.orderings()
    if st.session_state.get("ordering") not in (None, *orderings):
        st.session_state["ordering"] = orderings[0]  # the previous model's ordering is not here
    with settings[1]:
        ordering = choice("ordering", "ordering", orderings, default=orderings[0],
                          help="the orderings this model was trained with")
    with settings[2]:
        seed = int_input("seed", "seed", default=0, low=0, high=SEED_MAX,
                         help="the same seed draws the same digit")
    with settings[3]:
        lecture = flag("Lecture mode", "lecture", default=False,
                       help="a big digit and big controls for a projector; hides secondary panels")
    mask = b.pick_mask(ordering, seed)
    with top:
        if lecture:
            st.html(LECTURE_STYLE)
        else:
            st.title("Sampling studio")
            st.caption("MADE draws each pixel from p(x_d = 1 | x_<d), read off one forward pass,"
                       " in the order its masks were built for. The whole run is drawn the moment"
                       " you choose a seed; Step, Play and the history slider reveal it.")
    same = len(b.masks_with(ordering))
    which = (f"mask {mask} of {b.model.num_masks}" +
             (f" (the seed picks one of the {same} masks in {ordering} order)" if same > 1 else ""))
    if not lecture:
        st.caption(f"Model **{name}** · {ordering} order · {which} · seed **{seed}**. The link"
                   " in the address bar replays this exact digit.")
        if b.stand_in:
            st.info("These bundled weights are stand-ins, not a trained model: the digits look"
                    " like noise until the trained weights are installed.", icon="ℹ️")
    current_run(b, mask, seed)
    tabs = st.tabs(VIEWS, key="sampling_view", on_change="rerun")
    with tabs[0]:
        if tabs[0].open is not False:
            studio(name, mask, lecture)
    with tabs[1]:
        if tabs[1].open:
            grid_view(b, mask, seed)
    with tabs[2]:
        if tabs[2].open:
            completion_view(b, seed)
    with tabs[3]:
        if tabs[3].open:
            export_view(name, ordering, seed)

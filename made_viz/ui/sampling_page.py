"""Sampling studio: watch a pretrained MADE draw a digit one pixel at a time.

The seed, model and ordering live in the URL, so a link replays the same digit. A run is
sampled in full when its seed is chosen (SamplingRun); the player (player.py) gets the whole
run and reveals it in the browser: Step, Play, the history scrubber and the keyboard cost the
server nothing. It tells the server where it stands only where a server view needs it (the
next pixel's receptive field and sensitivity, Export), which reruns the page.
"""
from __future__ import annotations

import copy

import numpy as np
import streamlit as st

from made_viz import export, network, sampling
from made_viz.data import DataError
from made_viz.ui import player, server
from made_viz.ui.models import (Bundled, all_masks_prepared, bundled, model_picker, prepared_mask,
                                test_digits)
from made_viz.validation import SEED_MAX
from made_viz.ui.widgets import choice, defuse, flag, int_input

ROW = 28
DEFAULT_SPEED = 4  # pixels per tick of the player's clock (player.SPEEDS)
GRID_SIZE = 16
DIGIT_PX = {False: 448, True: 812}  # at most 16 or 29 screen pixels per MNIST pixel
VIEWS = ("Step by step", "16 at once", "Completion", "Export")
VIEW_NAMES = ("step", "grid", "completion", "export")  # the URL's `view`, one per tab
GIF_STRIDES = (1, 2, 4, 8, 14, 28, 56)
COMPLETIONS = 6
HALVES = {"natural": "the bottom half (raster order)", "columns": "the right half (column order)"}
# --- the run this session is stepping through ---------------------------------------------

def _run() -> sampling.SamplingRun:
    return st.session_state["sampling_run"]


@st.cache_resource(max_entries=32, show_spinner=False)
def drawn_run(name: str, mask: int, seed: int) -> tuple[sampling.SamplingRun, dict]:
    """A seed's run and the player's payload for it, drawn once per server: a lecture hall
    opening one link shares them (each session steps through its own copy of the run)."""
    run = sampling.SamplingRun(bundled(name).model, seed=seed, mask=mask)
    for array in vars(run).values():
        if isinstance(array, np.ndarray):
            array.flags.writeable = False  # shared by every session that draws this seed
    payload = player.run_payload("", run.order, run.final_image, run.probs,
                                 run.log_likelihood_curve, run.uniforms, start=run.start)
    return run, payload


def current_run(b: Bundled, mask: int, seed: int) -> sampling.SamplingRun:
    """This session's run, rebuilt when the model, mask or seed changes."""
    ss = st.session_state
    key = (b.name, mask, seed)
    if ss.get("sampling_run_key") != key:
        shared, payload = drawn_run(b.name, mask, seed)
        run = copy.copy(shared)  # a position of its own
        serial = ss.get("sampling_run_serial", 0) + 1
        ss["sampling_run"], ss["sampling_run_key"], ss["sampling_run_serial"] = run, key, serial
        # The serial tells the player a new run from the same seed drawn again (7, 8, 7).
        ss["sampling_payload"] = {**payload, "run_id": f"{serial}:{b.name}/{mask}/{seed}"}
    return ss["sampling_run"]


def _player_moved() -> None:
    """The player reported its position: move the server's run there, for the views that need
    it (a report about a run this session has since replaced is ignored)."""
    ss, run = st.session_state, _run()
    position = player.reported_position(ss["sampling_player"], ss["sampling_payload"]["run_id"],
                                        run.start, len(run.order))
    if position is not None:
        run.seek(position)


SETTINGS = {"speed": player.SPEEDS, "overlay": player.OVERLAYS}


def _player_setting(name: str) -> None:
    """The player's speed or overlay changed: kept for the next time it is mounted."""
    value = player.reported_setting(st.session_state["sampling_player"], name, SETTINGS[name])
    if value is not None:
        st.session_state[f"sampling_{name}"] = value


def next_pixel_views(b: Bundled, prepared: network.PreparedMask, run) -> dict:
    run_id = st.session_state["sampling_payload"]["run_id"]
    return {**views_at(b.name, prepared.index, run.seed, run.position), "run": run_id}


@st.cache_resource(max_entries=256, show_spinner=False)
def views_at(name: str, mask: int, seed: int, position: int) -> dict:
    """The next pixel's views at `position` of a seed's run: once per server for each place
    users stand (a hall opening one link all stand at its start)."""
    b, prepared = bundled(name), prepared_mask(name, mask)
    run = copy.copy(drawn_run(name, mask, seed)[0])
    run.seek(position)
    if run.done:
        return player.views_payload("", run.position, None, None)
    index = run.next_index
    receptive = prepared.connectivity()[index] > 0
    gradient = sampling.logit_gradient(b.model, run.image, index, prepared.index)
    return player.views_payload("", run.position, receptive, gradient * run.drawn)


def studio(name: str, prepared: network.PreparedMask, lecture: bool) -> None:
    """The player. Not a fragment: the player reports its position the moment the user reaches
    for another tab, and in Streamlit 1.67 a fragment rerun in flight loses a tab click that
    lands with it (the tab shows selected, its panel stays empty)."""
    ss = st.session_state
    b, run = bundled(name), _run()
    player.player(ss["sampling_payload"], position=run.position,
                  speed=ss.get("sampling_speed", DEFAULT_SPEED),
                  overlay=ss.get("sampling_overlay", "none"), size=DIGIT_PX[lecture],
                  lecture=lecture, views=next_pixel_views(b, prepared, run),
                  on_position=_player_moved, on_setting=_player_setting, key="sampling_player")


# --- 16 at once, completion, export ------------------------------------------------------------

@st.cache_data(max_entries=64, show_spinner="Sampling 16 digits...")
def grid_samples(name: str, mask: int, seeds: tuple[int, ...]) -> np.ndarray:
    """One digit per seed, all drawn at once, each the very digit its seed draws step by step.

    sample() draws a seed's uniforms as default_rng(seed).random(D); stacking one row per
    seed makes row i the digit of seeds[i] alone.
    """
    model = bundled(name).model
    uniforms = np.stack([np.random.default_rng(s).random(model.D) for s in seeds])
    return sampling.sample(model, len(seeds), uniforms=uniforms, mask=mask)


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
            st.image(digit_png(order, image, scale=5), width="stretch")
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
    drawn = sampling.sample(b.model, n, seed=seed, mask=mask, given=given)
    return original, kept, drawn


def completion_view(b: Bundled, seed: int) -> None:
    usable = [o for o in HALVES if o in b.mask_names]
    if not usable:
        st.info(f"Completion needs a mask in raster or column order; model {b.name!r} has"
                f" {', '.join(b.orderings())}.")
        return
    try:
        digits = test_digits()
    except DataError as error:  # a missing or broken pretrained/ subset: say so, no traceback
        st.error(f"Completion needs the bundled test digits: {error}")
        return
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
    mask = prepared_mask(b.name, b.pick_mask(hide, seed)).index
    original, kept, drawn = completions(b.name, mask, index, seed, n)
    order = b.model.mask_sets[mask].order
    half = len(kept)
    columns = st.columns(n + 2)
    columns[0].image(digit_png(order, original, scale=5), width="stretch",
                     caption=f"test #{index} (a {digits.labels[index]})")
    columns[1].image(digit_png(order, original, half, scale=5), width="stretch",
                     caption="what MADE sees")
    for k in range(n):
        columns[k + 2].image(digit_png(order, drawn[k], scale=5), width="stretch",
                             caption=f"completion {k + 1}")
    st.caption(f"Every completion keeps the {half} given pixels exactly. Mask {mask}"
               f" ({hide} order), seed {seed}.")


@st.cache_data(max_entries=32, show_spinner="Making the GIF...")
def run_gif(run_key: tuple, _run, every: int) -> bytes:
    return export.gif_bytes(export.frames_from_run(_run, every=every), scale=8)


def _view_in_url() -> None:
    st.query_params["view"] = VIEW_NAMES[VIEWS.index(st.session_state["sampling_view"])]


def view_tabs():
    """The four views as tabs, the one shown kept in the URL as `view`, so a link opens it.

    On the first run a `view` that names no tab is said, with the names allowed, and the
    first tab is shown.
    """
    # The default is fixed for the session: a widget whose parameters change is a new widget.
    if "_sampling_view_default" not in st.session_state:
        asked = st.query_params.get("view")
        if asked is not None and asked not in VIEW_NAMES:
            shown = asked if len(asked) <= 30 else asked[:30] + "..."
            st.warning(f"**view**: the link's value {defuse(repr(shown))} is not allowed"
                       f" (allowed: {', '.join(VIEW_NAMES)}). Showing {VIEWS[0]!r}.",
                       icon="⚠️")
        st.session_state["_sampling_view_default"] = (
            VIEWS[VIEW_NAMES.index(asked)] if asked in VIEW_NAMES else VIEWS[0])
    default = st.session_state["_sampling_view_default"]
    return st.tabs(VIEWS, default=default, key="sampling_view", on_change=_view_in_url)


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

def _lecture_asked() -> bool:
    """Lecture mode as its toggle will read it (the session's value, else the link's), before
    the toggle is drawn: the title goes out first."""
    value = st.session_state.get("lecture")
    return value if isinstance(value, bool) else st.query_params.get("lecture") == "true"


def render() -> None:
    header = st.container()
    if not _lecture_asked():
        with header:
            st.title("Sampling studio")
    server.my_turn()
    b = model_picker("Sampling studio")
    if b is None:
        return
    name = b.name
    with st.sidebar:
        orderings = b.orderings()
        if st.session_state.get("ordering") not in (None, *orderings):
            st.session_state["ordering"] = orderings[0]  # the previous model's ordering is gone
        ordering = choice("ordering", "ordering", orderings, default=orderings[0],
                          help="the orderings this model was trained with")
        seed = int_input("seed", "seed", default=0, low=0, high=SEED_MAX,
                         help="the same seed draws the same digit")
        lecture = flag("Lecture mode", "lecture", default=False,
                       help="a big digit and big controls for a projector; hides secondary panels")
        mask = b.pick_mask(ordering, seed)
        same = len(b.masks_with(ordering))
        st.caption(f"Mask {mask} of {b.model.num_masks}" +
                   (f": the seed picks one of the {same} masks in {ordering} order." if same > 1
                    else ".") + " The address bar holds model, ordering and seed: the link"
                   " replays this exact digit.")
        if b.stand_in:
            st.info("These bundled weights are stand-ins, not a trained model: the digits look"
                    " like noise until the trained weights are installed.", icon="ℹ️")
    # The run is switched before the header names the new seed: a page that shows a seed shows
    # its run, even when a report's fragment rerun cuts in before this run has finished.
    prepared = prepared_mask(name, mask)
    current_run(b, mask, seed)
    with header:
        if not lecture:
            st.caption(f"**{name}**, {ordering} order, seed **{seed}**. MADE draws each pixel from"
                       " p(x_d = 1 | x_<d), read off one forward pass, in the order its masks"
                       " were built for. The whole digit is drawn the moment the seed is chosen;"
                       " Step, Play and the history scrubber reveal it.")
    tabs = view_tabs()
    with tabs[0]:
        if tabs[0].open is not False:
            studio(name, prepared, lecture)
    with tabs[1]:
        if tabs[1].open:
            grid_view(b, mask, seed)
    with tabs[2]:
        if tabs[2].open:
            completion_view(b, seed)
    with tabs[3]:
        if tabs[3].open:
            export_view(name, ordering, seed)
    # The model's other masks, last: the page is drawn by now, and a seed that picks one of
    # them later reruns quickly (a long seed rerun is more likely to be cut by another request).
    all_masks_prepared(name)

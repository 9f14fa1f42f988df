"""Sampling studio: watch a pretrained MADE draw a digit one pixel at a time.

The seed, model and ordering live in the URL, so a link replays the same digit. A run is
sampled in full when its seed is chosen (SamplingRun); the player (player.py) gets the whole
run and reveals it in the browser: Step, Play, the history scrubber and the keyboard cost the
server nothing. It tells the server where it stands only where a server view needs it (the
next pixel's receptive field and sensitivity, Export), which reruns the page.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from made_viz import export, sampling
from made_viz.data import DataError
from made_viz.ui import presenter, server
from made_viz.ui.models import (Bundled, all_masks_prepared, bundled, model_picker, prepared_mask,
                                test_digits)
from made_viz.ui.sampling_views import current_run, digit_png, grid_view, run_of, studio
from made_viz.validation import SEED_MAX
from made_viz.ui.widgets import choice, defuse, flag, int_input

ROW = 28
KEY = "sampling_"  # the prefix of this page's player view's session keys (sampling_views)
VIEWS = ("Step by step", "16 at once", "Completion", "Export")
VIEW_NAMES = ("step", "grid", "completion", "export")  # the URL's `view`, one per tab
GIF_STRIDES = (1, 2, 4, 8, 14, 28, 56)
COMPLETIONS = 6
HALVES = {"natural": "the bottom half (raster order)", "columns": "the right half (column order)"}


# --- 16 at once, completion, export ------------------------------------------------------------

def _open_seed(seed: int) -> None:
    st.session_state["seed"] = str(seed)
    st.session_state["sampling_view"] = VIEWS[0]


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
    run = run_of(KEY)
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
    """The lecture layout, as the page will decide it below (the toggle's value, else the
    link's; or presenter mode), known before the toggle is drawn: the title goes out first."""
    value = st.session_state.get("lecture")
    asked = value if isinstance(value, bool) else st.query_params.get("lecture") == "true"
    return asked or presenter.presenting()


def render() -> None:
    side = presenter.controls_area("Sampling")
    header = st.container()
    if not _lecture_asked():
        with header:
            st.title("Sampling studio")
    server.my_turn()
    b = model_picker("Sampling studio", side)
    if b is None:
        return
    name = b.name
    with side:
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
    current_run(b, mask, seed, key=KEY)
    lecture = lecture or presenter.presenting()  # presenter mode shows the lecture layout
    with header:
        if not lecture:
            st.caption(f"**{name}**, {ordering} order, seed **{seed}**. MADE draws each pixel from"
                       " p(x_d = 1 | x_<d), read off one forward pass, in the order its masks"
                       " were built for. The whole digit is drawn the moment the seed is chosen;"
                       " Step, Play and the history scrubber reveal it.")
    tabs = view_tabs()
    with tabs[0]:
        if tabs[0].open is not False:
            studio(name, prepared, lecture, key=KEY)
    with tabs[1]:
        if tabs[1].open:
            grid_view(b, mask, seed, key=KEY, on_open=_open_seed)
    with tabs[2]:
        if tabs[2].open:
            completion_view(b, seed)
    with tabs[3]:
        if tabs[3].open:
            export_view(name, ordering, seed)
    # The model's other masks, last: the page is drawn by now, and a seed that picks one of
    # them later reruns quickly (a long seed rerun is more likely to be cut by another request).
    all_masks_prepared(name)

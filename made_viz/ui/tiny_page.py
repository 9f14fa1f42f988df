"""Tiny world page: train a small MADE live, add up its p(x) over every image, then break a mask.

The story reads top to bottom: 1 the data (its exact distribution and entropy H), 2 the network
(the Masks page's controls, same URL keys), 3 train (live curve against H), 4 does it sum to
one (the exact sum, learned against true p(x), samples), 5 break it (side by side with the
correct network, same seed, same data). Every number is computed: the sum is an enumeration of
the model's own log-probabilities.

Sections 3 and 4 and the broken masks are ui/tiny_views.py's (the tour shows them too; how a
training run lives in the session is said there): this page reads its controls, draws the data
and the network, and lays the views out.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache, partial

import numpy as np
import streamlit as st

from made_viz import tiny
from made_viz.figures import digits, graph, matrices
from made_viz.masks import MaskSet
from made_viz.validation import parse_int_list
from made_viz.ui import presenter
from made_viz.ui.network_controls import cached_masks, network_controls, remember_order
from made_viz.ui.tiny_views import (STYLE, Look, Training, broken_masks, cached_product,
                                    cell_px, correct_and_broken, data_samples_figure,
                                    live_training, training_controls, verdict)
from made_viz.ui.widgets import choice, int_input, last_valid, number_slider, parsed_input

MAX_SIDE = 8
MAX_LAYERS = 3
MAX_UNITS = 64
MAX_MASKS = 8
MAX_SECONDS = 30
SETUP = tiny.DEFAULT_SETUP
DEFAULTS = dict(hidden=", ".join(map(str, SETUP.hidden_sizes)), ordering=SETUP.ordering,
                degrees=SETUP.degrees, seed=SETUP.seed, direct=SETUP.direct)
BREAK_CHOICES = ("none", *tiny.BREAKS)
BREAK_LABELS = {"none": "the masks as MADE builds them",
                "sees-self": "into the outputs ≥ instead of >: each output sees its own input",
                "flip": "one mask entry flipped: click a cell of a layer mask in 5",
                "unmasked": "every mask all ones: a plain autoencoder"}


# --- reading the controls ---------------------------------------------------------------------

def _prototype_text(prototypes) -> str:
    return ", ".join(map(str, prototypes))


def _parse_prototypes(text: str, D: int) -> tuple[int, ...]:
    return tiny.check_prototypes(parse_int_list(text, "prototypes"), D)


def read_world():
    """The world the sidebar asks for, or (None, the reason naming the field)."""
    st.header("1 · Data")
    # Options as they read in the URL (a selectbox puts its shown text there).
    data = choice("data set", "data", tiny.DATA_SETS, default=SETUP.data,
                  help="prototypes: a few images with pixel-flip noise. bars-and-stripes: every "
                       "image whose rows, or whose columns, are each all on or all off.")
    rows = int_input("rows", "rows", default=SETUP.rows, low=1, high=MAX_SIDE,
                     help=f"Image height; D = rows × columns must be in {tiny.MIN_D}.."
                          f"{tiny.MAX_D}.")
    cols = int_input("columns", "cols", default=SETUP.cols, low=1, high=MAX_SIDE)
    try:
        D = tiny.check_size(rows, cols)
    except ValueError as error:
        return None, str(error)
    if data == "bars-and-stripes":
        return tiny.bars_and_stripes(rows, cols), None
    if st.session_state.get("_tiny_size", (rows, cols)) != (rows, cols):
        st.session_state["protos"] = _prototype_text(tiny.default_prototypes(rows, cols))
    st.session_state["_tiny_size"] = (rows, cols)
    noise = number_slider("noise: pixel flip probability", "noise", low=0.0,
                          high=tiny.MAX_NOISE, step=0.01, default=SETUP.noise,
                          help="Each pixel of the chosen prototype flips with this probability.")
    prototypes = parsed_input(
        "prototypes", "protos", default=_prototype_text(tiny.default_prototypes(rows, cols)),
        parse=lambda text: _parse_prototypes(text, D),
        expected=f"1..{tiny.MAX_PROTOTYPES} pattern numbers in 0..{2 ** D - 1}",
        help="Pattern numbers: pixel d is bit d. Easier: click pixels in 1.")
    try:
        return tiny.noisy_prototypes(rows, cols, prototypes, noise), None
    except ValueError as error:
        return None, str(error)


def _parse_flip(text: str, masks: MaskSet):
    """'2, 3, 5' -> W2[3, 5], as (layer index 1, row 3, col 5); '' -> None."""
    if not text.strip():
        return None
    values = parse_int_list(text, "flipped entry")
    shapes = [m.shape for m in masks.layer_masks]
    if len(values) != 3 or not 1 <= values[0] <= len(shapes):
        raise ValueError(f"flipped entry: 'layer, row, column' with layer in 1..{len(shapes)},"
                         f" got {text.strip()[:30]!r}")
    rows, cols = shapes[values[0] - 1]
    if not (0 <= values[1] < rows and 0 <= values[2] < cols):
        raise ValueError(f"flipped entry: W{values[0]} has rows 0..{rows - 1} and columns"
                         f" 0..{cols - 1}, got ({values[1]}, {values[2]})")
    return values[0] - 1, values[1], values[2]


def read_network(D: int):
    """The correct masks (one per mask k) the controls ask for, or (None, the reason)."""
    st.header("2 · Network")
    hidden, ordering, degrees, seed, direct = network_controls(
        D, defaults=DEFAULTS, max_layers=MAX_LAYERS, max_units=MAX_UNITS)
    K = int_input("number of masks K", "K", default=SETUP.K, low=1, high=MAX_MASKS,
                  help="Connectivity-agnostic training: each minibatch uses one of K masks; "
                       "p(x) is their average.")
    seconds = int_input("training time (seconds)", "secs", default=8, low=1, high=MAX_SECONDS)
    try:
        sets = tuple(cached_masks(D, hidden, ordering, degrees, seed + k, direct)
                     for k in range(K))
    except ValueError as error:
        return None, str(error)
    remember_order(sets[0])
    return (sets, (D, hidden, ordering, degrees, seed, direct, K), seed, seconds), None


def read_break(masks: MaskSet):
    st.header("5 · Break it")
    how = choice("break the masks", "break", BREAK_CHOICES, default="none",
                 help=" · ".join(f"{name}: {words}" for name, words in BREAK_LABELS.items()))
    st.caption(BREAK_LABELS[how])
    flip = parsed_input("flipped entry", "flip", default="", keep_last=False,
                        parse=lambda text: _parse_flip(text, masks),
                        expected="'layer, row, column' of a layer mask, such as '2, 0, 3'",
                        help="Click a cell of a layer mask in 5, or type W's number, the row "
                             "and the column.")
    return how, flip


# --- drawing ----------------------------------------------------------------------------------

def data_section(world: tiny.World, seed: int) -> None:
    st.subheader("1 · The data: every image and its exact probability")
    editor, samples, facts = st.columns([1.5, 1.3, 1], gap="medium")
    possible = int(np.isfinite(world.log_probs).sum())
    with facts:
        st.markdown(f"**{world.name}**\n\n- D = {world.D} pixels: **{2 ** world.D:,}** possible "
                    f"images\n- {possible:,} of them can occur\n- entropy **H = "
                    f"{world.entropy:.3f} nats**: no distribution can have an expected NLL "
                    "below it")
    with samples:
        st.markdown("**Samples of the data**")
        st.plotly_chart(data_samples_figure(world, seed), key="data_samples", theme=None,
                        config={"displayModeBar": False})
    with editor:
        if st.session_state.get("data", SETUP.data) == "prototypes":
            prototype_editor(world)
        else:
            st.markdown("**Bars and stripes**: every image whose rows are each all on or all "
                        "off, or whose columns are, equally likely.")


def prototype_editor(world: tiny.World) -> None:
    prototypes = parsed_prototypes(world.D)
    st.markdown("**Prototypes**: click a pixel to flip it")
    images = tiny.all_patterns(world.D)[list(prototypes)]
    key = f"protos_grid_{st.session_state.get('_tiny_edits', 0)}"
    st.plotly_chart(
        digits.pixel_grid_figure(images, world.rows, world.cols, clickable=True,
                                 titles=[f"#{k + 1}" for k in range(len(images))],
                                 per_line=4, cell_px=cell_px(world, 4, 340)),
        key=key, theme=None, on_select=partial(_on_prototype_click, key, prototypes),
        selection_mode="points", config={"displayModeBar": False})
    add, remove = st.columns(2)
    add.button("add", key="proto_add", icon=":material/add:",
               disabled=len(prototypes) >= tiny.MAX_PROTOTYPES, on_click=_set_prototypes,
               args=((*prototypes, 0),))
    remove.button("remove", key="proto_remove", icon=":material/remove:",
                  on_click=_set_prototypes, args=(prototypes[:-1],))


def parsed_prototypes(D: int) -> tuple[int, ...]:
    try:
        return _parse_prototypes(st.session_state.get("protos", ""), D)
    except ValueError:
        return tuple(p for p in (last_valid("protos") or ()) if p < 2 ** D)


def _set_prototypes(prototypes) -> None:
    st.session_state["protos"] = _prototype_text(prototypes)
    st.session_state["_tiny_edits"] = st.session_state.get("_tiny_edits", 0) + 1


# A chart's selection comes from the browser: a point that names no cell is ignored.
_BAD_POINT = (TypeError, ValueError, IndexError, KeyError, AttributeError)


def _on_prototype_click(key: str, prototypes: tuple[int, ...]) -> None:
    event = st.session_state.get(key)
    try:
        for point in (event["selection"]["points"] if event else []):
            data = point.get("customdata")
            if data:
                image, pixel = int(data[0]), int(data[1])
                if not (0 <= image < len(prototypes) and 0 <= pixel < tiny.MAX_D):
                    return
                changed = list(prototypes)
                changed[image] ^= 1 << pixel
                _set_prototypes(changed)
                return
    except _BAD_POINT:
        return


def network_section(sets) -> None:
    st.subheader("2 · The network and its masks")
    st.plotly_chart(cached_graph(sets[0]), key="tiny_graph", theme=None,
                    config={"displayModeBar": False})
    if len(sets) > 1:
        st.caption(f"Mask 1 of {len(sets)}; the others differ in their hidden degrees.")
    product, words = st.columns([1, 1], gap="medium")
    with product:
        st.plotly_chart(cached_product(sets[0]), key="tiny_paths", theme=None,
                        config={"displayModeBar": False})
    with words:
        verdict(sets[0])
        st.markdown("The product of the masks counts the paths from each input to each output. "
                    "In generation order it must be **strictly lower-triangular**: output *d* "
                    "may only see the inputs before *d*. Then p(x₁) p(x₂ | x₁) … is a "
                    "distribution, and its sum over every image is exactly 1.")


@lru_cache(maxsize=32)
def cached_graph(masks: MaskSet):
    return graph.connectivity_graph(masks, height=640)


def break_section(sets, broken, how: str, flip) -> None:
    st.subheader("5 · Break it")
    st.markdown(
        "Pick a way to break the masks in the sidebar (or click a cell below to flip it). The "
        "broken network then trains beside the correct one, from the same weights on the same "
        "data: its loss falls **below H**, its p(x) sum to **far more than 1**, and its samples"
        " stop looking like the data.")
    shown = broken[0] if broken is not None else sets[0]
    masks_col, product_col = st.columns([1.2, 1], gap="medium")
    with masks_col:
        if shown.layer_masks:
            key = f"flip_masks_{st.session_state.get('_tiny_flips', 0)}"
            st.plotly_chart(cached_clickable_masks(shown), key=key, theme=None,
                            on_select=partial(_on_mask_click, key, flip),
                            selection_mode="points", config={"displayModeBar": False})
            st.caption("Click any cell of a layer mask to flip it (mask 1)."
                       + (f" Flipped: W{flip[0] + 1}[{flip[1]}, {flip[2]}]; click it again to"
                          " undo." if flip is not None and how == "flip" else ""))
        else:
            st.caption("No hidden layer: nothing to click. Try another break.")
    with product_col:
        if broken is None:
            st.info("Not broken: choose a way in the sidebar (5 · Break it).",
                    icon=":material/build:")
        else:
            st.plotly_chart(cached_product(broken[0]), key="broken_paths", theme=None,
                            config={"displayModeBar": False})
            verdict(broken[0])


@lru_cache(maxsize=32)
def cached_clickable_masks(masks: MaskSet):
    return matrices.layer_masks_figure(masks, height=360, clickable=True)


def _on_mask_click(key: str, flip) -> None:
    event = st.session_state.get(key)
    try:
        points = event["selection"]["points"] if event else []
        entries = [(int(p["customdata"][0]), int(p["customdata"][1]), int(p["customdata"][2]))
                   for p in points if p.get("customdata")]
    except _BAD_POINT:
        return
    if not entries:
        return
    entry = entries[0]
    undo = flip is not None and entry == tuple(flip)
    st.session_state["flip"] = "" if undo else f"{entry[0] + 1}, {entry[1]}, {entry[2]}"
    st.session_state["break"] = "none" if undo else "flip"
    st.session_state["_tiny_flips"] = st.session_state.get("_tiny_flips", 0) + 1


def render() -> None:
    side = presenter.controls_area("Tiny world")
    st.html(STYLE)
    st.title("Tiny world: does p(x) sum to one?")
    st.caption("Small enough to list every image. A MADE multiplies its outputs into p(x); "
               "here that p(x) is added up over all 2^D images, exactly, while it learns. Then "
               "one broken mask lets it cheat.")
    with side:
        world, problem = read_world()
        network = broken = None
        if world is not None:
            network, problem = read_network(world.D)
        if network is not None:
            how, flip = read_break(network[0][0])
            broken = broken_masks(network[1], how, flip)
    if world is None or network is None:
        where = "under Tiny world above" if presenter.presenting() else "in the sidebar"
        st.error(f"{problem}. Change it {where}.", icon=":material/error:")
        return
    sets, net_key, seed, seconds = network
    data_section(world, seed)
    network_section(sets)
    key = (world.name, hashlib.blake2b(world.log_probs.tobytes()).hexdigest(), net_key, how,
           flip, seconds)
    training = Training(world, tuple(correct_and_broken(sets, broken)), seed, seconds, key)
    live_training(*training_controls(), training, Look(big=presenter.presenting()))
    break_section(sets, broken, how, flip)

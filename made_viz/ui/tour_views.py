"""The tour's live views, one for each view a tour file may name (made_viz.tour.VIEWS): the
what-if controls a lecturer changes during the lecture, started from the step's settings; the
view itself, drawn by the same view modules the pages use (masks_views, tiny_views,
likelihood_views, sampling_views) with those settings; and the full page's URL parameters for
them, so "open in the full page" opens the view as it is now.

`key` prefixes every widget and session key of a step's view: each step keeps its own state,
apart from the pages' and the other steps'. A control's value starts from the step's setting
each time the step is shown.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import streamlit as st

from made_viz import checkpoint, images, tiny
from made_viz.data import DataError
from made_viz.figures import graph, tiny as tiny_figures
from made_viz.masks import DEGREE_RULES
from made_viz.tour import VIEWS, Step
from made_viz.validation import SEED_MAX, parse_hidden_sizes
from made_viz.ui import likelihood_views as lv
from made_viz.ui import masks_views as mv
from made_viz.ui import tiny_views as tv
from made_viz.ui.models import bundled, prepared_mask, test_digits
from made_viz.ui.network_controls import cached_masks
from made_viz.ui.sampling_views import current_run, grid_view, studio
from made_viz.ui.sketch import stroke_image

GRAPH_PX = 560
MATRIX_PX = 460
CURVE_PX = 290
MAPS_PX = 330
PAD_PX = 336
NEAREST_GRID = 8  # samples beside their nearest training digits: one row of a projector
TOUR_ORDERINGS = ("natural", "reverse", "random")


def _start(key: str, value) -> str:
    """A control's session key, holding the step's setting until the user changes it."""
    st.session_state.setdefault(key, value)
    return key


def _checked(view: str, name: str, value, fallback):
    """A typed value checked as the tour file's would be; on a bad one, say so and keep the
    step's own."""
    try:
        return VIEWS[view].settings[name].check(name, value)
    except ValueError as error:
        st.warning(f"{error}. Keeping {fallback!r}.", icon="⚠️")
        return fallback


# --- the Masks page's views -------------------------------------------------------------------

def network_controls(step: Step, key: str) -> dict:
    s = dict(step.settings)
    spec = VIEWS[step.view].settings
    s["D"] = int(st.number_input("D (inputs)", int(spec["D"].low), int(spec["D"].high),
                                 key=_start(f"{key}D", s["D"])))
    hidden = st.text_input("hidden sizes", key=_start(f"{key}hidden", s["hidden"]))
    s["hidden"] = _checked(step.view, "hidden", hidden, step.settings["hidden"])
    s["ordering"] = st.selectbox("ordering", TOUR_ORDERINGS,
                                 key=_start(f"{key}ordering", s["ordering"]))
    s["degrees"] = st.selectbox("hidden degrees", DEGREE_RULES,
                                key=_start(f"{key}degrees", s["degrees"]))
    s["seed"] = int(st.number_input("seed", 0, SEED_MAX, key=_start(f"{key}seed", s["seed"])))
    s["direct"] = st.toggle("direct connections", key=_start(f"{key}direct", s["direct"]))
    if "gen" in s:
        s["gen"] = st.toggle("generation order", key=_start(f"{key}gen", s["gen"]))
    if "unit" in s:
        s["unit"] = st.text_input("highlighted unit (or click one)",
                                  key=_start(f"{key}unit", s["unit"]))
    return s


def _network(s: dict) -> mv.Network:
    return mv.Network(s["D"], parse_hidden_sizes(s["hidden"]), s["ordering"], s["degrees"],
                      s["seed"], s["direct"])


def draw_graph(s: dict, key: str, present: bool) -> None:
    net = _network(s)
    masks = mv.masks_for(net)
    try:
        selected = graph.parse_unit(s["unit"], masks)
    except ValueError as error:
        st.warning(f"{error}. Nothing highlighted.", icon="⚠️")
        selected = None
    mv.graph_view(net, masks, selected, key=key, unit_key=f"{key}unit", height=GRAPH_PX)


def draw_matrices(s: dict, key: str, present: bool) -> None:
    net = _network(s)
    if not mv.layer_masks_chart(net, s["gen"], key=key, height=MATRIX_PX):
        st.info("No hidden layer: the direct connections are the whole network.")
    st.caption(mv.matrices_caption(s["gen"]))


def draw_paths(s: dict, key: str, present: bool) -> None:
    net = _network(s)
    masks = mv.masks_for(net)
    product, checks = st.columns([1.15, 1], gap="medium")
    with product:
        mv.product_chart(net, s["gen"], key=key, height=MATRIX_PX)
    with checks:
        mv.masks_verdict(masks)
        mv.jacobian_readout(masks, big=present)


# --- the Tiny world's training ----------------------------------------------------------------

def tiny_controls(step: Step, key: str) -> dict:
    s = dict(step.settings)
    s["break"] = st.selectbox("break the masks", ("none", "sees-self", "unmasked"),
                              key=_start(f"{key}break", s["break"]))
    s["seed"] = int(st.number_input("seed", 0, SEED_MAX, key=_start(f"{key}seed", s["seed"])))
    s["secs"] = int(st.number_input("training time (seconds)", 1, 30,
                                    key=_start(f"{key}secs", s["secs"])))
    if s["break"] == "none":
        s["networks"] = "correct"
    elif s["networks"] == "correct":
        s["networks"] = "both"
    return s


BROKEN_LABELS = {"unmasked": "no masks", "sees-self": "broken"}


def draw_training(s: dict, key: str, present: bool) -> None:
    hidden = parse_hidden_sizes(s["hidden"])
    world = tiny.world_from_settings(tiny.Setup(data=s["data"], rows=s["rows"], cols=s["cols"],
                                                noise=s["noise"], seed=s["seed"]))
    net_key = (world.D, hidden, "natural", "random", s["seed"], True, 1)
    sets = (cached_masks(*net_key[:6]),)
    broken = tv.broken_masks(net_key, s["break"], None)
    networks = []
    if s["networks"] in ("correct", "both"):
        networks.append(tv.Trained("correct MADE", sets, tiny_figures.CORRECT_COLOR))
    if s["networks"] in ("broken", "both") and broken is not None:
        networks.append(tv.Trained(BROKEN_LABELS[s["break"]], broken, tiny_figures.BROKEN_COLOR))
    run_key = (world.name, net_key, s["break"], s["networks"], s["secs"])
    training = tv.Training(world, tuple(networks), s["seed"], s["secs"], run_key)
    look = tv.Look(key=key, compact=True, autostart=s["autostart"], big=present,
                   curve_px=CURVE_PX + 22 * len(networks), legend_rows=1 + len(networks))
    st.html(tv.STYLE)
    tv.live_training(*tv.training_controls(look, title=None), training, look)


# --- the Likelihood page's views --------------------------------------------------------------

def image_controls(step: Step, key: str) -> dict:
    s = dict(step.settings)
    names = checkpoint.list_pretrained()
    model = s["model"] if s["model"] in names else names[0]
    s["model"] = st.selectbox("model", names, key=_start(f"{key}model", model))
    b = bundled(s["model"])
    options = ["ensemble", *map(str, range(b.model.num_masks))]
    shown = st.selectbox("mask", options, key=_start(f"{key}mask", s["mask"] if s["mask"]
                                                      in options else "ensemble"))
    s["mask"] = shown if shown == "ensemble" else int(shown)
    digits = test_digits()
    s["digit"] = int(st.number_input(f"test digit (0..{len(digits.labels) - 1})", 0,
                                     len(digits.labels) - 1,
                                     key=_start(f"{key}digit", min(s["digit"],
                                                                   len(digits.labels) - 1))))
    s["image"] = (np.zeros(images.D_IMAGE, dtype=np.uint8) if s["blank"]
                  else digits.images[s["digit"]])
    if step.view == "likelihood.draw":
        s["image"] = drawn_image(key, s["image"])
    return s


def drawn_image(key: str, start: np.ndarray) -> np.ndarray:
    """The sketch pad's image: the step's digit until the user draws, again when the digit
    setting changes or on "Start over"."""
    ss, source = st.session_state, start.tobytes()
    if ss.get(f"{key}drawn_from") != source:
        ss[f"{key}drawn_from"], ss[f"{key}image"] = source, start
    st.button("Start over", key=f"{key}start_over", icon=":material/restart_alt:",
              on_click=partial(ss.__setitem__, f"{key}image", start))
    return ss[f"{key}image"]


def _drawn(key: str) -> None:
    image = stroke_image((st.session_state.get(f"{key}sketch") or {}).get("stroke"))
    if image is not None:  # anything else a browser could send changes nothing
        st.session_state[f"{key}image"] = image


def _score_and_place(s: dict):
    b = bundled(s["model"])
    scored = lv.score(s["model"], s["image"], s["mask"])
    _, _, sorted_nlls, better_than = lv.test_placement(s["model"], s["mask"], -scored.log_prob)
    return b, scored, better_than, 0 if sorted_nlls is None else len(sorted_nlls)


def draw_score(s: dict, key: str, present: bool) -> None:
    b, scored, better_than, n_test = _score_and_place(s)
    with st.container(key=f"{key}score"):
        lv.score_panel(b, scored, better_than, n_test, caption=False)
    lv.maps_chart(b, scored, (images.encode_image(s["image"]), s["model"], s["mask"]),
                  key=f"{key}maps", height=MAPS_PX)


def draw_sketch(s: dict, key: str, present: bool) -> None:
    b, scored, better_than, n_test = _score_and_place(s)
    pad, numbers = st.columns([1, 1], gap="medium")
    with pad:
        lv.sketch_view(s["image"], scored, key=f"{key}sketch", on_stroke=partial(_drawn, key),
                       size=PAD_PX)
    with numbers, st.container(key=f"{key}score"):
        lv.score_panel(b, scored, better_than, n_test, caption=False)
        st.caption(f"{int(s['image'].sum())} ink pixels. The score follows each stroke.")


def draw_every_mask(s: dict, key: str, present: bool) -> None:
    lv.every_mask_view(s["image"], s["model"], lv.score(s["model"], s["image"], s["mask"]),
                       title=False)


def image_link(step: Step, s: dict) -> dict:
    return {"model": s["model"], "mask": str(s["mask"]), "x": images.encode_image(s["image"]),
            **step.link}


# --- the Sampling page's player ---------------------------------------------------------------

def player_controls(step: Step, key: str) -> dict:
    s = dict(step.settings)
    names = checkpoint.list_pretrained()
    s["model"] = st.selectbox("model", names, key=_start(
        f"{key}model", s["model"] if s["model"] in names else names[0]))
    orderings = bundled(s["model"]).orderings()
    if st.session_state.get(f"{key}ordering") not in (None, *orderings):
        st.session_state[f"{key}ordering"] = orderings[0]
    s["ordering"] = st.selectbox("ordering", orderings, key=_start(
        f"{key}ordering", s["ordering"] if s["ordering"] in orderings else orderings[0]))
    s["seed"] = int(st.number_input("seed", 0, SEED_MAX, key=_start(f"{key}seed", s["seed"])))
    return s


def draw_player(s: dict, key: str, present: bool) -> None:
    b = bundled(s["model"])
    prepared = prepared_mask(b.name, b.pick_mask(s["ordering"], s["seed"]))
    current_run(b, prepared.index, s["seed"], key=key)
    studio(b.name, prepared, True, key=key)


def draw_nearest(s: dict, key: str, present: bool) -> None:
    b = bundled(s["model"])
    prepared = prepared_mask(b.name, b.pick_mask(s["ordering"], s["seed"]))
    grid_view(b, prepared.index, s["seed"], key=key, count=NEAREST_GRID, per_row=NEAREST_GRID,
              short=True)


# --- the registry -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TourView:
    controls: Callable[[Step, str], dict]  # draws the what-if controls, returns the settings
    draw: Callable[[dict, str, bool], None]  # draws the view: settings, key, presenting
    link: Callable[[Step, dict], dict] = lambda step, s: step.link_params(s)


TOUR_VIEWS = {
    "tiny.train": TourView(tiny_controls, draw_training),
    "masks.graph": TourView(network_controls, draw_graph),
    "masks.matrices": TourView(network_controls, draw_matrices),
    "masks.paths": TourView(network_controls, draw_paths),
    "likelihood.score": TourView(image_controls, draw_score, image_link),
    "likelihood.draw": TourView(image_controls, draw_sketch, image_link),
    "likelihood.masks": TourView(image_controls, draw_every_mask, image_link),
    "sampling.player": TourView(player_controls, draw_player),
    "sampling.nearest": TourView(player_controls, draw_nearest),
}


def preset_link(step: Step) -> dict:
    """The full page's URL parameters for the step's own settings (before any what-if)."""
    s = dict(step.settings)
    if step.view.startswith("likelihood."):
        try:
            digits = test_digits()
            s["image"] = (np.zeros(images.D_IMAGE, dtype=np.uint8) if s["blank"] else
                          digits.images[min(s["digit"], len(digits.labels) - 1)])
        except DataError:
            return step.link_params()
    return TOUR_VIEWS[step.view].link(step, s)

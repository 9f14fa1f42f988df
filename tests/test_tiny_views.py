"""The Tiny world's training views, drawn from explicit settings: each view's run is its own
(the page's and each tour step's), compact read-outs for the tour, and the broken masks."""
from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest

from made_viz.figures import tiny as tiny_figures
from made_viz.masks import build_masks
from made_viz.ui import tiny_views


def two_views():
    import streamlit as st

    from made_viz import tiny
    from made_viz.ui import tiny_views as tv
    from made_viz.ui.network_controls import cached_masks

    world = tiny.world_from_settings(tiny.DEFAULT_SETUP)
    net_key = (world.D, (8,), "natural", "random", 0, True, 1)
    sets = (cached_masks(*net_key[:6]),)
    broken = tv.broken_masks(net_key, "unmasked", None)
    st.html(tv.STYLE)
    page = tv.Training(world, tuple(tv.correct_and_broken(sets, broken)), 0, 1, ("page",))
    tv.live_training(*tv.training_controls(), page)
    alone = tv.Training(world, (tv.Trained("no masks", broken, "#d62728"),), 0, 1, ("tour",))
    look = tv.Look(key="t1_", compact=True, big=True, autostart=True, curve_px=280)
    tv.live_training(*tv.training_controls(look, title=None), alone, look)


def readouts(at) -> list[str]:
    return [h.proto.body for h in at.get("html") if "tiny-readout" in h.proto.body
            and "<div" in h.proto.body]


def test_each_view_keeps_its_own_run_and_keys():
    at = AppTest.from_function(two_views, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    page_run, tour_run = at.session_state["_tiny_run"], at.session_state["t1__tiny_run"]
    assert page_run is not tour_run
    assert (page_run.state, tour_run.state) == ("untrained", "done")  # only the tour autostarts
    assert page_run.labels == ["correct MADE", "broken"] and tour_run.labels == ["no masks"]
    assert {b.key for b in at.button} == {"train", "stop", "t1_train", "t1_stop"}
    page_sums, tour_sum = readouts(at)[:2], readouts(at)[2]
    assert "sum of p(x) over all 2<sup>9</sup> patterns: <b>1.000000</b>" in page_sums[0]
    assert "big" in tour_sum and "over all 2<sup>9</sup> = 512 images" in tour_sum
    total = float(re.search(r"<b>([\d,.]+)</b>", tour_sum).group(1).replace(",", ""))
    assert abs(total - 1) > 0.01  # an autoencoder without masks is no distribution


def test_broken_masks_break_every_mask_and_none_is_none():
    key = (6, (8,), "natural", "random", 0, True, 2)
    assert tiny_views.broken_masks(key, "none", None) is None
    assert tiny_views.broken_masks(key, "flip", None) is None
    broken = tiny_views.broken_masks(key, "sees-self", None)
    assert len(broken) == 2 and not any(m.is_autoregressive() for m in broken)


def test_the_correct_network_comes_first_and_a_broken_one_beside_it():
    masks = (build_masks(4, (5,), seed=0),)
    only = tiny_views.correct_and_broken(masks, None)
    assert [n.label for n in only] == ["correct MADE"]
    both = tiny_views.correct_and_broken(masks, masks)
    assert [(n.label, n.color) for n in both] == [
        ("correct MADE", tiny_figures.CORRECT_COLOR), ("broken", tiny_figures.BROKEN_COLOR)]

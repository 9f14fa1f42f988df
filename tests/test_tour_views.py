"""The tour's views: one for every view a tour file may name; what-if controls that start from
the step's settings, each step's under its own keys; and the full page's link for the view as
it is (a drawn image goes into the Likelihood page's link)."""
from __future__ import annotations


import numpy as np
from streamlit.testing.v1 import AppTest

from made_viz import images
from made_viz.tour import VIEWS, load_tour
from made_viz.ui import models
from made_viz.ui.tour_views import TOUR_VIEWS, preset_link


def test_every_view_a_tour_file_may_name_has_a_live_view():
    assert set(TOUR_VIEWS) == set(VIEWS)


def test_a_steps_preset_link_is_its_pages_link_for_its_settings():
    steps = load_tour("lecture").steps
    assert preset_link(steps[1]) == steps[1].link_params()
    score = preset_link(steps[5])
    digit = models.test_digits().images[steps[5].settings["digit"]]
    assert np.array_equal(images.decode_url_image(score["x"]), digit)
    assert (score["model"], score["mask"]) == ("mnist", "0")


def controls_of(view: str, number: int):
    import streamlit as st

    from made_viz.tour import load_tour
    from made_viz.ui.tour_views import TOUR_VIEWS

    step = next(s for s in load_tour("lecture").steps if s.view == view)
    settings = TOUR_VIEWS[view].controls(step, f"t{number}_")
    st.session_state["shown"] = {k: v for k, v in settings.items() if k != "image"}
    st.session_state["link"] = TOUR_VIEWS[view].link(step, settings)


def run_controls(view: str, number: int) -> AppTest:
    at = AppTest.from_function(controls_of, args=(view, number), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_what_if_controls_start_from_the_steps_settings_under_the_steps_keys():
    steps = {}
    for step in load_tour("lecture").steps:
        steps.setdefault(step.view, step)  # as controls_of, the first step with the view
    for number, view in enumerate(["masks.graph", "tiny.train", "likelihood.score",
                                   "sampling.player"], 1):
        at = run_controls(view, number)
        assert at.session_state["shown"] == steps[view].settings or view == "likelihood.score"
        assert all(key.startswith(f"t{number}_") for key in at.session_state
                   if key not in ("shown", "link") and not key.startswith("$$"))
    at = run_controls("likelihood.score", 6)
    assert at.session_state["shown"]["mask"] == 0  # the URL's "0" as the mask it names


def test_a_changed_setting_is_in_the_link_and_a_bad_one_is_named():
    at = run_controls("masks.graph", 2)
    at.number_input(key="t2_seed").set_value(11).run()
    assert at.session_state["link"]["seed"] == "11"
    at.text_input(key="t2_hidden").set_value("99, 99").run()
    (message,) = [w.value for w in at.warning]
    assert message.startswith("hidden: hidden sizes: at most 3 layers") and "Keeping" in message
    assert at.session_state["link"]["hidden"] == "6, 6"


def test_what_is_drawn_on_the_pad_goes_into_the_link():
    at = run_controls("likelihood.draw", 7)
    drawn = np.zeros(784, dtype=np.uint8)
    drawn[300:310] = 1
    at.session_state["t7_image"] = drawn
    at.run()
    assert at.session_state["link"]["x"] == images.encode_image(drawn)
    at.button(key="t7_start_over").click().run()
    start = models.test_digits().images[load_tour("lecture").steps[6].settings["digit"]]
    assert np.array_equal(images.decode_url_image(at.session_state["link"]["x"]), start)

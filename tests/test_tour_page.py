"""The Lecture page through Streamlit's AppTest: every step of every bundled tour draws its
view; the link's step and tour are checked (a hostile value gets a message naming the field and
what it allows); Back at the first step and Next at the last change nothing; each card's "open
in the full page" link carries the view's settings. The keys and the card in a browser:
tests/e2e/test_tour_e2e.py."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from made_viz import images
from made_viz.tour import load_tour
from made_viz.ui import models
from tests.conftest import open_app
from tour_view import nav_data, report

LECTURE = load_tour("lecture")


def open_tour(**query):
    at = open_app("tour", timeout=120, **query)
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_step(at) -> int:
    data = nav_data(at)
    assert data is not None, "no card on the page"
    return data["step"]


@pytest.mark.parametrize("step", range(1, len(LECTURE.steps) + 1))
def test_every_step_of_the_lecture_draws_its_view(step):
    at = open_tour(step=str(step))
    assert shown_step(at) == step and not at.warning and not at.error
    assert at.query_params["step"] == str(step)
    data = nav_data(at)
    assert [c["title"] for c in data["steps"]] == [s.title for s in LECTURE.steps]


def test_every_step_of_the_quick_tour_draws_its_view():
    at = open_tour(tour="quick")
    for step in range(1, 5):
        assert shown_step(at) == step and not at.exception and not at.warning
        at = report(at, {"step": step + 1})
    assert nav_data(at)["steps"][0]["title"] == load_tour("quick").steps[0].title


@pytest.mark.parametrize("value", ["0", "5", "-1", "abc", "٣", "1e3", "", "9" * 10_000,
                                   "<script>", "[x](javascript:alert(1))"])
def test_a_step_the_tour_has_not_is_named_with_its_range(value):
    at = open_tour(tour="quick", step=value)
    assert shown_step(at) == 1
    (message,) = [w.value for w in at.warning]
    assert message.startswith("**step**: step must be") and "1..4" in message, message
    assert "](javascript" not in message  # markdown shows any other text as typed


@pytest.mark.parametrize("value", ["../../etc/passwd", "/etc/passwd", "lecture.toml", "LECTURE",
                                   "x" * 5000, "quick/../lecture"])
def test_a_tour_that_is_not_bundled_is_named_with_the_tours_there_are(value):
    at = open_tour(tour=value, step="2")
    (message,) = [w.value for w in at.warning]
    assert message.startswith("**tour**: tour must be one of lecture, quick, got"), message
    assert message.endswith("Showing the 'lecture' tour.") and len(message) < 200
    assert shown_step(at) == 2 and nav_data(at)["steps"][1]["title"] == LECTURE.steps[1].title


def test_back_at_the_first_step_and_next_at_the_last_change_nothing():
    at = open_tour(tour="quick")
    at = report(at, {"step": 0})  # Back at 1: the card never sends it; a crafted one is ignored
    assert shown_step(at) == 1 and at.session_state["tour_step"] == 1 and not at.exception
    at = report(at, {"step": 4})
    assert at.session_state["tour_step"] == 4 and at.query_params["step"] == "4"
    for crafted in ({"step": 5}, {"step": "3"}, {"step": None}, {"nope": 1}):
        at = report(at, crafted)
        assert at.session_state["tour_step"] == 4 and not at.exception and not at.warning


def test_opening_a_step_directly_shows_that_step():
    at = open_tour(step="6")
    assert shown_step(at) == 6
    assert any("nats" in h.proto.body for h in at.get("html"))  # the score, in nats


def test_each_cards_link_opens_its_page_with_the_views_settings():
    data = nav_data(open_tour(step="2"))
    links = [urlsplit(c["link"]) for c in data["steps"]]
    assert [u.path for u in links] == [s.page for s in LECTURE.steps]
    masks = parse_qs(links[1].query)
    assert masks["D"] == ["5"] and masks["hidden"] == ["6, 6"] and masks["unit"] == ["o3"]
    score = parse_qs(links[5].query)  # step 6: the test digit, under mask 0
    digit = models.test_digits().images[LECTURE.steps[5].settings["digit"]]
    assert np.array_equal(images.decode_url_image(score["x"][0]), digit)
    assert score["mask"] == ["0"] and score["model"] == ["mnist"]
    nearest = parse_qs(links[10].query)  # step 11: the Sampling page's 16 at once
    assert nearest["view"] == ["grid"] and nearest["seed"] == ["40"]
    assert "present" not in masks


def test_a_what_if_change_goes_into_the_link():
    at = open_tour(step="2")
    at.number_input(key="tour_lecture_2_seed").set_value(9).run()
    link = nav_data(at)["steps"][1]["link"]
    assert parse_qs(urlsplit(link).query)["seed"] == ["9"]
    assert shown_step(at) == 2 and not at.exception

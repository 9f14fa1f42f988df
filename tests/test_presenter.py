"""Presenter mode (present=1) on every page, through AppTest: nothing in the sidebar, the
page's controls in the main area, one click out of it, and one switch into it."""
from __future__ import annotations

import pytest

from tests.conftest import open_app

PAGES = [("masks", {}), ("sampling", {}), ("likelihood", {}), ("tiny", {"secs": "1"}),
         ("tour", {"tour": "quick"})]


def sidebar_elements(at) -> int:
    return len(at.sidebar.children)


@pytest.mark.parametrize("page, query", PAGES)
def test_presenter_mode_keeps_the_sidebar_empty_and_leaves_in_one_click(page, query):
    at = open_app(page, timeout=120, present="1", **query)
    assert not at.exception, [e.value for e in at.exception]
    assert sidebar_elements(at) == 0 and not at.warning
    (leave,) = [b for b in at.button if b.label == "Leave presenter mode"]
    leave.click().run()
    assert not at.exception and "present" not in at.query_params
    assert sidebar_elements(at) > 0  # the controls are back where they were
    assert [t.label for t in at.toggle if t.label == "Presenter mode"] == ["Presenter mode"]


@pytest.mark.parametrize("page, query", PAGES)
def test_the_presenter_switch_is_at_the_top_of_the_sidebar(page, query):
    at = open_app(page, timeout=120, **query)
    switch = at.toggle(key="presenter_on")
    assert switch.label == "Presenter mode" and not switch.value
    switch.set_value(True).run()
    assert at.query_params["present"] == "1" and sidebar_elements(at) == 0
    assert not at.exception


@pytest.mark.parametrize("value", ["2", "yes", "<b>", "[x](javascript:alert(1))", "1" * 5000])
def test_a_present_value_that_is_no_mode_is_named(value):
    at = open_app("masks", present=value)
    (message,) = [w.value for w in at.warning]
    assert message.startswith("**present**: the link's value") and "](javascript" not in message
    assert "allowed: 1 for presenter mode, 0 for none" in message and len(message) < 200
    assert sidebar_elements(at) > 0


def test_presenter_mode_shows_the_sampling_players_lecture_layout():
    from player_view import player_data

    at = open_app("sampling", present="1", seed="3")
    assert player_data(at)["lecture"] is True and not at.title
    assert player_data(open_app("sampling", present="0", seed="3"))["lecture"] is False

"""The Lecture: MADE's story told step by step, each step a short card beside the live view it
talks about (the pages' own views, with the step's settings), in the order a tour file gives
(made_viz/tours/, read by made_viz.tour; docs/tour.md says how to write one).

The link carries `tour` (a tour file's name, checked against the bundled folder), `step` (1..N)
and `present`. The card, Back, Next and the presenter's keys are one component (tour_nav): it
shows the next card at once and reports the step, and the next run draws that step's view.
"""
from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from made_viz import tour as tours
from made_viz.validation import parse_int
from made_viz.ui import presenter
from made_viz.ui.tour_nav import card, reported_step, tour_nav
from made_viz.ui.tour_views import TOUR_VIEWS, preset_link
from made_viz.ui.widgets import defuse

NAV = "tour_nav"


@st.cache_resource(show_spinner=False)
def loaded(name: str) -> tours.Tour:
    """A bundled tour, read once per server (its file is part of the install)."""
    return tours.load_tour(name)


def chosen_tour() -> tuple[str, str | None]:
    """The link's tour (or the default) and, for a name that is not a bundled tour, why."""
    raw = st.query_params.get("tour")
    if raw is None:
        return tours.DEFAULT_TOUR, None
    try:
        return tours.check_tour_name(raw), None
    except ValueError as error:
        return tours.DEFAULT_TOUR, (f"**tour**: {defuse(str(error))}. Showing the"
                                    f" {tours.DEFAULT_TOUR!r} tour.")


def url_step(steps: int) -> tuple[int, str | None]:
    """The link's step (or 1) and, for one that is not 1..steps, why."""
    raw = st.query_params.get("step")
    if raw is None:
        return 1, None
    try:
        return parse_int(raw, "step", 1, steps), None
    except ValueError as error:
        return 1, f"**step**: {defuse(str(error))}. Showing step 1."


def _moved() -> None:
    """The card reported a step: draw that one (a report that is no step is ignored)."""
    ss = st.session_state
    step = reported_step(ss.get(NAV), len(loaded(ss["tour_of"]).steps))
    if step is not None:
        ss["tour_step"], ss["tour_problems"] = step, []


def current_step(tour: tours.Tour, problem: str | None) -> int:
    """This session's step of this tour: the link's on the first run or in another tour."""
    ss = st.session_state
    if ss.get("tour_of") != tour.name:
        step, step_problem = url_step(len(tour.steps))
        ss["tour_of"], ss["tour_step"] = tour.name, step
        ss["tour_nonce"] = ss.get("tour_nonce", 0) + 1  # the card takes this step
        ss["tour_problems"] = [p for p in (problem, step_problem) if p]
    if st.query_params.get("step") != str(ss["tour_step"]):
        st.query_params["step"] = str(ss["tour_step"])
    return ss["tour_step"]


def _pick_tour() -> None:
    st.query_params["tour"] = st.session_state["tour_pick"]
    st.query_params.pop("step", None)


def sidebar(tour: tours.Tour) -> None:
    with st.sidebar:
        presenter.enter_toggle()
        names = tours.tour_names()
        st.selectbox("tour", names, index=names.index(tour.name), key="tour_pick",
                     on_change=_pick_tour, help="the tour files in made_viz/tours/"
                                                " (docs/tour.md: how to write one)")
        st.caption(f"**{tour.title}**: {len(tour.steps)} steps. Keys: → and Page Down for the"
                   " next step, ← and Page Up for the previous, Home and End.")


def link(page: str, params: dict) -> str:
    """The full page's address, relative to this one, with presenter mode carried over."""
    present = presenter.link_value()
    return f"{page}?{urlencode({**params, **({'present': present} if present else {})})}"


def render() -> None:
    presenter.start()
    present = presenter.presenting()
    name, problem = chosen_tour()
    try:
        tour = loaded(name)
    except ValueError as error:
        st.error(defuse(str(error)), icon=":material/error:")
        return
    if not present:
        sidebar(tour)
    n = current_step(tour, problem)
    for message in st.session_state["tour_problems"]:
        st.warning(message, icon="⚠️")
    step, key = tour.steps[n - 1], f"tour_{tour.name}_{n}_"
    view = TOUR_VIEWS[step.view]
    card_col, view_col = st.columns([0.37, 0.63], gap="medium")
    with card_col:
        card_slot = st.container()
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            with st.popover("What if?", icon=":material/tune:",
                            help="change this step's settings, right here"):
                settings = view.controls(step, key)
            if present:
                presenter.leave_button()
    cards = [card(s.title, s.text, s.formula, link(s.page, preset_link(s))) for s in tour.steps]
    cards[n - 1] = card(step.title, step.text, step.formula,
                        link(step.page, view.link(step, settings)))
    with card_slot:
        tour_nav(cards, step=n, nonce=f"{tour.name}:{st.session_state['tour_nonce']}",
                 present=present, on_step=_moved, key=NAV)
    with view_col, st.container(key=f"tour_view_{n}"):
        view.draw(settings, key, present)

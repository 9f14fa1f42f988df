"""Presenter mode, on every page: `present=1` in the link. For a projector: nothing in the
sidebar and no page menu (app.py hides the navigation), the page's controls in one popover at
the top of the main area, beside the one click that leaves presenter mode, and larger type for
the read-outs that carry the point (our own HTML classes only: Streamlit's DOM is not ours to
style).

A page calls `side = controls_area()` once at the top of its render and writes its controls
`with side:` wherever it wrote them `with st.sidebar:`; it draws a read-out with `readout`.
"""
from __future__ import annotations

import streamlit as st

from made_viz.ui.widgets import defuse

PARAM = "present"
ON, OFF = ("1", "true"), ("0", "false")
STYLE = """<style>
.mv-readout { font-size: 1.2rem; line-height: 1.35; color: #1b1f2a; }
.mv-readout.mv-big { font-size: 1.7rem; }
.mv-readout b { font-variant-numeric: tabular-nums; }
</style>"""


def presenting() -> bool:
    """Whether the link asks for presenter mode (`present=1`; anything else is off)."""
    raw = st.query_params.get(PARAM)
    return raw is not None and raw.lower() in ON


def link_value() -> str | None:
    """`present` as a link to another page carries it: "1" while presenting, else None."""
    return "1" if presenting() else None


def _bad_value_warning() -> None:
    raw = st.query_params.get(PARAM)
    if raw is not None and raw.lower() not in ON + OFF:
        shown = raw if len(raw) <= 30 else raw[:30] + "..."
        st.warning(f"**{PARAM}**: the link's value {defuse(repr(shown))} is not allowed"
                   " (allowed: 1 for presenter mode, 0 for none). Presenter mode is off.",
                   icon="⚠️")


def _enter() -> None:
    if st.session_state.get("presenter_on"):
        st.query_params[PARAM] = "1"


def _leave() -> None:
    if PARAM in st.query_params:
        del st.query_params[PARAM]


def start() -> None:
    """Once per run, before the page draws anything: our type's classes, and what is wrong
    with the link's `present` value, if anything."""
    st.html(STYLE)
    _bad_value_warning()


def enter_toggle() -> None:
    """The switch into presenter mode (where the page's sidebar begins)."""
    st.toggle("Presenter mode", key="presenter_on", on_change=_enter,
              help="For a projector: no sidebar, larger read-outs, the controls in one "
                   "popover. One click leaves it.")


def controls_area(label: str = "Settings"):
    """Where a page's controls go: the sidebar, with a toggle into presenter mode at its top;
    or, presenting, a popover in a compact row at the top of the main area, beside the button
    that leaves presenter mode. Call once per run, before the page draws anything else."""
    start()
    if not presenting():
        with st.sidebar:
            enter_toggle()
        return st.sidebar
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        area = st.popover(label, icon=":material/tune:")
        leave_button()
    return area


def leave_button() -> None:
    """The one click out of presenter mode (the page stays as it is, sidebar and menu back)."""
    st.button("Leave presenter mode", key="presenter_leave", on_click=_leave,
              icon=":material/close_fullscreen:", type="tertiary")


def readout(html: str) -> None:
    """A read-out in our own type: larger while presenting. `html` is ours, never user text."""
    st.html(f"<div class='mv-readout{' mv-big' if presenting() else ''}'>{html}</div>")

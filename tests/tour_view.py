"""What the tour page sends its card component, read from an AppTest run, and the component's
report of a step as a browser would send it (AppTest has no way to press a button inside a
component: its widget state is put in the next run's states)."""
from __future__ import annotations

import json

from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

NAV = "made_viz_tour_nav"


def nav_data(at: AppTest) -> dict | None:
    """The card component's data on the page, or None when the page shows none."""
    found = [e.proto for e in at.get("bidi_component") if e.proto.component_name == NAV]
    assert len(found) <= 1, "two tour cards on one page"
    return json.loads(json.loads(found[0].json)["json"]) if found else None


def report(at: AppTest, state: dict) -> AppTest:
    """Run the page again as after the card reported `state` (such as {"step": 3})."""
    proto = next(e.proto for e in at.get("bidi_component") if e.proto.component_name == NAV)
    states = at._tree.get_widget_states()
    states.widgets.append(WidgetState(id=proto.id, json_value=json.dumps(state)))
    return at._run(states)

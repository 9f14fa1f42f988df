"""What the Sampling page sends its player, read from an AppTest run: the data the browser's
player gets (the whole run, its start position and settings), as a user's browser would."""
from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

PLAYER = "made_viz_sampling_player"


def player_data(at: AppTest) -> dict | None:
    """The player's data on the page, or None when the page shows no player."""
    found = [e.proto for e in at.get("bidi_component") if e.proto.component_name == PLAYER]
    assert len(found) <= 1, "two players on one page"
    return json.loads(json.loads(found[0].json)["json"]) if found else None

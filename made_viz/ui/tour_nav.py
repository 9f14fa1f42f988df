"""The tour's card and navigation: a custom component (st.components.v2, no iframe) that shows
a step's title, text and formula, the progress bar ("step 3 of 10"), the "open in the full
page" link, Back and Next, and listens for a presenter's keys (Right/Left, Page Down/Page Up,
Home/End), never while the user types in a field or draws on the sketch pad. See tour_nav.js.

Every step's card goes to the browser, so the next card shows at once; the component then
reports the step it shows as its state value "step" and `on_step` is called: the server reads
it with reported_step and draws that step's live view.
"""
from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path
from typing import Callable

import streamlit as st

_HERE = Path(__file__).resolve().parent
_component = st.components.v2.component(
    "made_viz_tour_nav",
    html=(_HERE / "tour_nav.html").read_text(),
    css=(_HERE / "tour_nav.css").read_text(),
    js=(_HERE / "tour_nav.js").read_text(),
)
_SCRIPT = re.compile(r"([_^])\{([^{}]*)\}")


def formula_html(formula: str | None) -> str:
    """A formula as HTML: its text escaped, `_{...}` a subscript and `^{...}` a superscript
    (no other markup, so a tour file cannot put HTML on the page)."""
    if not formula:
        return ""
    parts, last = [], 0
    for match in _SCRIPT.finditer(formula):
        tag = "sub" if match.group(1) == "_" else "sup"
        parts += [escape(formula[last:match.start()]), f"<{tag}>{escape(match.group(2))}</{tag}>"]
        last = match.end()
    return "".join(parts) + escape(formula[last:])


def card(title: str, text: str, formula: str | None, link: str) -> dict:
    """One step's card as the component shows it: the text on one line (the file wraps it)."""
    return {"title": title, "text": " ".join(text.split()), "formula": formula_html(formula),
            "link": link}


def reported_step(state, steps: int) -> int | None:
    """The step the component reported, if it is one (1..steps); None for no report or
    anything else a browser could send."""
    step = state.get("step") if state is not None else None
    if isinstance(step, bool) or not isinstance(step, int):
        return None
    return step if 1 <= step <= steps else None


def tour_nav(cards: list[dict], *, step: int, nonce: str, present: bool,
             on_step: Callable[[], None], key: str = "tour_nav"):
    """Mount the card and navigation. step: where it starts when mounted or when `nonce`
    changes (later reruns never move it)."""
    data = {"steps": cards, "step": int(step), "nonce": nonce, "present": bool(present)}
    # One JSON string, not the dict: see player.py (Streamlit looks into dicts for data frames).
    return _component(key=key, data={"json": json.dumps(data, separators=(",", ":"))},
                      on_step_change=on_step)

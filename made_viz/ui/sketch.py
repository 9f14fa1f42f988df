"""The sketch pad: a custom component (st.components.v2) showing the 28x28 image as the model
sees it, one crisp cell per pixel, and editing it with a mouse, a pen or a finger: Flip (click
a pixel to flip it), Brush and Eraser (thick strokes), Clear. An edit is drawn in the browser
at once and sent when the pointer lifts, as the trigger value "stroke" (784 characters of 0/1,
row-major); `on_stroke` is then called and stroke_image reads it. Hovering a pixel shows the
`info` the page passes: its p(x_d = 1 | x_<d), its cost and its step in the ordering. No drawing package: streamlit-drawable-canvas 0.13.0 works
with Streamlit 1.67, but it sends a drawing 200 ms after the pointer lifts (a fixed debounce),
longer than a whole Streamlit click takes here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st

_HERE = Path(__file__).resolve().parent
_component = st.components.v2.component(
    "made_viz_sketch_pad",
    html=('<div class="made-sketch"><canvas class="pad" aria-label="the 28 by 28 image">'
          '</canvas><div class="status"></div><div class="tools">'
          '<button data-tool="flip" class="on" title="click a pixel to flip it; drag to set'
          ' more">Flip</button><button data-tool="brush" title="draw thick ink">Brush</button>'
          '<button data-tool="eraser">Eraser</button><button class="clear">Clear</button>'
          "</div></div>"),
    css=(_HERE / "sketch.css").read_text(),
    js=(_HERE / "sketch.js").read_text(),
)
SIDE = 28


def sketch_pad(image: np.ndarray, *, size: int, on_stroke: Callable[[], None], key: str,
               p_one=None, cost=None, step=None, hint: str = ""):
    """p_one, cost (nats) and step (1-based place in the ordering) per pixel, for the hover
    line; hint: the line shown when no pixel is hovered."""
    bits = "".join("1" if v else "0" for v in np.asarray(image).reshape(-1))
    info = None if p_one is None else {
        "p": np.round(np.asarray(p_one, dtype=np.float64), 3).tolist(),
        "cost": np.round(np.asarray(cost, dtype=np.float64), 2).tolist(),
        "step": np.asarray(step, dtype=np.int64).tolist()}
    # One JSON string, not a dict: see player.py (Streamlit looks into dicts for data frames).
    return _component(key=key, data={"json": json.dumps({
        "image": bits, "side": SIDE, "size": int(size), "info": info, "hint": hint},
        separators=(",", ":"))}, on_stroke_change=on_stroke)


def stroke_image(value) -> np.ndarray | None:
    """The pad's "stroke" value as uint8 (784,), or None unless it is exactly 784 of 0/1."""
    if not isinstance(value, str) or len(value) != SIDE * SIDE or set(value) - {"0", "1"}:
        return None
    return np.frombuffer(value.encode("ascii"), dtype=np.uint8) - ord("0")

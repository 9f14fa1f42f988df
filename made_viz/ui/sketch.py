"""The sketch pad: a custom component (st.components.v2) to draw on the 28x28 image itself.

The image as the model sees it, one cell per pixel, painted with a mouse, a pen or a finger
(brush and eraser; Clear). A stroke is drawn in the browser at once and sent when the pointer
lifts, as the trigger value "stroke" (784 characters of 0/1, row-major); `on_stroke` is then
called and stroke_image reads it. No drawing package: streamlit-drawable-canvas 0.13.0 works
with Streamlit 1.67, but it sends a drawing 200 ms after the pointer lifts (a fixed debounce),
longer than a whole Streamlit click takes here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st

_HERE = Path(__file__).resolve().parent
_component = st.components.v2.component(
    "made_viz_sketch_pad",
    html=('<div class="made-sketch"><canvas class="pad" aria-label="28 by 28 sketch pad">'
          '</canvas><div class="tools"><button data-tool="brush" class="on">Brush</button>'
          '<button data-tool="eraser">Eraser</button><button class="clear">Clear</button>'
          "</div></div>"),
    css=(_HERE / "sketch.css").read_text(),
    js=(_HERE / "sketch.js").read_text(),
)
SIDE = 28


def sketch_pad(image: np.ndarray, *, size: int, on_stroke: Callable[[], None], key: str):
    bits = "".join("1" if v else "0" for v in np.asarray(image).reshape(-1))
    return _component(key=key, data={"image": bits, "side": SIDE, "size": int(size)},
                      on_stroke_change=on_stroke)


def stroke_image(value) -> np.ndarray | None:
    """The pad's "stroke" value as uint8 (784,), or None unless it is exactly 784 of 0/1."""
    if not isinstance(value, str) or len(value) != SIDE * SIDE or set(value) - {"0", "1"}:
        return None
    return np.frombuffer(value.encode("ascii"), dtype=np.uint8) - ord("0")

"""The sampling player: a custom component (st.components.v2) that draws a precomputed run.

The whole run (order, final image, probabilities, running log-likelihood: a few KB) goes to
the browser, which draws any position on a canvas and plays the run at 30 ticks a second with
no server round trip per frame. When playback stops it reports its position as the trigger
value "position", {"run": run_id, "position": n} (on_position is then called), so the server's run and its views catch up.
It does the same for the Step, Step row, Finish and Reset buttons (see `buttons`), so a click
shows its pixel at once, whatever the server's load.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st

_HERE = Path(__file__).resolve().parent
_component = st.components.v2.component(
    "made_viz_sampling_player",
    html=(_HERE / "player.html").read_text(),
    css=(_HERE / "player.css").read_text(),
    js=(_HERE / "player.js").read_text(),
)

OVERLAYS = ("none", "receptive", "sensitivity")


def _short(values: np.ndarray, digits: int = 4) -> list[float]:
    """Floats rounded to `digits` significant digits: a smaller payload, same picture."""
    return [float(f"{v:.{digits}g}") for v in np.asarray(values, dtype=np.float64)]


def run_payload(run_id: str, order, final_image, probs, loglik, uniforms, *, start: int = 0,
                side: int = 28) -> dict:
    """What stays fixed for a run; build it once per run and reuse it on every rerun.

    probs and uniforms are per pixel; loglik[k] is the log-likelihood after k pixels (D + 1).
    """
    return {
        "run_id": run_id,
        "side": side,
        "start": int(start),
        "order": [int(i) for i in order],
        "final": "".join("1" if v else "0" for v in np.asarray(final_image)),
        "probs": _short(probs),
        "loglik": _short(loglik, 6),
        "uniforms": _short(uniforms),
    }


def views_payload(position: int, receptive: np.ndarray | None,
                  sensitivity: np.ndarray | None) -> dict:
    """The next pixel's receptive field (bool per pixel) and sensitivity (scaled to -1..1)."""
    if receptive is None or sensitivity is None:
        return {"position": int(position), "receptive": "", "sensitivity": []}
    sensitivity = np.asarray(sensitivity, dtype=np.float64)
    peak = float(np.abs(sensitivity).max())
    scaled = sensitivity / peak if peak > 0 else sensitivity
    return {"position": int(position),
            "receptive": "".join("1" if v else "0" for v in np.asarray(receptive)),
            "sensitivity": [round(float(v), 3) for v in scaled]}


def player(run: dict, *, position: int, moves: int, playing: bool, speed: int, size: int,
           lecture: bool, overlay: str, views: dict, on_position: Callable[[], None],
           buttons: dict[str, int | str] | None = None, keys: dict[str, str] | None = None,
           key: str = "player"):
    """Mount the player. `run` comes from run_payload, `views` from views_payload.

    moves: a counter the page bumps whenever it moves the run (a button, the slider, a report
    from the player), so the player can tell the server's moves from its own.
    buttons: {widget key: pixels to step, "end" or "start"}: Streamlit buttons whose clicks the
    player takes over in the browser: it draws the result at once and reports the new position
    (on_position), instead of waiting for a rerun to run the button's callback.
    keys: widget keys of the buttons that keyboard shortcuts press: step, step_row, play.
    """
    if overlay not in OVERLAYS:
        raise ValueError(f"overlay must be one of {', '.join(OVERLAYS)}, got {overlay!r}")
    data = {**run, "position": int(position), "moves": int(moves), "playing": bool(playing),
            "speed": int(speed), "size": int(size), "lecture": bool(lecture), "overlay": overlay,
            "views": views, "buttons": buttons or {}, "keys": keys}
    # One JSON string, not the dict: Streamlit looks into each value of a dict for a data frame,
    # and that look imports pandas and pyarrow (0.6 s of the Sampling page's first paint).
    return _component(key=key, data={"json": json.dumps(data, separators=(",", ":"))},
                      on_position_change=on_position)

"""The sampling player: a custom component (st.components.v2, no iframe) that owns the
step-by-step view: its controls (Step, Step row, Play/Pause, Finish, Reset, speed, the history
scrubber, the keyboard) and everything that changes per pixel.

The whole run (order, final image, probabilities, uniforms, running log-likelihood: a few KB)
goes to the browser, which moves through it and draws any position with no server round trip.
The player owns the position; the server learns it through the component's state value
"position", {"run": run_id, "position": n}, where a view of its own needs it (the receptive
field and sensitivity, the Export tab): `on_position` is then called. See player.js.
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
SPEEDS = (1, 2, 4, 7, 14, 28)  # pixels per tick; the player ticks 30 times a second


def _short(values: np.ndarray, digits: int = 4) -> list[float]:
    """Floats rounded to `digits` significant digits: a smaller payload, same picture."""
    return [float(f"{v:.{digits}g}") for v in np.asarray(values, dtype=np.float64)]


def nearest_payload(indices, distances, labels, images) -> list[dict]:
    """The finished digit's nearest training digits, nearest first, as the player shows them
    once every pixel is drawn: index, label, Hamming distance and the 0/1 pixels."""
    return [{"index": int(i), "label": int(label), "distance": int(d),
             "image": "".join("1" if v else "0" for v in np.asarray(image))}
            for i, d, label, image in zip(indices, distances, labels, images)]


def run_payload(run_id: str, order, final_image, probs, loglik, uniforms, *, start: int = 0,
                side: int = 28, nearest: list[dict] | None = None) -> dict:
    """What stays fixed for a run; build it once per run and reuse it on every rerun.

    probs and uniforms are per pixel; loglik[k] is the log-likelihood after k pixels (D + 1);
    nearest: from nearest_payload (none: the player shows no training digits).
    """
    return {
        "nearest": nearest or [],
        "run_id": run_id,
        "side": side,
        "start": int(start),
        "order": [int(i) for i in order],
        "final": "".join("1" if v else "0" for v in np.asarray(final_image)),
        "probs": _short(probs),
        "loglik": _short(loglik, 6),
        "uniforms": _short(uniforms),
    }


def views_payload(run_id: str, position: int, receptive: np.ndarray | None,
                  sensitivity: np.ndarray | None) -> dict:
    """The next pixel's receptive field (bool per pixel) and sensitivity (scaled to -1..1) at
    `position` of run `run_id`: the player shows them only while it stands there."""
    if receptive is None or sensitivity is None:
        return {"run": run_id, "position": int(position), "receptive": "", "sensitivity": []}
    sensitivity = np.asarray(sensitivity, dtype=np.float64)
    peak = float(np.abs(sensitivity).max())
    scaled = sensitivity / peak if peak > 0 else sensitivity
    return {"run": run_id, "position": int(position),
            "receptive": "".join("1" if v else "0" for v in np.asarray(receptive)),
            "sensitivity": [round(float(v), 3) for v in scaled]}


def reported_position(state, run_id: str, start: int, end: int) -> int | None:
    """The position the player reported for run `run_id`, if it is one (start..end); None for
    no report, a report about another run, or anything else a browser could send."""
    report = state.get("position") if state is not None else None
    if not isinstance(report, dict) or report.get("run") != run_id:
        return None
    position = report.get("position")
    if isinstance(position, bool) or not isinstance(position, int):
        return None
    return position if start <= position <= end else None


def reported_setting(state, name: str, allowed: tuple):
    """The player's speed or overlay, if it is one of `allowed`; else None."""
    value = state.get(name) if state is not None else None
    return value if not isinstance(value, bool) and value in allowed else None


def player(run: dict, *, position: int, speed: int, size: int, lecture: bool, overlay: str,
           views: dict, on_position: Callable[[], None], on_setting: Callable[[str], None],
           key: str = "player"):
    """Mount the player. `run` comes from run_payload, `views` from views_payload.

    position: where the player starts when it is mounted or the run changes (the server's
    last known position); later reruns never move it. speed and overlay: the player's
    settings at mount; on_setting("speed" or "overlay") is called when the user changes one.
    """
    if overlay not in OVERLAYS:
        raise ValueError(f"overlay must be one of {', '.join(OVERLAYS)}, got {overlay!r}")
    if speed not in SPEEDS:
        raise ValueError(f"speed must be one of {', '.join(map(str, SPEEDS))}, got {speed!r}")
    data = {**run, "position": int(position), "speed": int(speed), "size": int(size),
            "lecture": bool(lecture), "overlay": overlay, "views": views}
    # One JSON string, not the dict: Streamlit looks into each value of a dict for a data frame,
    # and that look imports pandas and pyarrow, slowing the Sampling page's first paint.
    return _component(key=key, data={"json": json.dumps(data, separators=(",", ":"))},
                      on_position_change=on_position,
                      on_speed_change=lambda: on_setting("speed"),
                      on_overlay_change=lambda: on_setting("overlay"))

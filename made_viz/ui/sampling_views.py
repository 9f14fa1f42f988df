"""The Sampling page's step-by-step view, drawn from an explicit model, mask and seed: the
player (player.py) with the whole run of that seed, and the next pixel's receptive field and
sensitivity once it rests. The Sampling page and the tour call it; `key` prefixes every session
key of a view (its run, the player's state and settings), so two pages never share a run.

A run is sampled in full when its seed is chosen (SamplingRun); the player gets the whole run
and reveals it in the browser. It tells the server where it stands only where a server view
needs it (the receptive field and sensitivity, the Sampling page's Export), which reruns the
page.
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from made_viz import network, sampling
from made_viz.ui import player
from made_viz.ui.models import Bundled, bundled

DEFAULT_SPEED = 4  # pixels per tick of the player's clock (player.SPEEDS)
DIGIT_PX = {False: 448, True: 812}  # at most 16 or 29 screen pixels per MNIST pixel
SETTINGS = {"speed": player.SPEEDS, "overlay": player.OVERLAYS}


def run_of(key: str) -> sampling.SamplingRun:
    """The run a view with this key is showing (current_run made it)."""
    return st.session_state[f"{key}run"]


def current_run(b: Bundled, mask: int, seed: int, *, key: str) -> sampling.SamplingRun:
    """This view's run, rebuilt when the model, mask or seed changes."""
    ss = st.session_state
    run_key = (b.name, mask, seed)
    if ss.get(f"{key}run_key") != run_key:
        run = sampling.SamplingRun(b.model, seed=seed, mask=mask)
        serial = ss.get(f"{key}run_serial", 0) + 1
        ss[f"{key}run"], ss[f"{key}run_key"], ss[f"{key}run_serial"] = run, run_key, serial
        # The serial tells the player a new run from the same seed drawn again (7, 8, 7).
        ss[f"{key}payload"] = player.run_payload(
            f"{serial}:{b.name}/{mask}/{seed}", run.order, run.final_image, run.probs,
            run.log_likelihood_curve, run.uniforms, start=run.start)
    return ss[f"{key}run"]


def _player_moved(key: str) -> None:
    """The player reported its position: move the server's run there, for the views that need
    it (a report about a run this view has since replaced is ignored)."""
    ss, run = st.session_state, run_of(key)
    position = player.reported_position(ss[f"{key}player"], ss[f"{key}payload"]["run_id"],
                                        run.start, len(run.order))
    if position is not None:
        run.seek(position)


def _player_setting(key: str, name: str) -> None:
    """The player's speed or overlay changed: kept for the next time it is mounted."""
    value = player.reported_setting(st.session_state[f"{key}player"], name, SETTINGS[name])
    if value is not None:
        st.session_state[f"{key}{name}"] = value


def next_pixel_views(b: Bundled, prepared: network.PreparedMask, run, *, key: str) -> dict:
    run_id = st.session_state[f"{key}payload"]["run_id"]
    if run.done:
        return player.views_payload(run_id, run.position, None, None)
    index = run.next_index
    receptive = prepared.connectivity()[index] > 0
    gradient = sampling.logit_gradient(b.model, run.image, index, prepared.index)
    return player.views_payload(run_id, run.position, receptive, gradient * run.drawn)


def studio(name: str, prepared: network.PreparedMask, lecture: bool, *, key: str) -> None:
    """The player, on the run current_run made for this key (with the mask `prepared`). Not a fragment: the player
    reports its position the moment the user reaches for another tab, and in Streamlit 1.67 a
    fragment rerun in flight loses a tab click that lands with it (the tab shows selected, its
    panel stays empty)."""
    ss = st.session_state
    b, run = bundled(name), run_of(key)
    player.player(ss[f"{key}payload"], position=run.position,
                  speed=ss.get(f"{key}speed", DEFAULT_SPEED),
                  overlay=ss.get(f"{key}overlay", "none"), size=DIGIT_PX[lecture],
                  lecture=lecture, views=next_pixel_views(b, prepared, run, key=key),
                  on_position=partial(_player_moved, key),
                  on_setting=partial(_player_setting, key), key=f"{key}player")

"""Soak, in the session: ten digits in a row leave no more session state than the first.

One session draws ten digits, one seed after another, each sent whole to the player, seen 16
at once and exported as a GIF; after each, the session's keys and their pickled size are
measured. (Stepping and playing happen in the browser and leave the session alone.) Both must stay put: a lecture-long session must not grow with every digit. The
server's resident memory over ten digits played in a real browser is the load script's soak
mode: `.venv/bin/python -m tests.load.lecture_hall --soak`.
"""
from __future__ import annotations

import pickle
import sys
from collections.abc import Mapping
from pathlib import Path

from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

APP = Path(__file__).resolve().parents[2] / "app.py"
sys.path.insert(0, str(APP.parent / "tests"))
from player_view import player_data  # noqa: E402
DIGITS = 10


def footprint(at: AppTest) -> tuple[set[str], int]:
    """The session's keys and their pickled size (a component's state is a dict-like view)."""
    state = at.session_state.to_dict()
    plain = {key: dict(value) if isinstance(value, Mapping) else value
             for key, value in state.items()}
    return set(state), len(pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL))


def test_ten_digits_in_a_row_keep_the_sampling_session_bounded():
    at = AppTest.from_file(str(APP), default_timeout=60)
    at._page_hash = calc_hash("sampling")  # switch_page() wants a file; our pages are functions
    at.query_params["seed"] = "500"
    at.run()
    sizes, keys = [], []
    for digit in range(DIGITS):
        if digit:
            at.text_input(key="seed").set_value(str(500 + digit)).run()
        assert player_data(at)["run_id"].endswith(f"/{500 + digit}")
        for view, shows in (("16 at once", "sampling_grid_15"), ("Export", "sampling_download_gif"),
                            ("Step by step", None)):
            at.session_state["sampling_view"] = view
            at.run()
            assert not at.exception and not at.error
            drawn = {e.key for kind in ("button", "download_button") for e in at.get(kind)}
            if shows:
                assert shows in drawn, view  # the view was drawn and its caches filled
            else:
                assert player_data(at) is not None, view
        names, size = footprint(at)
        keys.append(names)
        sizes.append(size)
    assert all(names == keys[0] for names in keys), [sorted(n ^ keys[0]) for n in keys]
    assert max(sizes) - sizes[0] < max(0.05 * sizes[0], 10_000), sizes
    assert sizes[0] < 1_000_000, sizes  # the run and its player payload: tens of KB


def test_ten_networks_in_a_row_keep_the_masks_session_bounded():
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    sizes, keys = [], []
    for seed in range(DIGITS):
        at.text_input(key="seed").set_value(str(seed)).run()
        at.text_input(key="unit").set_value("h1.2").run()
        at.text_input(key="D").set_value(str(4 + seed % 3)).run()
        assert not at.exception and not at.warning, [w.value for w in at.warning]
        names, size = footprint(at)
        keys.append(names)
        sizes.append(size)
    assert all(names == keys[0] for names in keys), [sorted(n ^ keys[0]) for n in keys]
    assert max(sizes) - min(sizes) < 2_000, sizes

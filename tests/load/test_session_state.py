"""Soak, in the session: ten digits in a row leave no more session state than the first.

One session draws ten digits, one seed after another, each stepped, played, paused, finished,
seen 16 at once and exported as a GIF; after each, the session's keys and their pickled size
are measured. Both must stay put: a lecture-long session must not grow with every digit. The
server's resident memory over ten digits played in a real browser is the load script's soak
mode: `.venv/bin/python -m tests.load.lecture_hall --soak`.
"""
from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

APP = Path(__file__).resolve().parents[2] / "app.py"
DIGITS = 10


def footprint(at: AppTest) -> tuple[set[str], int]:
    """The session's keys and their pickled size (a component's state is a dict-like view)."""
    state = at.session_state.to_dict()
    plain = {key: dict(value) if isinstance(value, Mapping) else value
             for key, value in state.items()}
    # The history slider's key is new with every run: one such key, whatever its number.
    sliders = [key for key in state if re.fullmatch(r"sampling_history_\d+", key)]
    assert len(sliders) <= 1, sliders
    names = {"sampling_history_<run>" if key in sliders else key for key in state}
    return names, len(pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL))


def click(at: AppTest, key: str) -> None:
    at.button(key=key).click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_ten_digits_in_a_row_keep_the_sampling_session_bounded():
    at = AppTest.from_file(str(APP), default_timeout=60)
    at._page_hash = calc_hash("sampling")  # switch_page() wants a file; our pages are functions
    at.query_params["seed"] = "500"
    at.run()
    sizes, keys = [], []
    for digit in range(DIGITS):
        if digit:
            at.text_input(key="seed").set_value(str(500 + digit)).run()
        assert at.session_state["sampling_run_key"][2] == 500 + digit
        for key in ("sampling_step", "sampling_step_row", "sampling_play", "sampling_play",
                    "sampling_finish"):
            click(at, key)
        assert at.session_state["sampling_run"].done
        for view, shows in (("16 at once", "sampling_grid_15"), ("Export", "sampling_download_gif"),
                            ("Step by step", "sampling_step")):
            at.session_state["sampling_view"] = view
            at.run()
            assert not at.exception and not at.error
            drawn = {e.key for kind in ("button", "download_button") for e in at.get(kind)}
            assert shows in drawn, view  # the view was drawn and its caches filled
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

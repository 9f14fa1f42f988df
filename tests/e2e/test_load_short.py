"""A short lecture hall in every test run: 4 browser pages use made-viz at once for 10 s.

Each page steps, plays, pauses and picks a new seed on the Sampling page and changes D and the
hidden sizes on the Masks page (tests/load/lecture_hall.py, run here as a user would). The
full run, 20 pages for 60 s beside a bare Streamlit app, is on demand:
`.venv/bin/python -m tests.load.lecture_hall --pages 20 --seconds 60`. Speed is measured
there, never asserted here.
"""
import json
import subprocess
import sys

import pytest
from conftest import ARTIFACTS, ROOT

pytestmark = pytest.mark.e2e


def test_four_pages_at_once_no_errors_model_loaded_once_memory_bounded():
    out = ARTIFACTS / "load-short.json"
    out.unlink(missing_ok=True)
    run = subprocess.run(
        [sys.executable, "-m", "tests.load.lecture_hall", "--pages", "4", "--seconds", "10",
         "--no-baseline", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    app = report["app"]
    assert app["errors"] == [], run.stdout[-3000:]
    assert app["model_loads"] == {"mnist": 1}  # four sessions, one model in memory
    assert app["peak_memory_bytes"] < 1.5 * 2**30
    actions = app["actions"]
    assert actions.get("step", 0) >= 4 * 3 and actions.get("play", 0) >= 4, actions
    assert actions.get("seed", 0) >= 4 and actions.get("masks change", 0) >= 4, actions
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

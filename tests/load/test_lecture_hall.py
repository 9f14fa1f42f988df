"""The full load, soak and Step runs, on demand (`pytest -m load tests/load`): minutes.

    .venv/bin/python -m pytest -m load tests/load -s

runs tests/load/lecture_hall.py as a user would, 6 and 20 pages for 60 s beside the bare app,
then the ten-digit soak, and tests/load/step_cost.py (one user), and holds them to their
targets: 0 errors, a Step's new count shown within 1.5x of the bare app's click (median and
p95) and, for one user, within 1.5x of a static page's; Play at 30 frames per second or more;
peak memory under 1.5 GB, the model loaded once, under 50 MB growth over ten digits.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.load


@pytest.mark.parametrize("script, argv, name", [
    ("lecture_hall", ["--pages", "6", "--seconds", "60"], "load-6x60s.json"),
    ("lecture_hall", ["--pages", "20", "--seconds", "60"], "load-20x60s.json"),
    ("lecture_hall", ["--soak"], "soak.json"),
    ("step_cost", [], "step-cost.json"),
], ids=["6 pages for 60 s", "20 pages for 60 s", "soak: ten digits", "one user's Step"])
def test_lecture_hall(script, argv, name):
    out = ARTIFACTS / name
    out.unlink(missing_ok=True)
    run = subprocess.run(
        [sys.executable, "-m", f"tests.load.{script}", *argv, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800)
    print(run.stdout)
    report = json.loads(out.read_text())
    assert all(report["checks"].values()), run.stdout[-4000:]
    assert run.returncode == 0, run.stderr[-3000:]

"""The full load and soak runs, on demand (`pytest -m load tests/load`): minutes, not seconds.

    .venv/bin/python -m pytest -m load tests/load -s

runs tests/load/lecture_hall.py as a user would, 20 pages for 60 s beside the bare app, then
the ten-digit soak, and holds them to their targets (0 errors, Step within 1.5x of the bare
app, peak memory under 1.5 GB, the model loaded once, under 50 MB growth over ten digits).
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.load


@pytest.mark.parametrize("argv, name", [
    (["--pages", "20", "--seconds", "60"], "load-20x60s.json"),
    (["--soak"], "soak.json"),
], ids=["20 pages for 60 s", "soak: ten digits"])
def test_lecture_hall(argv, name):
    out = ARTIFACTS / name
    out.unlink(missing_ok=True)
    run = subprocess.run(
        [sys.executable, "-m", "tests.load.lecture_hall", *argv, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800)
    print(run.stdout)
    report = json.loads(out.read_text())
    assert all(report["checks"].values()), run.stdout[-4000:]
    assert run.returncode == 0, run.stderr[-3000:]

"""The Likelihood page's own logic: beside the paper (its views: test_likelihood_views.py; through
a browser: tests/e2e/test_likelihood_e2e.py)."""
import json
from pathlib import Path

import pytest

from made_viz import likelihood, paper
from made_viz.ui import likelihood_page
from tests.conftest import open_app

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"


def test_beside_the_paper_the_masks_curve_and_both_tables():
    at = open_app("likelihood")
    assert not at.exception, [e.value for e in at.exception]
    chart = [c for c in at.get("plotly_chart") if "Test NLL against the number of masks" in
             c.proto.spec]
    assert len(chart) == 1
    spec = json.loads(chart[0].proto.spec)
    ours = spec["data"][0]
    assert ours["x"] == list(range(1, 9)) and "trained with 8" in ours["name"]
    assert ours["y"] == pytest.approx(likelihood.load_masks_curve("mnist").test_nll, abs=1e-4)
    assert [trace["x"] for trace in spec["data"][1:]] == [[1, 32], [1, 32]]
    table = next(m.value for m in at.markdown if "| model | test NLL" in m.value)
    for row in paper.PAPER_TABLE:
        assert f"{row.nll:.2f}" in table and row.model in table
    assert "| ours: `mnist`, 784-4000-784, ensemble of 8 masks | **85.30** |" in table
    assert any("fixed binarization" in c.value and "dynamic binarization" in c.value
               for c in at.caption)


def test_a_missing_masks_curve_is_said_and_the_table_stays(tmp_path, monkeypatch):
    root = tmp_path / "pretrained"
    root.mkdir()
    for name in PRETRAINED.iterdir():
        if name.name != "mnist":
            (root / name.name).symlink_to(name)
    (root / "mnist").mkdir()
    for part in ("config.json", "model.safetensors"):
        (root / "mnist" / part).symlink_to(PRETRAINED / "mnist" / part)
    monkeypatch.setenv("MADE_VIZ_PRETRAINED", str(root))
    likelihood_page.masks_curve.clear()
    try:
        at = open_app("likelihood")
        assert not at.exception, [e.value for e in at.exception]
        assert any("nll-by-masks.json" in i.value and "--masks-curve" in i.value for i in at.info)
        table = next(m.value for m in at.markdown if "| model | test NLL" in m.value)
        assert "86.64" in table and "mnist-orders" in table and "`mnist`," not in table
    finally:
        likelihood_page.masks_curve.clear()

"""The bundled models' test NLL, evaluated independently of made_viz's model and training code.

The weights are read straight from model.safetensors, the masks rebuilt from the degrees in
config.json with MADE's rule written out again here, and the 10,000 test digits binarized as
the README says (Bernoulli(grey / 255), seed 1234 for the test split). The ensemble is the
log-mean-exp of image probabilities over the masks. The result must equal the test NLL that
`python -m made_viz.train` recorded in config.json within 0.01 nats.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"
TEST_BINARIZATION_SEED = 1234  # splits are seeded seed + i in sorted name order: test first


def _binarized_test_set() -> np.ndarray:
    with np.load(MNIST) as data:
        grey = data["x_test"]
    rng = np.random.default_rng(TEST_BINARIZATION_SEED)
    return (rng.random(grey.shape, dtype=np.float32) * 255 < grey).astype(np.float32)


def _masks(mask: dict, D: int, direct: bool) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None]:
    """(hidden masks, output mask, direct mask) of one mask, each (out, in) as float32."""
    input_degrees = np.empty(D, dtype=np.int64)
    input_degrees[np.asarray(mask["order"])] = np.arange(1, D + 1)
    below = input_degrees
    hidden = []
    for degrees in map(np.asarray, mask["hidden_degrees"]):
        hidden.append((degrees[:, None] >= below[None, :]).astype(np.float32))
        below = degrees
    output = (input_degrees[:, None] > below[None, :]).astype(np.float32)
    direct_mask = (input_degrees[:, None] > input_degrees[None, :]).astype(np.float32) if direct else None
    return hidden, output, direct_mask


def _log_probs(tensors: dict, config: dict, x: np.ndarray, k: int) -> np.ndarray:
    hidden_masks, output_mask, direct_mask = _masks(config["masks"][k], config["D"], config["direct"])
    h = x
    for layer, mask in enumerate(hidden_masks):
        W = tensors[f"hidden.{layer}.weight"].astype(np.float32) * mask
        h = np.maximum(h @ W.T + tensors[f"hidden.{layer}.bias"].astype(np.float32), 0.0)
    logits = h @ (tensors["output.weight"].astype(np.float32) * output_mask).T
    logits = logits + tensors["output.bias"].astype(np.float32)
    if direct_mask is not None:
        logits = logits + x @ (tensors["direct_layer.weight"].astype(np.float32) * direct_mask).T
    logits = logits.astype(np.float64)
    # log sigmoid(l) for x = 1, log sigmoid(-l) for x = 0
    return -np.logaddexp(0.0, np.where(x > 0.5, -logits, logits)).sum(axis=1)


@functools.lru_cache(maxsize=None)
def _model(name: str) -> tuple[dict, dict]:
    directory = ROOT / "pretrained" / name
    return (json.loads((directory / "config.json").read_text()),
            load_file(str(directory / "model.safetensors")))


@functools.lru_cache(maxsize=None)
def _mask_log_probs(name: str, k: int) -> np.ndarray:
    """log p_k(x) of every test digit under mask k, computed once per test run."""
    config, tensors = _model(name)
    x = _binarized_test_set()
    return np.concatenate([_log_probs(tensors, config, x[i:i + 2000], k)
                           for i in range(0, len(x), 2000)])


def _ensemble(per_mask: np.ndarray) -> np.ndarray:
    K = len(per_mask)
    top = per_mask.max(axis=0)
    return top + np.log(np.exp(per_mask - top).sum(axis=0)) - np.log(K)


def _ensemble_nll(name: str) -> tuple[float, float]:
    config, _ = _model(name)
    per_mask = np.stack([_mask_log_probs(name, k) for k in range(len(config["masks"]))])
    return -float(_ensemble(per_mask).mean()), float(config["test_nll"])


@pytest.mark.skipif(not MNIST.exists(), reason=f"MNIST is not at {MNIST}")
@pytest.mark.parametrize("name", ["mnist", "mnist-orders"])
def test_recorded_test_nll_matches_an_independent_evaluation(name):
    measured, recorded = _ensemble_nll(name)
    assert abs(measured - recorded) <= 0.01, (name, measured, recorded)


@pytest.mark.skipif(not MNIST.exists(), reason=f"MNIST is not at {MNIST}")
def test_nll_by_masks_matches_an_independent_evaluation():
    """The stored curve (the ensemble of the first k masks) at k = 1, 2 and 3 from the weights
    themselves, and its last point, all 8 masks, is the test NLL train.py recorded."""
    stored = json.loads((ROOT / "pretrained" / "mnist" / "nll-by-masks.json").read_text())
    config, _ = _model("mnist")
    assert stored["masks"] == list(range(1, 9)) and stored["trained_with"] == 8
    for k in (1, 2, 3):
        per_mask = np.stack([_mask_log_probs("mnist", j) for j in range(k)])
        measured = -float(_ensemble(per_mask).mean())
        assert abs(measured - stored["test_nll"][k - 1]) <= 0.002, (k, measured, stored)
    assert abs(stored["test_nll"][-1] - config["test_nll"]) <= 0.002
    assert all(a > b for a, b in zip(stored["test_nll"], stored["test_nll"][1:]))


@pytest.mark.parametrize("name", ["mnist", "mnist-orders"])
def test_readme_states_the_recorded_test_nll(name):
    """The README's table of bundled models shows each model's ensemble test NLL as recorded
    in its config.json, so a retrained model cannot ship with the old number."""
    config = json.loads((ROOT / "pretrained" / name / "config.json").read_text())
    rows = [line for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith(f"| `pretrained/{name}` |") and "ensemble" in line]
    assert len(rows) == 1, rows
    assert f"{config['test_nll']:.2f}" in rows[0], (rows[0], config["test_nll"])


def test_readme_states_the_nll_by_masks_curve():
    stored = json.loads((ROOT / "pretrained" / "mnist" / "nll-by-masks.json").read_text())
    rows = [line for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith("| `pretrained/mnist` |") and "first k masks" in line]
    assert len(rows) == 1, rows
    assert rows[0].rstrip(" |").endswith(", ".join(f"{v:.2f}" for v in stored["test_nll"]))

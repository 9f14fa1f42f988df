"""A broken install: the bundled weights missing, truncated or tampered with, or a config.json
with wrong shapes or types (MADE_VIZ_PRETRAINED points at a copy of pretrained/ broken here).

The Sampling page says which file and what is wrong, in an st.error with no traceback, and
keeps working with the intact model beside it; the Masks page does not notice; the CLIs exit
non-zero with one line. How checkpoint.load validates is tests/test_checkpoint.py's subject;
this is what a user sees.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from streamlit.testing.v1 import AppTest

from tests.conftest import open_app
from made_viz import train
from made_viz.train import TrainConfig, build_model, save_state
from made_viz.ui import models, sampling_page, sampling_views
from player_view import player_data

ROOT = Path(__file__).resolve().parents[1]
APP, PRETRAINED = ROOT / "app.py", ROOT / "pretrained"
SUBSET = "mnist-test-subset.npz"


@pytest.fixture
def install(tmp_path, monkeypatch):
    """pretrained/ with a copy of 'mnist' to break; the rest links to the real files."""
    root = tmp_path / "pretrained"
    root.mkdir()
    shutil.copytree(PRETRAINED / "mnist", root / "mnist")
    for name in ("mnist-orders", SUBSET, "mnist-train-bits.npy", "mnist-train-bits.json"):
        (root / name).symlink_to(PRETRAINED / name)
    monkeypatch.setenv("MADE_VIZ_PRETRAINED", str(root))
    clear_caches()  # the page caches models by name: drop the real ones loaded before
    yield root
    clear_caches()


def clear_caches() -> None:
    for cached in (models.bundled, models.prepared_mask,
                   models.test_digits, models.training_digits, sampling_views.grid_samples,
                   sampling_views.grid_nearest, sampling_views.drawn_run, sampling_views.views_at,
                   sampling_page.completions, sampling_page.run_gif):
        cached.clear()


# --- ways to break it ---------------------------------------------------------------------------

def header(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + size]), raw[8 + size:]


def write_header(path: Path, edit) -> None:
    """Rewrite the JSON header of a safetensors file, keeping its data bytes."""
    meta, data = header(path)
    edit(meta)
    text = json.dumps(meta).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def edit_tensors(path: Path, edit) -> None:
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path)


def edit_config(path: Path, edit) -> None:
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


def truncate(path: Path, keep: float) -> None:
    path.write_bytes(path.read_bytes()[:int(path.stat().st_size * keep)])


class Trap:
    """Unpickling this creates a file: proof that a pickle was (or was not) ever loaded."""
    marker = ""

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def pickled_weights(path: Path) -> None:
    trap = Trap()
    trap.marker = str(path.parent / "UNPICKLED")
    path.write_bytes(pickle.dumps({"hidden.0.weight": trap}))


WEIGHTS, CONFIG = "model.safetensors", "config.json"
HIDDEN = json.loads((PRETRAINED / "mnist" / CONFIG).read_text())["hidden_sizes"][0]
BREAKAGES = {  # name: (file broken, how, words the error must hold)
    "weights missing": (WEIGHTS, lambda p: p.unlink(), "missing"),
    "weights empty": (WEIGHTS, lambda p: truncate(p, 0), "unreadable safetensors"),
    "weights truncated": (WEIGHTS, lambda p: truncate(p, 0.5), "unreadable safetensors"),
    "weights header cut": (WEIGHTS, lambda p: truncate(p, 200 / p.stat().st_size),
                           "unreadable safetensors"),
    "weights: a tensor's shape tampered": (WEIGHTS, lambda p: write_header(
        p, lambda h: h["hidden.0.weight"].update(shape=[HIDDEN, 785])), "unreadable safetensors"),
    "weights: a tensor renamed": (WEIGHTS, lambda p: write_header(
        p, lambda h: h.update({"hidden.0.weights": h.pop("hidden.0.weight")})), "holds tensors"),
    "weights: a tensor of another shape": (WEIGHTS, lambda p: edit_tensors(
        p, lambda t: t.update({"output.bias": torch.zeros(700)})), "shape (700,)"),
    "weights: NaN": (WEIGHTS, lambda p: edit_tensors(
        p, lambda t: t["hidden.0.bias"].__setitem__(0, float("nan"))), "not finite"),
    "weights are a pickle": (WEIGHTS, pickled_weights, "unreadable safetensors"),
    "config truncated": (CONFIG, lambda p: truncate(p, 0.5), "not valid JSON"),
    "config: D is text": (CONFIG, lambda p: edit_config(p, lambda c: c.update(D="784")),
                          "'D' must be an integer"),
    "config: D huge": (CONFIG, lambda p: edit_config(p, lambda c: c.update(D=10**12)),
                       "'D' must be an integer"),
    "config: hidden sizes do not match the degrees": (CONFIG, lambda p: edit_config(
        p, lambda c: c.update(hidden_sizes=[1000])), "need a list of 1000 degrees"),
    # A consistent config for other weights: the weights file is the one named.
    "config: hidden sizes do not match the weights": (CONFIG, lambda p: edit_config(
        p, lambda c: [c.update(hidden_sizes=[1000])] + [m.update(hidden_degrees=[
            m["hidden_degrees"][0][:1000]]) for m in c["masks"]]),
        f"{WEIGHTS}: tensor hidden.0.bias has shape ({HIDDEN},), expected (1000,)"),
    "config: direct is text": (CONFIG, lambda p: edit_config(p, lambda c: c.update(direct="yes")),
                               "'direct' must be true or false"),
    "config: an order is not a permutation": (CONFIG, lambda p: edit_config(
        p, lambda c: c["masks"][1].update(order=[0] * 784)), "mask 1"),
    "config: masks is not a list": (CONFIG, lambda p: edit_config(
        p, lambda c: c.update(masks="all")), "'masks' must be a list"),
}


def texts(at: AppTest) -> str:
    return "\n".join(e.value for kind in ("error", "warning", "markdown", "caption", "exception")
                     for e in at.get(kind))


# --- the Sampling and Masks pages ---------------------------------------------------------------

@pytest.mark.parametrize("name", BREAKAGES)
def test_sampling_page_names_the_broken_file(install, name):
    file, breakit, words = BREAKAGES[name]
    path = install / "mnist" / file
    breakit(path)
    at = open_app("sampling")
    assert not at.exception, [e.value for e in at.exception]
    assert "Traceback" not in texts(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    assert str(path.parent) in errors[0] and words in errors[0], errors[0]
    assert str(path) in errors[0] or f"{path.parent}/{WEIGHTS}: tensor" in errors[0]
    assert "'mnist'" in errors[0]  # and which model it was
    assert player_data(at) is None  # no player for a model that is not there
    assert not (install / "mnist" / "UNPICKLED").exists()  # weights never go through pickle


@pytest.mark.parametrize("name", ["weights truncated", "weights are a pickle",
                                  "config: hidden sizes do not match the degrees"])
def test_the_intact_model_beside_a_broken_one_keeps_working(install, name):
    file, breakit, _ = BREAKAGES[name]
    breakit(install / "mnist" / file)
    at = open_app("sampling")
    assert len(at.error) == 1
    at.selectbox(key="model").set_value("mnist-orders").run()  # in the same session
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["sampling_run_key"][0] == "mnist-orders"
    shown = player_data(at)  # the player has the intact model's whole run to step through
    assert "mnist-orders/" in shown["run_id"] and len(shown["order"]) == 784


@pytest.mark.parametrize("name", ["weights missing", "config: D is text", "weights are a pickle"])
def test_masks_page_does_not_notice(install, name):
    file, breakit, _ = BREAKAGES[name]
    breakit(install / "mnist" / file)
    at = open_app()
    assert not at.exception and not at.error and not at.warning
    assert any(m.value.startswith("**D = 4, hidden 5, 5") for m in at.markdown)
    assert any("Jacobian entries" in m.value for m in at.markdown)


def test_no_model_at_all_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MADE_VIZ_PRETRAINED", str(tmp_path / "nowhere"))
    clear_caches()
    at = open_app("sampling")
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"No pretrained model in {tmp_path / 'nowhere'}: run `python -m made_viz.train` or"
        " restore the pretrained/ folder."]
    assert not open_app().exception


def break_linked_file(install: Path, name: str, breakit) -> None:
    """A copy of a bundled file the install links to, in place of the link, broken."""
    (install / name).unlink()
    shutil.copy(PRETRAINED / name, install / name)
    breakit(install / name)


def sampling_view(at: AppTest | None, view: str) -> AppTest:
    """The Sampling page (opened afresh when `at` is None) showing `view`, without exception."""
    at = at or open_app("sampling")
    at.session_state["sampling_view"] = view
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("breakit", [lambda p: p.unlink(), lambda p: truncate(p, 0.3)],
                         ids=["missing", "truncated"])
def test_broken_test_subset_stops_completion_only(install, breakit):
    break_linked_file(install, SUBSET, breakit)
    at = sampling_view(None, "Completion")
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and str(install / SUBSET) in errors[0], errors
    at = sampling_view(at, "Step by step")
    assert not at.error
    assert len(player_data(at)["order"]) == 784  # stepping needs no test digit


BITS = "mnist-train-bits.npy"


@pytest.mark.parametrize("breakit, words", [
    (lambda p: p.unlink(), "missing"),
    (lambda p: p.write_bytes(p.read_bytes()[:-1] + bytes([p.read_bytes()[-1] ^ 1])),
     "does not match its sidecar"),
], ids=["missing", "altered"])
def test_broken_training_digits_stop_the_nearest_digits_only(install, breakit, words):
    """The 16 digits are still drawn, with one message naming the packed file; the player
    still plays, without the finished digit's neighbours."""
    break_linked_file(install, BITS, breakit)
    at = sampling_view(None, "16 at once")
    infos = [i.value for i in at.info]
    assert len(infos) == 1 and str(install / BITS) in infos[0] and words in infos[0], infos
    assert len([b for b in at.button if b.key.startswith("sampling_grid_")]) == 16
    assert player_data(sampling_view(at, "Step by step"))["nearest"] == []


# --- the command lines -----------------------------------------------------------------------

def run_cli(*argv, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, env={**os.environ, **(env or {})})


def assert_one_line_error(process: subprocess.CompletedProcess, program: str, *words) -> None:
    lines = process.stderr.strip().splitlines()
    assert process.returncode != 0
    assert len(lines) == 1 and "Traceback" not in process.stderr, process.stderr[-2000:]
    assert lines[0].startswith(f"{program}: error: "), lines[0]
    assert all(w in lines[0] for w in words), lines[0]


def test_bench_refuses_a_broken_bundled_model(install):
    truncate(install / "mnist" / WEIGHTS, 0.5)
    process = run_cli("made_viz.bench", "--repeat", "1",
                      env={"MADE_VIZ_PRETRAINED": str(install)})
    assert_one_line_error(process, "made_viz.bench", str(install / "mnist" / WEIGHTS),
                          "unreadable safetensors")
    assert process.stdout == ""


def test_data_cli_refuses_a_truncated_archive(tmp_path):
    archive = tmp_path / "mnist.npz"
    rng = np.random.default_rng(0)
    np.savez(archive, **{f"{xy}_{split}": (rng.random((5, 784)) * 255).astype(np.uint8)
                         if xy == "x" else np.zeros(5, np.uint8)
                         for split in ("train", "valid", "test") for xy in "xy"})
    truncate(archive, 0.5)
    process = run_cli("made_viz.data", "--data", str(archive), "--out", str(tmp_path / "o.npz"))
    assert_one_line_error(process, "made_viz.data", str(archive))
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("breakit, hidden, words", [
    (lambda last: truncate(last / "optimizer.safetensors", 0.5), "8",
     ["optimizer.safetensors: cannot resume", "SafetensorError"]),
    (lambda last: (last / "progress.json").write_text("{"), "8",
     ["progress.json: cannot resume", "JSONDecodeError"]),
    (lambda last: truncate(last / WEIGHTS, 0.5), "8", [WEIGHTS, "unreadable safetensors"]),
    (lambda last: None, "16", ["the saved state is a MADE", "(8,)", "(16,)"]),
], ids=["optimizer truncated", "progress not JSON", "weights truncated", "another architecture"])
def test_train_resume_from_a_broken_state_is_one_line(tmp_path, capsys, breakit, hidden, words):
    out = resumable_state(tmp_path)
    breakit(out / "last")
    assert train.main(train_argv(tmp_path, hidden)) == 2  # in process: torch is loaded already
    captured = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess([], 2, captured.out, captured.err),
                          "made_viz.train", str(out / "last"), *words)
    assert not (out / WEIGHTS).exists()  # nothing trained, nothing written


def test_train_cli_resume_from_another_architecture_is_one_line(tmp_path):
    out = resumable_state(tmp_path)
    process = run_cli("made_viz.train", *train_argv(tmp_path, "16"))
    assert_one_line_error(process, "made_viz.train", str(out / "last"), "(8,)", "(16,)")


def resumable_state(tmp_path: Path) -> Path:
    """A tiny data set and what `python -m made_viz.train` leaves in OUT/last after an epoch
    of a 784-8-784 MADE; returns OUT."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tiny.npz", **{
        f"{xy}_{split}": (rng.random((10, 784)) * 255).astype(np.uint8) if xy == "x"
        else np.zeros(10, np.uint8) for split in ("train", "valid", "test") for xy in "xy"})
    out = tmp_path / "run"
    config = TrainConfig(out=str(out), hidden=(8,), masks=1, epochs=3, batch_size=10, seed=0)
    model = build_model(config, 784)
    optimizer = torch.optim.Adam(model.parameters())
    (-model.log_prob(torch.zeros(2, 784)).mean()).backward()
    optimizer.step()
    save_state(out / "last", model, optimizer, {"epoch": 1, "best_valid": 500.0,
                                                "best_epoch": 1, "history": [],
                                                "wall_seconds": 1.0}, {})
    return out


def train_argv(tmp_path: Path, hidden: str) -> list[str]:
    return ["--data", str(tmp_path / "tiny.npz"), "--out", str(tmp_path / "run"), "--hidden",
            hidden, "--masks", "1", "--epochs", "3", "--batch-size", "10", "--resume"]

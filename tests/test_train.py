"""Training: a tiny run learns, resume reproduces an uninterrupted run, the CLI fails cleanly."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from made_viz import checkpoint
from made_viz.data import Split
from made_viz import train as train_module
from made_viz.train import TrainConfig, parse_args, train


def synthetic_splits(D=16, seed=0):
    """Binary vectors from three noisy prototypes: easy to learn, far from uniform."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((3, D)) < 0.5

    def draw(n):
        labels = rng.integers(0, 3, n)
        flips = rng.random((n, D)) < 0.05
        return Split((prototypes[labels] ^ flips).astype(np.uint8), labels.astype(np.uint8))

    return {"train": draw(600), "valid": draw(200), "test": draw(200)}


def config(tmp_path, **overrides):
    base = dict(out=str(tmp_path / "run"), hidden=(32,), masks=2, epochs=4, batch_size=50,
                lr=1e-2, patience=10, seed=3)
    return TrainConfig(**{**base, **overrides})


def test_tiny_run_learns_and_writes_a_loadable_checkpoint(tmp_path):
    splits = synthetic_splits()
    result = train(config(tmp_path), splits, log=lambda line: None)
    history = [r["valid_nll"] for r in result["history"]]
    assert history[-1] < history[0] - 1.0  # validation NLL falls
    assert result["test_nll"] < 16 * np.log(2)  # better than a uniform model
    model, stored = checkpoint.load(tmp_path / "run")
    x = torch.from_numpy(splits["test"].images.astype(np.float32))
    nll = -model.log_prob(x, "ensemble").mean().item()
    assert nll == pytest.approx(stored["test_nll"], abs=1e-3)
    assert stored["mask_names"] == ["natural", "natural"]
    assert len(stored["nll"]["test"]["per_mask"]) == 2
    assert stored["train_config"]["hidden"] == [32]


def test_early_stopping_stops_when_validation_stalls(tmp_path):
    splits = synthetic_splits()
    result = train(config(tmp_path, epochs=30, patience=1, lr=5e-2), splits, log=lambda l: None)
    assert result["epochs_run"] < 30
    assert result["epochs_run"] - result["best_epoch"] == 1  # patience epochs after the best


def grey_levels(splits, seed=1):
    """Grey images whose binarizations look like the synthetic training split: ink 230, paper 10."""
    rng = np.random.default_rng(seed)
    images = splits["train"].images
    return np.where(images == 1, 230, 10).astype(np.uint8) + rng.integers(0, 20, images.shape,
                                                                         dtype=np.uint8)


@pytest.mark.parametrize("dynamic", [False, True], ids=["fixed", "dynamic-binarization"])
def test_resume_after_interrupt_matches_an_uninterrupted_run(tmp_path, dynamic):
    splits = synthetic_splits()
    grey = grey_levels(splits)
    full = train(config(tmp_path / "a", dynamic_binarization=dynamic), splits,
                 log=lambda line: None, grey_train=grey)

    def interrupt_after_epoch_2(line):
        if line.startswith("epoch   2"):
            raise KeyboardInterrupt

    interrupted = config(tmp_path / "b", dynamic_binarization=dynamic)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, splits, log=interrupt_after_epoch_2, grey_train=grey)
    progress = json.loads((tmp_path / "b" / "run" / "last" / "progress.json").read_text())
    assert progress["epoch"] == 2
    resumed = train(config(tmp_path / "b", resume=True, dynamic_binarization=dynamic), splits,
                    log=lambda line: None, grey_train=grey)
    assert [r["epoch"] for r in resumed["history"]] == [1, 2, 3, 4]
    assert resumed["test_nll"] == pytest.approx(full["test_nll"], abs=1e-4)
    a, _ = checkpoint.load(tmp_path / "a" / "run")
    b, _ = checkpoint.load(tmp_path / "b" / "run")
    for name, tensor in a.state_dict().items():
        torch.testing.assert_close(tensor, b.state_dict()[name], atol=1e-5, rtol=0)


def test_dynamic_binarization_redraws_the_training_images_every_epoch(tmp_path, monkeypatch):
    splits = synthetic_splits()
    grey = grey_levels(splits)
    seen = []
    real_binarize = train_module.binarize
    monkeypatch.setattr(train_module, "binarize",
                        lambda images, seed: seen.append(real_binarize(images, seed)) or seen[-1])
    result = train(config(tmp_path, dynamic_binarization=True), splits, log=lambda line: None,
                   grey_train=grey)
    assert len(seen) == 4  # one draw per epoch
    assert all((a != b).any() for a, b in zip(seen, seen[1:]))
    for draw in seen:  # each draw follows the grey levels: ink pixels are mostly 1
        ink = splits["train"].images == 1
        assert draw[ink].mean() > 0.85 and draw[~ink].mean() < 0.15
    history = [r["valid_nll"] for r in result["history"]]
    assert history[-1] < history[0] - 1.0
    assert result["train_config"]["dynamic_binarization"] is True
    # The reported train NLL is on the fixed binarization, like valid and test.
    model, _ = checkpoint.load(tmp_path / "run")
    x = torch.from_numpy(splits["train"].images.astype(np.float32))
    assert -model.log_prob(x, "ensemble").mean().item() == pytest.approx(
        result["nll"]["train"]["ensemble"], abs=1e-3)


def test_dynamic_binarization_without_grey_images_is_refused(tmp_path):
    with pytest.raises(ValueError, match="dynamic binarization needs the grey training images"):
        train(config(tmp_path, dynamic_binarization=True), synthetic_splits(),
              log=lambda line: None)


def test_parse_args_records_the_command_and_orderings():
    cfg, download = parse_args(["--hidden", "64, 64", "--masks", "4",
                                "--ordering", "natural,reverse", "--out", "x"])
    assert cfg.hidden == (64, 64) and cfg.masks == 4 and cfg.ordering == ("natural", "reverse")
    assert cfg.dynamic_binarization is False
    assert parse_args(["--dynamic-binarization"])[0].dynamic_binarization is True
    assert cfg.command.startswith("python -m made_viz.train ") and "--masks 4" in cfg.command
    assert download is None


@pytest.mark.parametrize("argv, message", [
    (["--hidden", "0"], "--hidden: hidden sizes: layer 1 must be in 1..16384, got 0"),
    (["--hidden", "ten"], "--hidden: hidden sizes: item 1 ('ten') is not a whole number"),
    (["--ordering", "diagonal"], "--ordering: 'diagonal' is not one of"),
    (["--masks", "0"], "argument --masks: must be in 1..1024, got 0"),
    (["--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
    (["--epochs", "５"], "argument --epochs: must be a whole number >= 1, got '５'"),
    (["--seed", "1_000"], "argument --seed: must be a whole number in 0..4294967295, got '1_000'"),
])
def test_bad_arguments_exit_with_one_clear_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_data_file_is_one_line_and_nonzero(tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "made_viz.train", "--data", str(tmp_path / "nope.npz"),
         "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert process.returncode == 2
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope.npz" in lines[0] and lines[0].startswith("made_viz.train: error")

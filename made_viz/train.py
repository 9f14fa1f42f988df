"""Train a MADE on binarized MNIST: `python -m made_viz.train --data PATH --out DIR ...`.

Every epoch writes a resumable state to OUT/last (Ctrl-C or a crash loses at most one epoch;
`--resume` carries on), and the best model by validation NLL to OUT. Early stopping watches
the validation NLL (the ensemble's when there are several masks). At the end the best model is
evaluated on the test set and OUT/config.json records the architecture, every mask, the seeds,
the data's sha256, the NLLs, the exact command and the wall time.

With several masks each minibatch uses one mask drawn at random: connectivity-agnostic
training (Germain et al., section 4.2), so one set of weights serves every mask.

`--dynamic-binarization` draws the training images afresh every epoch from their grey levels
(seeded by binarization seed, seed and epoch, so a resumed run draws the same): the model
cannot memorize one draw's noise. Validation and test keep their fixed binarization.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from . import checkpoint
from . import data
from .data import BINARIZATION_SEED, DataError, Split, binarize, binarized_splits, sha256
from .masks import DEGREE_RULES, ORDERINGS
from .model import MADE
from .validation import int_argument, parse_hidden_sizes


@dataclass
class TrainConfig:
    data: str = "../shared/data/mnist.npz"
    out: str = "runs/mnist"
    hidden: tuple[int, ...] = (500,)
    masks: int = 1
    ordering: tuple[str, ...] = ("natural",)  # cycled over the masks
    hidden_degrees: str = "random"
    direct: bool = True
    epochs: int = 100
    batch_size: int = 100
    lr: float = 1e-3
    lr_min: float = 1e-5  # cosine decay from lr to lr_min over `epochs`
    weight_decay: float = 0.0
    patience: int = 10  # epochs without a better validation NLL before stopping
    seed: int = 0
    binarization_seed: int = BINARIZATION_SEED
    dynamic_binarization: bool = False  # redraw the training images every epoch
    float16: bool = False  # store weights as float16 (about half the size)
    threads: int = 0  # torch threads; 0 keeps torch's default
    resume: bool = False
    name: str = ""
    command: str = field(default="", repr=False)


def batched_log_prob(model: MADE, x: torch.Tensor, mask=None, batch: int = 1000) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([model.log_prob(x[i:i + batch], mask) for i in range(0, len(x), batch)])


def evaluate(model: MADE, x: torch.Tensor, mask_names: list[str]) -> dict:
    """Mean NLL (nats) for each mask, each ordering's ensemble, and the ensemble of all masks."""
    per_mask = torch.stack([batched_log_prob(model, x, k) for k in range(model.num_masks)])
    K = model.num_masks
    result = {"per_mask": [round(-float(lp.mean()), 4) for lp in per_mask],
              "ensemble": round(-float((torch.logsumexp(per_mask, 0) - math.log(K)).mean()), 4)}
    names = sorted(set(mask_names), key=mask_names.index)
    if len(names) > 1:
        result["per_ordering"] = {}
        for name in names:
            rows = per_mask[[k for k in range(K) if mask_names[k] == name]]
            ensemble = torch.logsumexp(rows, 0) - math.log(len(rows))
            result["per_ordering"][name] = round(-float(ensemble.mean()), 4)
    return result


def headline(metrics: dict) -> float:
    return metrics["ensemble"]


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {"param_groups": state["param_groups"], "step": {}}
    for index, slot in state["state"].items():
        for key, value in slot.items():
            if torch.is_tensor(value) and value.ndim > 0:
                tensors[f"{index}.{key}"] = value.contiguous()
            else:
                scalars["step"][f"{index}.{key}"] = float(value)
    return tensors, scalars


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict, scalars: dict) -> None:
    state: dict = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for name, value in scalars["step"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = torch.tensor(value)
    optimizer.load_state_dict({"state": state, "param_groups": scalars["param_groups"]})


def _architecture(model: MADE) -> tuple:
    return model.D, tuple(model.hidden_sizes), model.num_masks, model.direct


def _resume(last: Path, model: MADE, optimizer) -> dict:
    """Load the resumable state into model and optimizer; its progress. A state that does
    not fit this run or is cut short raises CheckpointError naming it (one line, no traceback)."""
    resumed, _ = checkpoint.load(last)
    saved, asked = _architecture(resumed), _architecture(model)
    if saved != asked:
        raise checkpoint.CheckpointError(
            f"{last}: the saved state is a MADE with (D, hidden, masks, direct) = {saved}, this"
            f" run asks for {asked}; resume with the same settings or drop --resume")
    def attempt(where: Path, action):
        try:
            return action()
        except (SafetensorError, ValueError, KeyError, TypeError, RuntimeError, OSError) as error:
            reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
            raise checkpoint.CheckpointError(f"{where}: cannot resume from it ({reason})") from None

    progress_file, optimizer_file = last / "progress.json", last / "optimizer.safetensors"
    progress = attempt(progress_file, lambda: json.loads(progress_file.read_text()))
    tensors = attempt(optimizer_file, lambda: load_file(optimizer_file))
    attempt(last, lambda: (model.load_state_dict(resumed.state_dict()),
                           _restore_optimizer(optimizer, tensors, progress.pop("optimizer"))))
    return progress


def save_state(directory: Path, model: MADE, optimizer, progress: dict, metrics: dict) -> None:
    """The resumable state: weights, optimizer moments, and where training stands."""
    checkpoint.save(model, directory, metrics)
    tensors, scalars = _optimizer_tensors(optimizer)
    save_file(tensors, directory / "optimizer.safetensors.tmp")
    (directory / "progress.json.tmp").write_text(json.dumps({**progress, "optimizer": scalars}))
    (directory / "optimizer.safetensors.tmp").replace(directory / "optimizer.safetensors")
    (directory / "progress.json.tmp").replace(directory / "progress.json")


def build_model(config: TrainConfig, D: int) -> MADE:
    return MADE(D, config.hidden, num_masks=config.masks, ordering=list(config.ordering),
                hidden_degrees=config.hidden_degrees, direct=config.direct, seed=config.seed)


def run_steps(model: MADE, optimizer: torch.optim.Optimizer, batches: Iterable[torch.Tensor],
              mask_draws: Iterable[int] | None = None) -> Iterator[tuple[int, float]]:
    """One optimizer step on each minibatch, yielding (its size, its mean NLL in nats).

    With several masks, minibatch k uses mask mask_draws[k]: connectivity-agnostic training
    (Germain et al., section 4.2). A generator, so a caller (the CLI's epochs, the Tiny world
    page's live run) decides between steps when to report, evaluate or stop.
    """
    model.train()
    draws = iter(mask_draws) if mask_draws is not None and model.num_masks > 1 else None
    for batch in batches:
        if draws is not None:
            model.set_mask(int(next(draws)))
        loss = -model.log_prob(batch).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        yield len(batch), loss.item()


def train(config: TrainConfig, splits: dict[str, Split], data_sha256: str | dict = "",
          log=print, grey_train: np.ndarray | None = None) -> dict:
    """Train, early-stop on validation NLL, evaluate the best model; returns its config.json.
    grey_train: the training images' grey levels (0..255), needed for dynamic binarization."""
    if config.dynamic_binarization and (grey_train is None
                                        or grey_train.shape != splits["train"].images.shape):
        raise ValueError("dynamic binarization needs the grey training images, one per"
                         " binarized training image")
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    last = out / "last"
    x = {name: torch.from_numpy(split.images.astype(np.float32)) for name, split in splits.items()}
    D = x["train"].shape[1]
    torch.manual_seed(config.seed)
    model = build_model(config, D)
    mask_names = [model_ordering_name(config, k) for k in range(config.masks)]
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    progress = {"epoch": 0, "best_valid": math.inf, "best_epoch": 0, "history": [],
                "wall_seconds": 0.0}
    if config.resume and (last / "progress.json").is_file():
        progress = _resume(last, model, optimizer)
        log(f"resumed from {last} after epoch {progress['epoch']}")
    started = time.time() - progress["wall_seconds"]
    n_train = len(x["train"])
    for epoch in range(progress["epoch"] + 1, config.epochs + 1):
        if epoch - progress["best_epoch"] > config.patience and progress["best_epoch"]:
            log(f"early stop: no better validation NLL for {config.patience} epochs")
            break
        lr = config.lr_min + 0.5 * (config.lr - config.lr_min) * (
            1 + math.cos(math.pi * (epoch - 1) / config.epochs))
        for group in optimizer.param_groups:
            group["lr"] = lr
        # Each epoch's shuffle and mask draws come from (seed, epoch): a resumed run repeats them.
        rng = np.random.default_rng([config.seed, epoch])
        permutation = torch.from_numpy(rng.permutation(n_train))
        train_images = x["train"]
        if config.dynamic_binarization:
            train_images = torch.from_numpy(binarize(
                grey_train, [config.binarization_seed, config.seed, epoch]).astype(np.float32))
        starts = range(0, n_train, config.batch_size)
        mask_draws = rng.integers(0, config.masks, size=len(starts))
        batches = (train_images[permutation[start:start + config.batch_size]]
                   for start in starts)
        total, bar = 0.0, tqdm(run_steps(model, optimizer, batches, mask_draws),
                               total=len(starts), desc=f"epoch {epoch}", leave=False,
                               mininterval=1, disable=None)
        for step, (batch_size, loss) in enumerate(bar):
            total += loss * batch_size
            if step % 50 == 0:
                bar.set_postfix(train_nll=f"{loss:.2f}")
        model.set_mask(0)
        model.eval()
        valid = evaluate(model, x["valid"], mask_names)
        record = {"epoch": epoch, "lr": lr, "train_nll": round(total / n_train, 4),
                  "valid_nll": headline(valid)}
        progress["history"].append(record)
        improved = headline(valid) < progress["best_valid"]
        if improved:
            progress["best_valid"], progress["best_epoch"] = headline(valid), epoch
            checkpoint.save(model, out, {"valid": valid, "epoch": epoch}, dtype=_dtype(config))
        progress["epoch"] = epoch
        progress["wall_seconds"] = round(time.time() - started, 1)
        save_state(last, model, optimizer, progress, {})
        log(f"epoch {epoch:3d}  lr {lr:.2e}  train {record['train_nll']:.3f}"
            f"  valid {headline(valid):.3f}{'  *' if improved else ''}"
            f"  ({progress['wall_seconds']:.0f} s)")
    best, _ = checkpoint.load(out)
    metrics = {split: evaluate(best, x[split], mask_names) for split in ("train", "valid", "test")}
    result = {
        "name": config.name or out.name,
        "mask_names": mask_names,
        "nll": metrics,
        "test_nll": headline(metrics["test"]),
        "best_epoch": progress["best_epoch"],
        "epochs_run": progress["epoch"],
        "history": progress["history"],
        "train_config": {k: v for k, v in asdict(config).items() if k != "command"},
        "data_sha256": data_sha256,
        "binarization_seed": config.binarization_seed,
        "command": config.command,
        "wall_seconds": round(time.time() - started, 1),
        "torch": torch.__version__,
    }
    checkpoint.save(best, out, result, dtype=_dtype(config))
    log(f"test NLL {result['test_nll']:.3f} nats (best epoch {progress['best_epoch']})")
    return result


def model_ordering_name(config: TrainConfig, k: int) -> str:
    return config.ordering[k % len(config.ordering)]


def _dtype(config: TrainConfig):
    return torch.float16 if config.float16 else None


def parse_args(argv: list[str]) -> tuple[TrainConfig, str | None]:
    """The training configuration, and the --download base URL if one was given."""
    parser = argparse.ArgumentParser(prog="python -m made_viz.train", description=__doc__.split(
        "\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    defaults = TrainConfig()
    parser.add_argument("--data", default=defaults.data,
                        help="mnist.npz, or a directory with the four MNIST IDX .gz files")
    parser.add_argument("--download", metavar="BASE_URL",
                        help="first fetch the IDX files from BASE_URL into --data (a directory)")
    parser.add_argument("--out", default=defaults.out)
    parser.add_argument("--hidden", default="500", help="hidden layer sizes, e.g. '500' or '1000,1000'")
    parser.add_argument("--masks", type=int_argument("--masks", 1, 1024), default=defaults.masks)
    parser.add_argument("--ordering", default="natural",
                        help=f"comma-separated, cycled over masks; each one of {', '.join(ORDERINGS)}")
    parser.add_argument("--hidden-degrees", choices=DEGREE_RULES, default=defaults.hidden_degrees)
    parser.add_argument("--no-direct", dest="direct", action="store_false")
    for name, low, high in (("epochs", 1, None), ("batch_size", 1, None), ("patience", 0, None),
                            ("seed", 0, 2**32 - 1), ("binarization_seed", 0, None),
                            ("threads", 0, 256)):
        option = "--" + name.replace("_", "-")
        parser.add_argument(option, type=int_argument(option, low, high),
                            default=getattr(defaults, name))
    for name in ("lr", "lr_min", "weight_decay"):
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(defaults, name))
    parser.add_argument("--dynamic-binarization", action="store_true",
                        help="redraw the binarized training images every epoch")
    parser.add_argument("--float16", action="store_true", help="store weights as float16")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last")
    parser.add_argument("--name", default="")
    args = vars(parser.parse_args(argv))
    download = args.pop("download")
    orderings = tuple(o.strip() for o in args.pop("ordering").split(",") if o.strip())
    bad = [o for o in orderings if o not in ORDERINGS]
    if bad or not orderings:
        parser.error(f"--ordering: {bad[0] if bad else '(empty)'!r} is not one of {', '.join(ORDERINGS)}")
    try:
        hidden = parse_hidden_sizes(args.pop("hidden"))
    except ValueError as error:
        parser.error(f"--hidden: {error}")
    config = TrainConfig(**args, hidden=hidden, ordering=orderings,
                         command="python -m made_viz.train " + shlex.join(argv))
    return config, download


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    config, download_url = parse_args(argv)
    try:
        if download_url:
            data.download(download_url, config.data)
        data_path = Path(config.data)
        grey = data.load_mnist(data_path)
        splits = binarized_splits(grey, config.binarization_seed)
        digest = (sha256(data_path) if data_path.is_file() else
                  {p.name: sha256(p) for p in sorted(data_path.iterdir()) if "idx" in p.name})
        train(config, splits, digest, log=lambda line: tqdm.write(line),
              grey_train=grey["train"].images)
    except (DataError, checkpoint.CheckpointError, ValueError, OSError) as error:
        print(f"made_viz.train: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"made_viz.train: interrupted; continue with --resume (state in {config.out}/last)",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

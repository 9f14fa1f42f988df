"""Save and load MADE checkpoints: safetensors weights plus a validated JSON config.

A checkpoint directory holds `model.safetensors` (weights only, no pickle) and `config.json`
(architecture, every mask's ordering and hidden degrees, metrics, provenance). The config is
validated before any tensor is built, so a tampered or truncated file fails with a message.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from .masks import MAX_D, MAX_MASK_BYTES, MaskSet, mask_bytes, masks_from_degrees
from .network import MADEWeights, tensor_shapes
from .validation import MAX_HIDDEN_LAYERS, MAX_HIDDEN_UNITS, check_order, is_int

# torch only where a torch model is made or saved: load_weights (what the Sampling page uses)
# reads a checkpoint with NumPy alone.
if TYPE_CHECKING:
    from .model import MADE

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
FORMAT_VERSION = 1
PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, tampered with or inconsistent."""


def pretrained_root() -> Path:
    """Where bundled models live; MADE_VIZ_PRETRAINED overrides it (tests, other installs)."""
    return Path(os.environ.get("MADE_VIZ_PRETRAINED", PRETRAINED_DIR))


def model_config(model: MADE) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "D": model.D,
        "hidden_sizes": list(model.hidden_sizes),
        "direct": model.direct,
        "masks": [{"order": ms.order.tolist(),
                   "hidden_degrees": [d.tolist() for d in ms.hidden_degrees]}
                  for ms in model.mask_sets],
    }


def save(model: MADE, directory, metrics: dict | None = None, *, dtype=None) -> Path:
    """Write weights and config.json; `metrics` (NLLs, command, seeds...) is stored beside them.

    Files are written to temporary names and renamed, so an interrupted save never leaves a
    half-written checkpoint behind.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {name: (t.detach().to(dtype) if dtype else t.detach()).contiguous().clone()
               for name, t in model.state_dict().items()}
    config = model_config(model)
    clashes = sorted(key for key, value in (metrics or {}).items()
                     if key in config and value != config[key])
    if clashes:  # metrics must never silently rewrite the architecture they sit beside
        raise ValueError(f"metrics would overwrite the model's {', '.join(clashes)}")
    config.update({key: value for key, value in (metrics or {}).items() if key not in config})
    save_file(tensors, directory / (WEIGHTS + ".tmp"))
    (directory / (CONFIG + ".tmp")).write_text(json.dumps(config, indent=1))
    os.replace(directory / (WEIGHTS + ".tmp"), directory / WEIGHTS)
    os.replace(directory / (CONFIG + ".tmp"), directory / CONFIG)
    return directory


def _require(condition: bool, path: Path, message: str) -> None:
    if not condition:
        raise CheckpointError(f"{path}: {message}")


def _shown(value) -> str:
    """A value quoted in an error message, cut short: a tampered file may hold anything."""
    if isinstance(value, list) and len(value) > 3:
        return f"a list of {len(value)}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_config(config, path: Path) -> None:
    """Check types, ranges and shapes of a config before anything is built from it."""
    _require(isinstance(config, dict), path, "config is not a JSON object")
    version = config.get("format_version")
    _require(version == FORMAT_VERSION and is_int(version), path,
             f"'format_version' is {_shown(version)}; this made-viz reads version {FORMAT_VERSION}")
    D = config.get("D")
    _require(is_int(D) and 1 <= D <= MAX_D, path,
             f"'D' must be an integer in 1..{MAX_D}, got {_shown(D)}")
    hidden = config.get("hidden_sizes")
    _require(isinstance(hidden, list) and len(hidden) <= MAX_HIDDEN_LAYERS
             and all(is_int(h) and 1 <= h <= MAX_HIDDEN_UNITS for h in hidden), path,
             f"'hidden_sizes' must be a list of at most {MAX_HIDDEN_LAYERS} integers"
             f" in 1..{MAX_HIDDEN_UNITS}, got {_shown(hidden)}")
    _require(isinstance(config.get("direct"), bool), path,
             f"'direct' must be true or false, got {_shown(config.get('direct'))}")
    masks = config.get("masks")
    _require(isinstance(masks, list) and 1 <= len(masks) <= 1024, path,
             "'masks' must be a list of 1..1024 mask descriptions")
    # A tampered config must not make us allocate gigabytes: weights are as large as masks.
    needed = len(masks) * mask_bytes(D, hidden, config["direct"] or not hidden)
    _require(needed <= MAX_MASK_BYTES, path,
             f"'D', 'hidden_sizes' and {len(masks)} mask(s) would need {needed:,} bytes of"
             f" masks; the limit is {MAX_MASK_BYTES:,}")
    for k, mask in enumerate(masks):
        _require(isinstance(mask, dict), path, f"mask {k} is not an object")
        order = mask.get("order")
        _require(isinstance(order, list) and all(is_int(i) for i in order), path,
                 f"mask {k}: 'order' must be a list of integers")
        try:
            check_order(order, D)
        except ValueError as error:
            raise CheckpointError(f"{path}: mask {k}: {error}") from None
        degrees = mask.get("hidden_degrees")
        _require(isinstance(degrees, list) and len(degrees) == len(hidden), path,
                 f"mask {k}: 'hidden_degrees' must hold one list per hidden layer")
        for layer, (layer_degrees, size) in enumerate(zip(degrees, hidden)):
            where = f"mask {k}, hidden layer {layer + 1}"
            _require(isinstance(layer_degrees, list) and len(layer_degrees) == size, path,
                     f"{where}: need a list of {size} degrees in 1..{D},"
                     f" got {_shown(layer_degrees)}")
            bad = [m for m in layer_degrees if not (is_int(m) and 1 <= m <= D)]
            if bad:
                raise CheckpointError(f"{path}: {where}: degree {_shown(bad[0])} is not a whole"
                                      f" number in 1..{D}")


def _read(directory) -> tuple[dict, list[MaskSet], dict[str, np.ndarray]]:
    """A checkpoint's config, mask sets and arrays, each checked before the next is built."""
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG, directory / WEIGHTS
    _require(config_path.is_file(), config_path, "missing (is this a made-viz checkpoint?)")
    _require(weights_path.is_file(), weights_path, "missing weights file")
    try:
        config = json.loads(config_path.read_text())
    except (ValueError, RecursionError) as error:  # bad JSON or UTF-8, absurd nesting or digits
        raise CheckpointError(f"{config_path}: not valid JSON ({error})") from None
    validate_config(config, config_path)
    mask_sets = [masks_from_degrees(m["order"], m["hidden_degrees"], direct=config["direct"])
                 for m in config["masks"]]
    try:
        arrays = load_file(weights_path)
    except (SafetensorError, OSError, ValueError, TypeError) as error:
        raise CheckpointError(f"{weights_path}: unreadable safetensors file ({error})") from None
    expected = tensor_shapes(mask_sets[0])
    _require(set(arrays) == set(expected), weights_path,
             f"holds tensors {sorted(arrays)}, expected {sorted(expected)}")
    for name, array in arrays.items():
        _require(array.shape == expected[name], weights_path,
                 f"tensor {name} has shape {array.shape}, expected {expected[name]}")
        _require(np.issubdtype(array.dtype, np.floating) and bool(np.isfinite(array).all()),
                 weights_path, f"tensor {name} is not finite floating point")
    return config, mask_sets, arrays


def load_weights(directory) -> tuple[MADEWeights, dict]:
    """Load a checkpoint without torch: (network.MADEWeights as stored, config dict)."""
    config, mask_sets, arrays = _read(directory)
    for array in arrays.values():
        array.flags.writeable = False
    return MADEWeights.from_arrays(tuple(mask_sets), arrays), config


def load(directory) -> tuple[MADE, dict]:
    """Load a checkpoint directory: (model in eval mode, config dict)."""
    import torch

    from .model import MADE

    config, mask_sets, arrays = _read(directory)
    model = MADE(mask_sets[0].D, mask_sets[0].hidden_sizes, mask_sets=mask_sets)
    model.load_state_dict({name: torch.from_numpy(a).float() for name, a in arrays.items()})
    model.eval()
    return model, config


def list_pretrained() -> list[str]:
    root = pretrained_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / CONFIG).is_file())


def _pretrained(name: str | None) -> Path:
    name = name or "mnist"
    available = list_pretrained()
    if name not in available:
        raise CheckpointError(f"no pretrained model {name!r} in {pretrained_root()};"
                              f" available: {', '.join(available) or 'none'}")
    return pretrained_root() / name


def load_pretrained(name: str | None = None) -> tuple[MADE, dict]:
    """A bundled model by name ("mnist" by default)."""
    return load(_pretrained(name))


def load_pretrained_weights(name: str | None = None) -> tuple[MADEWeights, dict]:
    """A bundled model's weights without torch (see load_weights)."""
    return load_weights(_pretrained(name))


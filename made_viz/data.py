"""MNIST loading and the fixed binarization used for every NLL made-viz reports.

Binarized MNIST (Salakhutdinov & Murray 2008) draws each pixel once as Bernoulli(grey / 255)
and keeps it fixed. We draw our own with a recorded seed, so our NLLs compare with the paper's
table only up to that draw.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLITS = ("train", "valid", "test")
BINARIZATION_SEED = 1234
SUBSET_FILE = "mnist-test-subset.npz"


class DataError(ValueError):
    """A data file that is missing, truncated or not laid out as expected."""


@dataclass
class Split:
    images: np.ndarray  # uint8 (N, 784), grey levels 0..255 or binary 0/1
    labels: np.ndarray  # uint8 (N,)


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_npz(path) -> dict[str, Split]:
    """Load an .npz with x_/y_ train, valid and test arrays, as in ../shared/data/mnist.npz."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as error:  # zipfile, OSError, ValueError: all mean a broken file
        raise DataError(f"{path}: not a readable .npz archive ({type(error).__name__}: {error})"
                        ) from None
    splits = {}
    for split in SPLITS:
        x, y = arrays.get(f"x_{split}"), arrays.get(f"y_{split}")
        if x is None or y is None:
            raise DataError(f"{path}: missing arrays x_{split} / y_{split}")
        if x.ndim != 2 or x.shape[1] != 784 or x.dtype != np.uint8:
            raise DataError(f"{path}: x_{split} must be uint8 of shape (N, 784),"
                            f" got {x.dtype} {x.shape}")
        if y.shape != (len(x),):
            raise DataError(f"{path}: y_{split} has shape {y.shape}, expected ({len(x)},)")
        splits[split] = Split(x, y.astype(np.uint8))
    return splits


def binarize(images: np.ndarray, seed: int) -> np.ndarray:
    """Each pixel 1 with probability grey / 255, drawn once from `seed`."""
    rng = np.random.default_rng(seed)
    return (rng.random(images.shape, dtype=np.float32) * 255 < images).astype(np.uint8)


def binarized_splits(splits: dict[str, Split], seed: int = BINARIZATION_SEED) -> dict[str, Split]:
    """Binarize every split with its own stream derived from one seed."""
    return {name: Split(binarize(split.images, seed + i), split.labels)
            for i, (name, split) in enumerate(sorted(splits.items()))}


def save_test_subset(path, split: Split, index: np.ndarray, binarization_seed: int) -> None:
    """The small binarized test subset bundled for completion in the app (bit-packed)."""
    np.savez_compressed(path, x=np.packbits(split.images[index], axis=1), y=split.labels[index],
                        index=index.astype(np.int32), binarization_seed=np.int64(binarization_seed))


def load_test_subset(path=None) -> Split:
    """The bundled binarized test digits: images uint8 0/1 (N, 784) and their labels."""
    from .checkpoint import pretrained_root

    path = Path(path) if path else pretrained_root() / SUBSET_FILE
    if not path.is_file():
        raise DataError(f"{path}: the bundled test subset is missing")
    try:
        with np.load(path, allow_pickle=False) as archive:
            images = np.unpackbits(archive["x"], axis=1)[:, :784]
            labels = archive["y"].astype(np.uint8)
    except Exception as error:
        raise DataError(f"{path}: unreadable test subset ({type(error).__name__}: {error})"
                        ) from None
    if images.shape != (len(labels), 784):
        raise DataError(f"{path}: images of shape {images.shape} do not match {len(labels)} labels")
    return Split(images, labels)

"""The nearest binarized MNIST training digits of any binary image: "did it just memorize the
training set?" NumPy only.

The bundled set is the 50,000 training images of the project's fixed binarization
(data.binarized_splits with data.BINARIZATION_SEED: the splits, in sorted name order test,
train, valid, are drawn with seeds 1234, 1235 and 1236, so these are
data.binarize(x_train, 1235)), each row of 784 pixels packed with numpy.packbits (first pixel
in the high bit) into 98 bytes: pretrained/mnist-train-bits.npy, 4.9 MB. Its sidecar JSON
holds the labels, the seeds, the source data's sha256 and the packed file's own, which
load_training_set checks. The bundled `mnist` model was trained on fresh draws of the same
grey images every epoch (dynamic binarization), so it never saw exactly this draw; the
distances are to the one fixed draw the project's NLLs also use for validation and test.

The distance is Hamming's: the number of pixels that differ. Each row is held as 12 uint64
words and one uint16 word (96 + 2 bytes), word by word across the whole set, so a distance is
12 XORs and popcounts (np.bitwise_count) plus one, over every training digit at once. Ties go
to the lower index, so the answer is the same as a brute-force search that keeps the first.

>>> import numpy as np
>>> training = load_training_set()
>>> len(training), training.image(7).shape
(50000, (784,))
>>> found = nearest_training(training.image(7), k=2, training=training)
>>> int(found.indices[0, 0]), int(found.distances[0, 0])     # a training digit is its own nearest
(7, 0)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import data
from .validation import check_binary_images, check_int, int_argument

PIXELS = 784
ROW_BYTES = PIXELS // 8           # 98
WORDS = ROW_BYTES // 8            # 12 uint64 words, then 2 bytes left
BITS_FILE = "mnist-train-bits.npy"
SIDECAR_FILE = "mnist-train-bits.json"
BLOCK = 16                        # images compared at once: bounds the temporaries (6.4 MB)
MAX_INDEX_BITS = 16               # indices below 2^16 fit beside a distance in one uint32 key


class TrainingSetError(ValueError):
    """The packed training set is missing, altered, or does not match its sidecar."""


class Neighbours(NamedTuple):
    """indices: int64 (n, k) into the training set, nearest first; distances: int64 (n, k),
    the number of the 784 pixels that differ."""

    indices: np.ndarray
    distances: np.ndarray


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """The packed binarized training digits, read-only, and their labels."""

    words: np.ndarray     # uint64 (12, N): word j of every row, contiguous across rows
    tail: np.ndarray      # uint16 (N,): the last two bytes of every row
    labels: np.ndarray    # uint8 (N,)
    info: dict            # the sidecar, labels left out

    @classmethod
    def from_packed(cls, packed: np.ndarray, labels: np.ndarray, info: dict | None = None):
        """From uint8 (N, 98) rows as numpy.packbits wrote them, read-only."""
        packed, labels = np.asarray(packed), np.array(labels, dtype=np.uint8)
        if packed.dtype != np.uint8 or packed.shape != (len(labels), ROW_BYTES):
            raise ValueError(f"packed rows must be uint8 of shape ({len(labels)}, {ROW_BYTES})"
                             f" (one per label), got {packed.dtype} {packed.shape}")
        if not 1 <= len(labels) < 2**MAX_INDEX_BITS:
            raise ValueError(f"a training set holds 1..{2**MAX_INDEX_BITS - 1} digits,"
                             f" got {len(labels)}")
        words, tail = _split_rows(packed)
        for array in (words, tail, labels):
            array.flags.writeable = False
        return cls(words, tail, labels, dict(info or {}))

    @classmethod
    def from_images(cls, images, labels, info: dict | None = None):
        """From uint8 (N, 784) 0/1 images (tests, other data sets)."""
        images = check_binary_images("images", images, PIXELS)
        return cls.from_packed(np.packbits(images, axis=1), labels, info)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def nbytes(self) -> int:
        return self.words.nbytes + self.tail.nbytes + self.labels.nbytes

    def packed(self, indices) -> np.ndarray:
        """uint8 (n, 98): the rows as numpy.packbits wrote them."""
        indices = np.asarray(indices)
        head = np.ascontiguousarray(self.words[:, indices].T).view(np.uint8)
        return np.concatenate([head, self.tail[indices].view(np.uint8).reshape(-1, 2)], axis=1)

    def images(self, indices) -> np.ndarray:
        """uint8 (n, 784) of 0/1: the training digits at `indices`."""
        indices = np.atleast_1d(np.asarray(indices))
        bad = indices[(indices < 0) | (indices >= len(self))] if indices.size else indices
        if bad.size or not np.issubdtype(indices.dtype, np.integer):
            shown = bad[0].item() if bad.size else indices.dtype
            raise ValueError(f"training index must be in 0..{len(self) - 1}, got {shown!r}")
        return np.unpackbits(self.packed(indices), axis=1)

    def image(self, index: int) -> np.ndarray:
        """uint8 (784,) of 0/1: one training digit."""
        return self.images([check_int("training index", index, 0, len(self) - 1)])[0]

    def distances(self, images) -> np.ndarray:
        """uint16 (n, N): the Hamming distance of each image to every training digit."""
        query = _split_rows(np.packbits(images, axis=1))
        return np.vstack([self._block_distances(query[0][:, i:i + BLOCK],
                                                query[1][i:i + BLOCK])
                          for i in range(0, len(images), BLOCK)])

    def _block_distances(self, words: np.ndarray, tail: np.ndarray) -> np.ndarray:
        n, N = len(tail), len(self)
        distances = np.bitwise_count(self.tail[None, :] ^ tail[:, None]).astype(np.uint16)
        xor, counts = np.empty((n, N), np.uint64), np.empty((n, N), np.uint8)
        for j in range(WORDS):
            np.bitwise_xor(self.words[j][None, :], words[j][:, None], out=xor)
            np.bitwise_count(xor, out=counts)
            distances += counts
        return distances

    def nearest(self, images, k: int = 1) -> Neighbours:
        """The k nearest training digits of each image (see nearest_training)."""
        images = check_binary_images("images", images, PIXELS)
        k = check_int("k", k, 1, len(self))
        distances = self.distances(images)
        if k == 1:  # argmin keeps the first of equals: the lower index
            nearest = distances.argmin(axis=1)[:, None]
            return Neighbours(nearest.astype(np.int64),
                              np.take_along_axis(distances, nearest, axis=1).astype(np.int64))
        # distance in the high bits, index in the low: the k smallest keys are the k nearest,
        # ties broken by the lower index, with one partition instead of a sort per image.
        keys = (distances.astype(np.uint32) << MAX_INDEX_BITS) | np.arange(len(self),
                                                                             dtype=np.uint32)
        if k < len(self):
            keys = np.partition(keys, k - 1, axis=1)[:, :k]
        keys = np.sort(keys, axis=1)
        return Neighbours((keys & (2**MAX_INDEX_BITS - 1)).astype(np.int64),
                          (keys >> MAX_INDEX_BITS).astype(np.int64))


def _split_rows(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 98) -> (uint64 (12, n) words, uint16 (n,) tails), in native byte order on
    both sides, which a XOR and a popcount do not care about."""
    words = np.ascontiguousarray(packed[:, :WORDS * 8]).view(np.uint64).T.copy()
    tail = np.ascontiguousarray(packed[:, WORDS * 8:]).view(np.uint16)[:, 0].copy()
    return words, tail


def _default_directory() -> Path:
    from .checkpoint import pretrained_root

    return pretrained_root()


def _read_sidecar(path: Path) -> dict:
    if not path.is_file():
        raise TrainingSetError(f"{path}: missing (the packed training set's sidecar)")
    try:
        info = json.loads(path.read_text())
    except (ValueError, OSError) as error:
        raise TrainingSetError(f"{path}: not readable JSON ({error})") from None
    if not isinstance(info, dict):
        raise TrainingSetError(f"{path}: not a JSON object")
    labels, digest = info.get("labels"), info.get("sha256")
    if not (isinstance(labels, str) and labels.isascii() and labels.isdigit()):
        raise TrainingSetError(f"{path}: 'labels' must be a string of digits 0..9, one a digit")
    if not (isinstance(digest, str) and len(digest) == 64):
        raise TrainingSetError(f"{path}: 'sha256' must be the packed file's 64-digit digest")
    return info


def load_training_set(directory=None) -> TrainingSet:
    """The bundled packed training set (pretrained/ by default), its checksum checked."""
    directory = Path(directory) if directory is not None else _default_directory()
    info = _read_sidecar(directory / SIDECAR_FILE)
    path = directory / BITS_FILE
    if not path.is_file():
        raise TrainingSetError(f"{path}: missing (rebuild it: {info.get('command', '?')})")
    found = data.sha256(path)
    if found != info["sha256"]:
        raise TrainingSetError(f"{path}: sha256 {found} does not match its sidecar's"
                               f" {info['sha256']}")
    try:
        packed = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise TrainingSetError(f"{path}: not a readable .npy file ({error})") from None
    labels = np.frombuffer(info.pop("labels").encode("ascii"), dtype=np.uint8) - ord("0")
    try:
        return TrainingSet.from_packed(packed, labels, info)
    except ValueError as error:
        raise TrainingSetError(f"{path}: {error}") from None


@lru_cache(maxsize=1)
def bundled_training_set() -> TrainingSet:
    """The bundled set, loaded once per process (the library's own users; the app keeps one
    per server in its resource cache instead)."""
    return load_training_set()


def nearest_training(images, k: int = 1, *, training: TrainingSet | None = None) -> Neighbours:
    """The k nearest binarized MNIST training digits of each image, by Hamming distance.

    images: uint8 / bool (784,) or (n, 784) of 0/1. Returns Neighbours(indices, distances),
    each int64 (n, k), nearest first, ties to the lower index. training: a loaded
    TrainingSet (default: the bundled one, loaded once).
    """
    return (training or bundled_training_set()).nearest(images, k)


# ---------------------------------------------------------------------------------------------
# Building the bundled file: `python -m made_viz.neighbours --data PATH`.

def build(data_path, directory, binarization_seed: int) -> dict:
    """Binarize the training split as data.binarized_splits does, pack it and write the .npy
    file and its sidecar into `directory`; returns the sidecar."""

    splits = data.load_mnist(data_path)
    seeds = data.split_seeds(splits, binarization_seed)
    train = data.binarized_splits(splits, binarization_seed)["train"]
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / BITS_FILE
    np.save(path, np.packbits(train.images, axis=1), allow_pickle=False)
    source = Path(data_path)
    drawn = ", ".join(f"{name} {split_seed}" for name, split_seed in seeds.items())
    info = {
        "what": "the binarized MNIST training split, one row of 784 pixels (28 x 28, row-major,"
                " 1 = ink) per digit packed by numpy.packbits, first pixel in the high bit",
        "shape": [len(train.labels), ROW_BYTES],
        "binarization_seed": binarization_seed,
        "split_seed": seeds["train"],
        "binarization": f"made_viz.data.binarized_splits(splits, {binarization_seed}), each"
                        f" split drawn with its own seed ({drawn}): this is"
                        f" made_viz.data.binarize(x_train, {seeds['train']}), pixel 1 where"
                        f" default_rng({seeds['train']}).random((N, 784), float32) * 255 < grey",
        "source": source.name,
        "source_sha256": data.sha256(source) if source.is_file() else None,
        "sha256": data.sha256(path),
        "command": f"python -m made_viz.neighbours --data {data_path}"
                   f" --binarization-seed {binarization_seed}",
        "labels": "".join(map(str, train.labels.tolist())),
    }
    (directory / SIDECAR_FILE).write_text(json.dumps(info, indent=1) + "\n")
    return info


def main(argv=None) -> int:
    """`python -m made_viz.neighbours --data PATH [--out DIR]`: write the bundled packed
    training set and its sidecar (pretrained/ by default)."""
    import argparse
    import sys


    parser = argparse.ArgumentParser(prog="python -m made_viz.neighbours",
                                     description=main.__doc__)
    parser.add_argument("--data", default=str(data.DEFAULT_NPZ))
    parser.add_argument("--out", default=None, help="directory (default: pretrained/)")
    parser.add_argument("--binarization-seed", type=int_argument("--binarization-seed", 0, None),
                        default=data.BINARIZATION_SEED)
    args = parser.parse_args(argv)
    try:
        info = build(args.data, args.out or _default_directory(), args.binarization_seed)
    except (data.DataError, OSError) as error:
        print(f"made_viz.neighbours: error: {error}", file=sys.stderr)
        return 2
    print(f"{info['shape'][0]:,} digits, sha256 {info['sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

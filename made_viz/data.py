"""MNIST loading and the fixed binarization used for every NLL made-viz reports.

MNIST comes from an .npz laid out like ../shared/data/mnist.npz or from the four IDX files
LeCun distributes (gzipped or not), which `download` can fetch and verify. Either way the
split is the one binarized-MNIST papers use: 50,000 train, the last 10,000 training images as
validation, 10,000 test.

Binarized MNIST (Salakhutdinov & Murray 2008) draws each pixel once as Bernoulli(grey / 255)
and keeps it fixed. We draw our own with a recorded seed, so our NLLs compare with the paper's
table only up to that draw.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import struct
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np

from .validation import int_argument, is_int

SPLITS = ("train", "valid", "test")
BINARIZATION_SEED = 1234
SUBSET_FILE = "mnist-test-subset.npz"
# Where the shared copy sits beside the project checkout (see ../shared/data/README.md).
DEFAULT_NPZ = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist.npz"

SIDE = 28
VALID_SIZE = 10_000
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049  # 0x0803 / 0x0801: unsigned bytes, 3 / 1 dimensions
MAX_IDX_ITEMS = 1_000_000  # MNIST has 60,000; a larger count is a corrupt header, not data
MAX_DOWNLOAD_BYTES = 64 * 2**20
IDX_FILES = {  # (images, labels) of each original split
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# SHA-256 of the four files as LeCun published them (the same bytes on the usual mirrors,
# e.g. https://ossci-datasets.s3.amazonaws.com/mnist/); torchvision pins their MD5 sums
# f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d... in the same order.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


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


def _read_up_to(f, size: int) -> tuple[bytes, bool]:
    """Up to `size` bytes in chunks (a corrupt header must not make us allocate its claim);
    the flag says whether a gzip stream broke off before its end marker."""
    chunks, got = [], 0
    try:
        while got < size:
            chunk = f.read(min(size - got, 1 << 22))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except EOFError:
        return b"".join(chunks), True
    return b"".join(chunks), False


def read_idx(path, magic: int) -> np.ndarray:
    """One IDX file, gzipped or not: uint8 images (N, 784) for magic 2051, labels (N,) for 2049."""
    path = Path(path)
    kinds = {IMAGE_MAGIC: "an image file", LABEL_MAGIC: "a label file"}
    if magic not in kinds:
        raise ValueError(f"magic must be {IMAGE_MAGIC} (images) or {LABEL_MAGIC} (labels),"
                         f" got {magic}")
    header_size = 16 if magic == IMAGE_MAGIC else 8
    what = "pixel data" if magic == IMAGE_MAGIC else "labels"

    def fail(message: str) -> NoReturn:
        raise DataError(f"{path}: {message}")

    try:
        with open(path, "rb") as raw:
            is_gzip = raw.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if is_gzip else open(path, "rb")) as f:
            header, broken = _read_up_to(f, header_size)
            if len(header) < header_size:
                fail(f"truncated: expected a {header_size}-byte IDX header, got {len(header)}")
            found, count, *dims = struct.unpack(f">{header_size // 4}I", header)
            if found != magic:
                fail(f"bad magic number {found}, expected {magic} ({kinds[magic]})"
                     + (f"; this looks like {kinds[found]}" if found in kinds else ""))
            if dims and dims != [SIDE, SIDE]:
                fail(f"images are {dims[0]}x{dims[1]}, expected {SIDE}x{SIDE}")
            if count > MAX_IDX_ITEMS:
                fail(f"header claims {count} items; at most {MAX_IDX_ITEMS} are plausible")
            expected = count * (SIDE * SIDE if dims else 1)
            body, broken = _read_up_to(f, expected)
            if len(body) < expected:
                fail(f"truncated: expected {expected} bytes of {what}, got {len(body)}"
                     + (" (the gzip stream breaks off)" if broken else ""))
            extra, broken = _read_up_to(f, 1)
            if broken:
                fail("truncated: the gzip stream breaks off after the data (missing its trailer)")
            if extra:
                fail(f"holds more than the {expected} bytes of {what} its header announces")
    except (OSError, zlib.error) as error:  # gzip.BadGzipFile, CRC errors, unreadable files
        fail(f"unreadable IDX file ({type(error).__name__}: {error})")
    data = np.frombuffer(body, dtype=np.uint8).copy()  # writable, like arrays from an .npz
    if magic == LABEL_MAGIC and count and data.max() > 9:
        fail(f"labels must be digits 0..9, found {int(data.max())}")
    return data.reshape(count, SIDE * SIDE) if magic == IMAGE_MAGIC else data


def _idx_path(directory: Path, name: str) -> Path | None:
    """`name` as distributed (.gz) or already gunzipped."""
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def load_idx(directory, *, valid_size: int = VALID_SIZE) -> dict[str, Split]:
    """The four MNIST IDX files in `directory`; the last `valid_size` training images validate."""
    directory = Path(directory)
    names = [name for pair in IDX_FILES.values() for name in pair]
    missing = [name for name in names if _idx_path(directory, name) is None]
    if missing:
        raise DataError(f"{directory}: missing {', '.join(missing)} (need the four MNIST IDX"
                        f" files, gzipped or not; or give the path of an .npz instead)")
    original = {}
    for split, (images_name, labels_name) in IDX_FILES.items():
        images_path = _idx_path(directory, images_name)
        labels_path = _idx_path(directory, labels_name)
        images, labels = read_idx(images_path, IMAGE_MAGIC), read_idx(labels_path, LABEL_MAGIC)
        if len(images) != len(labels):
            raise DataError(f"{directory}: {images_path.name} holds {len(images)} images but"
                            f" {labels_path.name} holds {len(labels)} labels")
        original[split] = Split(images, labels)
    train = original["train"]
    if not is_int(valid_size) or not 1 <= valid_size < len(train.images):
        raise DataError(f"{directory}: the training files hold {len(train.images)} images; the"
                        f" validation split must be 1..{len(train.images) - 1} of them,"
                        f" got {valid_size!r}")
    cut = len(train.images) - valid_size
    return {"train": Split(train.images[:cut], train.labels[:cut]),
            "valid": Split(train.images[cut:], train.labels[cut:]),
            "test": original["test"]}


def load_mnist(path=DEFAULT_NPZ) -> dict[str, Split]:
    """MNIST from an .npz file or a directory holding the four IDX files: split -> Split."""
    path = Path(path)
    if path.is_dir():
        return load_idx(path)
    if path.is_file():
        return load_npz(path)
    raise DataError(f"{path}: no such file or directory (give an .npz file or a directory"
                    f" holding the four MNIST IDX files)")


def _check_checksums(checksums) -> dict[str, str]:
    if not isinstance(checksums, dict) or not checksums:
        raise ValueError("checksums must map each file name to its SHA-256 hex digest")
    for name, digest in checksums.items():
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise ValueError(f"checksums: {name!r} is not a plain file name")
        if not (isinstance(digest, str) and len(digest) == 64
                and all(c in "0123456789abcdefABCDEF" for c in digest)):
            raise ValueError(f"checksums: {name}: expected a 64-digit SHA-256 hex digest,"
                             f" got {digest!r}")
    return {name: digest.lower() for name, digest in checksums.items()}


def _fetch(url: str, target: Path, expected: str, timeout: float) -> None:
    """Stream `url` into a temporary file beside `target`, check its SHA-256, then rename."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while block := response.read(1 << 16):
                size += len(block)
                if size > MAX_DOWNLOAD_BYTES:
                    raise DataError(f"{url}: larger than {MAX_DOWNLOAD_BYTES // 2**20} MB;"
                                    f" not an MNIST file")
                digest.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected:
            raise DataError(f"{target.name}: sha256 mismatch: expected {expected},"
                            f" got {digest.hexdigest()} (downloaded from {url}; not kept)")
        os.replace(temporary, target)
    except urllib.error.HTTPError as error:
        raise DataError(f"{url}: HTTP error {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise DataError(f"{url}: cannot download ({error.reason})") from None
    except (OSError, http.client.HTTPException) as error:  # timeouts, connection resets
        raise DataError(f"{url}: download failed ({type(error).__name__}: {error})") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def download(base_url: str, directory, checksums: dict[str, str] = MNIST_SHA256, *,
             timeout: float = 60.0) -> dict[str, str]:
    """Fetch each file of `checksums` from base_url into directory, verified by SHA-256.

    Files already present with the right digest are kept; each download goes to a temporary
    file renamed into place only once its digest matches. Returns name -> "downloaded" or
    "already present". Load the result with load_mnist(directory).
    """
    checksums = _check_checksums(checksums)
    if not isinstance(base_url, str) or urllib.parse.urlsplit(base_url).scheme not in (
            "http", "https", "file"):
        raise DataError(f"download URL must start with http://, https:// or file://,"
                        f" got {base_url!r}")
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"{directory}: cannot create the download directory ({error})") from None
    status = {}
    for name, expected in checksums.items():
        target = directory / name
        if target.is_file() and sha256(target) == expected:
            status[name] = "already present"
            continue
        _fetch(f"{base_url.rstrip('/')}/{urllib.parse.quote(name)}", target, expected, timeout)
        status[name] = "downloaded"
    return status


def binarize(images: np.ndarray, seed) -> np.ndarray:
    """Each pixel 1 with probability grey / 255, drawn once from `seed` (an int or a
    sequence of ints, as numpy's default_rng takes)."""
    rng = np.random.default_rng(seed)
    return (rng.random(images.shape, dtype=np.float32) * 255 < images).astype(np.uint8)


def split_seeds(names, seed: int = BINARIZATION_SEED) -> dict[str, int]:
    """The seed each split is binarized with: seed + its place in sorted name order (for
    train, valid and test: test seed, train seed + 1, valid seed + 2)."""
    return {name: seed + i for i, name in enumerate(sorted(names))}


def binarized_splits(splits: dict[str, Split], seed: int = BINARIZATION_SEED) -> dict[str, Split]:
    """Binarize every split with its own stream derived from one seed (split_seeds)."""
    return {name: Split(binarize(splits[name].images, split_seed), splits[name].labels)
            for name, split_seed in split_seeds(splits, seed).items()}


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


def subset_index(labels: np.ndarray, per_label: int = 100) -> np.ndarray:
    """The first `per_label` digits of each label, in their original order."""
    return np.sort(np.concatenate([np.flatnonzero(labels == d)[:per_label] for d in range(10)]))


def main(argv=None) -> int:
    """`python -m made_viz.data --data PATH --out FILE`: write the bundled test subset."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m made_viz.data", description=main.__doc__)
    parser.add_argument("--data", default=str(DEFAULT_NPZ))
    parser.add_argument("--out", default="pretrained/" + SUBSET_FILE)
    parser.add_argument("--per-label", type=int_argument("--per-label", 1, None), default=100)
    parser.add_argument("--binarization-seed", type=int_argument("--binarization-seed", 0, None),
                        default=BINARIZATION_SEED)
    args = parser.parse_args(argv)
    try:
        test = binarized_splits(load_mnist(args.data), args.binarization_seed)["test"]
        save_test_subset(args.out, test, subset_index(test.labels, args.per_label),
                         args.binarization_seed)
    except (DataError, OSError) as error:
        print(f"made_viz.data: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

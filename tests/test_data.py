"""MNIST loading (npz and IDX), verified download over loopback, and the fixed binarization."""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from made_viz import data
from made_viz.data import DataError, Split

TRAIN_IMAGES, TRAIN_LABELS = data.IDX_FILES["train"]
TEST_IMAGES, TEST_LABELS = data.IDX_FILES["test"]


def digits(n: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    return Split(rng.integers(0, 256, (n, 784), dtype=np.uint8),
                 rng.integers(0, 10, n, dtype=np.uint8))


def write_npz(path: Path, sizes=(30, 10, 20), **overrides) -> dict[str, Split]:
    splits = {name: digits(n, seed) for seed, (name, n) in enumerate(zip(data.SPLITS, sizes))}
    arrays = {}
    for name, split in splits.items():
        arrays[f"x_{name}"], arrays[f"y_{name}"] = split.images, split.labels
    arrays.update(overrides)
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    return splits


def idx_bytes(magic: int, array: np.ndarray, dims=None) -> bytes:
    dims = dims if dims is not None else ((28, 28) if magic == data.IMAGE_MAGIC else ())
    return struct.pack(f">{2 + len(dims)}I", magic, len(array), *dims) + array.tobytes()


def write_idx(directory: Path, train: Split, test: Split, *, compress=True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    contents = {TRAIN_IMAGES: idx_bytes(data.IMAGE_MAGIC, train.images),
                TRAIN_LABELS: idx_bytes(data.LABEL_MAGIC, train.labels),
                TEST_IMAGES: idx_bytes(data.IMAGE_MAGIC, test.images),
                TEST_LABELS: idx_bytes(data.LABEL_MAGIC, test.labels)}
    for name, content in contents.items():
        if compress:
            (directory / name).write_bytes(gzip.compress(content, compresslevel=1, mtime=0))
        else:
            (directory / name.removesuffix(".gz")).write_bytes(content)
    return directory


def assert_split_equal(split: Split, images: np.ndarray, labels: np.ndarray) -> None:
    assert split.images.dtype == np.uint8 and split.labels.dtype == np.uint8
    np.testing.assert_array_equal(split.images, images)
    np.testing.assert_array_equal(split.labels, labels)


# ---------------------------------------------------------------- npz

def test_npz_round_trip_through_load_mnist(tmp_path):
    written = write_npz(tmp_path / "m.npz")
    for loaded in (data.load_npz(tmp_path / "m.npz"), data.load_mnist(tmp_path / "m.npz")):
        assert set(loaded) == set(data.SPLITS)
        for name, split in written.items():
            assert_split_equal(loaded[name], split.images, split.labels)


@pytest.mark.parametrize("overrides, message", [
    ({"x_valid": None}, "missing arrays x_valid / y_valid"),
    ({"y_test": None}, "missing arrays x_test / y_test"),
    ({"x_train": np.zeros((30, 784), np.float32)},
     "x_train must be uint8 of shape (N, 784), got float32 (30, 784)"),
    ({"x_test": np.zeros((20, 783), np.uint8)},
     "x_test must be uint8 of shape (N, 784), got uint8 (20, 783)"),
    ({"x_train": np.zeros((30, 28, 28), np.uint8)}, "x_train must be uint8 of shape (N, 784)"),
    ({"y_valid": np.zeros(9, np.uint8)}, "y_valid has shape (9,), expected (10,)"),
])
def test_npz_layout_errors_name_the_array(tmp_path, overrides, message):
    write_npz(tmp_path / "m.npz", **overrides)
    with pytest.raises(DataError) as error:
        data.load_mnist(tmp_path / "m.npz")
    assert message in str(error.value) and "m.npz" in str(error.value)


def test_npz_not_a_zip_and_truncated(tmp_path):
    (tmp_path / "text.npz").write_text("this is not an archive\n")
    write_npz(tmp_path / "full.npz")
    whole = (tmp_path / "full.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[: len(whole) // 2])
    for name in ("text.npz", "cut.npz"):
        with pytest.raises(DataError, match=rf"{name}: not a readable \.npz archive"):
            data.load_mnist(tmp_path / name)


def test_npz_refuses_pickled_arrays(tmp_path):
    write_npz(tmp_path / "m.npz", y_train=np.array([{"a": 1}] * 30, dtype=object))
    with pytest.raises(DataError, match="not a readable .npz archive"):
        data.load_npz(tmp_path / "m.npz")


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="nowhere: no such file or directory"):
        data.load_mnist(tmp_path / "nowhere")
    with pytest.raises(DataError, match="absent.npz: no such file"):
        data.load_npz(tmp_path / "absent.npz")


# ---------------------------------------------------------------- IDX

@pytest.mark.parametrize("compress", [True, False])
def test_idx_directory_gives_train_valid_test(tmp_path, compress):
    train, test = digits(40, 1), digits(15, 2)
    write_idx(tmp_path, train, test, compress=compress)
    splits = data.load_idx(tmp_path, valid_size=12)
    assert_split_equal(splits["train"], train.images[:28], train.labels[:28])
    assert_split_equal(splits["valid"], train.images[28:], train.labels[28:])
    assert_split_equal(splits["test"], test.images, test.labels)
    assert splits["train"].images.flags.writeable and splits["test"].labels.flags.writeable


def test_load_mnist_on_directory_holds_out_last_10000(tmp_path):
    # Image i carries its own index in its first two pixels, so we can see where the cut falls.
    n = data.VALID_SIZE + 7
    index = np.arange(n)
    images = np.zeros((n, 784), np.uint8)
    images[:, 0], images[:, 1] = index % 256, index // 256
    train = Split(images, (index % 10).astype(np.uint8))
    write_idx(tmp_path, train, digits(5, 3))
    splits = data.load_mnist(tmp_path)
    assert len(splits["train"].images) == 7 and len(splits["valid"].images) == data.VALID_SIZE
    def decoded(split):
        return split.images[:, 0].astype(int) + 256 * split.images[:, 1].astype(int)
    np.testing.assert_array_equal(decoded(splits["train"]), index[:7])
    np.testing.assert_array_equal(decoded(splits["valid"]), index[7:])
    np.testing.assert_array_equal(splits["valid"].labels, (index[7:] % 10))


def replace_file(directory: Path, name: str, content: bytes, compress=True) -> None:
    (directory / name).write_bytes(gzip.compress(content, mtime=0) if compress else content)


def test_idx_bad_magic_says_what_the_file_looks_like(tmp_path):
    train = digits(20, 1)
    write_idx(tmp_path, train, digits(5, 2))
    replace_file(tmp_path, TRAIN_IMAGES, idx_bytes(data.LABEL_MAGIC, train.labels))
    with pytest.raises(DataError) as error:
        data.load_idx(tmp_path, valid_size=5)
    assert str(error.value) == (f"{tmp_path / TRAIN_IMAGES}: bad magic number 2049, expected 2051"
                                f" (an image file); this looks like a label file")
    replace_file(tmp_path, TRAIN_IMAGES, idx_bytes(data.IMAGE_MAGIC, train.images))
    replace_file(tmp_path, TEST_LABELS, idx_bytes(1234, np.zeros(5, np.uint8)))
    with pytest.raises(DataError, match=rf"{TEST_LABELS}: bad magic number 1234,"
                                        r" expected 2049 \(a label file\)$"):
        data.load_idx(tmp_path, valid_size=5)


def test_idx_wrong_image_size(tmp_path):
    write_idx(tmp_path, digits(20, 1), digits(5, 2))
    narrow = np.zeros((5, 27 * 28), np.uint8)
    replace_file(tmp_path, TEST_IMAGES, idx_bytes(data.IMAGE_MAGIC, narrow, dims=(27, 28)))
    with pytest.raises(DataError, match=rf"{TEST_IMAGES}: images are 27x28, expected 28x28"):
        data.load_idx(tmp_path, valid_size=5)


def test_idx_truncated_pixel_data_and_labels(tmp_path):
    train = digits(20, 1)
    write_idx(tmp_path, train, digits(5, 2))
    cut = idx_bytes(data.IMAGE_MAGIC, train.images)[:-1000]
    replace_file(tmp_path, TRAIN_IMAGES, cut)
    with pytest.raises(DataError) as error:
        data.load_idx(tmp_path, valid_size=5)
    assert str(error.value) == (f"{tmp_path / TRAIN_IMAGES}: truncated: expected {20 * 784} bytes"
                                f" of pixel data, got {20 * 784 - 1000}")
    assert "\n" not in str(error.value)
    write_idx(tmp_path, train, digits(5, 2))
    replace_file(tmp_path, TEST_LABELS, idx_bytes(data.LABEL_MAGIC, np.zeros(5, np.uint8))[:-2],
                 compress=False)
    (tmp_path / TEST_LABELS).rename(tmp_path / TEST_LABELS.removesuffix(".gz"))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: truncated: expected 5 bytes"
                                        r" of labels, got 3$"):
        data.load_idx(tmp_path, valid_size=5)


def test_idx_truncated_gzip_file_and_header(tmp_path):
    train = digits(20, 1)
    write_idx(tmp_path, train, digits(5, 2))
    whole = (tmp_path / TRAIN_IMAGES).read_bytes()
    (tmp_path / TRAIN_IMAGES).write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=rf"{TRAIN_IMAGES}: truncated: expected {20 * 784} bytes of"
                                        r" pixel data, got \d+ \(the gzip stream breaks off\)"):
        data.load_idx(tmp_path, valid_size=5)
    # The data is whole but the gzip trailer (CRC and length) is missing.
    (tmp_path / TRAIN_IMAGES).write_bytes(whole[:-8])
    with pytest.raises(DataError, match="gzip stream breaks off after the data"):
        data.load_idx(tmp_path, valid_size=5)
    replace_file(tmp_path, TRAIN_IMAGES, b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DataError, match="truncated: expected a 16-byte IDX header, got 6"):
        data.load_idx(tmp_path, valid_size=5)


def test_idx_count_mismatch_between_images_and_labels(tmp_path):
    train = digits(20, 1)
    write_idx(tmp_path, train, digits(5, 2))
    replace_file(tmp_path, TRAIN_LABELS, idx_bytes(data.LABEL_MAGIC, train.labels[:19]))
    with pytest.raises(DataError) as error:
        data.load_idx(tmp_path, valid_size=5)
    assert str(error.value) == (f"{tmp_path}: {TRAIN_IMAGES} holds 20 images but {TRAIN_LABELS}"
                                f" holds 19 labels")


def test_idx_trailing_bytes_bad_labels_corrupt_gzip(tmp_path):
    train = digits(20, 1)
    write_idx(tmp_path, train, digits(5, 2))
    replace_file(tmp_path, TRAIN_LABELS, idx_bytes(data.LABEL_MAGIC, train.labels) + b"\x00")
    with pytest.raises(DataError, match="holds more than the 20 bytes of labels its header"):
        data.load_idx(tmp_path, valid_size=5)
    replace_file(tmp_path, TRAIN_LABELS, idx_bytes(data.LABEL_MAGIC, np.full(20, 12, np.uint8)))
    with pytest.raises(DataError, match="labels must be digits 0..9, found 12"):
        data.load_idx(tmp_path, valid_size=5)
    (tmp_path / TRAIN_LABELS).write_bytes(b"\x1f\x8b" + bytes(range(40)))
    with pytest.raises(DataError, match=rf"{TRAIN_LABELS}: unreadable IDX file \(BadGzipFile"):
        data.load_idx(tmp_path, valid_size=5)


def test_idx_implausible_count_is_refused_before_reading(tmp_path):
    write_idx(tmp_path, digits(20, 1), digits(5, 2))
    replace_file(tmp_path, TEST_IMAGES, struct.pack(">4I", data.IMAGE_MAGIC, 2**31, 28, 28))
    with pytest.raises(DataError, match=f"header claims {2**31} items"):
        data.load_idx(tmp_path, valid_size=5)


def test_idx_missing_files_and_bad_valid_size(tmp_path):
    write_idx(tmp_path, digits(20, 1), digits(5, 2))
    (tmp_path / TEST_LABELS).unlink()
    (tmp_path / TRAIN_IMAGES).unlink()
    with pytest.raises(DataError) as error:
        data.load_mnist(tmp_path)
    assert f"missing {TRAIN_IMAGES}, {TEST_LABELS}" in str(error.value)
    write_idx(tmp_path, digits(20, 1), digits(5, 2))
    with pytest.raises(DataError, match="the training files hold 20 images; the validation split"
                                        " must be 1..19 of them, got 10000"):
        data.load_mnist(tmp_path)
    with pytest.raises(DataError, match="must be 1..19 of them, got 0"):
        data.load_idx(tmp_path, valid_size=0)


# ---------------------------------------------------------------- binarization and subset

def test_binarize_is_fixed_by_its_seed_with_the_right_mean():
    grey = np.tile(np.array([0, 64, 128, 255], np.uint8), (5000, 1))
    first, again, other = data.binarize(grey, 7), data.binarize(grey, 7), data.binarize(grey, 8)
    assert first.dtype == np.uint8 and set(np.unique(first)) == {0, 1}
    np.testing.assert_array_equal(first, again)
    assert (first != other).mean() > 0.1
    means = first.mean(axis=0)
    assert means[0] == 0 and means[3] == 1  # black never fires, white always does
    # 5000 draws each: the standard error is below 0.0071, so 0.03 is over four of them.
    np.testing.assert_allclose(means[1:3], [64 / 255, 128 / 255], atol=0.03)


def test_binarized_splits_draw_each_split_separately_and_keep_labels():
    same = digits(200, 5)
    splits = {name: Split(same.images, same.labels) for name in data.SPLITS}
    binary = data.binarized_splits(splits, seed=3)
    again = data.binarized_splits(splits, 3)
    np.testing.assert_array_equal(binary["test"].images, again["test"].images)
    assert (binary["train"].images != binary["test"].images).any()
    assert (binary["train"].images != data.binarized_splits(splits, 4)["train"].images).any()
    for name in data.SPLITS:
        np.testing.assert_array_equal(binary[name].labels, same.labels)
    assert abs(binary["valid"].images.mean() - same.images.mean() / 255) < 0.01


def test_test_subset_round_trip(tmp_path, monkeypatch):
    source = digits(50, 9)
    binary = Split(data.binarize(source.images, 1), source.labels)
    index = np.array([3, 17, 0, 42])
    data.save_test_subset(tmp_path / data.SUBSET_FILE, binary, index, binarization_seed=1)
    loaded = data.load_test_subset(tmp_path / data.SUBSET_FILE)
    assert_split_equal(loaded, binary.images[index], binary.labels[index])
    with np.load(tmp_path / data.SUBSET_FILE) as archive:
        assert int(archive["binarization_seed"]) == 1
        np.testing.assert_array_equal(archive["index"], index)
    monkeypatch.setenv("MADE_VIZ_PRETRAINED", str(tmp_path))
    assert_split_equal(data.load_test_subset(), binary.images[index], binary.labels[index])
    monkeypatch.setenv("MADE_VIZ_PRETRAINED", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="the bundled test subset is missing"):
        data.load_test_subset()
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.npz: unreadable test subset"):
        data.load_test_subset(tmp_path / "junk.npz")


def test_bundled_test_subset_is_binary_digits():
    bundled = Path(__file__).resolve().parent.parent / "pretrained" / data.SUBSET_FILE
    subset = data.load_test_subset(bundled)
    assert subset.images.shape == (len(subset.labels), 784) and len(subset.labels) > 0
    assert set(np.unique(subset.images)) <= {0, 1} and subset.labels.max() <= 9


# ---------------------------------------------------------------- download over loopback

class CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A loopback HTTP server over a directory of small synthetic IDX.gz files."""
    for scheme in ("http", "https", "all"):  # a proxy from the environment must not intercept
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    served = write_idx(tmp_path / "served", digits(30, 1), digits(10, 2))
    checksums = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
                 for path in sorted(served.iterdir())}
    handler = type("Handler", (CountingHandler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "dir": served,
               "checksums": checksums, "requests": handler.requests}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_default_checksums_cover_the_four_idx_files():
    assert set(data.MNIST_SHA256) == {name for pair in data.IDX_FILES.values() for name in pair}
    assert all(len(digest) == 64 and int(digest, 16) >= 0 for digest in data.MNIST_SHA256.values())


def test_download_verifies_writes_and_skips_present_files(tmp_path, mirror):
    target = tmp_path / "fetched"
    status = data.download(mirror["url"] + "/", target, checksums=mirror["checksums"])
    assert status == dict.fromkeys(mirror["checksums"], "downloaded")
    for name in mirror["checksums"]:
        assert (target / name).read_bytes() == (mirror["dir"] / name).read_bytes()
    assert sorted(p.name for p in target.iterdir()) == sorted(mirror["checksums"])  # no .part
    splits = data.load_idx(target, valid_size=10)
    assert [len(splits[s].images) for s in data.SPLITS] == [20, 10, 10]
    served = len(mirror["requests"])
    assert served == 4

    # A second run fetches nothing; a corrupted local copy is fetched again and replaced.
    (target / TEST_LABELS).write_bytes(b"corrupted")
    status = data.download(mirror["url"], target, checksums=mirror["checksums"])
    assert status[TEST_LABELS] == "downloaded"
    assert [v for k, v in status.items() if k != TEST_LABELS] == ["already present"] * 3
    assert mirror["requests"][served:] == [f"/{TEST_LABELS}"]
    assert (target / TEST_LABELS).read_bytes() == (mirror["dir"] / TEST_LABELS).read_bytes()


def test_download_checksum_mismatch_keeps_nothing(tmp_path, mirror):
    wrong = "0" * 64
    checksums = {**mirror["checksums"], TRAIN_LABELS: wrong}
    actual = mirror["checksums"][TRAIN_LABELS]
    with pytest.raises(DataError) as error:
        data.download(mirror["url"], tmp_path / "fetched", checksums=checksums)
    message = str(error.value)
    assert message.startswith(f"{TRAIN_LABELS}: sha256 mismatch: expected {wrong}, got {actual}")
    assert "\n" not in message
    assert not (tmp_path / "fetched" / TRAIN_LABELS).exists()
    assert not list((tmp_path / "fetched").glob(".*.part"))


def test_download_404_and_unreachable_server(tmp_path, mirror):
    checksums = {"absent-idx1-ubyte.gz": "a" * 64}
    with pytest.raises(DataError, match=r"/absent-idx1-ubyte\.gz: HTTP error 404"):
        data.download(mirror["url"], tmp_path / "fetched", checksums=checksums)
    assert list((tmp_path / "fetched").iterdir()) == []
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DataError, match=rf"127\.0\.0\.1:{port}/absent-idx1-ubyte\.gz: cannot"
                                        r" download"):
        data.download(f"http://127.0.0.1:{port}", tmp_path / "fetched", checksums=checksums,
                      timeout=5)


def test_download_rejects_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="download URL must start with http://, https://"):
        data.download("ftp://example.org/mnist", tmp_path)
    with pytest.raises(ValueError, match="expected a 64-digit SHA-256 hex digest, got 'f68b3c2d'"):
        data.download("http://127.0.0.1:9", tmp_path, checksums={TRAIN_IMAGES: "f68b3c2d"})
    with pytest.raises(ValueError, match="is not a plain file name"):
        data.download("http://127.0.0.1:9", tmp_path, checksums={"../escape.gz": "a" * 64})


def test_download_from_file_url_then_load_mnist(tmp_path, mirror):
    status = data.download(mirror["dir"].as_uri(), tmp_path / "copy", checksums=mirror["checksums"])
    assert set(status.values()) == {"downloaded"}
    with pytest.raises(DataError, match="the training files hold 30 images"):
        data.load_mnist(tmp_path / "copy")  # 30 images cannot spare the default 10,000


def test_subset_cli_writes_the_first_digits_of_each_label(tmp_path):
    splits = write_npz(tmp_path / "m.npz", sizes=(30, 10, 60))
    out = tmp_path / "subset.npz"
    assert data.main(["--data", str(tmp_path / "m.npz"), "--out", str(out), "--per-label", "2"]) == 0
    subset = data.load_test_subset(out)
    test = data.binarized_splits(splits)["test"]
    index = data.subset_index(test.labels, 2)
    assert all((subset.labels == d).sum() == min(2, (test.labels == d).sum()) for d in range(10))
    np.testing.assert_array_equal(subset.images, test.images[index])


def test_subset_cli_bad_data_is_one_line(tmp_path, capsys):
    assert data.main(["--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.npz" in err[0]

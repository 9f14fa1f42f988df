"""neighbours.py: the packed training set and the nearest-digit search, against a brute-force
Hamming search over the unpacked images and against the data it was drawn from."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from made_viz import data, neighbours
from made_viz.checkpoint import load_pretrained_weights
from made_viz.sampling import sample

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "pretrained"
MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"
needs_mnist = pytest.mark.skipif(not MNIST.exists(), reason=f"MNIST is not at {MNIST}")


@pytest.fixture(scope="module")
def training():
    return neighbours.load_training_set()


@pytest.fixture(scope="module")
def unpacked():
    """The bundled file unpacked with NumPy alone, (50000, 784) of 0/1."""
    return np.unpackbits(np.load(PRETRAINED / neighbours.BITS_FILE), axis=1)


def brute_force(images: np.ndarray, unpacked: np.ndarray, k: int):
    """Count the differing pixels of each image against every training digit; the k smallest,
    ties to the lower index (a stable sort)."""
    indices, distances = [], []
    for image in images:
        counts = (unpacked != image[None, :]).sum(axis=1)
        nearest = np.argsort(counts, kind="stable")[:k]
        indices.append(nearest)
        distances.append(counts[nearest])
    return np.array(indices), np.array(distances)


def test_the_packed_file_matches_its_sidecar(training):
    sidecar = json.loads((PRETRAINED / neighbours.SIDECAR_FILE).read_text())
    assert data.sha256(PRETRAINED / neighbours.BITS_FILE) == sidecar["sha256"]
    assert (PRETRAINED / neighbours.BITS_FILE).stat().st_size < 4_901_000   # 50,000 x 98 + header
    assert sidecar["shape"] == [50_000, 98] and len(sidecar["labels"]) == 50_000
    assert sidecar["binarization_seed"] == data.BINARIZATION_SEED
    assert sidecar["split_seed"] == data.split_seeds(data.SPLITS)["train"] == 1235
    assert len(training) == 50_000 and training.nbytes <= 50_000 * 99
    assert np.array_equal(training.packed(np.arange(50_000)),
                          np.load(PRETRAINED / neighbours.BITS_FILE))


def test_twenty_samples_agree_with_a_brute_force_search(training, unpacked):
    weights, _ = load_pretrained_weights("mnist")
    samples = np.vstack([sample(weights, 10, seed=3, mask=0), sample(weights, 10, seed=4, mask=1)])
    found = neighbours.nearest_training(samples, k=3, training=training)
    indices, distances = brute_force(samples, unpacked, 3)
    assert found.indices.shape == found.distances.shape == (20, 3)
    assert np.array_equal(found.indices, indices)
    assert np.array_equal(found.distances, distances)
    assert (np.diff(found.distances, axis=1) >= 0).all()
    first = neighbours.nearest_training(samples, training=training)     # k = 1: its own path
    assert np.array_equal(first.indices, indices[:, :1])
    assert np.array_equal(first.distances, distances[:, :1])


def test_noise_and_training_digits_agree_too(training, unpacked):
    rng = np.random.default_rng(0)
    images = np.vstack([rng.integers(0, 2, (3, 784)), unpacked[[0, 12345, 49_999]]])
    found = training.nearest(images.astype(bool), k=2)
    assert np.array_equal(found, brute_force(images, unpacked, 2))
    assert found.indices[3:, 0].tolist() == [0, 12345, 49_999]     # each its own nearest
    assert found.distances[3:, 0].tolist() == [0, 0, 0]
    one = training.nearest(unpacked[7])                               # one image: one row
    assert one.indices.shape == (1, 1) and int(one.indices[0, 0]) == 7


def test_ties_go_to_the_lower_index():
    digits = np.zeros((6, 784), np.uint8)
    digits[[1, 4], :3] = 1            # 1 and 4 alike, both 3 pixels from an empty image
    digits[[0, 2, 3, 5], :5] = 1      # the rest 5 pixels away
    training = neighbours.TrainingSet.from_images(digits, np.arange(6))
    found = training.nearest(np.zeros(784, np.uint8), k=6)
    assert found.indices.tolist() == [[1, 4, 0, 2, 3, 5]]
    assert found.distances.tolist() == [[3, 3, 5, 5, 5, 5]]
    assert training.nearest(np.zeros(784, np.uint8)).indices.tolist() == [[1]]
    assert training.nearest(np.zeros(784, np.uint8), k=3).indices.tolist() == [[1, 4, 0]]


def test_distances_cover_every_pixel_position():
    """A pixel in each of the 98 bytes (the last two outside the uint64 words) counts once."""
    training = neighbours.TrainingSet.from_images(np.zeros((1, 784), np.uint8), [0])
    for pixel in (0, 7, 8, 63, 64, 767, 768, 775, 776, 783):
        image = np.zeros(784, np.uint8)
        image[pixel] = 1
        assert training.distances(image[None]).tolist() == [[1]], pixel
    assert training.distances(np.ones((1, 784), np.uint8)).tolist() == [[784]]


def test_images_come_back_as_they_went_in(training, unpacked):
    assert np.array_equal(training.images([5, 0, 49_999]), unpacked[[5, 0, 49_999]])
    assert np.array_equal(training.image(42), unpacked[42])


@pytest.mark.parametrize("call, message", [
    (lambda t: t.nearest(np.zeros(783, np.uint8)), r"images must have shape \(D,\) or \(n, D\)"
                                                   r" with D = 784, got \(783,\)"),
    (lambda t: t.nearest(np.full(784, 2)), r"images must hold 0s and 1s; images\[0, 0\] is 2"),
    (lambda t: t.nearest(np.zeros(784), k=0), r"k must be in 1\.\.50000, got 0"),
    (lambda t: t.nearest(np.zeros(784), k=True), r"k must be a whole number in 1\.\.50000"),
    (lambda t: t.image(50_000), r"training index must be in 0\.\.49999, got 50000"),
    (lambda t: t.images([-1]), r"training index must be in 0\.\.49999, got -1"),
])
def test_bad_input_names_the_field_and_range(training, call, message):
    with pytest.raises(ValueError, match=message):
        call(training)


def test_an_altered_file_is_refused(tmp_path):
    for name in (neighbours.BITS_FILE, neighbours.SIDECAR_FILE):
        shutil.copy(PRETRAINED / name, tmp_path / name)
    assert len(neighbours.load_training_set(tmp_path)) == 50_000
    raw = bytearray((tmp_path / neighbours.BITS_FILE).read_bytes())
    raw[-1] ^= 1
    (tmp_path / neighbours.BITS_FILE).write_bytes(bytes(raw))
    with pytest.raises(neighbours.TrainingSetError, match="does not match its sidecar"):
        neighbours.load_training_set(tmp_path)
    (tmp_path / neighbours.BITS_FILE).unlink()
    with pytest.raises(neighbours.TrainingSetError, match="missing .*made_viz.neighbours"):
        neighbours.load_training_set(tmp_path)
    (tmp_path / neighbours.SIDECAR_FILE).write_text("[]")
    with pytest.raises(neighbours.TrainingSetError, match="not a JSON object"):
        neighbours.load_training_set(tmp_path)


@needs_mnist
def test_the_command_rebuilds_the_same_file_from_the_documented_draw(tmp_path, unpacked):
    assert neighbours.main(["--data", str(MNIST), "--out", str(tmp_path)]) == 0
    rebuilt = json.loads((tmp_path / neighbours.SIDECAR_FILE).read_text())
    bundled = json.loads((PRETRAINED / neighbours.SIDECAR_FILE).read_text())
    assert rebuilt["sha256"] == bundled["sha256"]
    assert rebuilt["source_sha256"] == bundled["source_sha256"] == data.sha256(MNIST)
    splits = data.load_mnist(MNIST)
    assert bundled["labels"] == "".join(map(str, splits["train"].labels.tolist()))
    # The draw the README documents: the training split binarized with seed 1234 + 1.
    grey = splits["train"].images[:500]
    drawn = (np.random.default_rng(1235).random(splits["train"].images.shape, dtype=np.float32)
             [:500] * 255 < grey)
    assert np.array_equal(unpacked[:500], drawn)

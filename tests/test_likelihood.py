"""likelihood: per-pixel conditionals against torch's MADE.log_prob, the ensemble against a
direct logsumexp, MNIST-like preparation of synthetic digits, URL round trips, edits."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from PIL import Image

from made_viz import checkpoint, data, likelihood, network, sampling
from made_viz.model import MADE

CONFIGS = [  # D, hidden sizes, MADE keyword arguments
    (5, [], dict()),
    (9, [12], dict(direct=False, ordering="columns")),
    (9, [12], dict(direct=True, ordering="reverse", num_masks=2)),
    (10, [16, 16], dict(direct=True, ordering="random", num_masks=3)),
    (20, [40], dict(direct=True, ordering="random", num_masks=4)),
]


def random_made(D, hidden, seed=0, **kwargs) -> MADE:
    torch.manual_seed(seed)
    model = MADE(D, hidden, seed=seed, **kwargs)
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(3.0)
    return model.eval()


def torch_log_prob(model, images, mask) -> np.ndarray:
    with torch.no_grad():
        return model.log_prob(torch.from_numpy(images.astype(np.float32)), mask).double().numpy()


@pytest.mark.parametrize("D, hidden, kwargs", CONFIGS)
def test_pixel_terms_sum_to_torch_log_prob(D, hidden, kwargs):
    model = random_made(D, hidden, **kwargs)
    images = np.random.default_rng(1).integers(0, 2, size=(40, D)).astype(np.uint8)
    # Both a few images (sums of ink rows) and many (matrix products).
    for batch in (images[:3], images):
        for k in range(model.num_masks):
            for source in (model, sampling.MADEWeights.of(model)):
                terms = likelihood.conditional_log_probs(source, batch, mask=k)
                assert terms.dtype == np.float64 and terms.shape == batch.shape
                assert (terms <= 0).all()
                np.testing.assert_allclose(terms.sum(axis=1), torch_log_prob(model, batch, k),
                                           rtol=0, atol=1e-4)


def test_pixel_terms_are_each_conditional():
    """Term d is log sigmoid(+-logit_d) of torch's own logits, pixel by pixel."""
    model = random_made(10, [16, 16], direct=True, ordering="random", num_masks=2)
    images = np.random.default_rng(2).integers(0, 2, size=(5, 10)).astype(np.uint8)
    model.set_mask(1)
    with torch.no_grad():
        logits = model(torch.from_numpy(images.astype(np.float32))).double().numpy()
    model.set_mask(0)
    p_one = 1 / (1 + np.exp(-logits))
    expected = np.log(np.where(images == 1, p_one, 1 - p_one))
    np.testing.assert_allclose(likelihood.conditional_log_probs(model, images, mask=1), expected,
                               atol=1e-5)


def test_edited_masks_of_one_ordering_keep_their_own_direct_weights():
    """Masks that share an ordering but not a direct mask (one was edited) are scored each with
    its own: whichever is scored first."""
    from made_viz import tiny
    from made_viz.masks import build_masks

    correct = build_masks(9, [12], seed=1, direct=True)
    edited = tiny.break_masks(build_masks(9, [12], seed=2, direct=True), "sees-self")
    model = tiny.new_model([correct, edited], seed=0)
    images = np.random.default_rng(0).integers(0, 2, (5, 9)).astype(np.uint8)
    for k in (0, 1):
        ours = likelihood.log_prob(model, images, mask=k)
        np.testing.assert_allclose(ours, torch_log_prob(model, images, k), atol=1e-4)


def test_scoring_reuses_the_sensitivity_views_float32_weights():
    """The Sampling page's sensitivity view and the Likelihood page's scorer read one float32
    copy of each mask's weights: scoring after a gradient builds nothing new, and both still
    agree with torch."""
    model = random_made(10, [16], direct=True, ordering="random", num_masks=2)
    weights = sampling.MADEWeights.of(model)
    images = np.random.default_rng(4).integers(0, 2, (3, 10)).astype(np.uint8)
    gradient = sampling.logit_gradient(weights, images[0], 5, 1)
    built = network.prepare(weights, 1).float32()
    ours = likelihood.log_prob(weights, images, mask=1)
    assert network.prepare(weights, 1).float32() is built
    # scoring mask 1 built no other
    assert {k for k, p in network.STORE.prepared(weights).items() if "float32" in p.built} == {1}
    np.testing.assert_allclose(ours, torch_log_prob(model, images, 1), atol=1e-4)
    np.testing.assert_array_equal(sampling.logit_gradient(weights, images[0], 5, 1), gradient)


def test_ensemble_is_logsumexp_over_masks():
    model = random_made(20, [40], direct=True, ordering="random", num_masks=4)
    images = np.random.default_rng(3).integers(0, 2, size=(7, 20)).astype(np.uint8)
    per_mask = np.stack([torch_log_prob(model, images, k) for k in range(4)])
    direct = np.log(np.exp(per_mask).mean(axis=0))
    ensemble = likelihood.log_prob(model, images, mask="ensemble")
    np.testing.assert_allclose(ensemble, direct, atol=1e-4)
    np.testing.assert_allclose(ensemble, torch_log_prob(model, images, "ensemble"), atol=1e-4)
    # Never the average of the logits: that is a different (and improper) number.
    model_avg = np.mean([likelihood.log_prob(model, images, k) for k in range(4)], axis=0)
    assert not np.allclose(ensemble, model_avg, atol=1e-3)


def test_ensemble_pixel_terms_are_the_mixtures_conditionals():
    """For masks sharing one ordering: the terms sum to the ensemble's log p(x), and each is
    the mixture's conditional computed by brute force over the two values of x_d."""
    D = 7
    model = random_made(D, [12], direct=True, ordering="reverse", num_masks=3)
    every = ((np.arange(2 ** D)[:, None] >> np.arange(D)) & 1).astype(np.uint8)
    terms = likelihood.ensemble_conditional_log_probs(model, every)
    np.testing.assert_allclose(terms.sum(axis=1), likelihood.log_prob(model, every, "ensemble"),
                               atol=1e-9)
    p = np.exp(likelihood.log_prob(model, every, "ensemble"))
    order = np.asarray(model.mask_sets[0].order)
    image = every[45]
    for step, d in enumerate(order):
        fixed = (every[:, order[:step + 1]] == image[order[:step + 1]]).all(axis=1)
        before = (every[:, order[:step]] == image[order[:step]]).all(axis=1)
        assert terms[45, d] == pytest.approx(math.log(p[fixed].sum() / p[before].sum()), abs=1e-9)
    mixed = random_made(D, [12], ordering="random", num_masks=3)
    with pytest.raises(ValueError, match="share one ordering"):
        likelihood.ensemble_conditional_log_probs(mixed, every[:2])


def test_ensemble_log_prob_is_stable_for_large_values():
    per_mask = np.array([[-1000.0, -5000.0], [-1001.0, -5002.0]])
    expected = [-1000 + math.log((1 + math.exp(-1)) / 2), -5000 + math.log((1 + math.exp(-2)) / 2)]
    np.testing.assert_allclose(likelihood.ensemble_log_prob(per_mask), expected)


def test_every_distribution_sums_to_one():
    """Over all 2^D images, each mask's probabilities and the ensemble's sum to one."""
    D = 8
    model = random_made(D, [10], direct=True, ordering="random", num_masks=3)
    every = ((np.arange(2 ** D)[:, None] >> np.arange(D)) & 1).astype(np.uint8)
    for mask in (0, 1, 2, "ensemble"):
        assert np.exp(likelihood.log_prob(model, every, mask=mask)).sum() == pytest.approx(1, abs=1e-9)


def test_bundled_model_matches_torch():
    weights, _ = checkpoint.load_pretrained_weights("mnist")
    model, _ = checkpoint.load_pretrained("mnist")
    images = data.load_test_subset().images[::97]
    for k in (0, 5):
        np.testing.assert_allclose(likelihood.log_prob(weights, images, k),
                                   torch_log_prob(model, images, k), atol=1e-4)
    np.testing.assert_allclose(likelihood.log_prob(weights, images, "ensemble"),
                               torch_log_prob(model, images, "ensemble"), atol=1e-4)
    np.testing.assert_allclose(likelihood.log_prob(weights, images[:2]),
                               likelihood.log_prob(model, images[:2]), atol=1e-9)


def test_bundled_test_nlls_agree_with_the_models():
    """The bundled histogram data: the ensemble's mean is the test NLL in config.json, and the
    subset's digits get the same numbers computed here."""
    nlls = likelihood.load_test_nlls()
    assert set(nlls) == set(checkpoint.list_pretrained())
    weights, config = checkpoint.load_pretrained_weights("mnist")
    assert nlls["mnist"].shape == (len(config["masks"]) + 1, 10_000)
    assert nlls["mnist"][-1].mean() == pytest.approx(config["test_nll"], abs=0.01)
    subset = np.load(checkpoint.pretrained_root() / data.SUBSET_FILE)
    index, images = subset["index"][:20], data.load_test_subset().images[:20]
    np.testing.assert_allclose(-likelihood.log_prob(weights, images, "ensemble"),
                               nlls["mnist"][-1, index], atol=1e-3)


@pytest.mark.parametrize("bad, message", [
    (np.zeros(5), "shape"), (np.full((1, 10), 2), "0s and 1s"), (np.array(["a"] * 10), "dtype"),
])
def test_bad_images_are_named(bad, message):
    model = random_made(10, [16])
    with pytest.raises(ValueError, match=message):
        likelihood.log_prob(model, bad)
    with pytest.raises(ValueError, match="mask"):
        likelihood.log_prob(model, np.zeros(10), mask=3)


# --- preparation ------------------------------------------------------------------------------

def synthetic_digit(height: int, width: int, *, dark_ink: bool) -> np.ndarray:
    """A grey 'seven' of any size: a bar along the top and a diagonal, off centre."""
    canvas = np.zeros((height, width))
    rows, cols = np.mgrid[0:height, 0:width]
    top, left = height // 5, width // 3
    thick = max(1, min(height, width) // 18)
    bar = (abs(rows - top) <= thick) & (cols >= left) & (cols <= left + width // 2)
    t = (rows - top) / max(1, height * 0.65)
    diagonal = (abs(cols - (left + width // 2 - t * width * 0.3)) <= thick) & (t >= 0) & (t <= 1)
    canvas[bar | diagonal] = 1.0
    grey = canvas * 230 + 10
    return (255 - grey if dark_ink else grey).astype(np.uint8)


def png_bytes(array: np.ndarray, mode: str | None = None, **save) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    image.save(buffer, format=save.pop("format", "PNG"), **save)
    return buffer.getvalue()


def assert_mnist_like(image: np.ndarray):
    assert image.shape == (784,) and image.dtype == np.uint8 and set(np.unique(image)) <= {0, 1}
    square = image.reshape(28, 28)
    rows, cols = np.nonzero(square)
    assert rows.max() - rows.min() + 1 <= 20 and cols.max() - cols.min() + 1 <= 20
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 >= 18  # scaled to fill it
    # centre of mass in continuous coordinates (pixel i spans [i, i+1))
    assert abs(rows.mean() + 0.5 - 14) <= 1.0 and abs(cols.mean() + 0.5 - 14) <= 1.0


@pytest.mark.parametrize("height, width", [(28, 28), (60, 45), (300, 200), (120, 900), (1000, 1000)])
@pytest.mark.parametrize("dark_ink", [False, True])
def test_uploads_are_made_mnist_like(height, width, dark_ink):
    image = likelihood.prepare_upload(png_bytes(synthetic_digit(height, width, dark_ink=dark_ink)))
    assert_mnist_like(image)


def test_both_polarities_give_the_same_digit():
    light = likelihood.prepare_upload(png_bytes(synthetic_digit(200, 150, dark_ink=False)))
    dark = likelihood.prepare_upload(png_bytes(synthetic_digit(200, 150, dark_ink=True)))
    np.testing.assert_array_equal(light, dark)


@pytest.mark.parametrize("mode, fmt", [("P", "PNG"), ("P", "GIF"), ("RGB", "JPEG"), ("LA", "PNG"),
                                       ("I;16", "PNG"), ("RGBA", "PNG")])
def test_file_modes_are_handled(mode, fmt):
    grey = synthetic_digit(140, 120, dark_ink=True)
    if mode == "I;16":
        payload = png_bytes((grey.astype(np.uint16) * 257), mode=None)
        assert Image.open(io.BytesIO(payload)).mode.startswith("I")
    else:
        payload = png_bytes(grey, mode=mode, format=fmt)
    assert_mnist_like(likelihood.prepare_upload(payload))


def test_alpha_ink_on_transparent_paper():
    """Ink drawn as opaque strokes on a transparent canvas, in either colour."""
    ink = synthetic_digit(100, 100, dark_ink=False) > 128
    for colour in (0, 255):
        rgba = np.zeros((100, 100, 4), dtype=np.uint8)
        rgba[..., :3] = colour
        rgba[..., 3] = np.where(ink, 255, 0)
        assert_mnist_like(likelihood.prepare_upload(png_bytes(rgba)))
        assert_mnist_like(likelihood.prepare_drawing(rgba))


def test_animated_gif_gives_its_first_frame():
    first = Image.fromarray(synthetic_digit(80, 80, dark_ink=True))
    second = Image.fromarray(np.full((80, 80), 255, dtype=np.uint8))
    buffer = io.BytesIO()
    first.save(buffer, format="GIF", save_all=True, append_images=[second])
    assert_mnist_like(likelihood.prepare_upload(buffer.getvalue()))


@pytest.mark.parametrize("payload, message", [
    (b"not an image at all", "not an image"),
    (b"", "not an image"),
    (png_bytes(np.full((50, 50), 255, dtype=np.uint8)), "blank"),
    (png_bytes(np.full((50, 50), 3, dtype=np.uint8)), "blank"),
    (png_bytes(synthetic_digit(100, 100, dark_ink=True))[:150], "damaged or truncated"),
])
def test_bad_files_are_named(payload, message):
    with pytest.raises(likelihood.ImageError, match=message):
        likelihood.prepare_upload(payload)


def test_huge_image_refused_from_its_header():
    """A PNG claiming 100,000 x 100,000 pixels: its header says so and nothing is decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    payload = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    with pytest.raises(likelihood.ImageError, match="pixels; at most 40,000,000 pixels are read"):
        likelihood.prepare_upload(payload)
    medium = struct.pack(">IIBBBBB", 8_000, 6_000, 8, 0, 0, 0, 0)  # under Pillow's own limit
    payload = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", medium) + chunk(b"IEND", b"")
    with pytest.raises(likelihood.ImageError, match="8000x6000 pixels; at most 40,000,000"):
        likelihood.prepare_upload(payload)


def test_bad_drawing_arrays_are_named():
    with pytest.raises(likelihood.ImageError, match="blank"):
        likelihood.prepare_drawing(np.full((50, 50, 4), 255, dtype=np.uint8))
    with pytest.raises(likelihood.ImageError, match=r"\(h, w\)"):
        likelihood.prepare_drawing(np.zeros((2, 2, 2, 2)))
    with pytest.raises(likelihood.ImageError, match="finite"):
        likelihood.prepare_drawing(np.full((5, 5), np.nan))


# --- URL --------------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=784, max_size=784))
def test_url_round_trip(bits):
    image = np.array(bits, dtype=np.uint8)
    text = likelihood.encode_image(image)
    assert len(text) == 131 and "=" not in text
    np.testing.assert_array_equal(likelihood.decode_url_image(text), image)


def test_url_layout_is_packbits_first_pixel_high_bit():
    image = np.zeros(784, dtype=np.uint8)
    image[0] = 1
    packed = np.zeros(98, dtype=np.uint8)
    packed[0] = 0x80
    import base64
    assert likelihood.encode_image(image) == base64.urlsafe_b64encode(packed.tobytes()).decode().rstrip("=")


@pytest.mark.parametrize("text, message", [
    ("", "got 0 characters"), ("A" * 10_000, "got 10,000 characters"),
    ("A" * 130, "got 130 characters"), ("A" * 132, "got 132 characters"),
    ("A" * 130 + "=", "other characters"), ("!" * 131, "other characters"),
    ("A" * 129 + "+/", "other characters"), ("\u0663" * 131, "other characters"),
    ("A" * 130 + "B", "bits no image has"), (None, "NoneType"),
])
def test_hostile_url_images_are_named(text, message):
    with pytest.raises(ValueError, match=message) as error:
        likelihood.decode_url_image(text)
    assert str(error.value).startswith("x must be 131 characters of base64url")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_url_decoder_never_raises_anything_else(text):
    try:
        image = likelihood.decode_url_image(text)
    except ValueError as error:
        assert str(error).startswith("x must be")
    else:
        assert likelihood.encode_image(image) == text


# --- edits ------------------------------------------------------------------------------------

def test_edits():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 2, 784).astype(np.uint8)
    square = image.reshape(28, 28)
    flipped = likelihood.flip_pixel(image, 30)
    assert (flipped != image).sum() == 1 and flipped[30] == 1 - image[30]
    many = likelihood.flip_random(image, 50, seed=3)
    assert (many != image).sum() == 50
    np.testing.assert_array_equal(many, likelihood.flip_random(image, 50, seed=3))
    np.testing.assert_array_equal(likelihood.invert(image), 1 - image)
    np.testing.assert_array_equal(likelihood.transpose(image).reshape(28, 28), square.T)
    moved = likelihood.shift(image, 2, -3).reshape(28, 28)
    np.testing.assert_array_equal(moved[:-3, 2:], square[3:, :-2])
    assert not moved[-3:].any() and not moved[:, :2].any()
    assert not likelihood.shift(image, 28, 0).any()
    noise = likelihood.bernoulli_noise(0.3, seed=1)
    assert 0.25 < noise.mean() < 0.35
    assert not likelihood.bernoulli_noise(0.0, seed=1).any()
    assert likelihood.bernoulli_noise(1.0, seed=1).all()


@pytest.mark.parametrize("call, message", [
    (lambda x: likelihood.flip_pixel(x, 784), "pixel must be in 0..783"),
    (lambda x: likelihood.flip_random(x, -1, 0), "k must be in 0..784"),
    (lambda x: likelihood.shift(x, 29, 0), "dx must be in -28..28"),
    (lambda x: likelihood.bernoulli_noise(1.5, 0), "p must be a number in 0..1"),
    (lambda x: likelihood.bernoulli_noise(float("nan"), 0), "p must be a number in 0..1"),
    (lambda x: likelihood.flip_pixel(np.zeros(5), 0), "784 pixels"),
])
def test_bad_edits_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.zeros(784, dtype=np.uint8))


def test_score_image_views():
    model = random_made(12, [20], direct=True, ordering="natural", num_masks=3)
    image = np.random.default_rng(5).integers(0, 2, 12).astype(np.uint8)
    score = likelihood.score_image(model, image, "ensemble")
    assert score.terms_of == "ensemble"
    assert score.log_prob == pytest.approx(likelihood.log_prob(model, image, "ensemble")[0])
    assert score.terms.sum() == pytest.approx(score.ensemble, abs=1e-9)
    np.testing.assert_allclose(score.totals, likelihood.per_mask_log_probs(model, image)[:, 0])
    one = likelihood.score_image(model, image, 2)
    assert one.log_prob == pytest.approx(likelihood.log_prob(model, image, 2)[0])
    p = 1 / (1 + np.exp(-likelihood.logits(model, image, 2)[0]))
    np.testing.assert_allclose(one.p_one, p, atol=1e-9)
    mixed = random_made(12, [20], ordering="random", num_masks=2)
    fallback = likelihood.score_image(mixed, image, "ensemble")
    assert fallback.terms_of == 0 and fallback.log_prob == pytest.approx(fallback.ensemble)


def test_upload_preview_thumbnails():
    from made_viz import likelihood_figures

    for payload in (png_bytes(synthetic_digit(900, 300, dark_ink=True)),
                    png_bytes(synthetic_digit(60, 60, dark_ink=False).astype(np.uint16) * 257),
                    png_bytes(synthetic_digit(80, 80, dark_ink=True), mode="P", format="GIF")):
        thumb = Image.open(io.BytesIO(likelihood_figures.thumbnail_png(payload)))
        assert max(thumb.size) <= 140
        pixels = np.asarray(thumb.convert("L"))
        assert pixels.max() - pixels.min() > 100  # the digit still shows


@pytest.mark.parametrize("names, summary, captions", [
    (["natural"] * 3, "3 masks, all in natural order", ["mask 0", "mask 1", "mask 2"]),
    (["natural", "reverse", "columns"], "3 masks, one per ordering",
     ["natural", "reverse", "columns"]),
    (["natural", "reverse", "natural", "reverse"], "4 masks: 2 natural, 2 reverse",
     ["#0 natural", "#1 reverse", "#2 natural", "#3 reverse"]),
])
def test_every_mask_view_names_masks_by_ordering_and_index(names, summary, captions):
    """The Likelihood page's small maps: a model with several masks per ordering is not
    described as one mask per ordering, and each map says which mask it is."""
    from made_viz.ui.likelihood_page import mask_caption, masks_summary

    assert masks_summary(names) == summary
    assert [mask_caption(names, k) for k in range(len(names))] == captions

"""The images the Likelihood page scores (made_viz.images): uploads made MNIST-like, the URL
codec, edits."""
from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from made_viz import images
from tests.conftest import png_bytes, synthetic_digit

# --- preparation ------------------------------------------------------------------------------

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
    image = images.prepare_upload(png_bytes(synthetic_digit(height, width, dark_ink=dark_ink)))
    assert_mnist_like(image)


def test_both_polarities_give_the_same_digit():
    light = images.prepare_upload(png_bytes(synthetic_digit(200, 150, dark_ink=False)))
    dark = images.prepare_upload(png_bytes(synthetic_digit(200, 150, dark_ink=True)))
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
    assert_mnist_like(images.prepare_upload(payload))


def test_alpha_ink_on_transparent_paper():
    """Ink drawn as opaque strokes on a transparent canvas, in either colour."""
    ink = synthetic_digit(100, 100, dark_ink=False) > 128
    for colour in (0, 255):
        rgba = np.zeros((100, 100, 4), dtype=np.uint8)
        rgba[..., :3] = colour
        rgba[..., 3] = np.where(ink, 255, 0)
        assert_mnist_like(images.prepare_upload(png_bytes(rgba)))


def test_animated_gif_gives_its_first_frame():
    first = Image.fromarray(synthetic_digit(80, 80, dark_ink=True))
    second = Image.fromarray(np.full((80, 80), 255, dtype=np.uint8))
    buffer = io.BytesIO()
    first.save(buffer, format="GIF", save_all=True, append_images=[second])
    assert_mnist_like(images.prepare_upload(buffer.getvalue()))


def big_seven(width: int, height: int) -> np.ndarray:
    """A photo-sized grey 7, dark on light paper."""
    from PIL import ImageDraw

    image = Image.new("L", (width, height), 235)
    draw = ImageDraw.Draw(image)
    stroke = height // 12
    draw.line([(width // 4, height // 6), (width * 3 // 4, height // 6)], fill=20, width=stroke)
    draw.line([(width * 3 // 4, height // 6), (width * 2 // 5, height * 9 // 10)], fill=20,
              width=stroke)
    return np.asarray(image)


@pytest.mark.parametrize("fmt, mode", [("PNG", "L"), ("PNG", "RGBA"), ("JPEG", "RGB")])
def test_a_photo_sized_upload_is_cut_down_before_it_becomes_floats(fmt, mode):
    """12 megapixels: as float64 each copy would be 96 MB; the floats made here are at most
    SHRUNK_SIDE pixels a side, and the digit is the one the full image gives."""
    import tracemalloc

    grey = big_seven(4000, 3000)
    payload = png_bytes(grey, mode=mode, format=fmt)
    tracemalloc.start()
    try:
        image = images.prepare_upload(payload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20, f"{peak / 2**20:.0f} MB of NumPy arrays"
    assert_mnist_like(image)
    # The same digit as from the whole decoded image in floats (as before: no shrinking).
    full = np.asarray(Image.open(io.BytesIO(payload)).convert("L"), dtype=np.float64) / 255.0
    whole = images.mnist_like(images.ink_from(full, None))
    assert int((image != whole).sum()) <= 4


def test_a_photo_sized_jpeg_is_decoded_small_by_its_own_decoder():
    payload = png_bytes(big_seven(4000, 3000), mode="RGB", format="JPEG")
    small = images.small_frame(payload)
    # decoded in grey at half scale (3 megapixels, not 12), then cut to SHRUNK_SIDE
    assert (small.mode, small.size) == ("L", (1024, 768))
    assert images.small_frame(payload).tobytes() == small.tobytes()  # the preview's, kept


@pytest.mark.parametrize("payload, message", [
    (b"not an image at all", "not an image"),
    (b"", "not an image"),
    (png_bytes(np.full((50, 50), 255, dtype=np.uint8)), "blank"),
    (png_bytes(np.full((50, 50), 3, dtype=np.uint8)), "blank"),
    (png_bytes(synthetic_digit(100, 100, dark_ink=True))[:150], "damaged or truncated"),
])
def test_bad_files_are_named(payload, message):
    with pytest.raises(images.ImageError, match=message):
        images.prepare_upload(payload)


def test_huge_image_refused_from_its_header():
    """A PNG claiming 100,000 x 100,000 pixels: its header says so and nothing is decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    payload = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    with pytest.raises(images.ImageError, match="pixels; at most 40,000,000 pixels are read"):
        images.prepare_upload(payload)
    medium = struct.pack(">IIBBBBB", 8_000, 6_000, 8, 0, 0, 0, 0)  # under Pillow's own limit
    payload = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", medium) + chunk(b"IEND", b"")
    with pytest.raises(images.ImageError, match="8000x6000 pixels; at most 40,000,000"):
        images.prepare_upload(payload)


# --- URL --------------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=784, max_size=784))
def test_url_round_trip(bits):
    image = np.array(bits, dtype=np.uint8)
    text = images.encode_image(image)
    assert len(text) == 131 and "=" not in text
    np.testing.assert_array_equal(images.decode_url_image(text), image)


def test_url_layout_is_packbits_first_pixel_high_bit():
    image = np.zeros(784, dtype=np.uint8)
    image[0] = 1
    packed = np.zeros(98, dtype=np.uint8)
    packed[0] = 0x80
    import base64
    assert images.encode_image(image) == base64.urlsafe_b64encode(packed.tobytes()).decode().rstrip("=")


@pytest.mark.parametrize("text, message", [
    ("", "got 0 characters"), ("A" * 10_000, "got 10,000 characters"),
    ("A" * 130, "got 130 characters"), ("A" * 132, "got 132 characters"),
    ("A" * 130 + "=", "other characters"), ("!" * 131, "other characters"),
    ("A" * 129 + "+/", "other characters"), ("\u0663" * 131, "other characters"),
    ("A" * 130 + "B", "bits no image has"), (None, "NoneType"),
])
def test_hostile_url_images_are_named(text, message):
    with pytest.raises(ValueError, match=message) as error:
        images.decode_url_image(text)
    assert str(error.value).startswith("x must be 131 characters of base64url")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_url_decoder_never_raises_anything_else(text):
    try:
        image = images.decode_url_image(text)
    except ValueError as error:
        assert str(error).startswith("x must be")
    else:
        assert images.encode_image(image) == text


# --- edits ------------------------------------------------------------------------------------

def test_edits():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 2, 784).astype(np.uint8)
    square = image.reshape(28, 28)
    flipped = images.flip_pixel(image, 30)
    assert (flipped != image).sum() == 1 and flipped[30] == 1 - image[30]
    many = images.flip_random(image, 50, seed=3)
    assert (many != image).sum() == 50
    np.testing.assert_array_equal(many, images.flip_random(image, 50, seed=3))
    np.testing.assert_array_equal(images.invert(image), 1 - image)
    np.testing.assert_array_equal(images.transpose(image).reshape(28, 28), square.T)
    moved = images.shift(image, 2, -3).reshape(28, 28)
    np.testing.assert_array_equal(moved[:-3, 2:], square[3:, :-2])
    assert not moved[-3:].any() and not moved[:, :2].any()
    assert not images.shift(image, 28, 0).any()
    noise = images.bernoulli_noise(0.3, seed=1)
    assert 0.25 < noise.mean() < 0.35
    assert not images.bernoulli_noise(0.0, seed=1).any()
    assert images.bernoulli_noise(1.0, seed=1).all()


@pytest.mark.parametrize("call, message", [
    (lambda x: images.flip_pixel(x, 784), "pixel must be in 0..783"),
    (lambda x: images.flip_random(x, -1, 0), "k must be in 0..784"),
    (lambda x: images.shift(x, 29, 0), "dx must be in -28..28"),
    (lambda x: images.bernoulli_noise(1.5, 0), "p must be a number in 0..1"),
    (lambda x: images.bernoulli_noise(float("nan"), 0), "p must be a number in 0..1"),
    (lambda x: images.flip_pixel(np.zeros(5), 0), "784 pixels"),
])
def test_bad_edits_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.zeros(784, dtype=np.uint8))

"""The 28x28 binary images the Likelihood page scores: an uploaded picture made MNIST-like
(crop, scale into 20x20, centre by mass in 28x28, threshold), an image packed into a URL
parameter and back, and the edits the page offers. NumPy and Pillow only.

>>> image = np.zeros(D_IMAGE, dtype=np.uint8)
>>> image[[0, 783]] = 1
>>> text = encode_image(image)
>>> len(text) == URL_CHARS, text[:4]
(True, 'gAAA')
>>> bool((decode_url_image(text) == image).all())
True
>>> int(shift(image, 1, 0).sum())   # the last pixel leaves the field
1
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import re
import threading

import numpy as np

from .validation import SEED_MAX, check_int, check_number

SIDE = 28
D_IMAGE = SIDE * SIDE
BOX = 20             # MNIST's digits were scaled to fit a 20x20 box, then centred by mass
MAX_UPLOAD_PIXELS = 40_000_000  # larger images are refused from their header, before decoding
SHRUNK_SIDE = 1024   # an upload is cut down to this many pixels a side before any conversion
REDUCIBLE = ("L", "LA", "RGB", "RGBA", "I", "F", "CMYK")  # modes Image.reduce takes
INK_THRESHOLD = 0.5
MIN_CONTRAST = 0.1   # grey range below this (on a 0..1 scale) is a blank image
URL_CHARS = math.ceil(D_IMAGE / 8 * 4 / 3)  # 98 bytes -> 131 base64url characters
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_decoding = threading.Lock()  # one upload decoded at a time per process (small_frame)
_last_small: list = [None, None]  # small_frame's last file: (digest, its small first frame)


# ---------------------------------------------------------------------------------------------
# Images from files and drawings, made MNIST-like.

class ImageError(ValueError):
    """An uploaded or drawn image that cannot be scored; the message says why."""


def decode_image(data: bytes, *, max_pixels: int = MAX_UPLOAD_PIXELS) -> np.ndarray:
    """An image file's bytes -> float (h, w) ink in 0..1 (either polarity; see ink_from).

    Refuses from the header alone an image of more than max_pixels. Animated images give
    their first frame; 16-bit, palette and alpha images are handled.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError("the file is not an image Pillow can read (PNG, JPEG or GIF)") from None
    except Image.DecompressionBombError:
        raise ImageError(f"the image's header gives it more than {2 * Image.MAX_IMAGE_PIXELS:,}"
                         f" pixels; at most {max_pixels:,} pixels are read") from None
    except Exception as error:  # noqa: BLE001 (Pillow raises many kinds on damaged headers)
        raise ImageError(f"the file's header is damaged ({error})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(f"the image is {width}x{height} pixels; at most {max_pixels:,} pixels"
                         " are read")
    if width < 1 or height < 1:
        raise ImageError(f"the image is {width}x{height} pixels")
    try:
        return ink_from(*_grey_and_alpha(small_frame(data)))
    except ImageError:
        raise
    except Exception as error:  # noqa: BLE001 (truncated or corrupt pixel data)
        raise ImageError(f"the image data is damaged or truncated ({error})") from None


def small_frame(data: bytes):
    """An image file's first frame, at most SHRUNK_SIDE pixels a side, made small before it is
    ever converted: a JPEG is decoded at 1/2, 1/4 or 1/8 scale by its own decoder
    (Image.draft), anything else is decoded and reduced by whole factors in Pillow's C code
    (Image.thumbnail), and only then turned into floats. A 40-megapixel photo held as floats
    took about 1 GB; now its largest form is its decoded bytes (up to 160 MB for RGBA), one
    image at a time per process. Palette and 1-bit images become greys first, so strokes are
    averaged, not sampled. The last file asked for is kept (small), so the page's preview of
    an upload does not decode it again. Check the file's header first (decode_image)."""
    from PIL import Image

    digest = hashlib.blake2b(data, digest_size=16).digest()
    with _decoding:
        if _last_small[0] != digest:
            with Image.open(io.BytesIO(data)) as image:
                image.seek(0)  # an animation's first frame
                if image.mode in ("RGB", "L"):
                    image.draft("L", (SHRUNK_SIDE, SHRUNK_SIDE))  # JPEG only; others ignore it
                image.load()
                if image.mode == "P":
                    image = image.convert("LA" if "transparency" in image.info else "L")
                elif image.mode == "1":
                    image = image.convert("L")
                # Whole factors first (Image.reduce): resizing an image with alpha would
                # first make a premultiplied copy of all of it.
                factor = max(image.size) // SHRUNK_SIDE
                if factor >= 2 and image.mode in REDUCIBLE:
                    image = image.reduce(factor)
                image.thumbnail((SHRUNK_SIDE, SHRUNK_SIDE), Image.Resampling.BOX)
                _last_small[:] = [digest, image]
        return _last_small[1].copy()


def _grey_and_alpha(image) -> tuple[np.ndarray, np.ndarray | None]:
    """float grey (h, w) in 0..1 and alpha in 0..1 (None when opaque), from any mode."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit or wider greys
        grey = np.asarray(image.convert("F") if image.mode.startswith("I;16") else image,
                          dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or grey.max() > 255 else 255.0
        return np.clip(grey / top, 0.0, 1.0), None
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        la = np.asarray(image.convert("LA"), dtype=np.float64) / 255.0
        return la[..., 0], la[..., 1]
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0, None


def ink_from(grey: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """grey (h, w) and alpha (None when opaque), both in 0..1 -> ink in 0..1, 1 = most ink.

    Transparent parts are background: the image is laid on a backing that contrasts with its
    opaque pixels. The background is the more common grey on the image's border, so dark ink
    on light paper and light ink on dark paper both work.
    """
    if alpha is not None and (alpha < 1).any():
        opaque = alpha > 0.5
        dark_ink = opaque.any() and grey[opaque].mean() < 0.5
        backing = 1.0 if dark_ink else 0.0
        grey = grey * alpha + backing * (1 - alpha)
    low, high = float(grey.min()), float(grey.max())
    if high - low < MIN_CONTRAST:
        raise ImageError("the image is blank: no stroke stands out from the background")
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    light_paper = np.median(border) > (low + high) / 2
    ink = (high - grey) if light_paper else (grey - low)
    return ink / (high - low)


def mnist_like(ink: np.ndarray, threshold: float = INK_THRESHOLD) -> np.ndarray:
    """Ink (h, w) in 0..1 -> uint8 (784,) 0/1 as MNIST was made: crop to the ink's bounding
    box, scale it to fit 20x20 keeping its aspect ratio, put its centre of mass at the centre of
    a 28x28 field, and threshold."""
    from PIL import Image

    ink = np.asarray(ink, dtype=np.float64)
    rows, cols = np.flatnonzero((ink > 0.2).any(axis=1)), np.flatnonzero((ink > 0.2).any(axis=0))
    if len(rows) == 0:
        raise ImageError("the image is blank: no stroke stands out from the background")
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    box = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize(size, resample),
                     dtype=np.float64).clip(0.0, 1.0)
    mass = box.sum()
    if mass <= 0:
        raise ImageError("the image is blank: no stroke stands out from the background")
    # Centre of mass in continuous coordinates (pixel i spans [i, i+1)), placed at (14, 14).
    r_com = (box.sum(axis=1) @ (np.arange(box.shape[0]) + 0.5)) / mass
    c_com = (box.sum(axis=0) @ (np.arange(box.shape[1]) + 0.5)) / mass
    top = int(np.clip(round(SIDE / 2 - r_com), 0, SIDE - box.shape[0]))
    left = int(np.clip(round(SIDE / 2 - c_com), 0, SIDE - box.shape[1]))
    field = np.zeros((SIDE, SIDE))
    field[top:top + box.shape[0], left:left + box.shape[1]] = box
    image = (field >= threshold).astype(np.uint8).reshape(-1)
    if not image.any():
        raise ImageError("the image is blank after scaling to 20x20: its strokes are too faint"
                         " or too thin")
    return image


def recentre(image) -> np.ndarray:
    """A binary image (a drawing on the 28x28 pad) made MNIST-like: see mnist_like."""
    return mnist_like(_square(image).astype(np.float64))


def prepare_upload(data: bytes) -> np.ndarray:
    """An image file (PNG, JPEG, GIF, ...) -> the 28x28 binary digit the model scores."""
    return mnist_like(decode_image(data))


# ---------------------------------------------------------------------------------------------
# An image in a URL: 784 bits, packbits (first pixel in the high bit), base64url unpadded.

def encode_image(image) -> str:
    bits = np.asarray(image).reshape(-1)
    if bits.shape != (D_IMAGE,) or not np.isin(bits, (0, 1)).all():
        raise ValueError(f"an image in a URL must be {D_IMAGE} pixels of 0 or 1")
    packed = np.packbits(bits.astype(np.uint8)).tobytes()
    return base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


def decode_url_image(text) -> np.ndarray:
    """The URL parameter back to uint8 (784,) 0/1. Strict: exactly the encoder's output."""
    shown = _shown(text)
    expected = (f"{URL_CHARS} characters of base64url (A-Z, a-z, 0-9, '-', '_'), the"
                f" {D_IMAGE} pixels packed 8 to a byte")
    if not isinstance(text, str):
        raise ValueError(f"x must be {expected}; got {type(text).__name__}")
    if not _BASE64URL.fullmatch(text):
        raise ValueError(f"x must be {expected}; {shown} has other characters")
    if len(text) != URL_CHARS:
        raise ValueError(f"x must be {expected}; got {len(text):,} characters")
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"x must be {expected}; {shown} is not valid base64url") from None
    bits = np.unpackbits(np.frombuffer(packed, dtype=np.uint8))[:D_IMAGE]
    if encode_image(bits) != text:  # unused low bits set: not what the encoder writes
        raise ValueError(f"x must be {expected}; {shown} ends in bits no image has")
    return bits


def _shown(text) -> str:
    text = str(text)
    return repr(text if len(text) <= 24 else text[:24] + "...")


# ---------------------------------------------------------------------------------------------
# Edits: each returns a new uint8 (784,) image.

def _square(image) -> np.ndarray:
    a = np.asarray(image, dtype=np.uint8).reshape(-1)
    if a.shape != (D_IMAGE,):
        raise ValueError(f"an image must have {D_IMAGE} pixels, got {np.asarray(image).size}")
    return a.reshape(SIDE, SIDE)


def flip_pixel(image, index: int) -> np.ndarray:
    out = _square(image).reshape(-1).copy()
    index = check_int("pixel", index, 0, D_IMAGE - 1)
    out[index] ^= 1
    return out


def flip_random(image, k: int, seed: int) -> np.ndarray:
    """k distinct pixels, chosen by the seed, flipped."""
    out = _square(image).reshape(-1).copy()
    k = check_int("k", k, 0, D_IMAGE)
    seed = check_int("seed", seed, 0, SEED_MAX)
    out[np.random.default_rng(seed).choice(D_IMAGE, size=k, replace=False)] ^= 1
    return out


def shift(image, dx: int, dy: int) -> np.ndarray:
    """Moved dx pixels right and dy down; what leaves the 28x28 field is lost."""
    dx, dy = check_int("dx", dx, -SIDE, SIDE), check_int("dy", dy, -SIDE, SIDE)
    square = _square(image)
    out = np.zeros_like(square)
    rows_to = slice(max(dy, 0), SIDE + min(dy, 0))
    rows_from = slice(max(-dy, 0), SIDE + min(-dy, 0))
    cols_to = slice(max(dx, 0), SIDE + min(dx, 0))
    cols_from = slice(max(-dx, 0), SIDE + min(-dx, 0))
    out[rows_to, cols_to] = square[rows_from, cols_from]
    return out.reshape(-1)


def invert(image) -> np.ndarray:
    return (1 - _square(image)).reshape(-1)


def transpose(image) -> np.ndarray:
    return np.ascontiguousarray(_square(image).T).reshape(-1)


def bernoulli_noise(p: float, seed: int) -> np.ndarray:
    """Every pixel ink with probability p, drawn from the seed."""
    p = check_number("p", p, 0, 1)
    seed = check_int("seed", seed, 0, SEED_MAX)
    return (np.random.default_rng(seed).random(D_IMAGE) < p).astype(np.uint8)

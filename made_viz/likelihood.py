"""Exact log-likelihood of any binary image under a MADE, and the images to score. NumPy and
Pillow only (no torch, no streamlit).

One forward pass gives all D conditionals p(x_d = 1 | x_<d), so log p(x) = sum_d log p(x_d |
x_<d) costs one pass per mask. `conditional_log_probs` returns those terms in pixel-index
order; `log_prob` sums them, under one mask or the ensemble, which averages whole-image
probabilities (logsumexp over masks minus log K; averaging logits across masks with different
orderings is not a distribution).

Both take a `sampling.MADEWeights` or a torch `MADE`. Each mask's masked weights are built
once per model in float32, the first layer and the direct connections transposed so that a
binary image's pre-activations are sums of the rows of its ink pixels, and kept in the model's
prepared masks (network.prepare; rebuilt when the weights change). Sums are in float64.

The rest of the module is the image itself: preparing an uploaded or drawn picture the way
MNIST was made (crop, scale into 20x20, centre by mass in 28x28, threshold), packing a 28x28
binary image into a URL parameter and back, and the edits the Likelihood page offers.
"""
from __future__ import annotations

import base64
import binascii
import io
import math
import re
import time
from dataclasses import dataclass

import numpy as np

from . import network
from .validation import check_int

SIDE = 28
D_IMAGE = SIDE * SIDE
BOX = 20             # MNIST's digits were scaled to fit a 20x20 box, then centred by mass
MAX_UPLOAD_PIXELS = 40_000_000  # larger images are refused from their header, before decoding
INK_THRESHOLD = 0.5
MIN_CONTRAST = 0.1   # grey range below this (on a 0..1 scale) is a blank image
GATHER_MAX_ROWS = 16  # up to this many images, pre-activations as sums of ink rows
URL_CHARS = math.ceil(D_IMAGE / 8 * 4 / 3)  # 98 bytes -> 131 base64url characters
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


# ---------------------------------------------------------------------------------------------
# Scoring.

def _input_layer(x: np.ndarray, weights_T: np.ndarray) -> np.ndarray:
    """x (n, D) 0/1 times weights_T (D, H): few images as sums of their ink rows."""
    if len(x) <= GATHER_MAX_ROWS:
        return np.stack([weights_T[np.flatnonzero(row)].sum(axis=0, dtype=np.float64)
                         for row in x])
    return x.astype(np.float32) @ weights_T


def _mask_logits(model, k: int, x: np.ndarray) -> np.ndarray:
    """float64 (n, D) logits of checked images x under mask k, from the mask's float32 weights
    (network.prepare: built once per model and mask, shared with the sensitivity view)."""
    net = network.prepare(model, k).float32()
    logits = np.broadcast_to(net.bias.astype(np.float64), (len(x), len(net.bias))).copy()
    if net.direct_T is not None:
        logits += _input_layer(x, net.direct_T)
    if net.hidden_T:
        W_T, b = net.hidden_T[0]
        h = np.maximum(_input_layer(x, W_T) + b, 0.0).astype(np.float32)
        for W_T, b in net.hidden_T[1:]:
            h = np.maximum(h @ W_T + b, 0.0)
        logits += h @ net.out_W.T
    return logits


def _check_images(model, x) -> np.ndarray:
    """x as uint8 (n, D) of 0/1; a single image (D,) becomes one row."""
    D = model.D
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != D:
        raise ValueError(f"x must have shape (D,) or (n, D) with D = {D}, got {np.shape(x)}")
    if a.dtype == bool:
        a = a.astype(np.uint8)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"x must hold 0s and 1s, got dtype {a.dtype}")
    bad = ~np.isin(a, (0, 1))
    if bad.any():
        i, d = np.argwhere(bad)[0]
        raise ValueError(f"x must hold 0s and 1s; x[{i}, {d}] is {a[i, d]}")
    return a.astype(np.uint8)


def _log_sigmoid_of_value(logits: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log p(x_d | x_<d) from the logits of p(x_d = 1 | x_<d): -softplus(-logit) for a 1,
    -softplus(logit) for a 0."""
    return -np.logaddexp(0.0, np.where(x == 1, -logits, logits))


def logits(model, x, mask=None) -> np.ndarray:
    """float64 (n, D): logit of p(x_d = 1 | x_<d) for each image under one mask."""
    k = network.resolve_mask(model, mask)
    if k == "ensemble":
        raise ValueError("mask must be None or a mask index for conditionals, got 'ensemble'")
    return _mask_logits(model, k, _check_images(model, x))


def conditional_log_probs(model, x, mask=None) -> np.ndarray:
    """float64 (n, D): log p(x_d | x_<d) in nats of the value each pixel has, in pixel-index
    order, under mask `mask` (None: the model's current one). Rows sum to log p(x)."""
    images = _check_images(model, x)
    return _log_sigmoid_of_value(logits(model, images, mask), images)


def log_prob(model, x, mask=None) -> np.ndarray:
    """float64 (n,): log p(x) in nats. mask: None (current), an index, or "ensemble"."""
    if network.resolve_mask(model, mask) == "ensemble":
        return ensemble_log_prob(per_mask_log_probs(model, x))
    return conditional_log_probs(model, x, mask).sum(axis=1)


def per_mask_log_probs(model, x) -> np.ndarray:
    """float64 (K, n): log p_k(x) under every mask k."""
    return conditional_log_probs_all_masks(model, x).sum(axis=2)


def conditional_log_probs_all_masks(model, x) -> np.ndarray:
    """float64 (K, n, D): log p_k(x_d | x_<d) under every mask k, in pixel-index order."""
    images = _check_images(model, x)
    return np.stack([_log_sigmoid_of_value(_mask_logits(model, k, images), images)
                     for k in range(model.num_masks)])


def shared_order(model) -> np.ndarray | None:
    """The ordering every mask shares, or None when the masks' orderings differ."""
    orders = [np.asarray(m.order) for m in model.mask_sets]
    return orders[0] if all(np.array_equal(o, orders[0]) for o in orders) else None


def ensemble_conditional_log_probs(model, x) -> np.ndarray:
    """float64 (n, D): the ensemble's own log p(x_d | x_<d), for masks sharing one ordering.

    The mixture's conditional weighs each mask by how well it explained the pixels before d:
    log p(x_<=d) = logsumexp_k log p_k(x_<=d) - log K, and the terms are its differences in
    generation order, so they sum to the ensemble's log p(x) exactly. With orderings that
    differ there is no common x_<d, and no such terms (ValueError).
    """
    order = shared_order(model)
    if order is None:
        raise ValueError("the ensemble's per-pixel terms need masks that share one ordering")
    return _ensemble_terms(conditional_log_probs_all_masks(model, x), order)


def _ensemble_terms(per_mask: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(K, n, D) per-mask terms of masks sharing `order` -> (n, D) the mixture's terms."""
    prefix = ensemble_log_prob(np.cumsum(per_mask[:, :, order], axis=2))
    terms = np.diff(prefix, axis=1, prepend=0.0)
    out = np.empty_like(terms)
    out[:, order] = terms
    return out


def ensemble_log_prob(per_mask: np.ndarray) -> np.ndarray:
    """logsumexp_k log p_k(x) - log K over axis 0: the mixture of the masks' distributions."""
    per_mask = np.asarray(per_mask, dtype=np.float64)
    top = per_mask.max(axis=0)
    return top + np.log(np.exp(per_mask - top).sum(axis=0)) - math.log(len(per_mask))


@dataclass(frozen=True)
class ImageScore:
    """One image scored under every mask of a model, and the view one mask choice gives.

    per_mask: (K, D) log p_k(x_d | x_<d); totals: (K,) log p_k(x); ensemble: log p(x) of the
    mixture. terms: (D,) the chosen view's per-pixel terms (the mask's, or the ensemble's when
    its masks share an ordering, else those of the ensemble's first mask: `terms_of` says
    which), in generation order `order`. seconds: the time the scoring took.
    """

    image: np.ndarray
    per_mask: np.ndarray
    totals: np.ndarray
    ensemble: float
    mask: int | str
    terms: np.ndarray
    terms_of: int | str
    order: np.ndarray
    seconds: float

    @property
    def log_prob(self) -> float:
        return self.ensemble if self.mask == "ensemble" else float(self.totals[self.mask])

    @property
    def p_one(self) -> np.ndarray:
        """p(x_d = 1 | x_<d) under the chosen view, from the terms of the values x has."""
        p_value = np.exp(self.terms)
        return np.where(self.image == 1, p_value, -np.expm1(self.terms))


def score_image(model, image, mask="ensemble") -> ImageScore:
    """Score one image under every mask and the ensemble (one forward pass per mask)."""
    start = time.perf_counter()
    mask = network.resolve_mask(model, mask)
    image = _check_images(model, image)[0]
    per_mask = conditional_log_probs_all_masks(model, image)[:, 0]
    totals = per_mask.sum(axis=1)
    ensemble = float(ensemble_log_prob(totals))
    order = shared_order(model)
    if mask != "ensemble":
        terms, terms_of, order = per_mask[mask], mask, np.asarray(model.mask_sets[mask].order)
    elif order is not None:
        terms, terms_of = _ensemble_terms(per_mask[None].transpose(1, 0, 2), order)[0], "ensemble"
    else:
        terms, terms_of, order = per_mask[0], 0, np.asarray(model.mask_sets[0].order)
    return ImageScore(image, per_mask, totals, ensemble, mask, terms, terms_of, order,
                      time.perf_counter() - start)


def bits_per_pixel(nll_nats: float, D: int = D_IMAGE) -> float:
    return nll_nats / (D * math.log(2.0))


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
        image.seek(0)  # an animation's first frame
        image.load()
        return ink_from(_grey_and_alpha(image))
    except ImageError:
        raise
    except Exception as error:  # noqa: BLE001 (truncated or corrupt pixel data)
        raise ImageError(f"the image data is damaged or truncated ({error})") from None


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


def ink_from(grey_alpha) -> np.ndarray:
    """(grey, alpha or None) or an array -> ink in 0..1, 1 = most ink.

    An RGB(A) or grey array (0..255 or 0..1) is accepted as well (a drawing canvas's pixels).
    Transparent parts are background: the image is laid on a backing that contrasts with its
    opaque pixels. The background is the more common grey on the image's border, so dark ink
    on light paper and light ink on dark paper both work.
    """
    if isinstance(grey_alpha, tuple):
        grey, alpha = grey_alpha
    else:
        grey, alpha = _array_grey(np.asarray(grey_alpha))
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


def _array_grey(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise ImageError(f"an image array must be (h, w), (h, w, 3) or (h, w, 4), got"
                         f" {array.shape}")
    if array.size == 0:
        raise ImageError("the image is empty")
    a = array.astype(np.float64)
    if not np.isfinite(a).all():
        raise ImageError("the image holds values that are not finite")
    a = a / 255.0 if a.max() > 1.0 else a
    if a.ndim == 2:
        return a, None
    channels = a.shape[2]
    alpha = a[..., -1] if channels in (2, 4) else None
    colour = a[..., :3] if channels >= 3 else a[..., :1]
    grey = colour @ np.array([0.299, 0.587, 0.114]) if colour.shape[2] == 3 else colour[..., 0]
    return grey, alpha


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


def prepare_drawing(pixels: np.ndarray) -> np.ndarray:
    """A drawing canvas's RGBA (or grey) pixels -> the 28x28 binary digit the model scores."""
    return mnist_like(ink_from(pixels))


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
    seed = check_int("seed", seed, 0, 2**32 - 1)
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
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a number in 0..1, got {p!r}")
    seed = check_int("seed", seed, 0, 2**32 - 1)
    return (np.random.default_rng(seed).random(D_IMAGE) < p).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# The test set's NLLs, bundled for the page's histogram (`python -m made_viz.likelihood`).

TEST_NLL_FILE = "test-nll.npz"
TEST_CHUNK = 500


def test_set_nlls(model, images: np.ndarray) -> np.ndarray:
    """float32 (K + 1, n): NLL in nats of each image under every mask, then the ensemble."""
    rows = []
    for start in range(0, len(images), TEST_CHUNK):
        per_mask = per_mask_log_probs(model, images[start:start + TEST_CHUNK])
        rows.append(-np.vstack([per_mask, ensemble_log_prob(per_mask)[None]]))
    return np.hstack(rows).astype(np.float32)


def load_test_nlls(path=None) -> dict[str, np.ndarray]:
    """{model name: float32 (K + 1, n)} from the bundled file (see main)."""
    from .checkpoint import pretrained_root

    path = path or pretrained_root() / TEST_NLL_FILE
    with np.load(path, allow_pickle=False) as archive:
        return {name[len("nll_"):]: archive[name] for name in archive.files
                if name.startswith("nll_")}


def main(argv=None) -> int:
    """`python -m made_viz.likelihood --data PATH --out FILE`: the NLL of every test digit
    (binarized as for training) under every bundled model's masks and ensemble, for the
    Likelihood page's histogram. The NLLs only; the images stay out of the repository."""
    import argparse
    import sys

    from . import checkpoint, data

    parser = argparse.ArgumentParser(prog="python -m made_viz.likelihood", description=main.__doc__)
    parser.add_argument("--data", default=str(data.DEFAULT_NPZ))
    parser.add_argument("--out", default=str(checkpoint.pretrained_root() / TEST_NLL_FILE))
    parser.add_argument("--binarization-seed", type=int, default=data.BINARIZATION_SEED)
    args = parser.parse_args(argv)
    try:
        test = data.binarized_splits(data.load_mnist(args.data), args.binarization_seed)["test"]
        arrays = {}
        for name in checkpoint.list_pretrained():
            weights, _ = checkpoint.load_pretrained_weights(name)
            arrays[f"nll_{name}"] = test_set_nlls(weights, test.images)
            print(f"{name}: ensemble test NLL {arrays[f'nll_{name}'][-1].mean():.4f} nats"
                  f" over {test.images.shape[0]:,} digits")
        np.savez_compressed(args.out, binarization_seed=np.int64(args.binarization_seed),
                            **arrays)
    except (data.DataError, checkpoint.CheckpointError, OSError) as error:
        print(f"made_viz.likelihood: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Exact log-likelihood of any binary image under a MADE, in one forward pass per mask. NumPy
only (no torch, no streamlit, no Pillow: the images themselves are made_viz.images).

One forward pass gives all D conditionals p(x_d = 1 | x_<d), so log p(x) = sum_d log p(x_d |
x_<d) costs one pass per mask. `conditional_log_probs` returns those terms in pixel-index
order; `log_prob` sums them, under one mask or the ensemble, which averages whole-image
probabilities (logsumexp over masks minus log K; averaging logits across masks with different
orderings is not a distribution).

Both take a `sampling.MADEWeights` or a torch `MADE`. Each mask's masked weights are built
once per model in float32, the first layer and the direct connections transposed so that a
binary image's pre-activations are sums of the rows of its ink pixels, and kept in the model's
prepared masks (network.prepare; rebuilt when the weights change). Sums are in float64.

The images themselves (uploads made MNIST-like, the URL codec, edits) are made_viz.images.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from . import network
from .images import D_IMAGE

GATHER_MAX_ROWS = 16  # up to this many images, pre-activations as sums of ink rows


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

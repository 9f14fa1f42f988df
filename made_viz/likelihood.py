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

The test set's NLLs are bundled once computed: every digit's under every mask and the
ensemble (test-nll.npz, the Likelihood page's histogram), and from them each model's NLL
against the number of masks averaged at test time (its nll-by-masks.json).

The images themselves (uploads made MNIST-like, the URL codec, edits) are made_viz.images.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import network
from .images import D_IMAGE
from .validation import check_binary_images

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
    return check_binary_images("x", x, model.D)


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


# ---------------------------------------------------------------------------------------------
# NLL against the number of masks averaged at test time (`python -m made_viz.likelihood
# --masks-curve`), stored in each model's directory.

MASKS_CURVE_FILE = "nll-by-masks.json"
MASKS_CURVE_COMMAND = "python -m made_viz.likelihood --masks-curve"


def first_k_ensemble_nlls(per_mask_nlls: np.ndarray) -> np.ndarray:
    """float64 (K,): from per-image NLLs (K, n) under each mask, the mean NLL of the ensemble
    of the first k masks, k = 1..K (log-mean-exp of their image probabilities)."""
    log_probs = -np.asarray(per_mask_nlls, dtype=np.float64)
    return np.array([-ensemble_log_prob(log_probs[:k]).mean()
                     for k in range(1, len(log_probs) + 1)])


@dataclass(frozen=True)
class MasksCurve:
    """The test NLL of a model's ensemble of its first k masks, k = 1..trained_with: masks
    averaged at test time, of one model trained with all of them."""

    model: str
    trained_with: int
    test_nll: tuple[float, ...]
    mask_names: tuple[str, ...]
    binarization_seed: int

    @property
    def masks(self) -> tuple[int, ...]:
        return tuple(range(1, len(self.test_nll) + 1))


def masks_curve(name: str, per_mask_nlls: np.ndarray, mask_names, binarization_seed: int) -> dict:
    """What write_masks_curves stores for one model (see MasksCurve)."""
    nlls = first_k_ensemble_nlls(per_mask_nlls)
    return {"what": "test NLL in nats per image (mean over the test digits) of the ensemble of"
                    " the model's first k masks, k = 1..K: the masks averaged at test time, of"
                    f" a model trained with {len(nlls)}",
            "model": name, "trained_with": len(nlls), "masks": list(range(1, len(nlls) + 1)),
            "test_nll": [round(float(v), 4) for v in nlls], "mask_names": list(mask_names),
            "test_digits": int(np.shape(per_mask_nlls)[1]),
            "binarization_seed": int(binarization_seed), "source": TEST_NLL_FILE,
            "command": MASKS_CURVE_COMMAND}


def write_masks_curves(root, nll_path=None) -> dict[str, list[float]]:
    """From the bundled test NLLs, each bundled model's curve into its own directory."""
    from . import checkpoint

    root = Path(root)
    nll_path = nll_path or root / TEST_NLL_FILE
    with np.load(nll_path, allow_pickle=False) as archive:
        seed = int(archive["binarization_seed"])
    curves = {}
    for name, nlls in load_test_nlls(nll_path).items():
        config = json.loads((root / name / checkpoint.CONFIG).read_text())
        names = config.get("mask_names") or [f"mask {k}" for k in range(len(nlls) - 1)]
        curve = masks_curve(name, nlls[:-1], names, seed)
        (root / name / MASKS_CURVE_FILE).write_text(json.dumps(curve, indent=1) + "\n")
        curves[name] = curve["test_nll"]
    return curves


def load_masks_curve(name: str, root=None) -> MasksCurve:
    """A bundled model's stored curve; ValueError naming the file when it is missing or
    malformed."""
    from .checkpoint import pretrained_root

    path = Path(root or pretrained_root()) / name / MASKS_CURVE_FILE
    try:
        stored = json.loads(path.read_text())
        nlls = tuple(float(v) for v in stored["test_nll"])
        curve = MasksCurve(str(stored["model"]), int(stored["trained_with"]), nlls,
                           tuple(str(n) for n in stored["mask_names"]),
                           int(stored["binarization_seed"]))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: no readable NLL-by-masks curve ({type(error).__name__}:"
                         f" {error}); rebuild it with {MASKS_CURVE_COMMAND}") from None
    if not (1 <= len(nlls) == curve.trained_with == len(curve.mask_names)
            and all(math.isfinite(v) for v in nlls)):
        raise ValueError(f"{path}: 'test_nll' must hold one finite number per mask"
                         f" ({curve.trained_with})")
    return curve


def main(argv=None) -> int:
    """`python -m made_viz.likelihood --data PATH --out FILE`: the NLL of every test digit
    (binarized as for training) under every bundled model's masks and ensemble, for the
    Likelihood page's histogram, then each model's NLL against the number of masks averaged
    (`--masks-curve` alone: that curve from the NLLs already bundled, no data needed). The
    NLLs only; the images stay out of the repository."""
    import argparse
    import sys

    from . import checkpoint, data

    parser = argparse.ArgumentParser(prog="python -m made_viz.likelihood", description=main.__doc__)
    parser.add_argument("--data", default=str(data.DEFAULT_NPZ))
    parser.add_argument("--out", default=str(checkpoint.pretrained_root() / TEST_NLL_FILE))
    parser.add_argument("--binarization-seed", type=int, default=data.BINARIZATION_SEED)
    parser.add_argument("--masks-curve", action="store_true",
                        help=f"only write each model's {MASKS_CURVE_FILE} from --out's NLLs")
    args = parser.parse_args(argv)
    try:
        if not args.masks_curve:
            write_test_nlls(args.data, args.out, args.binarization_seed)
        for name, nlls in write_masks_curves(checkpoint.pretrained_root(), args.out).items():
            print(f"{name}: test NLL of the first k masks, k = 1..{len(nlls)}: "
                  + ", ".join(f"{v:.2f}" for v in nlls))
    except (data.DataError, checkpoint.CheckpointError, OSError, KeyError) as error:
        print(f"made_viz.likelihood: error: {error}", file=sys.stderr)
        return 2
    return 0


def write_test_nlls(data_path, out, binarization_seed: int) -> None:
    """The NLL of every test digit under every bundled model's masks and ensemble, to `out`."""
    from . import checkpoint, data

    test = data.binarized_splits(data.load_mnist(data_path), binarization_seed)["test"]
    arrays = {}
    for name in checkpoint.list_pretrained():
        weights, _ = checkpoint.load_pretrained_weights(name)
        arrays[f"nll_{name}"] = test_set_nlls(weights, test.images)
        print(f"{name}: ensemble test NLL {arrays[f'nll_{name}'][-1].mean():.4f} nats"
              f" over {test.images.shape[0]:,} digits")
    np.savez_compressed(out, binarization_seed=np.int64(binarization_seed), **arrays)


if __name__ == "__main__":
    raise SystemExit(main())

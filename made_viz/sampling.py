"""Sampling from a MADE: the plain D-pass reference sampler, the fast exact one, SamplingRun.

The rule. Every pixel has its own uniform u_d, and pixel d is 1 exactly when u_d < p_d, where
p_d = sigmoid(logit_d) = p(x_d = 1 | x_<d). The samplers test the equivalent
logit(u_d) < logit_d, with logit(u) = log(u) - log1p(-u) computed once per pixel in float64
(the same test up to that one rounding, about 1e-16), because in this form it can be decided
exactly. Both samplers compute logit_d in float64 from the model's masked weights
(network.masked_weights), and each output has a rigorous bound on the rounding error of that
computation, valid for any input image and any summation order. When logit(u_d) is farther from
logit_d than that bound the float comparison is certainly right; otherwise (almost never) the
pixel is decided with exact integer arithmetic on the same weights (made_viz.exact says how).
Every decision is therefore the one exact arithmetic would make, whatever order BLAS summed in,
and "fast" and "naive" give identical images for identical uniforms: always, not almost
always. The probabilities they report agree to about 1e-13.

The naive sampler (first below) runs one full forward pass over all D outputs per pixel. The
fast sampler walks a plan (made_viz.fast_plan): each hidden unit is computed once, when the
pixels it sees are drawn, and each step costs one dot product. Both read a mask's
PreparedMask (network.prepare), built once per model and mask.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import network
from .network import MADEWeights  # noqa: F401 (public API: sampling.MADEWeights stays)
from .validation import check_int

METHODS = ("fast", "naive")
MAX_SAMPLES = 100_000


def logistic_noise(uniforms: np.ndarray) -> np.ndarray:
    """logit(u) in float64: pixel d is 1 exactly when logistic_noise(u_d) < logit_d."""
    uniforms = np.asarray(uniforms, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(uniforms) - np.log1p(-uniforms)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


# ---------------------------------------------------------------------------------------------
# The reference: one full forward pass per pixel.

def _run_naive(net: network.Float64Net, noise: np.ndarray, forced, forced_values):
    """The reference: one full forward pass per pixel, in the model's own layout. Takes and
    returns what FastPlan.run_many does: noise, forced, forced_values (n, D) in generation
    order (forced None when no pixel is observed) -> (x bool, logits, exact_count)."""
    n, D = noise.shape
    order = net.order
    images = np.zeros((n, D))
    x_all = np.zeros((n, D), dtype=bool)
    logits = np.empty((n, D))
    exact_count = 0
    # Pixels every row observes need no draw: one pass gives all their conditionals, the same
    # floats as a pass per pixel (later pixels meet zero weights either way).
    start = int(forced.sum(axis=1).min()) if forced is not None else 0
    if start:
        x_all[:, :start] = forced_values[:, :start]
        images[:, order[:start]] = x_all[:, :start]
        logits[:, :start] = net.forward(images)[:, order[:start]]
    for s in range(start, D):
        d = int(order[s])
        logit = net.forward(images)[:, d]
        diff = noise[:, s] - logit
        x = diff < 0
        unsure = np.abs(diff) <= net.error_bound[d]
        if forced is not None:
            x = np.where(forced[:, s], forced_values[:, s], x)
            unsure &= ~forced[:, s]
        for i in np.flatnonzero(unsure).tolist():
            x[i] = net.exact.decide(images[i], d, float(noise[i, s]))
            exact_count += 1
        images[:, d] = x
        x_all[:, s] = x
        logits[:, s] = logit
    return x_all, logits, exact_count


# ---------------------------------------------------------------------------------------------
# What a draw returns, and the checks of its arguments.

@dataclass
class Samples:
    """What sample_with_probs draws; arrays (n, D) are indexed by pixel, not generation step."""

    images: np.ndarray       # uint8 (n, D)
    logits: np.ndarray       # float64 (n, D): logit of p(x_d = 1 | x_<d), given pixels too
    uniforms: np.ndarray     # float64 (n, D): the uniforms the decisions used
    masks: np.ndarray        # int64 (n,): the mask each image was drawn with
    given_counts: np.ndarray  # int64 (n,): observed pixels (the first ones in that ordering)
    exact_decisions: int     # pixels decided by exact arithmetic (the float test was unsure)

    @property
    def probs(self) -> np.ndarray:
        """p(x_d = 1 | x_<d) each pixel had, float64 (n, D)."""
        return np.exp(-_softplus(-self.logits))

    @property
    def conditional_log_probs(self) -> np.ndarray:
        """log p(x_d | x_<d) in nats of the value each pixel took, float64 (n, D)."""
        return -_softplus(np.where(self.images == 1, -self.logits, self.logits))

    @property
    def log_likelihood(self) -> np.ndarray:
        """log p(x) in nats under each image's own mask, float64 (n,)."""
        return self.conditional_log_probs.sum(axis=1)


def _check_seed(seed, allow_none: bool = True):
    return None if seed is None and allow_none else check_int("seed", seed, 0)


def _check_uniforms(uniforms, n: int, D: int) -> np.ndarray:
    u = np.asarray(uniforms)
    if u.shape != (n, D):
        raise ValueError(f"uniforms must have shape (n, D) = ({n}, {D}), got {u.shape}")
    if not (np.issubdtype(u.dtype, np.floating) or np.issubdtype(u.dtype, np.integer)):
        raise ValueError(f"uniforms must be numbers in [0, 1], got dtype {u.dtype}")
    u = u.astype(np.float64)
    bad = ~((u >= 0) & (u <= 1))
    if bad.any():
        i, d = np.argwhere(bad)[0]
        raise ValueError(f"uniforms must be in [0, 1]; uniforms[{i}, {d}] is {u[i, d]}")
    return u


def _check_given(given, n: int, D: int) -> np.ndarray:
    """(n, D) int8 of -1 (draw), 0, 1 (observed)."""
    g = np.asarray(given)
    if g.ndim == 1:
        if g.shape != (D,):
            raise ValueError(f"given must have shape (D,) = ({D},) or (n, D) = ({n}, {D}),"
                             f" got {g.shape}")
        g = np.broadcast_to(g, (n, D))
    elif g.shape != (n, D):
        raise ValueError(f"given must have shape (D,) = ({D},) or (n, D) = ({n}, {D}),"
                         f" got {g.shape}")
    if g.dtype == bool or not (np.issubdtype(g.dtype, np.integer)
                               or np.issubdtype(g.dtype, np.floating)):
        raise ValueError(f"given must hold integers 0, 1 (observed) or -1 (to draw),"
                         f" got dtype {g.dtype}")
    bad = ~np.isin(g, (-1, 0, 1))
    if bad.any():
        i, d = np.argwhere(bad)[0]
        where = f"given[{d}]" if np.asarray(given).ndim == 1 else f"given[{i}, {d}]"
        raise ValueError(f"given must hold 0, 1 (observed) or -1 (to draw); {where} is {g[i, d]}")
    return g.astype(np.int8)


def _check_prefix(observed: np.ndarray, order: np.ndarray, k: int, rows=None) -> np.ndarray:
    """Observed pixels must be the first ones in the ordering; return each row's count."""
    in_order = observed[:, order]
    counts = in_order.sum(axis=1)
    ok = (in_order == (np.arange(len(order))[None, :] < counts[:, None])).all(axis=1)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        missing = int(np.argmin(in_order[row]))
        later = missing + int(np.argmax(in_order[row, missing:]))
        which = f" (row {rows[row]})" if rows is not None else ""
        raise ValueError(
            f"given: observed pixels must be the first k in the ordering of mask {k}{which};"
            f" pixel {order[later]} is observed but pixel {order[missing]}, before it in the"
            f" ordering, is not")
    return counts


def _ensemble_masks(model, rng, n: int, given, rows) -> np.ndarray:
    """One mask per image. Without observed pixels uniformly; with them from the posterior
    p(k | x_obs) proportional to p_k(x_obs), which makes the draw exact for the mixture's
    conditional p(x_rest | x_obs) = sum_k p(k | x_obs) p_k(x_rest | x_obs)."""
    K = model.num_masks
    if given is None or not (given >= 0).any():
        return rng.integers(K, size=n)
    observed = given >= 0
    log_weights = np.empty((n, K))
    for k in range(K):
        plan = network.prepare(model, k).plan()
        counts = _check_prefix(observed, plan.order, k, rows)
        # The observed prefix's conditionals: the fast sampler's first steps, forced throughout.
        forced, values = observed[:, plan.order], (given == 1)[:, plan.order]
        _, logits, _ = plan.run_many(np.zeros((n, model.D)), forced, values, int(counts.max()))
        per_pixel = -_softplus(np.where(values, -logits, logits))
        log_weights[:, k] = np.where(forced, per_pixel, 0.0).sum(axis=1)
    weights = np.exp(log_weights - log_weights.max(axis=1, keepdims=True))
    cumulative = np.cumsum(weights, axis=1)
    picks = rng.random(n) * cumulative[:, -1]
    return np.minimum((cumulative <= picks[:, None]).sum(axis=1), K - 1)


def sample_with_probs(model, n: int, *, uniforms=None, seed=None, mask=None, given=None,
                      method: str = "fast") -> Samples:
    """Draw n images and keep what each pixel's draw saw (see Samples and the module docstring).

    uniforms: float (n, D) in [0, 1]; by default np.random.default_rng(seed).random((n, D)).
    The seed's stream gives the uniforms first and then the mask choices, so one seed gives the
    same uniforms whatever the mask. mask: None (the model's current mask), an index, or
    "ensemble" (each image's mask drawn from the seed's stream). given: (D,) or (n, D) of 0/1
    for observed pixels and -1 for pixels to draw; observed pixels must come first in the
    ordering and are kept as they are. method: "fast" or "naive" (identical images).
    """
    n = check_int("n", n, 1, MAX_SAMPLES)
    seed = _check_seed(seed)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    mask = network.resolve_mask(model, mask)
    D = model.D
    per_row = given is not None and np.ndim(given) == 2  # errors then name the row
    given = None if given is None else _check_given(given, n, D)
    rng = np.random.default_rng(seed)
    uniforms = rng.random((n, D)) if uniforms is None else _check_uniforms(uniforms, n, D)
    masks = (_ensemble_masks(model, rng, n, given, np.arange(n) if per_row else None)
             if mask == "ensemble"
             else np.full(n, mask, dtype=np.int64))
    noise = logistic_noise(uniforms)
    images = np.empty((n, D), dtype=np.uint8)
    logits = np.empty((n, D))
    given_counts = np.zeros(n, dtype=np.int64)
    exact = 0
    for k in np.unique(masks).tolist():
        rows = np.flatnonzero(masks == k)
        order = np.asarray(model.mask_sets[k].order)
        forced = forced_values = None
        if given is not None:
            observed = given[rows] >= 0
            given_counts[rows] = _check_prefix(observed, order, k, rows if per_row else None)
            if observed.any():
                forced, forced_values = observed[:, order], given[rows][:, order] == 1
        prepared = network.prepare(model, k)
        if method == "fast":
            x, group_logits, count = prepared.plan().run_many(
                noise[rows][:, order], forced, forced_values)
        else:
            x, group_logits, count = _run_naive(prepared.reference(), noise[rows][:, order],
                                                forced, forced_values)
        if not np.isfinite(group_logits).all():
            raise ValueError("the model's logits overflow float64; it cannot be sampled")
        images[np.ix_(rows, order)] = x
        logits[np.ix_(rows, order)] = group_logits
        exact += count
    return Samples(images, logits, uniforms, masks.astype(np.int64), given_counts, exact)


def sample(model, n: int, *, uniforms=None, seed=None, mask=None, given=None,
           method: str = "fast") -> np.ndarray:
    """n images, uint8 (n, D). Pixel d is 1 exactly when uniforms[:, d] < p(x_d = 1 | x_<d)."""
    return sample_with_probs(model, n, uniforms=uniforms, seed=seed, mask=mask, given=given,
                             method=method).images


class SamplingRun:
    """One digit drawn pixel by pixel, for the UI to step through.

    The whole digit is drawn at construction (a few milliseconds) with the same seed stream as
    sample(model, 1, seed=seed, mask=mask, given=given), which gives the same digit; stepping
    only moves `position`, the number of pixels drawn so far, between `start` (the given
    pixels, which count as drawn) and D.
    """

    def __init__(self, model, *, seed: int = 0, mask=0, given=None):
        seed = _check_seed(seed, allow_none=False)
        drawn = sample_with_probs(model, 1, seed=seed, mask=mask, given=given)
        self.seed = seed
        self.mask = int(drawn.masks[0])
        self.D = model.D
        self.order = np.array(model.mask_sets[self.mask].order, dtype=np.int64)
        self.rank = np.empty(self.D, dtype=np.int64)
        self.rank[self.order] = np.arange(self.D)
        self.final_image = drawn.images[0]
        self.logits = drawn.logits[0]
        self.probs = drawn.probs[0]
        self.uniforms = drawn.uniforms[0]
        self.start = int(drawn.given_counts[0])
        steps = drawn.conditional_log_probs[0][self.order]
        self.log_likelihood_curve = np.concatenate([[0.0], np.cumsum(steps)])
        self._position = self.start

    @property
    def position(self) -> int:
        return self._position

    @position.setter
    def position(self, value: int) -> None:
        self.seek(value)

    @property
    def done(self) -> bool:
        return self._position == self.D

    @property
    def drawn(self) -> np.ndarray:
        return self.rank < self._position

    @property
    def image(self) -> np.ndarray:
        return self.image_at(self._position)

    def image_at(self, position: int) -> np.ndarray:
        """The digit with its first `position` pixels drawn (0 elsewhere), uint8 (D,)."""
        position = check_int("position", position, 0, self.D)
        return np.where(self.rank < position, self.final_image, 0).astype(np.uint8)

    @property
    def next_index(self) -> int | None:
        return None if self.done else int(self.order[self._position])

    @property
    def next_prob(self) -> float | None:
        return None if self.done else float(self.probs[self.order[self._position]])

    @property
    def next_uniform(self) -> float | None:
        return None if self.done else float(self.uniforms[self.order[self._position]])

    @property
    def log_likelihood(self) -> float:
        """Sum of log p(x_d | x_<d) over the drawn pixels (given ones too), nats."""
        return float(self.log_likelihood_curve[self._position])

    def step(self, k: int = 1) -> int:
        """Draw the next k pixels, or as many as remain; return how many were drawn."""
        k = check_int("k", k, 0, self.D)
        moved = min(k, self.D - self._position)
        self._position += moved
        return moved

    def back(self, k: int = 1) -> int:
        """Undo the last k pixels, or back to the start; return how many were undone."""
        k = check_int("k", k, 0, self.D)
        moved = min(k, self._position - self.start)
        self._position -= moved
        return moved

    def seek(self, position: int) -> None:
        self._position = check_int("position", position, self.start, self.D)

    def finish(self) -> None:
        self._position = self.D

    def reset(self) -> None:
        self._position = self.start

    def __repr__(self) -> str:
        return (f"SamplingRun(seed={self.seed}, mask={self.mask}, position={self._position}"
                f"/{self.D}, log_likelihood={self.log_likelihood:.2f})")


def logit_gradient(model, image, index: int, mask=None) -> np.ndarray:
    """d logit_index / d x at x = image under mask `mask` (None: the model's current one),
    float32 (D,): how much each pixel moves pixel index's log-odds, the gradient autograd
    would give. Zero wherever the masks leave no path to output index."""
    mask = network.resolve_mask(model, mask)
    if mask == "ensemble":
        raise ValueError("mask must be None or a mask index for a gradient, got 'ensemble'")
    D = model.D
    index = check_int("index", index, 0, D - 1)
    x = np.asarray(image, dtype=np.float32)
    if x.shape != (D,):
        raise ValueError(f"image must have shape ({D},), got {x.shape}")
    return network.prepare(model, mask).float32().gradient(x, index)


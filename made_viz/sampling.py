"""Sampling from a MADE: a naive reference sampler, a fast incremental one, and SamplingRun.

The rule. Every pixel has its own uniform u_d, and pixel d is 1 exactly when u_d < p_d, where
p_d = sigmoid(logit_d) = p(x_d = 1 | x_<d). The samplers test the equivalent
logit(u_d) < logit_d, with logit(u) = log(u) - log1p(-u) computed once per pixel in float64
(the same test up to that one rounding, about 1e-16), because in this form it can be decided
exactly. Both samplers compute logit_d in float64, and each output has a rigorous bound on the
rounding error of that computation, valid for any input image and any summation order (the
standard |fl(sum) - sum| <= gamma_K * sum|terms| for K terms, carried through the layers with
the largest values the layers can take). When logit(u_d) is farther from logit_d than that bound
the float comparison is certainly right; otherwise (the bound is below 1e-10 for the bundled
model, so this almost never happens) the pixel is decided with exact integer arithmetic on the
same weights. Every decision is therefore the one exact arithmetic would make, whatever order BLAS
summed in, and "fast" and "naive" give identical images for identical uniforms: always, not
almost always. The probabilities they report agree to about 1e-13.

The weights are the model's masked weights in float64. The first layer's weights and biases are
snapped to a grid of 2^-g (g about 40; no weight moves by more than 2^-(g+1), far below float32
resolution) chosen so that every partial sum of a row is exact in float64: first-layer
pre-activations are then exact in both samplers, whatever pixels are on and in whatever order
they are summed.

The fast sampler sorts hidden units by degree. A unit of degree m sees only pixels of degree
<= m, so it is final once those are drawn, and output d reads only units and pixels of degree
< m(d). Each unit is therefore computed once, when it becomes final (a first-layer unit as one
dot product of its weight row with the pixels drawn so far), and each step costs one dot product
of output d's weight row with a prefix of a state vector laid out by degree: the bias, then for
each degree the last hidden layer's units of that degree and the pixel of that degree. The
naive sampler runs one full forward pass over all D outputs per pixel.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from .exact import ExactLogits, error_bound, snap_to_grid
from .fast_plan import FastPlan
from .masks import MaskSet
from .validation import check_int, is_int

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
# A MADE's weights without torch.

def tensor_shapes(masks: MaskSet) -> dict[str, tuple[int, ...]]:
    """The state-dict layout: the tensors a MADE with these masks holds, by name, with their
    shapes. The names are model.MADE's modules (hidden.0 .. hidden.L-1, output, direct_layer;
    weights in torch Linear's (out, in) shape); checkpoint files and MADEWeights use them too.
    Without hidden layers there is no output layer, and the direct layer carries the bias."""
    D, hidden_sizes = masks.D, masks.hidden_sizes
    widths = [D, *hidden_sizes]
    shapes = {}
    for l, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        shapes[f"hidden.{l}.weight"], shapes[f"hidden.{l}.bias"] = (b, a), (b,)
    if hidden_sizes:
        shapes["output.weight"], shapes["output.bias"] = (D, widths[-1]), (D,)
    if masks.direct:
        shapes["direct_layer.weight"] = (D, D)
        if not hidden_sizes:
            shapes["direct_layer.bias"] = (D,)
    return shapes


@dataclass(frozen=True, eq=False)
class MADEWeights:
    """A MADE's weights as read-only NumPy arrays, and its mask sets: all the samplers read.

    sample, sample_with_probs, SamplingRun and logit_gradient take one wherever they take a
    made_viz.model.MADE, and give the same results: the samplers compute in float64 either way,
    from the same stored values. Without torch, a page that only samples (the Sampling page)
    never waits for torch's import. From a model: MADEWeights.of(model); from a checkpoint:
    checkpoint.load_weights. Layers are (weight (out, in), bias) as in torch's Linear; direct
    is (weight, bias or None), None without direct connections; output is None without hidden
    layers. mask_index is the mask that mask=None means.
    """

    mask_sets: tuple[MaskSet, ...]
    hidden: tuple[tuple[np.ndarray, np.ndarray], ...]
    output: tuple[np.ndarray, np.ndarray] | None
    direct: tuple[np.ndarray, np.ndarray | None] | None
    mask_index: int = 0

    @property
    def D(self) -> int:
        return self.mask_sets[0].D

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return tuple(self.mask_sets[0].hidden_sizes)

    @property
    def num_masks(self) -> int:
        return len(self.mask_sets)

    @classmethod
    def of(cls, model) -> "MADEWeights":
        """A snapshot of a torch MADE's weights (float32 copies) and its current mask."""
        arrays = {name: _read_only(tensor.detach().cpu().float().numpy().copy())
                  for name, tensor in model.state_dict().items()}
        return cls.from_arrays(tuple(model.mask_sets), arrays, model.mask_index)

    @classmethod
    def from_arrays(cls, mask_sets: tuple[MaskSet, ...], arrays: dict[str, np.ndarray],
                    mask_index: int = 0) -> "MADEWeights":
        """From arrays named and shaped as tensor_shapes(mask_sets[0]) says (checked)."""
        expected = tensor_shapes(mask_sets[0])
        shapes = {name: tuple(array.shape) for name, array in arrays.items()}
        if shapes != expected:
            raise ValueError(f"the weights are {shapes}, expected {expected}")
        layers = len(mask_sets[0].hidden_sizes)
        direct = arrays.get("direct_layer.weight")
        return cls(
            tuple(mask_sets),
            tuple((arrays[f"hidden.{l}.weight"], arrays[f"hidden.{l}.bias"])
                  for l in range(layers)),
            (arrays["output.weight"], arrays["output.bias"]) if layers else None,
            None if direct is None else (direct, arrays.get("direct_layer.bias")), mask_index)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _weights(model) -> MADEWeights:
    """Any MADE as MADEWeights: a torch model is read without tracking gradients."""
    if isinstance(model, MADEWeights):
        return model
    import torch  # only a torch model gets here, so torch is already imported

    with torch.inference_mode():
        return MADEWeights.of(model)


# ---------------------------------------------------------------------------------------------
# One mask's network as the samplers compute it.

def _masked_weights(model, masks):
    """float64 masked weights: hidden [(W, b)], output bias c (D,), out_W (D, H_L) and
    direct_W (D, D) (zeros where the model has none). The first layer is snapped to its grid."""
    weights = _weights(model)
    as64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731

    def masked(W, mask):  # a float64 copy of our own, masked in place: one array, not two
        out = np.array(W, dtype=np.float64)
        out *= mask
        return out

    hidden = [(masked(W, mask), as64(b)) for (W, b), mask in zip(weights.hidden, masks.layer_masks)]
    D = weights.D
    c, out_W, direct_W = np.zeros(D), np.zeros((D, 0)), np.zeros((D, D))
    if weights.output is not None:
        out_W = masked(weights.output[0], masks.layer_masks[-1])
        c += as64(weights.output[1])
    if weights.direct is not None:
        direct_W = masked(weights.direct[0], masks.direct_mask)
        if weights.direct[1] is not None:
            c += as64(weights.direct[1])
    if not all(np.isfinite(a).all() for layer in hidden for a in layer) or not (
            np.isfinite(c).all() and np.isfinite(out_W).all() and np.isfinite(direct_W).all()):
        raise ValueError("the model's weights are not all finite; it cannot be sampled")
    if hidden:
        hidden[0] = snap_to_grid(*hidden[0])  # W1 is masked()'s own copy
    return hidden, c, out_W, direct_W


class _Net:
    """A MADE with one mask in float64 numpy, in the model's own layout: the naive sampler,
    and the exact arithmetic both samplers fall back on (`exact`).

    hidden[l] = (W, b) masked, the first layer snapped to its exact grid; c the output bias;
    out_W the masked output weights (D, H_L); direct_W the masked direct weights (D, D), zeros
    without direct connections. error_bound[d] bounds |computed logit_d - exact logit_d|.
    """

    def __init__(self, model, k: int):
        masks = model.mask_sets[k]
        self.D, self.order = model.D, np.asarray(masks.order)
        self.hidden, self.c, self.out_W, self.direct_W = _masked_weights(model, masks)
        self.error_bound = error_bound(self.hidden, self.c, self.out_W, self.direct_W)
        self.exact = ExactLogits(self.hidden, self.c, self.out_W, self.direct_W)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits (n, D) of 0/1 images x (n, D): one full forward pass in float64."""
        logits = x @ self.direct_W.T + self.c
        if self.hidden:
            h = x
            for W, b in self.hidden:
                h = np.maximum(h @ W.T + b, 0.0)
            logits += h @ self.out_W.T
        return logits


def _run_naive(net: _Net, noise: np.ndarray, forced, forced_values):
    """The reference: one full forward pass per pixel, in the model's own layout."""
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
# Plans are cached per model and mask, and rebuilt when the weights change.

_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _weights_key(model) -> tuple:
    weights = () if isinstance(model, MADEWeights) else tuple(  # MADEWeights never change
        (p.data_ptr(), p._version) for p in model.parameters())
    return weights + tuple(id(ms) for ms in model.mask_sets)


def _entry(model) -> dict:
    key = _weights_key(model)
    entry = _cache.get(model)
    if entry is None or entry["key"] != key:
        entry = {"key": key, "nets": {}, "plans": {}}
        _cache[model] = entry
    return entry


def _network(model, k: int, fast: bool):
    """Mask k's FastPlan (fast) or _Net, cached until the model's weights change."""
    entry = _entry(model)
    if fast:
        if k not in entry["plans"]:
            model_ref = weakref.ref(model)  # the cache must not keep its own key alive
            masks = model.mask_sets[k]
            entry["plans"][k] = FastPlan(masks, lambda: _masked_weights(model, masks),
                                         lambda: _network(model_ref(), k, fast=False).exact)
        return entry["plans"][k]
    if k not in entry["nets"]:
        entry["nets"][k] = _Net(model, k)
    return entry["nets"][k]


class Float32Net:
    """One mask's masked weights in float32, built once per model and mask and shared by
    logit_gradient (the Sampling page's sensitivity view) and the likelihood module's scorer
    (the Likelihood page): one copy, not one per page (206 MB for the bundled 784-4000-784 with
    8 masks). Torch's own precision: the gradient compares pixels, the scorer sums in float64.

    hidden_T[l] = (W masked and transposed, (inputs, units) C-contiguous, bias), so a binary
    image's pre-activations are sums of the rows of its ink pixels; out_W (D, H_L) masked, None
    without hidden layers; direct_T (D, D) masked and transposed, None without direct
    connections, shared by masks with the same direct mask (the same ordering, unless a mask
    was edited); bias (D,) the output's and the direct connections' biases together."""

    def __init__(self, weights: MADEWeights, k: int, shared_direct: dict):
        masks = weights.mask_sets[k]
        self.hidden_T = [(_masked32(W.T, mask.T), np.asarray(b, dtype=np.float32))
                         for (W, b), mask in zip(weights.hidden, masks.layer_masks)]
        self.bias = np.zeros(weights.D, dtype=np.float32)
        self.out_W = None
        if weights.output is not None:
            self.out_W = _masked32(weights.output[0], masks.layer_masks[-1])
            self.bias += weights.output[1]
        self.direct_T = None
        if weights.direct is not None:
            direct_key = np.ascontiguousarray(masks.direct_mask).tobytes()
            if direct_key not in shared_direct:
                shared_direct[direct_key] = _masked32(weights.direct[0].T, masks.direct_mask.T)
            self.direct_T = shared_direct[direct_key]
            if weights.direct[1] is not None:
                self.bias += weights.direct[1]

    def gradient(self, x: np.ndarray, d: int) -> np.ndarray:
        """d logit_d / d x at x (float32 (D,)), by backpropagation through the ReLUs."""
        pre_activations, h = [], x
        for W_T, b in self.hidden_T:
            pre_activations.append(h @ W_T + b)
            h = np.maximum(pre_activations[-1], 0.0)
        gradient = np.zeros(len(x), dtype=np.float32)
        if self.direct_T is not None:
            gradient += self.direct_T[:, d]
        if self.out_W is not None:
            back = self.out_W[d]
            for (W_T, _), a in zip(reversed(self.hidden_T), reversed(pre_activations)):
                back = W_T @ (back * (a > 0))  # ReLU passes the gradient where it was active
            gradient += back
        return gradient


def _masked32(weights: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """weights * mask as a new C-contiguous float32 array, in one pass (views transposed)."""
    out = np.empty(weights.shape, dtype=np.float32)
    np.multiply(weights, mask, out=out, dtype=np.float32, casting="unsafe")
    return out


def float32_net(model, k: int) -> Float32Net:
    """Mask k's Float32Net, kept with the model until its weights change (this module's cache)."""
    entry = _entry(model)
    nets = entry.setdefault("float32", {})
    if k not in nets:
        nets[k] = Float32Net(_weights(model), k, entry.setdefault("float32_direct", {}))
    return nets[k]


# ---------------------------------------------------------------------------------------------
# Public API.

def logit_gradient(model, image, index: int, mask=None) -> np.ndarray:
    """d logit_index / d x at x = image under mask `mask` (None: the model's current one),
    float32 (D,): how much each pixel moves pixel index's log-odds, the gradient autograd
    would give. Zero wherever the masks leave no path to output index."""
    mask = _resolve_mask(model, mask)
    if mask == "ensemble":
        raise ValueError("mask must be None or a mask index for a gradient, got 'ensemble'")
    D = model.D
    index = check_int("index", index, 0, D - 1)
    x = np.asarray(image, dtype=np.float32)
    if x.shape != (D,):
        raise ValueError(f"image must have shape ({D},), got {x.shape}")
    return float32_net(model, mask).gradient(x, index)


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


def _resolve_mask(model, mask):
    if mask is None:
        return model.mask_index
    if isinstance(mask, str):
        if mask == "ensemble":
            return "ensemble"
        raise ValueError(f"mask must be None, 'ensemble' or a mask index in"
                         f" 0..{model.num_masks - 1}, got {mask!r}")
    if not is_int(mask) or not 0 <= mask < model.num_masks:
        raise ValueError(f"mask must be None, 'ensemble' or a mask index in"
                         f" 0..{model.num_masks - 1}, got {mask!r}")
    return int(mask)


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
        plan = _network(model, k, fast=True)
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
    mask = _resolve_mask(model, mask)
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
        if method == "fast":
            x, group_logits, count = _network(model, k, fast=True).run_many(
                noise[rows][:, order], forced, forced_values)
        else:
            x, group_logits, count = _run_naive(_network(model, k, fast=False),
                                                noise[rows][:, order], forced, forced_values)
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

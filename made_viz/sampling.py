"""Sampling from a MADE: a naive reference sampler, a fast incremental one, and SamplingRun.

The rule. Every pixel has its own uniform u_d, and pixel d is 1 exactly when u_d < p_d, where
p_d = sigmoid(logit_d) = p(x_d = 1 | x_<d). The samplers test the equivalent
logit(u_d) < logit_d, with logit(u) = log(u) - log1p(-u) computed once per pixel in float64
(the same up to that one rounding, about 1e-16), because in that form the test can be decided
exactly. Both samplers compute logit_d in float64 together with a rigorous bound on its
rounding error (the standard |fl(sum) - sum| <= gamma_K * sum |terms| for a K-term dot product,
in any summation order, carried through the layers). When logit(u_d) is farther from logit_d
than that bound, the float comparison is certainly right; otherwise (the bound is about 1e-13
wide, so this almost never happens) the pixel is decided with exact integer arithmetic on the
same weights. Every decision is therefore the one exact arithmetic would make, whatever order
BLAS summed in, so "fast" and "naive" give identical images for identical uniforms: always, not
almost always. The probabilities they report agree to about 1e-13.

The weights are the model's masked weights in float64. The first layer's weights and biases are
snapped to a grid of 2^-g (g about 40; no weight moves by more than 2^-(g+1), far below float32
resolution) chosen so that every partial sum of a row is exact in float64: the first layer's
pre-activations are then exact in both samplers, and the fast sampler can add one weight column
per drawn pixel without any drift.

The fast sampler sorts hidden units by degree. A unit of degree m sees only pixels of degree
<= m, so it is final once those are drawn, and output d needs only units and pixels of degree
< m(d). Each step therefore costs one dot product over a prefix of a state vector laid out by
degree (bias, then per degree: last-layer units, then the pixel), one column added to the
first layer's pre-activations, and the units that just became final: deeper layers are computed
once per unit, not once per pixel. The naive sampler runs one full forward pass per pixel.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
import torch

METHODS = ("fast", "naive")
MAX_SAMPLES = 100_000
_UNIT_ROUNDOFF = 2.0 ** -53


def logistic_noise(uniforms: np.ndarray) -> np.ndarray:
    """logit(u) in float64: pixel d is 1 exactly when logistic_noise(u_d) < logit_d."""
    uniforms = np.asarray(uniforms, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(uniforms) - np.log1p(-uniforms)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


# ---------------------------------------------------------------------------------------------
# Exact arithmetic for the rare pixels whose float decision is not certain.

def _dyadic(values) -> tuple[np.ndarray, int]:
    """float64 array -> (object array of Python ints, e) with values == ints * 2**e exactly."""
    values = np.asarray(values, dtype=np.float64)
    mantissas, exponents = np.frexp(values)
    ints = (mantissas * 2.0 ** 53).astype(np.int64)  # exact: a float64 mantissa has 53 bits
    exponents = exponents.astype(np.int64) - 53
    nonzero = ints != 0
    low = int(exponents[nonzero].min()) if nonzero.any() else 0
    shifts = np.where(nonzero, exponents - low, 0)
    out = np.empty(values.shape, dtype=object)
    out.reshape(-1)[:] = [i << s for i, s in zip(ints.reshape(-1).tolist(),
                                                  shifts.reshape(-1).tolist())]
    return out, low


def _align(a, a_exp: int, b, b_exp: int):
    """Two dyadic values (ints or int arrays) brought to one exponent."""
    e = min(a_exp, b_exp)
    return a * (1 << (a_exp - e)), b * (1 << (b_exp - e)), e


# ---------------------------------------------------------------------------------------------
# One mask's network as the samplers compute it.

class _Net:
    """A MADE with one mask, in float64 numpy, in the model's own layout (the naive sampler).

    hidden[l] = (W, b) masked; the first layer snapped to its exact grid. c is the output bias,
    out_W the masked output weights (D, H_L), direct_W the masked direct weights (D, D) or zeros.
    """

    def __init__(self, model, k: int):
        masks = model.mask_sets[k]
        self.D, self.order, self.masks = model.D, np.asarray(masks.order), masks

        def array(tensor):
            return tensor.detach().cpu().to(torch.float64).numpy()

        self.hidden = [(array(layer.weight) * mask, array(layer.bias))
                       for layer, mask in zip(model.hidden, masks.layer_masks)]
        D = self.D
        self.c = np.zeros(D)
        self.out_W = np.zeros((D, 0))
        if model.output is not None:
            self.out_W = array(model.output.weight) * masks.layer_masks[-1]
            self.c += array(model.output.bias)
        self.direct_W = np.zeros((D, D))
        if model.direct_layer is not None:
            self.direct_W = array(model.direct_layer.weight) * masks.direct_mask
            if model.direct_layer.bias is not None:
                self.c += array(model.direct_layer.bias)
        if self.hidden:
            W1, b1 = self.hidden[0]
            # Every partial sum of a row stays below 2^(53-g), so sums of grid values are exact.
            row_sum = float((np.abs(b1) + np.abs(W1).sum(axis=1)).max())
            g = 51 - (math.ceil(math.log2(row_sum)) if row_sum > 0 else 0)
            self.grid_bits = g
            self.hidden[0] = (np.round(W1 * 2.0 ** g) * 2.0 ** -g, np.round(b1 * 2.0 ** g) * 2.0 ** -g)
        fan_in = max([D + 1, 1 + self.out_W.shape[1] + D] + [W.shape[1] + 1 for W, _ in self.hidden])
        # Factor 2 covers the rounding of the bound computations themselves.
        self.gamma = 2.0 * (fan_in + 2) * _UNIT_ROUNDOFF
        self.hidden_abs = [(np.abs(W), np.abs(b)) for W, b in self.hidden]
        self._exact_layers = None

    @property
    def depth(self) -> int:
        return len(self.hidden)

    def forward(self, x: np.ndarray):
        """Logits (n, D) of 0/1 images x (n, D), and (h_L, e_L): last hidden layer, error bound."""
        h, err = x, None
        for l, (W, b) in enumerate(self.hidden):
            a = h @ W.T + b
            if l:  # the first layer is exact on its grid; deeper ones carry a bound
                W_abs, b_abs = self.hidden_abs[l]
                q = self.gamma * h if err is None else self.gamma * h + err
                err = q @ W_abs.T + self.gamma * b_abs
            h = np.maximum(a, 0.0)
        logits = h @ self.out_W.T + x @ self.direct_W.T + self.c
        return logits, h, err

    def logit_bound(self, d: int, x: np.ndarray, h: np.ndarray, err) -> np.ndarray:
        """Bound on |computed logit_d - exact logit_d| for each row, from forward's (h, err)."""
        V_abs = np.abs(self.out_W[d])
        bound = self.gamma * (abs(self.c[d]) + h @ V_abs + x @ np.abs(self.direct_W[d]))
        if err is not None:
            bound = bound + err @ V_abs
        return bound

    def exact_logit(self, image: np.ndarray, d: int) -> tuple[int, int]:
        """logit_d of a 0/1 image (pixels after d may hold anything), exactly: (int, exponent)."""
        x = np.asarray(image, dtype=np.float64)
        if self.hidden:
            W1, b1 = self.hidden[0]
            h, h_exp = _dyadic(np.maximum(x @ W1.T + b1, 0.0))  # exact on the grid
            if self._exact_layers is None:
                self._exact_layers = [(_dyadic(W), _dyadic(b)) for W, b in self.hidden[1:]]
            for (W, W_exp), (b, b_exp) in self._exact_layers:
                a, bias, a_exp = _align(W.dot(h), W_exp + h_exp, b, b_exp)
                h, h_exp = np.maximum(a + bias, 0), a_exp
            V, V_exp = _dyadic(self.out_W[d])
            hidden_part, hidden_exp = int(V.dot(h)), V_exp + h_exp
        else:
            hidden_part, hidden_exp = 0, 0
        Wd, Wd_exp = _dyadic(self.direct_W[d])
        direct_part = int(Wd.dot(np.asarray(image, dtype=np.int64).astype(object)))
        c, c_exp = _dyadic(self.c[d:d + 1])
        s1, s2, e = _align(hidden_part, hidden_exp, direct_part, Wd_exp)
        s12, c0, e = _align(s1 + s2, e, int(c[0]), c_exp)
        return s12 + c0, e

    def exact_decision(self, image: np.ndarray, d: int, noise: float) -> bool:
        """Is logistic noise < logit_d, decided exactly?"""
        if noise == -np.inf:
            return True
        if noise == np.inf:
            return False
        logit, logit_exp = self.exact_logit(image, d)
        t, t_exp = _dyadic(np.array([noise]))
        t_int, logit_int, _ = _align(int(t[0]), t_exp, logit, logit_exp)
        return t_int < logit_int


class _FastPlan:
    """A _Net rearranged by degree for the incremental sampler (see the module docstring)."""

    def __init__(self, net: _Net):
        D, order, masks = net.D, net.order, net.masks
        self.net, self.D, self.depth, self.gamma = net, D, net.depth, net.gamma
        perms = [np.argsort(deg, kind="stable") for deg in masks.hidden_degrees]
        sorted_degrees = [deg[p] for deg, p in zip(masks.hidden_degrees, perms)]
        # count_le[l][m]: units of hidden layer l with degree <= m, for m = 0..D
        count_le = [np.searchsorted(sd, np.arange(D + 1), side="right") for sd in sorted_degrees]
        steps = np.arange(D)
        if self.depth:
            W1, b1 = net.hidden[0]
            self.first_columns = np.ascontiguousarray(W1[perms[0]][:, order].T)  # (D, H1)
            self.first_bias = b1[perms[0]]
            # the pixel drawn at step s (degree s+1) reaches units of degree >= s+1
            self.first_start = count_le[0][:D].tolist()
        self.deeper = []
        for l in range(1, self.depth):
            W, b = net.hidden[l]
            W = W[perms[l]][:, perms[l - 1]]
            self.deeper.append((np.ascontiguousarray(W.T), b[perms[l]],
                                np.ascontiguousarray(np.abs(W).T), np.abs(b[perms[l]])))
        # The state vector z: z[0] = 1 (bias), then for degree m = 1..D the last hidden layer's
        # units of degree m and the pixel of degree m. Output s reads the prefix of degree <= s.
        last_le = count_le[-1] if self.depth else np.zeros(D + 1, dtype=np.int64)
        H_last = net.out_W.shape[1]
        self.z_size = 1 + H_last + D
        self.z_pixel = (1 + last_le[1:] + steps).tolist()
        self.prefix = (1 + last_le[:D] + steps).tolist()
        z_hidden = np.arange(H_last) + (sorted_degrees[-1] if self.depth else 0)
        R = np.zeros((D, self.z_size))
        R[:, 0] = net.c[order]
        if H_last:
            R[:, z_hidden] = net.out_W[order][:, perms[-1]]
        R[:, self.z_pixel] = net.direct_W[order][:, order]
        if (R * (np.arange(self.z_size)[None, :] >= np.asarray(self.prefix)[:, None])).any():
            raise AssertionError("masks are not autoregressive in their own ordering")
        self.output_rows = np.ascontiguousarray(np.stack([R, np.abs(R)], axis=-1))  # (D, K, 2)
        # finalize[s]: units that become final once step s is drawn (degree m = s + 1), per
        # layer as (lo, hi, inputs): sorted rows lo..hi, which read the layer below's first
        # `inputs` units. The last layer's block sits at z[lo + m : hi + m].
        self.finalize = []
        for s in range(D):
            m = s + 1
            blocks = [(int(cl[m - 1]), int(cl[m]), int(count_le[l - 1][m]) if l else 0)
                      for l, cl in enumerate(count_le)] if m < D else []
            self.finalize.append(blocks if any(lo < hi for lo, hi, _ in blocks) else [])

    def run(self, noise: np.ndarray, forced: np.ndarray | None, forced_values: np.ndarray | None):
        """Draw n images. noise, forced, forced_values: (n, D) in generation order.

        Returns (x, logits, exact_count): x bool (n, D) and logits (n, D) in generation order.
        """
        n, D = noise.shape
        net, gamma, depth = self.net, self.gamma, self.depth
        z = np.zeros((n, self.z_size))
        z[:, 0] = 1.0
        deep = depth >= 2
        if deep:  # zq: per-entry error allowance, gamma * value + propagated error
            zq = np.zeros((n, self.z_size))
            zq[:, 0] = gamma
            hidden = [np.zeros((n, len(b))) for b in [self.first_bias] + [b for _, b, _, _ in self.deeper]]
            hidden_q = [np.zeros_like(h) for h in hidden]
        if depth:
            a1 = np.repeat(self.first_bias[None, :], n, axis=0)
        x_all = np.zeros((n, D), dtype=bool)
        logits = np.empty((n, D))
        forced_until = int(forced.sum(axis=1).max()) if forced is not None else 0
        exact_count = 0
        rows, prefix, z_pixel = self.output_rows, self.prefix, self.z_pixel
        for s in range(D):
            k = prefix[s]
            out = z[:, :k] @ rows[s, :k]
            logit = out[:, 0]
            bound = zq[:, :k] @ rows[s, :k, 1] if deep else gamma * out[:, 1]
            diff = noise[:, s] - logit
            x = diff < 0
            unsure = np.abs(diff) <= bound
            if s < forced_until:
                x = np.where(forced[:, s], forced_values[:, s], x)
                unsure &= ~forced[:, s]
            if unsure.any():
                for i in np.flatnonzero(unsure):
                    image = np.zeros(D)
                    image[net.order[:s]] = x_all[i, :s]
                    x[i] = net.exact_decision(image, int(net.order[s]), float(noise[i, s]))
                    exact_count += 1
            x_all[:, s] = x
            logits[:, s] = logit
            z[:, z_pixel[s]] = x
            if deep:
                zq[:, z_pixel[s]] = gamma * x
            if not depth or s + 1 == D:
                continue
            lo = self.first_start[s]
            if x.any():
                np.add(a1[:, lo:], self.first_columns[s, lo:], out=a1[:, lo:], where=x[:, None])
            blocks = self.finalize[s]
            if not blocks:
                continue
            m = s + 1
            if not deep:
                lo, hi, _ = blocks[0]
                if lo < hi:
                    np.maximum(a1[:, lo:hi], 0.0, out=z[:, lo + m:hi + m])
                continue
            lo, hi, _ = blocks[0]
            np.maximum(a1[:, lo:hi], 0.0, out=hidden[0][:, lo:hi])
            np.multiply(hidden[0][:, lo:hi], gamma, out=hidden_q[0][:, lo:hi])
            for l in range(1, depth):
                lo, hi, inputs = blocks[l]
                if lo == hi:
                    continue
                W_T, b, W_abs_T, b_abs = self.deeper[l - 1]
                a = hidden[l - 1][:, :inputs] @ W_T[:inputs, lo:hi] + b[lo:hi]
                err = hidden_q[l - 1][:, :inputs] @ W_abs_T[:inputs, lo:hi] + gamma * b_abs[lo:hi]
                h = np.maximum(a, 0.0)
                if l + 1 < depth:
                    hidden[l][:, lo:hi] = h
                    hidden_q[l][:, lo:hi] = gamma * h + err
                else:
                    z[:, lo + m:hi + m] = h
                    zq[:, lo + m:hi + m] = gamma * h + err
        return x_all, logits, exact_count


def _run_naive(net: _Net, noise: np.ndarray, forced, forced_values):
    """The reference: one full forward pass per pixel, in the model's own layout."""
    n, D = noise.shape
    images = np.zeros((n, D))
    x_all = np.zeros((n, D), dtype=bool)
    logits = np.empty((n, D))
    exact_count = 0
    for s, d in enumerate(net.order.tolist()):
        all_logits, h, err = net.forward(images)
        logit = all_logits[:, d]
        diff = noise[:, s] - logit
        x = diff < 0
        unsure = np.abs(diff) <= net.logit_bound(d, images, h, err)
        if forced is not None:
            x = np.where(forced[:, s], forced_values[:, s], x)
            unsure &= ~forced[:, s]
        for i in np.flatnonzero(unsure):
            x[i] = net.exact_decision(images[i], d, float(noise[i, s]))
            exact_count += 1
        images[:, d] = x
        x_all[:, s] = x
        logits[:, s] = logit
    return x_all, logits, exact_count


# ---------------------------------------------------------------------------------------------
# Plans are cached per model and mask, and rebuilt when the weights change.

_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _weights_key(model) -> tuple:
    return tuple((p.data_ptr(), p._version) for p in model.parameters()) + tuple(
        id(ms) for ms in model.mask_sets)


def _network(model, k: int, fast: bool):
    key = _weights_key(model)
    entry = _cache.get(model)
    if entry is None or entry["key"] != key:
        entry = {"key": key, "nets": {}, "plans": {}}
        _cache[model] = entry
    with torch.inference_mode():
        if k not in entry["nets"]:
            entry["nets"][k] = _Net(model, k)
        if fast and k not in entry["plans"]:
            entry["plans"][k] = _FastPlan(entry["nets"][k])
    return entry["plans"][k] if fast else entry["nets"][k]


# ---------------------------------------------------------------------------------------------
# Public API.

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


def _check_count(n) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"n must be a whole number in 1..{MAX_SAMPLES}, got {n!r}")
    if not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"n must be in 1..{MAX_SAMPLES}, got {n}")
    return int(n)


def _check_seed(seed, allow_none: bool = True):
    if seed is None and allow_none:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0{' or None' if allow_none else ''},"
                         f" got {seed!r}")
    return int(seed)


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
        which = f" (row {rows[row] if rows is not None else row})" if len(observed) > 1 else ""
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
    if isinstance(mask, (bool, np.bool_)) or not isinstance(mask, (int, np.integer)) \
            or not 0 <= mask < model.num_masks:
        raise ValueError(f"mask must be None, 'ensemble' or a mask index in"
                         f" 0..{model.num_masks - 1}, got {mask!r}")
    return int(mask)


def _ensemble_masks(model, rng, n: int, given) -> np.ndarray:
    """One mask per image. Without observed pixels uniformly; with them from the posterior
    p(k | x_obs) proportional to p_k(x_obs), which makes the draw exact for the mixture's
    conditional p(x_rest | x_obs) = sum_k p(k | x_obs) p_k(x_rest | x_obs)."""
    K = model.num_masks
    if given is None or not (given >= 0).any():
        return rng.integers(K, size=n)
    observed = given >= 0
    log_weights = np.empty((n, K))
    for k in range(K):
        net = _network(model, k, fast=False)
        _check_prefix(observed, net.order, k)
        logits, _, _ = net.forward((given == 1).astype(np.float64))
        per_pixel = -_softplus(np.where(given == 1, -logits, logits))
        log_weights[:, k] = np.where(observed, per_pixel, 0.0).sum(axis=1)
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
    n = _check_count(n)
    seed = _check_seed(seed)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    mask = _resolve_mask(model, mask)
    D = model.D
    given = None if given is None else _check_given(given, n, D)
    rng = np.random.default_rng(seed)
    uniforms = rng.random((n, D)) if uniforms is None else _check_uniforms(uniforms, n, D)
    masks = (_ensemble_masks(model, rng, n, given) if mask == "ensemble"
             else np.full(n, mask, dtype=np.int64))
    noise = logistic_noise(uniforms)
    images = np.empty((n, D), dtype=np.uint8)
    logits = np.empty((n, D))
    given_counts = np.zeros(n, dtype=np.int64)
    exact = 0
    for k in np.unique(masks).tolist():
        rows = np.flatnonzero(masks == k)
        net = _network(model, k, fast=False)
        order = net.order
        forced = forced_values = None
        if given is not None:
            observed = given[rows] >= 0
            given_counts[rows] = _check_prefix(observed, order, k, rows)
            if observed.any():
                forced, forced_values = observed[:, order], given[rows][:, order] == 1
        if method == "fast":
            x, group_logits, count = _network(model, k, fast=True).run(
                noise[rows][:, order], forced, forced_values)
        else:
            x, group_logits, count = _run_naive(net, noise[rows][:, order], forced, forced_values)
        if not np.isfinite(group_logits).all():
            raise ValueError("the model produced non-finite logits; its weights are not usable")
        images[np.ix_(rows, order)] = x
        logits[np.ix_(rows, order)] = group_logits
        exact += count
    return Samples(images, logits, uniforms, masks.astype(np.int64), given_counts, exact)


def sample(model, n: int, *, uniforms=None, seed=None, mask=None, given=None,
           method: str = "fast") -> np.ndarray:
    """n images, uint8 (n, D). Pixel d is 1 exactly when uniforms[:, d] < p(x_d = 1 | x_<d)."""
    return sample_with_probs(model, n, uniforms=uniforms, seed=seed, mask=mask, given=given,
                             method=method).images


def _check_steps(name: str, value, high: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number in 0..{high}, got {value!r}")
    if not 0 <= value <= high:
        raise ValueError(f"{name} must be in 0..{high}, got {value}")
    return int(value)


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
        position = _check_steps("position", position, self.D)
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
        k = _check_steps("k", k, self.D)
        moved = min(k, self.D - self._position)
        self._position += moved
        return moved

    def back(self, k: int = 1) -> int:
        """Undo the last k pixels, or back to the start; return how many were undone."""
        k = _check_steps("k", k, self.D)
        moved = min(k, self._position - self.start)
        self._position -= moved
        return moved

    def seek(self, position: int) -> None:
        if isinstance(position, (bool, np.bool_)) or not isinstance(position, (int, np.integer)) \
                or not self.start <= position <= self.D:
            raise ValueError(f"position must be a whole number in {self.start}..{self.D},"
                             f" got {position!r}")
        self._position = int(position)

    def finish(self) -> None:
        self._position = self.D

    def reset(self) -> None:
        self._position = self.start

    def __repr__(self) -> str:
        return (f"SamplingRun(seed={self.seed}, mask={self.mask}, position={self._position}"
                f"/{self.D}, log_likelihood={self.log_likelihood:.2f})")

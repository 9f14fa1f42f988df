"""Exact sampling decisions: the rounding-error bound of a float64 logit, the first layer's
exact grid, and the exact-arithmetic fallback. NumPy only.

Why they exist. A sampler draws pixel d as 1 exactly when logit(u_d) < logit_d (see
made_viz.sampling). Its float64 logit_d can be off from the exact one, and by how much depends
on the order its terms were summed in, which differs between the naive sampler (full forward
passes, BLAS's order) and the fast one (prefix dot products by degree). A pixel whose noise lies
that close to its logit could then be drawn 1 by one sampler and 0 by the other, and by neither
as exact arithmetic would.

The bound. Each output has a rigorous bound on the rounding error of its float64 logit, valid
for any 0/1 input image and any summation order: the standard |fl(sum) - sum| <= gamma_K *
sum|terms| for K terms, carried through the layers with the largest values the layers can take
(`error_bound`). When logit(u_d) is farther from logit_d than that bound the float comparison
is certainly right.

The grid. The first layer's weights and biases are snapped to a grid of 2^-g (g about 40; no
weight moves by more than 2^-(g+1), far below float32 resolution) chosen so that every partial
sum of a row is exact in float64 (`snap_to_grid`): first-layer pre-activations are then exact in
both samplers, whatever pixels are on and in whatever order they are summed.

The fallback. Otherwise (the bound is below 1e-10 for the bundled model, so this almost never
happens) the pixel is decided from the same float64 weights in exact integers
(`ExactLogits.decide`): every float64 is an integer times a power of two, and sums, products,
ReLU and the comparison are exact on those. Both samplers therefore make the one decision exact
arithmetic makes, whatever order BLAS summed in.
"""
from __future__ import annotations

import math

import numpy as np

_UNIT_ROUNDOFF = 2.0 ** -53


def snap_to_grid(W1: np.ndarray, b1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first layer (W1, b1) on its exact grid: W1 is snapped in place (it must be the
    caller's own float64 copy), b1 into a new array. Every partial sum of a row then stays
    below 2^(53-g), so sums of grid values are exact."""
    row_sum = float((np.abs(b1) + _abs_row_sums(W1)).max())
    scale = 2.0 ** (51 - (math.ceil(math.log2(row_sum)) if row_sum > 0 else 0))
    W1 *= scale  # powers of two: exact, in place
    np.round(W1, out=W1)
    W1 /= scale
    return W1, np.round(b1 * scale) / scale


def error_bound(hidden, c, out_W, direct_W) -> np.ndarray:
    """Per output, a bound on the rounding error of its float64 logit, for every 0/1 image,
    from a mask's float64 masked weights (network.masked_weights: hidden [(W, b)], output bias
    c, out_W, direct_W; the first layer on its grid).

    largest: the largest |value| each unit can take (the network with |weights|); error: the
    rounding error each unit can carry. A K-term dot product summed in any order is within
    gamma_K * sum|terms| of exact; gamma is doubled to cover these sums' own rounding.
    """
    D = len(c)
    fan_in = max([D + 1, 1 + out_W.shape[1] + D] + [W.shape[1] + 1 for W, _ in hidden])
    gamma = 2.0 * (fan_in + 2) * _UNIT_ROUNDOFF
    largest, error = np.ones(D), np.zeros(D)  # the pixels: 0 or 1, exact
    if not hidden:  # then the output reads no hidden units
        largest, error = np.zeros(0), np.zeros(0)
    for l, (W, b) in enumerate(hidden):
        b_abs = np.abs(b)
        reach, error_in, largest_in = _abs_times(W, [largest + error, error, largest])
        error = error_in + (gamma * (reach + b_abs) if l else 0.0)  # the first layer is exact
        largest = largest_in + b_abs
    from_error, reach = _abs_times(out_W, [error, largest + error])
    direct_sum, = _abs_times(direct_W, [np.ones(D)])
    bound = from_error + gamma * (np.abs(c) + reach + direct_sum)
    return bound * 1.01


def _abs_row_blocks(W: np.ndarray):
    """(lo, |W[lo:lo + k]|) for blocks of rows, in one reused buffer: |W| is never built whole
    (a 4000-unit layer's would be 25 MB of fresh memory on the first page's path)."""
    step = max(1, (1 << 17) // max(1, W.shape[1]))
    block = np.empty((min(step, W.shape[0]), W.shape[1]))
    for lo in range(0, W.shape[0], step):
        yield lo, np.abs(W[lo:lo + step], out=block[:min(step, W.shape[0] - lo)])


def _abs_row_sums(W: np.ndarray) -> np.ndarray:
    """np.abs(W).sum(axis=1), the same numbers (each row is summed alone either way)."""
    out = np.empty(W.shape[0])
    for lo, rows in _abs_row_blocks(W):
        rows.sum(axis=1, out=out[lo:lo + len(rows)])
    return out


def _abs_times(W: np.ndarray, vectors: list[np.ndarray]) -> list[np.ndarray]:
    """|W| @ v for each v, a block of rows at a time."""
    V = np.column_stack(vectors) if W.shape[1] else np.zeros((0, len(vectors)))
    out = np.empty((W.shape[0], len(vectors)))
    for lo, rows in _abs_row_blocks(W):
        np.matmul(rows, V, out=out[lo:lo + len(rows)])
    return list(out.T)


class ExactLogits:
    """One mask's logits in exact dyadic arithmetic, from the float64 masked weights that the
    samplers use (network.masked_weights; the first layer lies on its exact grid)."""

    def __init__(self, hidden, c, out_W, direct_W):
        self.hidden, self.c, self.out_W, self.direct_W = hidden, c, out_W, direct_W

    def logit(self, image: np.ndarray, d: int) -> tuple[int, int]:
        """logit_d of a 0/1 image exactly, as (int, exponent): int * 2**exponent."""
        on = np.flatnonzero(image)
        if self.hidden:
            W1, b1 = self.hidden[0]
            h, h_exp = _dyadic(np.maximum(b1 + W1[:, on].sum(axis=1), 0.0))  # exact on the grid
            for W, b in self.hidden[1:]:  # rare enough not to keep these conversions around
                (W_int, W_exp), (b_int, b_exp) = _dyadic(W), _dyadic(b)
                a, bias, a_exp = _align(W_int.dot(h), W_exp + h_exp, b_int, b_exp)
                h, h_exp = np.maximum(a + bias, 0), a_exp
            V, V_exp = _dyadic(self.out_W[d])
            hidden_part, hidden_exp = int(V.dot(h)), V_exp + h_exp
        else:
            hidden_part, hidden_exp = 0, 0
        Wd, Wd_exp = _dyadic(self.direct_W[d])
        direct_part = int(sum(Wd[on].tolist()))
        c, c_exp = _dyadic(self.c[d:d + 1])
        s1, s2, e = _align(hidden_part, hidden_exp, direct_part, Wd_exp)
        total, c0, e = _align(s1 + s2, e, int(c[0]), c_exp)
        return total + c0, e

    def decide(self, image: np.ndarray, d: int, noise: float) -> bool:
        """noise < logit_d, decided exactly; image holds the pixels drawn before d (0 elsewhere)."""
        if noise == -np.inf or noise == np.inf:
            return noise < 0
        logit, logit_exp = self.logit(image, d)
        t, t_exp = _dyadic(np.array([noise]))
        t_int, logit_int, _ = _align(int(t[0]), t_exp, logit, logit_exp)
        return t_int < logit_int


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

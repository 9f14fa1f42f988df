"""The fast sampler's plan for one mask: a state vector laid out by degree, and a schedule of
when each hidden unit is final. NumPy only.

A hidden unit of degree m sees only pixels of degree <= m, so it is final once those are drawn,
and output d reads only units and pixels of degree < m(d). Each unit is therefore computed
once, when it becomes final (a first-layer unit as one dot product of its weight row with the
pixels drawn so far), and each step costs one dot product of output d's weight row with a prefix
of a state vector laid out by degree: the bias, then for each degree the last hidden layer's
units of that degree and the pixel of that degree. made_viz.sampling draws with it; a pixel
whose float test is unsure is decided by made_viz.exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .exact import ExactLogits, error_bound
from .masks import MaskSet, masks_from_degrees

NOT_AUTOREGRESSIVE = "these masks are not autoregressive in their own ordering"


@dataclass
class _DegreeOrder:
    """Each hidden layer's units sorted by degree: perms[l] sorts layer l, sorted_degrees[l]
    are its degrees in that order, count_le[l][m] counts its units of degree <= m (m = 0..D)."""
    perms: list[np.ndarray]
    sorted_degrees: list[np.ndarray]
    count_le: list[np.ndarray]

    @classmethod
    def of(cls, masks: MaskSet) -> "_DegreeOrder":
        perms = [np.argsort(deg, kind="stable") for deg in masks.hidden_degrees]
        sorted_degrees = [deg[p] for deg, p in zip(masks.hidden_degrees, perms)]
        count_le = [np.searchsorted(sd, np.arange(masks.D + 1), side="right")
                    for sd in sorted_degrees]
        return cls(perms, sorted_degrees, count_le)


@dataclass
class _StateLayout:
    """Where the fast sampler keeps everything an output reads: the state vector z, with z[0] = 1
    (for the bias), then for degree m = 1..D the last hidden layer's units of degree m followed
    by the pixel of degree m (drawn at step m - 1). Output s reads a prefix of z, all of degree
    <= s: output_rows[s] is its weight row over that prefix; z_pixel[s] is where step s's pixel
    goes."""
    z_size: int
    z_pixel: list[int]
    output_rows: list[np.ndarray]

    @classmethod
    def of(cls, by_degree: _DegreeOrder, order: np.ndarray, c, out_W, direct_W) -> "_StateLayout":
        D = len(order)
        last_le = by_degree.count_le[-1] if by_degree.count_le else np.zeros(D + 1, dtype=np.int64)
        steps = np.arange(D)
        H_last = out_W.shape[1]
        z_size = 1 + H_last + D
        z_pixel = (1 + last_le[1:] + steps).tolist()
        prefix = 1 + last_le[:D] + steps  # output s reads degrees <= s
        # Row s is written straight into its slice of one buffer: every slot of a prefix is the
        # bias, a hidden unit of degree <= s or a pixel drawn before step s, so nothing is left
        # unwritten, and no (D, z_size) matrix is ever built (a first page waits for this).
        perm = by_degree.perms[-1] if H_last else np.zeros(0, dtype=np.int64)
        hidden_at = np.arange(H_last) + (by_degree.sorted_degrees[-1] if H_last else 0)
        c_in_order = c[order]
        pixel_at = np.asarray(z_pixel)
        flat = np.empty(int(prefix.sum()))
        ends = np.cumsum(prefix).tolist()
        output_rows = []
        for s, (end, k) in enumerate(zip(ends, prefix.tolist())):
            d, n_hidden = int(order[s]), int(last_le[s])
            out_row, direct_row = out_W[d], direct_W[d]
            if out_row[perm[n_hidden:]].any():  # a unit of degree >= m(d): not in the prefix
                raise AssertionError(NOT_AUTOREGRESSIVE)
            row = flat[end - k:end]
            row[0] = c_in_order[s]
            row[hidden_at[:n_hidden]] = out_row[perm[:n_hidden]]
            row[pixel_at[:s]] = direct_row[order[:s]]
            output_rows.append(row)
        return cls(z_size, z_pixel, output_rows)


@dataclass
class _Schedule:
    """When each hidden unit is computed: a unit of degree m sees only pixels of degree <= m, so
    it is final once step m - 1 is drawn. Each layer reads a vector with a leading 1 (for the
    bias): the pixels in generation order for the first layer, the layer below sorted by degree
    otherwise (input_sizes[l] long; the last layer writes into z). finalize[s] lists the blocks
    of units final after step s, as (layer, weights, inputs read, destination lo..hi); only the
    weights a unit can use are kept, about half of each matrix."""
    input_sizes: list[int]
    finalize: list[list[tuple]]

    @classmethod
    def of(cls, by_degree: _DegreeOrder, order: np.ndarray, hidden) -> "_Schedule":
        D, depth, perms, count_le = len(order), len(hidden), by_degree.perms, by_degree.count_le
        # Each block is gathered straight from the layer's weights (no sorted copy of the whole
        # matrix first): its units' rows, the inputs they can read, the bias in front.
        columns = [order if l == 0 else perms[l - 1] for l in range(depth)]
        finalize = [[] for _ in range(D)]
        for s in range(D - 1):  # nothing is read after the last step
            m = s + 1
            for l, le in enumerate(count_le):
                lo, hi = int(le[m - 1]), int(le[m])
                if lo < hi:
                    inputs = 1 + (m if l == 0 else int(count_le[l - 1][m]))
                    offset = m if l == depth - 1 else 1
                    W, b = hidden[l]
                    units = perms[l][lo:hi]
                    block = np.empty((hi - lo, inputs))
                    block[:, 0] = b[units]
                    block[:, 1:] = W[np.ix_(units, columns[l][:inputs - 1])]
                    finalize[s].append((l, block, inputs, lo + offset, hi + offset))
        return cls([1 + W.shape[1] for W, _ in hidden], finalize)


def _check_follows_degrees(masks: MaskSet) -> None:
    """The fast sampler computes a hidden unit once the pixels up to its degree are drawn, and
    reads only those: an edited mask that lets a unit read beyond its degree (which may still
    be autoregressive, if the unit only reaches later outputs) would be drawn from wrongly."""
    by_rule = masks_from_degrees(masks.order, masks.hidden_degrees,
                                 direct=masks.direct_mask is not None)
    hidden_layers = len(masks.hidden_degrees)
    for l, (mask, allowed) in enumerate(zip(masks.layer_masks[:hidden_layers],
                                            by_rule.layer_masks)):
        if np.any(mask > allowed):
            raise ValueError(f"hidden layer {l + 1} of these edited masks reads beyond its units'"
                             " degrees; the fast sampler cannot draw from them"
                             " (method='naive' can)")


class FastPlan:
    """One mask's incremental sampler (module docstring): its layout, its schedule, and the
    error bounds that say when a pixel needs the exact fallback.

    weights: called once, after the masks are checked, for the mask's float64 masked weights
    (network.masked_weights), which the plan reads and does not keep. exact: gives the mask's
    ExactLogits, called only when a pixel needs them."""

    def __init__(self, masks: MaskSet, weights: Callable[[], tuple],
                 exact: Callable[[], ExactLogits]):
        if masks.edited:
            _check_follows_degrees(masks)
        hidden, c, out_W, direct_W = weights()
        # Output d reads pixels the ordering lets it see (MaskSet.may_see) and last-layer units
        # of lower degree (checked as the layout is built); masks that break this have no order.
        if np.logical_and(direct_W != 0, ~masks.may_see()).any():
            raise AssertionError(NOT_AUTOREGRESSIVE)
        self.D, self.order, self.depth = masks.D, np.asarray(masks.order), len(hidden)
        self.exact = exact
        by_degree = _DegreeOrder.of(masks)
        self.layout = _StateLayout.of(by_degree, self.order, c, out_W, direct_W)
        self.schedule = _Schedule.of(by_degree, self.order, hidden)
        self.error_bound = error_bound(hidden, c, out_W, direct_W)[self.order].tolist()

    def decide_exactly(self, z: np.ndarray, s: int, noise: float) -> bool:
        """Step s for the image whose state vector is z, decided by the exact fallback."""
        image = np.zeros(self.D)
        image[self.order[:s]] = z[self.layout.z_pixel[:s]]
        return self.exact().decide(image, int(self.order[s]), noise)

    def _start(self, n: int | None):
        """Fresh buffers: z, and what each layer reads (both with a leading 1); shape (size,)
        for one image, (size, n) for n."""
        shape = () if n is None else (n,)
        z = np.zeros((self.layout.z_size, *shape))
        inputs = [np.zeros((size, *shape)) for size in self.schedule.input_sizes]
        for v in [z, *inputs]:
            v[0] = 1.0
        return z, inputs, inputs[1:] + [z]

    def run_many(self, noise: np.ndarray, forced: np.ndarray | None, forced_values,
                 steps: int | None = None):
        """Draw n images. noise, forced, forced_values: (n, D) in generation order (forced None
        when no pixel is observed). Returns (x bool, logits, exact_count), (n, D) each; with
        `steps`, only the first steps are drawn (the rest of x and logits is 0).

        The schedule is walked once for all images: each step draws its pixel (_one_image or
        _images), then computes the hidden units that pixel made final."""
        n, D = noise.shape
        z, inputs, outputs = self._start(None if n == 1 else n)
        pixels = inputs[0] if self.depth else None
        draw, result = (_one_image if n == 1 else _images)(self, noise, forced, forced_values, z,
                                                           pixels)
        finalize = self.schedule.finalize
        for s in range(D if steps is None else steps):
            draw(s)
            for l, W, n_in, lo, hi in finalize[s]:
                np.maximum(W @ inputs[l][:n_in], 0.0, out=outputs[l][lo:hi])
        return result()


# How a step draws its pixel: the logit from the prefix of z, then forced while observed, else
# noise < logit, decided exactly when the float test is within the error bound; the pixel goes
# into z and into the first layer's input. Closures over everything a step reads: the
# per-step cost is what a sampler of one digit spends its time on.

def _one_image(plan: FastPlan, noise, forced, forced_values, z, pixels):
    """One image: z is a vector and each logit a Python float (as a column of one, numpy's
    per-call cost several times a step would double the time). Returns (step, result)."""
    noise = noise[0].tolist()
    forced_count = int(forced[0].sum()) if forced is not None else 0
    forced_values = forced_values[0] if forced is not None else None
    rows, z_pixel, bounds = plan.layout.output_rows, plan.layout.z_pixel, plan.error_bound
    logits, exact_count = [], 0

    def step(s: int) -> None:
        nonlocal exact_count
        row = rows[s]
        logit = float(row @ z[:len(row)])
        logits.append(logit)
        if s < forced_count:
            x = forced_values[s]
        else:
            diff = noise[s] - logit
            if -bounds[s] <= diff <= bounds[s]:
                x = plan.decide_exactly(z, s, noise[s])
                exact_count += 1
            else:
                x = diff < 0
        if x:
            z[z_pixel[s]] = 1.0
            if pixels is not None:
                pixels[s + 1] = 1.0

    def result():
        all_logits = np.zeros(len(z_pixel))
        all_logits[:len(logits)] = logits
        return (z[z_pixel] == 1.0)[None], all_logits[None], exact_count

    return step, result


def _images(plan: FastPlan, noise, forced, forced_values, z, pixels):
    """n images at once, a column of z each; the exact fallback only for the images that need
    it (rare: the whole column is tested first). Returns (step, result)."""
    n, D = noise.shape
    noise = np.ascontiguousarray(noise.T)
    logits = np.zeros((D, n))
    forced_until = int(forced.sum(axis=1).max()) if forced is not None else 0
    if forced_until:
        forced, forced_values = forced.T, forced_values.T
    rows, z_pixel, bounds = plan.layout.output_rows, plan.layout.z_pixel, plan.error_bound
    exact_count = 0

    def step(s: int) -> None:
        nonlocal exact_count
        row, logit = rows[s], logits[s]
        np.matmul(row, z[:len(row)], out=logit)
        diff = noise[s] - logit
        x = diff < 0
        if s < forced_until:
            x = np.where(forced[s], forced_values[s], x)
        if np.abs(diff).min() <= bounds[s]:  # rare: then find which images and decide them
            unsure = np.abs(diff) <= bounds[s]
            if s < forced_until:
                unsure &= ~forced[s]
            for i in np.flatnonzero(unsure).tolist():
                x[i] = plan.decide_exactly(z[:, i], s, float(noise[s, i]))
                exact_count += 1
        z[z_pixel[s]] = x
        if pixels is not None:
            pixels[s + 1] = x

    def result():
        return (z[z_pixel] == 1.0).T, logits.T, exact_count

    return step, result

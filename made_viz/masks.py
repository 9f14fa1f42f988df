"""MADE masks: degrees, layer masks and connectivity. NumPy only.

Every unit gets a degree. Input i gets its 1-based position in the ordering. A hidden unit gets
an integer in [min degree of the layer below, D-1]: below that minimum it would connect to
nothing, and a unit of degree D could reach no output, since no output has a degree above D.
A hidden weight is kept when m(unit) >= m(source), an output weight when m(output) > m(source).
Output d carries the degree of input d, so it can only see inputs that come strictly before it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .validation import check_hidden_sizes, check_int, check_order

MAX_D = 4096
MAX_MASK_BYTES = 512 * 2**20
ORDERINGS = ("natural", "reverse", "random", "columns")
# "random": each hidden degree drawn uniformly from its range, as in the paper (Germain et al.).
# "equal": degrees spread evenly over their range, as TFP and pyro do; a layer of at least D-1
# units then holds every degree, so no unit is dead and output k sees all k-1 inputs before it.
DEGREE_RULES = ("random", "equal")

# Above this many inputs the exact big-integer path counts would be too slow to be useful.
_MAX_D_FOR_BIG_COUNTS = 1024


def make_order(D: int, ordering="natural", rng: np.random.Generator | None = None) -> np.ndarray:
    """The generation order: a permutation of range(D), order[0] drawn first."""
    if isinstance(ordering, str):
        if ordering == "natural":
            return np.arange(D)
        if ordering == "reverse":
            return np.arange(D)[::-1].copy()
        if ordering == "random":
            return (rng or np.random.default_rng(0)).permutation(D)
        if ordering == "columns":
            side = int(round(D ** 0.5))
            if side * side != D:
                raise ValueError(f"ordering 'columns' needs D to be a square number, got D={D}")
            return np.arange(D).reshape(side, side).T.ravel()
        raise ValueError(f"ordering must be one of {', '.join(ORDERINGS)} or a permutation,"
                         f" got {ordering!r}")
    return check_order(ordering, D)


def hidden_layer_degrees(D: int, size: int, low: int, rule: str,
                         rng: np.random.Generator) -> np.ndarray:
    """Degrees of one hidden layer of `size` units, in [low, D-1] (just `low` when D = 1)."""
    high = max(low, D - 1)
    if rule == "random":
        return rng.integers(low, high + 1, size=size)
    if rule == "equal":
        return low + (np.arange(size) * (high - low + 1)) // size
    raise ValueError(f"hidden degrees must be one of {', '.join(DEGREE_RULES)}, got {rule!r}")


def degree_sort(degrees: np.ndarray) -> np.ndarray:
    """Unit indices sorted by degree (stable): the generation order of that layer."""
    return np.argsort(degrees, kind="stable")


@dataclass(eq=False)
class MaskSet:
    """The degrees and masks of one MADE. Masks have torch Linear's (out, in) shape, uint8."""

    D: int
    hidden_sizes: tuple[int, ...]
    order: np.ndarray
    input_degrees: np.ndarray
    hidden_degrees: list[np.ndarray]
    layer_masks: list[np.ndarray]
    direct_mask: np.ndarray | None
    # True when the masks no longer follow from the degrees (made_viz.tiny.break_masks): the
    # path counts then come from the masks themselves, so a broken mask shows as broken.
    edited: bool = False
    _connectivity: np.ndarray | None = field(default=None, repr=False)

    @property
    def direct(self) -> bool:
        return self.direct_mask is not None

    def connectivity(self) -> np.ndarray:
        """[o, i] = number of paths from input i to output o (a direct weight counts one).

        int64 when the count provably fits, exact Python integers (object dtype) otherwise.
        Computed on degree classes rather than by multiplying the masks: a unit's connections
        depend only on its degree, so each layer is a cumulative sum over D degree values.
        Edited masks follow no degrees: their counts are the product of the masks.
        """
        if self._connectivity is None:
            dtype = self._count_dtype()
            self._connectivity = (self._multiply_masks(dtype) if self.edited
                                  else self._count_paths(dtype))
        return self._connectivity

    def _count_dtype(self):
        bound = int(np.prod([int(h) for h in self.hidden_sizes], dtype=object)) + 1
        if bound < 2**62:
            return np.int64
        if self.D <= _MAX_D_FOR_BIG_COUNTS:
            return object
        raise OverflowError(
            f"path counts can reach {bound:.3e}, beyond int64, and exact big-integer counts"
            f" are limited to D <= {_MAX_D_FOR_BIG_COUNTS} (got D={self.D})")

    def _multiply_masks(self, dtype) -> np.ndarray:
        """W_(L+1) ... W_2 W_1 (+ the direct mask): paths counted through the masks as they are."""
        counts = np.zeros((self.D, self.D), dtype=dtype)
        if self.layer_masks:
            counts = self.layer_masks[0].astype(dtype)
            for mask in self.layer_masks[1:]:
                counts = mask.astype(dtype) @ counts
        if self.direct:
            counts = counts + self.direct_mask.astype(dtype)
        return counts

    def _count_paths(self, dtype) -> np.ndarray:
        D = self.D
        # paths[v, a]: paths from an input of degree a to a unit of degree v in the current layer.
        # Updated in place: at D = 4096 each of these arrays is 134 MB.
        paths = np.eye(D + 1, dtype=dtype)
        for degrees in self.hidden_degrees:
            units_per_degree = np.bincount(degrees, minlength=D + 1).astype(dtype)
            np.cumsum(paths, axis=0, out=paths)  # m(unit) >= m(source)
            paths *= units_per_degree[:, None]
        deg = self.input_degrees
        if self.hidden_degrees:
            np.cumsum(paths, axis=0, out=paths)
            counts = paths[np.ix_(deg - 1, deg)]  # m(output) > m(source): rows up to m - 1
        else:
            counts = np.zeros((D, D), dtype=dtype)
        if self.direct:
            counts += deg[:, None] > deg[None, :]
        return counts

    def connectivity_in_generation_order(self) -> np.ndarray:
        """Rows and columns permuted into the ordering: strictly lower-triangular."""
        return self.connectivity()[np.ix_(self.order, self.order)]

    def may_see(self) -> np.ndarray:
        """[o, i] True where output o may depend on input i: x_i comes strictly before x_o in
        the ordering. The autoregressive rule, written once; every check asks it."""
        return self.input_degrees[None, :] < self.input_degrees[:, None]

    def forbidden_paths(self) -> np.ndarray:
        """[o, i] True where a path runs from x_i to output o although the ordering forbids it."""
        return (np.asarray(self.connectivity()) != 0) & ~self.may_see()

    def is_autoregressive(self) -> bool:
        """True when no output depends on itself or on an input after it in the ordering."""
        return not self.forbidden_paths().any()

    def paths_through(self, layer: int, selected: np.ndarray):
        """Units and weights on some input-to-output path through the `selected` units of `layer`.

        Returns (lit units per column, lit (out, in) weights per layer mask, lit direct weights).
        A weight a->b is on such a path when both ends lead into the selection (below it) or both
        are reached from it (above it); a direct weight only when it starts or ends in it.
        """
        layer_masks = [m.astype(bool) for m in self.layer_masks]
        widths = [self.D, *self.hidden_sizes, self.D]
        last = len(widths) - 1
        up = [np.zeros(w, dtype=bool) for w in widths]
        down = [np.zeros(w, dtype=bool) for w in widths]
        up[layer] = down[layer] = np.asarray(selected, dtype=bool)
        for l in range(min(layer, len(layer_masks)) - 1, -1, -1):  # no masks without hidden layers
            up[l] = (layer_masks[l] & up[l + 1][:, None]).any(axis=0)
        for l in range(layer, len(layer_masks)):
            down[l + 1] = (layer_masks[l] & down[l][None, :]).any(axis=1)
        lit_direct = None
        if self.direct:
            direct = self.direct_mask.astype(bool)
            lit_direct = np.zeros_like(direct)
            if layer == 0:
                lit_direct = direct & up[0][None, :]
                down[last] = down[last] | lit_direct.any(axis=1)
            elif layer == last:
                lit_direct = direct & up[last][:, None]
                up[0] = up[0] | lit_direct.any(axis=0)
        lit_weights = [m & (up[l + 1][:, None] & up[l][None, :] if l + 1 <= layer
                            else down[l + 1][:, None] & down[l][None, :])
                       for l, m in enumerate(layer_masks)]
        return [u | d for u, d in zip(up, down)], lit_weights, lit_direct

    def dead_units(self) -> list[DeadUnit]:
        """Units with no path from any input or to any output, and why.

        Layers are numbered 0 (inputs), 1..L (hidden), L+1 (outputs). The first output in the
        ordering is listed too: it sees no input and models p(x) from its bias alone.
        """
        D, layers = self.D, len(self.hidden_sizes)
        masks = [m.astype(bool) for m in self.layer_masks]
        from_input = [np.ones(D, dtype=bool)]
        for mask in masks:
            from_input.append((mask & from_input[-1][None, :]).any(axis=1))
        to_output = [np.ones(D, dtype=bool)]
        for mask in reversed(masks):
            to_output.insert(0, (mask & to_output[0][:, None]).any(axis=0))
        if not masks:  # no hidden layer: the direct connections are the whole network
            from_input.append(np.zeros(D, dtype=bool))
            to_output.insert(0, np.zeros(D, dtype=bool))
        if self.direct:
            direct = self.direct_mask.astype(bool)
            from_input[-1] = from_input[-1] | direct.any(axis=1)
            to_output[0] = to_output[0] | direct.any(axis=0)
        dead = []
        last = layers + 1
        for layer in range(last + 1):
            degrees = self.layer_degrees(layer)
            for unit in np.flatnonzero(~(from_input[layer] & to_output[layer])):
                m = int(degrees[unit])
                if layer == 0:
                    why = (f"x{unit} is last in the ordering (degree {D}): no output comes after it"
                           if m == D else
                           f"x{unit} (degree {m}) reaches no output: no hidden unit above it has"
                           f" a degree >= {m} on a path to an output")
                elif layer == last:
                    why = ("first in the ordering: p(x%d) sees no input, only its bias" % unit
                           if m == 1 else f"output {unit} (degree {m}) has no path from any input")
                else:
                    why = (f"degree {m}: no unit in the next layer has a degree >= {m}"
                           f" that reaches an output" if m < D else
                           f"degree {m}: no output has a degree above {m}")
                dead.append(DeadUnit(layer, int(unit), m, why))
        return dead

    def layer_degrees(self, layer: int) -> np.ndarray:
        """Degrees of layer 0 (inputs), 1..L (hidden) or L+1 (outputs, same as the inputs)."""
        if layer == 0 or layer == len(self.hidden_sizes) + 1:
            return self.input_degrees
        return self.hidden_degrees[layer - 1]


@dataclass(frozen=True)
class DeadUnit:
    layer: int
    index: int
    degree: int
    reason: str


def mask_bytes(D: int, hidden_sizes: Sequence[int], direct: bool) -> int:
    widths = [D, *hidden_sizes, D] if hidden_sizes else []  # no hidden layer: direct mask only
    return sum(a * b for a, b in zip(widths[:-1], widths[1:])) + (D * D if direct else 0)


def masks_from_degrees(order, hidden_degrees: Sequence[np.ndarray], *, direct: bool) -> MaskSet:
    """Build every mask from an ordering and hidden degrees (what a checkpoint stores)."""
    order = np.asarray(order, dtype=np.int64)
    D = len(order)
    input_degrees = np.empty(D, dtype=np.int64)
    input_degrees[order] = np.arange(1, D + 1)
    hidden_degrees = [np.asarray(d, dtype=np.int64) for d in hidden_degrees]
    hidden_sizes = tuple(len(d) for d in hidden_degrees)
    layer_masks, below = [], input_degrees
    for degrees in hidden_degrees:
        layer_masks.append((degrees[:, None] >= below[None, :]).astype(np.uint8))
        below = degrees
    if hidden_degrees:
        layer_masks.append((input_degrees[:, None] > below[None, :]).astype(np.uint8))
    else:
        direct = True  # with no hidden layer the direct connections are the network
    direct_mask = ((input_degrees[:, None] > input_degrees[None, :]).astype(np.uint8)
                   if direct else None)
    return MaskSet(D, hidden_sizes, order, input_degrees, hidden_degrees, layer_masks, direct_mask)


def build_masks(D: int, hidden_sizes: Sequence[int], *, ordering="natural",
                hidden_degrees: str = "random", seed: int = 0, direct: bool = False) -> MaskSet:
    """The masks of a MADE with inputs 0..D-1 and the given hidden layer sizes.

    ordering: "natural", "reverse", "random" (seeded), "columns" (column-major, D square) or a
    permutation of range(D). hidden_degrees: "random" or "equal" (see DEGREE_RULES). seed drives
    every random choice. With no hidden layer the network is the direct connections alone.
    """
    D = check_int("D", D, 1, MAX_D)
    hidden_sizes = check_hidden_sizes(hidden_sizes)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    if not isinstance(direct, (bool, np.bool_)):
        raise ValueError(f"direct must be True or False, got {direct!r}")
    if not isinstance(hidden_degrees, str) or hidden_degrees not in DEGREE_RULES:
        raise ValueError(f"hidden degrees must be one of {', '.join(DEGREE_RULES)},"
                         f" got {hidden_degrees!r}")
    needed = mask_bytes(D, hidden_sizes, direct or not hidden_sizes)
    if needed > MAX_MASK_BYTES:
        # Exact bytes too: 512.03 MB must not read as "512 MB; the limit is 512 MB".
        raise ValueError(f"these masks would need {needed / 2**20:,.1f} MB ({needed:,} bytes);"
                         f" the limit is {MAX_MASK_BYTES // 2**20} MB ({MAX_MASK_BYTES:,} bytes):"
                         f" reduce D or the hidden sizes")
    rng = np.random.default_rng(seed)
    order = make_order(D, ordering, rng)
    degrees, low = [], 1
    for size in hidden_sizes:
        degrees.append(hidden_layer_degrees(D, size, low, hidden_degrees, rng))
        low = int(degrees[-1].min())
    return masks_from_degrees(order, degrees, direct=direct)

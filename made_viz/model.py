"""MADE in torch: masked linear layers, several masks, exact log-likelihoods and ensembles."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .masks import MaskSet, build_masks, masks_from_degrees
from .validation import check_int


class MaskedLinear(nn.Linear):
    """A Linear whose weight is multiplied by a 0/1 mask of the same (out, in) shape."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        # Not saved with the weights: a checkpoint stores the degrees the masks come from.
        self.register_buffer("mask", torch.ones(out_features, in_features), persistent=False)

    def set_mask(self, mask: np.ndarray) -> None:
        self.mask.copy_(torch.from_numpy(np.asarray(mask, dtype=np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def orderings_per_mask(ordering, num_masks: int) -> list:
    """One ordering spec per mask: a single spec is shared, a list is cycled through."""
    if isinstance(ordering, str):
        return [ordering] * num_masks
    try:
        specs = list(ordering)
    except TypeError:
        raise ValueError("ordering must be a name, a permutation or a list of them,"
                         f" got {ordering!r}") from None
    if not specs:
        raise ValueError("ordering must be a name, a permutation or a list of them, got []")
    if not isinstance(specs[0], (str, Sequence, np.ndarray)):  # one explicit permutation
        return [ordering] * num_masks
    return [specs[k % len(specs)] for k in range(num_masks)]


class MADE(nn.Module):
    """Masked autoencoder over D binary inputs; outputs the logits of p(x_d = 1 | x_<d).

    Mask k has ordering `ordering` (or ordering[k % len] for a list of orderings) and hidden
    degrees drawn with seed `seed + k`. `direct` adds masked input-to-output weights.
    """

    def __init__(self, D: int, hidden_sizes: Sequence[int], *, num_masks: int = 1,
                 ordering="natural", hidden_degrees: str = "random", direct: bool = True,
                 seed: int = 0, mask_sets: Sequence[MaskSet] | None = None):
        super().__init__()
        if mask_sets is None:
            num_masks = check_int("num_masks", num_masks, 1, 1024)
            # Mask k uses seed + k, so the last one must still be a valid seed.
            seed = check_int("seed", seed, 0, 2**32 - num_masks)
            mask_sets = [build_masks(D, hidden_sizes, ordering=spec, hidden_degrees=hidden_degrees,
                                     seed=seed + k, direct=direct)
                         for k, spec in enumerate(orderings_per_mask(ordering, num_masks))]
        self.mask_sets = list(mask_sets)
        if not self.mask_sets:
            raise ValueError("mask_sets must hold at least one MaskSet")
        first = self.mask_sets[0]
        if any((ms.D, ms.hidden_sizes, ms.direct) != (first.D, first.hidden_sizes, first.direct)
               for ms in self.mask_sets):
            raise ValueError("mask_sets must all share D, hidden sizes and direct")
        self.D, self.hidden_sizes, self.direct = first.D, first.hidden_sizes, first.direct
        widths = [self.D, *self.hidden_sizes]
        self.hidden = nn.ModuleList(MaskedLinear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.output = MaskedLinear(widths[-1], self.D) if self.hidden_sizes else None
        self.direct_layer = (MaskedLinear(self.D, self.D, bias=self.output is None)
                             if self.direct else None)
        self.mask_index = 0
        self.set_mask(0)

    @classmethod
    def from_degrees(cls, orders: Sequence, hidden_degrees: Sequence[Sequence], *,
                     direct: bool) -> "MADE":
        """Rebuild a model's masks exactly as stored: one order and degree list per mask."""
        sets = [masks_from_degrees(o, degs, direct=direct)
                for o, degs in zip(orders, hidden_degrees, strict=True)]
        return cls(sets[0].D, sets[0].hidden_sizes, mask_sets=sets)

    @property
    def num_masks(self) -> int:
        return len(self.mask_sets)

    @property
    def masks(self) -> MaskSet:
        return self.mask_sets[self.mask_index]

    def set_mask(self, k: int) -> None:
        self.mask_index = k = check_int("mask", k, 0, self.num_masks - 1)
        masks = self.mask_sets[k]
        layers = [*self.hidden, *([self.output] if self.output is not None else [])]
        for layer, mask in zip(layers, masks.layer_masks):
            layer.set_mask(mask)
        if self.direct_layer is not None:
            self.direct_layer.set_mask(masks.direct_mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for layer in self.hidden:
            h = F.relu(layer(h))
        logits = self.output(h) if self.output is not None else 0
        if self.direct_layer is not None:
            logits = logits + self.direct_layer(x)
        return logits

    def log_prob(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        """log p(x) in nats per row. mask: None (current), k, or "ensemble" over all masks.

        The ensemble averages whole-image probabilities: logsumexp_k log p_k(x) - log K.
        """
        if mask is None:
            return -F.binary_cross_entropy_with_logits(self(x), x, reduction="none").sum(-1)
        if isinstance(mask, str):
            if mask != "ensemble":
                raise ValueError(f"mask must be None, 0..{self.num_masks - 1} or 'ensemble',"
                                 f" got {mask!r}")
            per_mask = torch.stack([self.log_prob(x, k) for k in range(self.num_masks)])
            return torch.logsumexp(per_mask, dim=0) - math.log(self.num_masks)
        current = self.mask_index
        self.set_mask(mask)
        try:
            return self.log_prob(x)
        finally:
            self.set_mask(current)


def jacobian_check(masks: MaskSet, seed: int = 0) -> dict:
    """Check the masks numerically: d logits / d x of a random MADE built on these masks.

    All weights and biases are drawn positive and x >= 0, so every ReLU is active and no two
    paths cancel: the Jacobian is nonzero exactly where the masks leave a path.
    "autoregressive" asks the Jacobian itself: no output moves with its own input or a later
    one in the ordering ("forbidden_nonzero" counts those that do).
    """
    generator = torch.Generator().manual_seed(seed)
    model = MADE(masks.D, masks.hidden_sizes, mask_sets=[masks]).double()
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(0.5 + torch.rand(param.shape, generator=generator, dtype=torch.float64))
    x = torch.rand(masks.D, generator=generator, dtype=torch.float64)
    # Row d of the Jacobian from one backward pass: D copies of x, copy d asked only for its
    # output d (the rows of a batch never mix). Not torch.func.jacrev: that imports
    # torch._dynamo, which a first page would wait for (docs/performance.md), for the same numbers.
    copies = x.expand(masks.D, masks.D).clone().requires_grad_(True)
    model(copies).diagonal().sum().backward()
    jac = copies.grad.numpy()
    nonzero = jac != 0
    paths = masks.connectivity() != 0
    forbidden = ~masks.may_see()
    return {
        "nonzero": int(nonzero.sum()),
        "connected": int(paths.sum()),
        "nonzero_where_unconnected": int((nonzero & ~paths).sum()),
        "zero_where_connected": int((~nonzero & paths).sum()),
        "matches": bool((nonzero == paths).all()),
        "forbidden_nonzero": int((nonzero & forbidden).sum()),
        "autoregressive": not bool((nonzero & forbidden).any()),
    }

"""What the sampler tests share: small MADEs with decisive weights, every binary image, the
model's own logits, fast-against-naive draws, and uniforms placed on their thresholds."""
from __future__ import annotations

import itertools

import numpy as np
import torch

from made_viz import sampling
from tests.conftest import random_made  # noqa: F401 (the sampler tests take it from here)




def all_images(D: int) -> np.ndarray:
    return np.array(list(itertools.product([0, 1], repeat=D)), dtype=np.uint8)


def model_logits(model, images, mask) -> np.ndarray:
    current = model.mask_index
    model.set_mask(mask)
    try:
        with torch.no_grad():
            return model(torch.from_numpy(images.astype(np.float32))).numpy()
    finally:
        model.set_mask(current)


def assert_same_draws(model, n, **kwargs):
    fast = sampling.sample_with_probs(model, n, method="fast", **kwargs)
    naive = sampling.sample_with_probs(model, n, method="naive", **kwargs)
    np.testing.assert_array_equal(fast.images, naive.images)
    np.testing.assert_array_equal(fast.masks, naive.masks)
    np.testing.assert_allclose(fast.logits, naive.logits, rtol=0, atol=1e-9)
    # Both describe the model itself, not just each other.
    for k in np.unique(fast.masks):
        rows = fast.masks == k
        expected = model_logits(model, fast.images[rows], int(k))
        np.testing.assert_allclose(fast.logits[rows], expected, rtol=1e-4, atol=1e-4)
    return fast, naive


CONFIGS = [  # D, hidden sizes, MADE keyword arguments
    (1, [3], dict()),
    (5, [], dict()),
    (6, [], dict(ordering="random")),
    (9, [12], dict(direct=False, ordering="columns")),
    (9, [12], dict(direct=True, ordering="reverse", num_masks=2)),
    (10, [16, 16], dict(direct=True, ordering="random", num_masks=3)),
    (10, [16, 16], dict(direct=False, hidden_degrees="equal")),
    (12, [20, 8, 20], dict(direct=True, ordering="random", num_masks=2)),
    (16, [4, 24, 24], dict(direct=False, ordering=["natural", "reverse", "columns"], num_masks=3)),
]


def tie_uniforms(model, mask=0, seed=0, steps=slice(None), given=None) -> np.ndarray:
    """Uniforms equal to the float probability of the pixels at `steps` of the ordering along
    the digit they produce: every such pixel sits exactly on its threshold."""
    u = np.random.default_rng(seed).random((1, model.D))
    for d in model.mask_sets[mask].order[steps]:
        drawn = sampling.sample_with_probs(model, 1, uniforms=u, mask=mask, given=given)
        u[0, d] = drawn.probs[0, d]
    return u

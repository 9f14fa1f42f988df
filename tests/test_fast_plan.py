"""The fast sampler's plan: it draws exactly what the naive sampler draws, on every mask and
with observed pixels, and refuses masks it cannot draw from."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from made_viz import sampling
from sampling_helpers import CONFIGS, assert_same_draws, random_made


@pytest.mark.parametrize("D, hidden, kwargs", CONFIGS)
@pytest.mark.parametrize("n", [1, 3, 64])
def test_fast_equals_naive_on_every_mask(D, hidden, kwargs, n):
    model = random_made(D, hidden, seed=D + len(hidden), **kwargs)
    for mask in [*range(model.num_masks), "ensemble"]:
        fast, _ = assert_same_draws(model, n, seed=n + D, mask=mask)
        assert fast.exact_decisions == 0  # random uniforms never land within ~1e-12 of p


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(D=st.integers(1, 12), hidden=st.lists(st.integers(1, 16), max_size=3),
       direct=st.booleans(), ordering=st.sampled_from(["natural", "reverse", "random"]),
       degrees=st.sampled_from(["random", "equal"]), num_masks=st.integers(1, 3),
       n=st.integers(1, 64), seed=st.integers(0, 2**16), observed=st.integers(0, 12))
def test_fast_equals_naive_property(D, hidden, direct, ordering, degrees, num_masks, n, seed,
                                    observed):
    model = random_made(D, hidden, seed=seed, direct=direct, ordering=ordering,
                        hidden_degrees=degrees, num_masks=num_masks)
    mask = seed % num_masks
    given_pixels = np.full((n, D), -1)
    rng = np.random.default_rng(seed)
    for row in range(n):  # each row observes its own prefix of the ordering
        first = model.mask_sets[mask].order[:rng.integers(0, min(observed, D) + 1)]
        given_pixels[row, first] = rng.integers(0, 2, size=len(first))
    fast, _ = assert_same_draws(model, n, seed=seed, mask=mask, given=given_pixels)
    kept = given_pixels >= 0
    np.testing.assert_array_equal(fast.images[kept], given_pixels[kept])


@pytest.mark.parametrize("direct", [True, False])
def test_the_fast_sampler_refuses_masks_that_are_not_autoregressive(direct):
    """Masks where an output sees its own pixel (through the hidden layer, or the direct
    weights too) have no generation order: the fast sampler says so instead of drawing."""
    from made_viz import tiny
    from made_viz.masks import build_masks

    broken = tiny.break_masks(build_masks(9, [12], seed=1, direct=direct), "sees-self")
    model = tiny.new_model([broken], seed=0)
    with pytest.raises(AssertionError, match="not autoregressive"):
        sampling.sample(model, 1, seed=0)


def test_the_fast_sampler_refuses_edited_masks_that_read_beyond_a_units_degree():
    """A unit edited to read a pixel after its degree, reaching only later outputs, leaves the
    masks autoregressive, but the fast sampler computes that unit before the pixel is drawn:
    it refuses, with a message naming the layer; the naive sampler still draws exactly."""
    from made_viz import tiny
    from made_viz.masks import build_masks

    masks = build_masks(9, [12], seed=1, direct=True)
    degrees, inputs = masks.hidden_degrees[0], masks.input_degrees
    # a unit of low degree and a pixel just beyond it
    unit = int(np.argmin(degrees))
    pixel = int(np.flatnonzero(inputs == degrees[unit] + 1)[0])
    edited = tiny.break_masks(masks, "flip", layer=0, row=unit, col=pixel)
    assert edited.layer_masks[0][unit, pixel] == 1
    model = tiny.new_model([edited], seed=0)
    with pytest.raises(ValueError, match="hidden layer 1 .*method='naive'"):
        sampling.sample(model, 1, seed=0)
    images = sampling.sample(model, 3, seed=0, method="naive")
    assert images.shape == (3, 9)

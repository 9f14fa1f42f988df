"""Exact decisions: pixels on their thresholds are decided by exact arithmetic, identically
in both samplers; exact arithmetic agrees with every float decision the error bound calls
certain; the bounds hold and stay small."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from made_viz import checkpoint, data, network, sampling
from sampling_helpers import CONFIGS, assert_same_draws, random_made, tie_uniforms


@pytest.mark.parametrize("D, hidden, kwargs", CONFIGS[1:])
def test_uniforms_on_the_threshold_are_decided_exactly_and_identically(D, hidden, kwargs):
    model = random_made(D, hidden, seed=7, **kwargs)
    u = tie_uniforms(model)
    fast, naive = assert_same_draws(model, 1, uniforms=u, mask=0)
    assert fast.exact_decisions >= D // 2 and naive.exact_decisions == fast.exact_decisions


@pytest.mark.parametrize("D, hidden, kwargs", CONFIGS)
def test_exact_arithmetic_agrees_with_every_certain_float_decision(D, hidden, kwargs):
    model = random_made(D, hidden, seed=11, **kwargs)
    expected = sampling.sample_with_probs(model, 16, seed=3, mask=0)
    net = network.prepare(model, 0).reference()
    plan = network.prepare(model, 0).plan()
    saved = net.error_bound, plan.error_bound
    net.error_bound, plan.error_bound = np.full(D, np.inf), [math.inf] * D  # nothing is certain
    try:
        for method in sampling.METHODS:
            forced = sampling.sample_with_probs(model, 16, seed=3, mask=0, method=method)
            assert forced.exact_decisions == 16 * D
            np.testing.assert_array_equal(forced.images, expected.images)
    finally:
        net.error_bound, plan.error_bound = saved


def test_exact_logit_matches_float_logit():
    model = random_made(12, [20, 8, 20], seed=2, ordering="random")
    net = network.prepare(model, 0).reference()
    images = np.random.default_rng(0).integers(0, 2, size=(5, 12)).astype(np.float64)
    logits = net.forward(images)
    for image, row in zip(images, logits):
        for d in range(12):
            value, exponent = net.exact.logit(image, d)
            assert abs(math.ldexp(value, exponent) - row[d]) <= net.error_bound[d]


def test_error_bounds_are_small_on_the_bundled_model():
    """The exact fallback stays rare on the bundled model: pixel d needs it when its logistic
    noise lands within error_bound[d] of the logit, which happens with probability at most
    2 * bound * 1/4 (the logistic density's peak). Summed over a digit's pixels that must stay
    under 1 in 10,000 digits for every mask, or sampling would slow down."""
    model, _ = checkpoint.load_pretrained("mnist")
    for k in range(model.num_masks):
        bound = network.prepare(model, k).reference().error_bound
        assert bound.min() > 0
        assert bound.sum() / 2 < 1e-4, (k, bound.sum() / 2)


def test_bundled_model_fast_equals_naive_even_on_thresholds():
    model, _ = checkpoint.load_pretrained("mnist-orders" if "mnist-orders" in
                                          checkpoint.list_pretrained() else "mnist")
    mask = model.num_masks - 1
    # A real digit's first 734 pixels in this ordering are given (the naive sampler then makes
    # 51 forward passes, not 784); the next 25 sit on their thresholds.
    order = model.mask_sets[mask].order
    given_pixels = np.full(784, -1)
    given_pixels[order[:734]] = data.load_test_subset().images[0, order[:734]]
    u = tie_uniforms(model, mask, steps=slice(734, 759), given=given_pixels)
    fast, naive = assert_same_draws(model, 1, uniforms=u, mask=mask, given=given_pixels)
    assert fast.exact_decisions >= 15 and naive.exact_decisions == fast.exact_decisions
    np.testing.assert_array_equal(fast.images[0, order[:734]], given_pixels[order[:734]])
    with torch.no_grad():
        log_prob = model.log_prob(torch.from_numpy(fast.images.astype(np.float32)), mask=mask)
    np.testing.assert_allclose(fast.log_likelihood, log_prob.numpy(), rtol=1e-5)

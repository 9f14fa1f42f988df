"""The torch-free network: MADEWeights snapshots, and prepared masks (built once, rebuilt
after a torch model's weights change, the same results as unprepared)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from made_viz import network, sampling
from made_viz.masks import build_masks
from sampling_helpers import CONFIGS, model_logits, random_made


@pytest.mark.parametrize("D, hidden, kwargs", CONFIGS)
def test_weights_snapshot_draws_exactly_what_the_model_draws(D, hidden, kwargs):
    model = random_made(D, hidden, **kwargs)
    weights = network.MADEWeights.of(model)
    orders = [ms.order for ms in model.mask_sets]
    shared = max(k for k in range(D // 2 + 1)  # observed pixels come first in every ordering
                 if all(set(o[:k]) == set(orders[0][:k]) for o in orders))
    given = np.full(D, -1)
    given[orders[0][:shared]] = 1
    for mask in range(model.num_masks):
        a = sampling.sample_with_probs(model, 16, seed=5, mask=mask)
        b = sampling.sample_with_probs(weights, 16, seed=5, mask=mask)
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.logits, b.logits)
    for method in sampling.METHODS:
        kwargs = dict(seed=3, mask="ensemble", method=method, given=given)
        np.testing.assert_array_equal(sampling.sample(model, 8, **kwargs),
                                      sampling.sample(weights, 8, **kwargs))
    a, b = sampling.SamplingRun(model, seed=9, mask=model.num_masks - 1), sampling.SamplingRun(
        weights, seed=9, mask=model.num_masks - 1)
    np.testing.assert_array_equal(a.final_image, b.final_image)
    np.testing.assert_array_equal(a.log_likelihood_curve, b.log_likelihood_curve)


def test_weights_snapshot_does_not_follow_later_training():
    model = random_made(6, [8])
    weights = network.MADEWeights.of(model)
    before = sampling.sample(weights, 32, seed=1)
    with torch.no_grad():
        model.output.bias.add_(10.0)  # every pixel now almost surely 1 under the model
    assert sampling.sample(model, 32, seed=1).mean() > 0.95
    np.testing.assert_array_equal(sampling.sample(weights, 32, seed=1), before)
    with pytest.raises(ValueError):
        weights.hidden[0][0][0, 0] = 1.0  # read-only


def test_plans_follow_weight_changes():
    model = random_made(6, [8], seed=0)
    before = sampling.sample_with_probs(model, 4, seed=1)
    with torch.no_grad():
        model.output.bias.add_(2.0)
    after = sampling.sample_with_probs(model, 4, seed=1)
    assert not np.allclose(before.logits, after.logits)
    np.testing.assert_allclose(after.logits, model_logits(model, after.images, 0), atol=1e-5)


# --- prepared masks ---------------------------------------------------------------------------

def test_sampling_made_weights_is_the_networks():
    assert sampling.MADEWeights is network.MADEWeights  # the public name stays where it was


def test_a_prepared_mask_is_built_once_and_kept():
    weights = network.MADEWeights.of(random_made(8, [12, 12], num_masks=2, ordering="random"))
    prepared = network.prepare(weights, 1)
    assert prepared.index == 1 and prepared.masks is weights.mask_sets[1]
    assert prepared.built == frozenset()  # nothing is built until asked for
    drawn = sampling.sample_with_probs(weights, 4, seed=2, mask=1)
    assert network.prepare(weights, 1) is prepared and prepared.built == {"plan"}
    plan = prepared.plan()
    sampling.sample(weights, 4, seed=3, mask=1)
    sampling.sample(weights, 4, seed=3, mask=1, method="naive")
    assert prepared.plan() is plan and prepared.built == {"plan", "reference"}
    gradient = sampling.logit_gradient(weights, drawn.images[0], 5, 1)
    net = prepared.float32()
    assert prepared.float32() is net and prepared.connectivity() is prepared.connectivity()
    assert prepared.built == set(network.PARTS)
    np.testing.assert_array_equal(net.gradient(drawn.images[0].astype(np.float32), 5), gradient)
    assert set(network.STORE.prepared(weights)) == {1}  # mask 0 was never asked for
    again = network.prepare(weights, 0, parts=("plan", "float32"))
    assert again.built == {"plan", "float32"} and set(network.STORE.prepared(weights)) == {0, 1}


def test_a_prepared_mask_is_rebuilt_after_the_weights_change():
    model = random_made(6, [8], seed=0, num_masks=2)
    prepared = network.prepare(model, 0, parts=("plan",))
    before = sampling.sample_with_probs(model, 4, seed=1)
    assert network.prepare(model, 0) is prepared
    with torch.no_grad():
        model.output.bias.add_(2.0)  # in place: the same tensor, a new version
    assert network.STORE.prepared(model) == {}  # nothing prepared holds for these weights
    fresh = network.prepare(model, 0)
    assert fresh is not prepared and fresh.built == frozenset()
    with pytest.raises(ValueError, match="weights have changed; prepare the mask again"):
        prepared.float32()  # the old one builds nothing from the new weights
    after = sampling.sample_with_probs(model, 4, seed=1)
    assert not np.allclose(before.logits, after.logits)
    np.testing.assert_allclose(after.logits, model_logits(model, after.images, 0), atol=1e-5)
    assert fresh.plan() is network.prepare(model, 0).plan()
    model.mask_sets[1] = build_masks(6, [8], seed=5, direct=True)  # a mask set replaced
    assert network.prepare(model, 0) is not fresh  # the model's masks are prepared anew


@pytest.mark.parametrize("D, hidden, kwargs", CONFIGS)
def test_prepared_results_equal_unprepared_ones(D, hidden, kwargs):
    """Preparing up front changes when the parts are built, never what comes out."""
    from made_viz import likelihood

    model = random_made(D, hidden, seed=D, **kwargs)
    fresh, ready = network.MADEWeights.of(model), network.MADEWeights.of(model)
    for k in range(model.num_masks):
        network.prepare(ready, k, parts=network.PARTS)
    images = np.random.default_rng(D).integers(0, 2, (5, D)).astype(np.uint8)
    for mask in [*range(model.num_masks), "ensemble"]:
        for method in sampling.METHODS:
            a = sampling.sample_with_probs(fresh, 8, seed=4, mask=mask, method=method)
            b = sampling.sample_with_probs(ready, 8, seed=4, mask=mask, method=method)
            np.testing.assert_array_equal(a.images, b.images)
            np.testing.assert_array_equal(a.logits, b.logits)
        np.testing.assert_array_equal(likelihood.log_prob(fresh, images, mask=mask),
                                      likelihood.log_prob(ready, images, mask=mask))
    for k in range(model.num_masks):
        network.STORE.forget(fresh)
        np.testing.assert_array_equal(sampling.logit_gradient(fresh, images[0], D - 1, k),
                                      sampling.logit_gradient(ready, images[0], D - 1, k))
        np.testing.assert_array_equal(network.prepare(ready, k).connectivity(),
                                      model.mask_sets[k].connectivity())


def test_prepared_masks_go_with_their_model():
    import gc
    import weakref

    weights = network.MADEWeights.of(random_made(6, [8], seed=0))
    sampling.sample(weights, 2, seed=0, method="naive")
    prepared = weakref.ref(network.prepare(weights, 0, parts=network.PARTS))
    assert prepared() is not None
    del weights
    gc.collect()
    assert prepared() is None  # the store holds models weakly, and a plan holds no cycle


def test_prepare_refuses_what_is_not_a_mask_or_a_part():
    weights = network.MADEWeights.of(random_made(6, [8], seed=0, num_masks=2))
    with pytest.raises(ValueError, match=r"mask must be a mask index in 0\.\.1, got 2"):
        network.prepare(weights, 2)
    with pytest.raises(ValueError, match="parts must be among plan, reference, float32, paths"):
        network.prepare(weights, 0, parts=("gradients",))

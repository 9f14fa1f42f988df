"""Samplers: the rule, the right distribution, seeds and masks, completion, ensembles,
SamplingRun, gradients, and no torch. (Fast against naive: test_fast_plan.py; exact decisions:
test_exact.py; MADEWeights and prepared masks: test_network.py.)"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from made_viz import checkpoint, sampling
from sampling_helpers import CONFIGS, all_images, assert_same_draws, random_made


def test_pixel_is_one_exactly_when_uniform_below_its_probability():
    model = random_made(10, [16, 16], seed=4, ordering="random")
    drawn = sampling.sample_with_probs(model, 64, seed=1)
    u, p = drawn.uniforms, drawn.probs
    certain = np.abs(u - p) > 1e-12
    assert certain.mean() > 0.99
    np.testing.assert_array_equal(drawn.images[certain] == 1, (u < p)[certain])


# --- the distribution ----------------------------------------------------------------------

def assert_frequencies(images, probabilities, N):
    states = all_images(images.shape[1])
    counts = (images[:, None, :] == states[None, :, :]).all(axis=2).sum(axis=0)
    sigma = np.sqrt(probabilities * (1 - probabilities) / N)
    assert np.all(np.abs(counts / N - probabilities) <= 5 * sigma + 1e-4), (
        counts / N, probabilities)


@pytest.mark.parametrize("hidden, direct", [([], True), ([6], True), ([6], False), ([5, 5], True)])
def test_draws_follow_the_model_distribution(hidden, direct):
    model = random_made(3, hidden, seed=5, direct=direct, ordering="random")
    N = 40_000
    images = sampling.sample(model, N, seed=123)
    with torch.no_grad():
        p = model.log_prob(torch.from_numpy(all_images(3).astype(np.float32))).exp().numpy()
    assert abs(p.sum() - 1) < 1e-5
    assert_frequencies(images, p, N)


def test_ensemble_draws_follow_the_mixture():
    model = random_made(3, [6], seed=9, num_masks=3,
                        ordering=[[0, 1, 2], [2, 1, 0], [1, 2, 0]])
    N = 60_000
    drawn = sampling.sample_with_probs(model, N, seed=4, mask="ensemble")
    with torch.no_grad():
        p = model.log_prob(torch.from_numpy(all_images(3).astype(np.float32)),
                           mask="ensemble").exp().numpy()
    assert_frequencies(drawn.images, p, N)
    assert np.all(np.abs(np.bincount(drawn.masks, minlength=3) / N - 1 / 3) < 0.01)


def test_completion_follows_the_conditional():
    model = random_made(3, [6], seed=6, ordering=[2, 0, 1])
    N = 40_000
    images = sampling.sample(model, N, seed=8, given=np.array([-1, -1, 1]))
    assert (images[:, 2] == 1).all()
    with torch.no_grad():
        p = model.log_prob(torch.from_numpy(all_images(3).astype(np.float32))).exp().numpy()
    p = np.where(all_images(3)[:, 2] == 1, p, 0)
    assert_frequencies(images, p / p.sum(), N)


def test_ensemble_completion_follows_the_mixture_conditional():
    # Both orderings start with pixel 0, so observing it is a prefix for either mask.
    model = random_made(3, [6], seed=3, num_masks=2, ordering=[[0, 1, 2], [0, 2, 1]])
    N = 60_000
    images = sampling.sample(model, N, seed=2, mask="ensemble", given=np.array([0, -1, -1]))
    with torch.no_grad():
        p = model.log_prob(torch.from_numpy(all_images(3).astype(np.float32)),
                           mask="ensemble").exp().numpy()
    p = np.where(all_images(3)[:, 0] == 0, p, 0)
    assert_frequencies(images, p / p.sum(), N)


# --- masks, seeds, uniforms ----------------------------------------------------------------

def test_ensemble_masks_come_from_the_seed_and_each_image_matches_its_mask():
    model = random_made(9, [12], seed=1, num_masks=4, ordering="random")
    first = sampling.sample_with_probs(model, 40, seed=17, mask="ensemble")
    again = sampling.sample_with_probs(model, 40, seed=17, mask="ensemble")
    other = sampling.sample_with_probs(model, 40, seed=18, mask="ensemble")
    np.testing.assert_array_equal(first.masks, again.masks)
    np.testing.assert_array_equal(first.images, again.images)
    assert set(first.masks.tolist()) == {0, 1, 2, 3}
    assert (first.masks != other.masks).any()
    # the seed's stream gives the uniforms first, so they do not depend on the mask choice
    np.testing.assert_array_equal(first.uniforms, sampling.sample_with_probs(
        model, 40, seed=17, mask=2).uniforms)
    for i in range(0, 40, 7):
        alone = sampling.sample(model, 1, uniforms=first.uniforms[i:i + 1],
                                mask=int(first.masks[i]))
        np.testing.assert_array_equal(alone[0], first.images[i])


def test_sampling_leaves_the_model_mask_alone():
    model = random_made(9, [12], seed=1, num_masks=3, ordering="random")
    model.set_mask(2)
    current = sampling.sample(model, 5, seed=3)
    for mask in (0, 1, "ensemble"):
        sampling.sample(model, 5, seed=3, mask=mask, method="naive")
        sampling.sample(model, 5, seed=3, mask=mask)
        assert model.mask_index == 2
    np.testing.assert_array_equal(current, sampling.sample(model, 5, seed=3, mask=2))
    assert all(p.grad is None for p in model.parameters())


def test_same_seed_same_images_and_explicit_uniforms():
    model = random_made(8, [10], seed=0)
    a = sampling.sample(model, 6, seed=5)
    np.testing.assert_array_equal(a, sampling.sample(model, 6, seed=5))
    u = np.random.default_rng(5).random((6, 8))
    np.testing.assert_array_equal(a, sampling.sample(model, 6, uniforms=u))
    assert a.dtype == np.uint8 and a.shape == (6, 8) and set(np.unique(a)) <= {0, 1}
    assert not np.array_equal(a, sampling.sample(model, 6, seed=6))
    # u = 0 always draws a 1 and u = 1 a 0, whatever p is
    np.testing.assert_array_equal(sampling.sample(model, 1, uniforms=np.zeros((1, 8))), 1)
    np.testing.assert_array_equal(sampling.sample(model, 1, uniforms=np.ones((1, 8))), 0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=0), r"n must be in 1\.\.100000, got 0"),
    (dict(n=2.5), r"n must be a whole number"),
    (dict(seed=-1), r"seed must be >= 0, got -1"),
    (dict(seed=1.0), r"seed must be a whole number >= 0, got 1.0"),
    (dict(method="slow"), r"method must be one of fast, naive, got 'slow'"),
    (dict(mask=3), r"mask must be .* 0\.\.2, got 3"),
    (dict(mask=-1), r"mask must be .* 0\.\.2, got -1"),
    (dict(mask="mixture"), r"mask must be None, 'ensemble' or a mask index in 0\.\.2"),
    (dict(uniforms=np.zeros((2, 5))), r"uniforms must have shape \(n, D\) = \(2, 6\)"),
    (dict(uniforms=np.full((2, 6), 1.5)),
     r"uniforms must be in \[0, 1\]; uniforms\[0, 0\] is 1\.5"),
    (dict(uniforms=np.full((2, 6), np.nan)), r"uniforms must be in \[0, 1\]"),
    (dict(given=np.zeros(5)), r"given must have shape \(D,\) = \(6,\)"),
    (dict(given=np.array([0, 1, 2, -1, -1, -1])), r"given\[2\] is 2"),
    (dict(given=np.ones(6, dtype=bool)), r"given must hold integers"),
])
def test_bad_arguments_are_refused_with_the_range(kwargs, message):
    model = random_made(6, [8], seed=0, num_masks=3)
    arguments = dict(n=2, seed=0) | kwargs
    with pytest.raises(ValueError, match=message):
        sampling.sample(model, arguments.pop("n"), **arguments)


def test_non_finite_weights_are_refused():
    model = random_made(6, [8], seed=0)
    with torch.no_grad():
        model.hidden[0].weight[2, 0] = float("nan")
    with pytest.raises(ValueError, match="weights are not all finite"):
        sampling.sample(model, 1, seed=0)


# --- completion ----------------------------------------------------------------------------

def test_completion_keeps_observed_pixels_and_agrees_with_naive():
    model = random_made(16, [24, 24], seed=3, ordering="columns")
    order = model.mask_sets[0].order
    given_pixels = np.full(16, -1)
    given_pixels[order[:6]] = [1, 0, 1, 1, 0, 0]
    fast, _ = assert_same_draws(model, 32, seed=2, given=given_pixels)
    assert (fast.images[:, order[:6]] == [1, 0, 1, 1, 0, 0]).all()
    assert (fast.given_counts == 6).all()
    assert len({row.tobytes() for row in fast.images}) > 1  # the rest is drawn
    # Without the observed pixels the same uniforms draw the same rest only by chance: the
    # observed ones must feed the conditionals.
    free = sampling.sample_with_probs(model, 32, seed=2)
    assert not np.allclose(free.logits[:, order[6:]], fast.logits[:, order[6:]])


def test_non_prefix_observations_are_refused():
    model = random_made(20, [8], seed=0)  # natural order
    given_pixels = np.full(20, -1)
    given_pixels[[0, 1, 2, 17]] = 1
    with pytest.raises(ValueError, match="pixel 17 is observed but pixel 3, before it in the"
                                         " ordering, is not"):
        sampling.sample(model, 2, seed=0, given=given_pixels)
    rows = np.full((3, 20), -1)
    rows[2, 5] = 0
    with pytest.raises(ValueError, match=r"mask 0 \(row 2\); pixel 5 is observed but pixel 0"):
        sampling.sample(model, 3, seed=0, given=rows)


def test_ensemble_completion_needs_a_prefix_of_every_ordering():
    model = random_made(6, [8], seed=0, num_masks=2, ordering=["natural", "reverse"])
    given_pixels = np.array([1, -1, -1, -1, -1, -1])
    sampling.sample(model, 2, seed=0, given=given_pixels, mask=0)
    with pytest.raises(ValueError, match="ordering of mask 1; pixel 0 is observed but pixel 5"):
        sampling.sample(model, 2, seed=0, given=given_pixels, mask="ensemble")


# --- SamplingRun ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundled():
    return checkpoint.load_pretrained("mnist")[0]


def test_sampling_run_state_machine(bundled):
    run = sampling.SamplingRun(bundled, seed=3, mask=0)
    D = 784
    np.testing.assert_array_equal(run.order, bundled.mask_sets[0].order)
    np.testing.assert_array_equal(run.final_image, sampling.sample(bundled, 1, seed=3, mask=0)[0])
    assert run.position == 0 and not run.done and run.log_likelihood == 0
    assert run.next_index == run.order[0] and run.image.sum() == 0 and not run.drawn.any()
    assert run.next_prob == pytest.approx(run.probs[run.order[0]])
    assert run.step() == 1 and run.position == 1 and run.drawn.sum() == 1
    assert run.step(100) == 100 and run.position == 101
    np.testing.assert_array_equal(run.image, np.where(run.drawn, run.final_image, 0))
    assert run.drawn[run.order[:101]].all()
    assert run.back(10) == 10 and run.position == 91
    steps = np.where(run.final_image[run.order[:91]] == 1, np.log(run.probs[run.order[:91]]),
                     np.log1p(-run.probs[run.order[:91]]))
    assert run.log_likelihood == pytest.approx(steps.sum(), rel=1e-9)
    run.seek(500)
    assert run.position == 500 and run.next_index == run.order[500]
    assert run.step(D) == D - 500 and run.done and run.next_index is None
    assert run.next_prob is None and run.step() == 0
    np.testing.assert_array_equal(run.image, run.final_image)
    with torch.no_grad():
        log_prob = bundled.log_prob(torch.from_numpy(run.final_image[None].astype(np.float32)))
    assert run.log_likelihood == pytest.approx(float(log_prob), rel=1e-5)
    curve = run.log_likelihood_curve
    assert curve.shape == (D + 1,) and curve[0] == 0 and np.all(np.diff(curve) <= 0)
    assert curve[-1] == run.log_likelihood
    run.reset()
    assert run.position == 0 and run.image.sum() == 0
    assert run.back() == 0
    run.finish()
    assert run.done
    run.position = 12
    assert run.position == 12
    np.testing.assert_array_equal(run.image_at(12), run.image)


def test_sampling_run_same_seed_same_digit(bundled):
    a, b = (sampling.SamplingRun(bundled, seed=11, mask=0) for _ in range(2))
    np.testing.assert_array_equal(a.final_image, b.final_image)
    np.testing.assert_array_equal(a.probs, b.probs)
    assert not np.array_equal(a.final_image, sampling.SamplingRun(bundled, seed=12).final_image)


def test_sampling_run_with_given_pixels(bundled):
    given_pixels = np.full(784, -1)
    given_pixels[:300] = np.random.default_rng(0).integers(0, 2, 300)
    run = sampling.SamplingRun(bundled, seed=1, mask=0, given=given_pixels)
    assert run.start == 300 and run.position == 300
    np.testing.assert_array_equal(run.image[:300], given_pixels[:300])
    assert run.image[300:].sum() == 0 and run.drawn[:300].all() and not run.drawn[300:].any()
    assert run.log_likelihood < 0  # the given pixels count
    np.testing.assert_array_equal(run.final_image[:300], given_pixels[:300])
    assert run.back(5) == 0
    run.finish()
    run.reset()
    assert run.position == 300
    with pytest.raises(ValueError, match=r"position must be in 300\.\.784, got 299"):
        run.seek(299)


@pytest.mark.parametrize("call, message", [
    (lambda run: run.step(-1), r"k must be in 0\.\.784, got -1"),
    (lambda run: run.back(-2), r"k must be in 0\.\.784, got -2"),
    (lambda run: run.step(1.5), r"k must be a whole number in 0\.\.784"),
    (lambda run: run.seek(785), r"position must be in 0\.\.784, got 785"),
    (lambda run: run.seek(-1), r"position must be in 0\.\.784, got -1"),
    (lambda run: run.seek(True), r"position must be a whole number in 0\.\.784, got True"),
    (lambda run: run.image_at(800), r"position must be in 0\.\.784, got 800"),
])
def test_sampling_run_bad_arguments(bundled, call, message):
    run = sampling.SamplingRun(bundled, seed=0)
    with pytest.raises(ValueError, match=message):
        call(run)
    assert run.position == 0


def test_sampling_run_bad_construction(bundled):
    K = bundled.num_masks
    with pytest.raises(ValueError, match=rf"mask must be .* 0\.\.{K - 1}, got {K}"):
        sampling.SamplingRun(bundled, seed=0, mask=K)
    with pytest.raises(ValueError, match="seed must be a whole number >= 0"):
        sampling.SamplingRun(bundled, seed=None)


def test_sampling_run_ensemble_picks_its_mask_from_the_seed():
    model = random_made(9, [12], seed=1, num_masks=4, ordering="random")
    masks = {sampling.SamplingRun(model, seed=s, mask="ensemble").mask for s in range(30)}
    assert masks == {0, 1, 2, 3}
    run = sampling.SamplingRun(model, seed=4, mask="ensemble")
    np.testing.assert_array_equal(run.order, model.mask_sets[run.mask].order)
    np.testing.assert_array_equal(
        run.final_image, sampling.sample(model, 1, seed=4, mask="ensemble")[0])
    run.finish()
    with torch.no_grad():
        log_prob = model.log_prob(torch.from_numpy(run.final_image[None].astype(np.float32)),
                                  mask=run.mask)
    assert run.log_likelihood == pytest.approx(float(log_prob), rel=1e-5, abs=1e-5)


# --- gradients, and no torch ---------------------------------------------------------------

@pytest.mark.parametrize("D, hidden, kwargs", CONFIGS + [(7, [9, 6, 5], dict(num_masks=2))])
def test_logit_gradient_is_autograds_gradient(D, hidden, kwargs):
    model = random_made(D, hidden, **kwargs)
    rng = np.random.default_rng(0)
    for mask in range(model.num_masks):
        model.set_mask(mask)
        for _ in range(4):
            image = (rng.random(D) < 0.5).astype(np.uint8)
            x = torch.tensor(image, dtype=torch.float32, requires_grad=True)
            logits = model(x[None])[0]
            for index in range(D):
                (expected,) = torch.autograd.grad(logits[index], x, retain_graph=True)
                for source in (model, sampling.MADEWeights.of(model)):
                    got = sampling.logit_gradient(source, image, index, mask)
                    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-5)
                    unconnected = model.mask_sets[mask].connectivity()[index] == 0
                    assert (got[unconnected] == 0).all()
    model.set_mask(0)


@pytest.mark.parametrize("call, message", [
    (lambda w: sampling.logit_gradient(w, np.zeros(6), 6), r"index must be in 0\.\.5, got 6"),
    (lambda w: sampling.logit_gradient(w, np.zeros(5), 0), r"image must have shape \(6,\)"),
    (lambda w: sampling.logit_gradient(w, np.zeros(6), 0, 2), r"mask must be .* 0\.\.1, got 2"),
    (lambda w: sampling.logit_gradient(w, np.zeros(6), 0, "ensemble"), "for a gradient"),
])
def test_logit_gradient_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call(sampling.MADEWeights.of(random_made(6, [8], num_masks=2)))


def test_sampling_a_bundled_model_never_imports_torch():
    """What the Sampling page's first paint relies on: weights, samplers and gradients, no torch."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from made_viz import checkpoint, sampling\n"
            "weights, _ = checkpoint.load_pretrained_weights('mnist')\n"
            "run = sampling.SamplingRun(weights, seed=3, mask=1)\n"
            "run.step(100)\n"
            "g = sampling.logit_gradient(weights, run.image, run.next_index, 1)\n"
            "assert g.shape == (784,) and (g != 0).any()\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(checkpoint.PRETRAINED_DIR.parent), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"

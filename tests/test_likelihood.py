"""likelihood: per-pixel conditionals against torch's MADE.log_prob, the ensemble against a
direct logsumexp, MNIST-like preparation of synthetic digits, URL round trips, edits."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tests.conftest import random_made
from made_viz import checkpoint, data, likelihood, network, sampling

CONFIGS = [  # D, hidden sizes, MADE keyword arguments
    (5, [], dict()),
    (9, [12], dict(direct=False, ordering="columns")),
    (9, [12], dict(direct=True, ordering="reverse", num_masks=2)),
    (10, [16, 16], dict(direct=True, ordering="random", num_masks=3)),
    (20, [40], dict(direct=True, ordering="random", num_masks=4)),
]




def torch_log_prob(model, images, mask) -> np.ndarray:
    with torch.no_grad():
        return model.log_prob(torch.from_numpy(images.astype(np.float32)), mask).double().numpy()


@pytest.mark.parametrize("D, hidden, kwargs", CONFIGS)
def test_pixel_terms_sum_to_torch_log_prob(D, hidden, kwargs):
    model = random_made(D, hidden, **kwargs)
    images = np.random.default_rng(1).integers(0, 2, size=(40, D)).astype(np.uint8)
    # Both a few images (sums of ink rows) and many (matrix products).
    for batch in (images[:3], images):
        for k in range(model.num_masks):
            for source in (model, sampling.MADEWeights.of(model)):
                terms = likelihood.conditional_log_probs(source, batch, mask=k)
                assert terms.dtype == np.float64 and terms.shape == batch.shape
                assert (terms <= 0).all()
                np.testing.assert_allclose(terms.sum(axis=1), torch_log_prob(model, batch, k),
                                           rtol=0, atol=1e-4)


def test_pixel_terms_are_each_conditional():
    """Term d is log sigmoid(+-logit_d) of torch's own logits, pixel by pixel."""
    model = random_made(10, [16, 16], direct=True, ordering="random", num_masks=2)
    images = np.random.default_rng(2).integers(0, 2, size=(5, 10)).astype(np.uint8)
    model.set_mask(1)
    with torch.no_grad():
        logits = model(torch.from_numpy(images.astype(np.float32))).double().numpy()
    model.set_mask(0)
    p_one = 1 / (1 + np.exp(-logits))
    expected = np.log(np.where(images == 1, p_one, 1 - p_one))
    np.testing.assert_allclose(likelihood.conditional_log_probs(model, images, mask=1), expected,
                               atol=1e-5)


def test_edited_masks_of_one_ordering_keep_their_own_direct_weights():
    """Masks that share an ordering but not a direct mask (one was edited) are scored each with
    its own: whichever is scored first."""
    from made_viz import tiny
    from made_viz.masks import build_masks

    correct = build_masks(9, [12], seed=1, direct=True)
    edited = tiny.break_masks(build_masks(9, [12], seed=2, direct=True), "sees-self")
    model = tiny.new_model([correct, edited], seed=0)
    images = np.random.default_rng(0).integers(0, 2, (5, 9)).astype(np.uint8)
    for k in (0, 1):
        ours = likelihood.log_prob(model, images, mask=k)
        np.testing.assert_allclose(ours, torch_log_prob(model, images, k), atol=1e-4)


def test_scoring_reuses_the_sensitivity_views_float32_weights():
    """The Sampling page's sensitivity view and the Likelihood page's scorer read one float32
    copy of each mask's weights: scoring after a gradient builds nothing new, and both still
    agree with torch."""
    model = random_made(10, [16], direct=True, ordering="random", num_masks=2)
    weights = sampling.MADEWeights.of(model)
    images = np.random.default_rng(4).integers(0, 2, (3, 10)).astype(np.uint8)
    gradient = sampling.logit_gradient(weights, images[0], 5, 1)
    built = network.prepare(weights, 1).float32()
    ours = likelihood.log_prob(weights, images, mask=1)
    assert network.prepare(weights, 1).float32() is built
    # scoring mask 1 built no other
    assert {k for k, p in network.STORE.prepared(weights).items() if "float32" in p.built} == {1}
    np.testing.assert_allclose(ours, torch_log_prob(model, images, 1), atol=1e-4)
    np.testing.assert_array_equal(sampling.logit_gradient(weights, images[0], 5, 1), gradient)


def test_ensemble_is_logsumexp_over_masks():
    model = random_made(20, [40], direct=True, ordering="random", num_masks=4)
    images = np.random.default_rng(3).integers(0, 2, size=(7, 20)).astype(np.uint8)
    per_mask = np.stack([torch_log_prob(model, images, k) for k in range(4)])
    direct = np.log(np.exp(per_mask).mean(axis=0))
    ensemble = likelihood.log_prob(model, images, mask="ensemble")
    np.testing.assert_allclose(ensemble, direct, atol=1e-4)
    np.testing.assert_allclose(ensemble, torch_log_prob(model, images, "ensemble"), atol=1e-4)
    # Never the average of the logits: that is a different (and improper) number.
    model_avg = np.mean([likelihood.log_prob(model, images, k) for k in range(4)], axis=0)
    assert not np.allclose(ensemble, model_avg, atol=1e-3)


def test_ensemble_pixel_terms_are_the_mixtures_conditionals():
    """For masks sharing one ordering: the terms sum to the ensemble's log p(x), and each is
    the mixture's conditional computed by brute force over the two values of x_d."""
    D = 7
    model = random_made(D, [12], direct=True, ordering="reverse", num_masks=3)
    every = ((np.arange(2 ** D)[:, None] >> np.arange(D)) & 1).astype(np.uint8)
    terms = likelihood.ensemble_conditional_log_probs(model, every)
    np.testing.assert_allclose(terms.sum(axis=1), likelihood.log_prob(model, every, "ensemble"),
                               atol=1e-9)
    p = np.exp(likelihood.log_prob(model, every, "ensemble"))
    order = np.asarray(model.mask_sets[0].order)
    image = every[45]
    for step, d in enumerate(order):
        fixed = (every[:, order[:step + 1]] == image[order[:step + 1]]).all(axis=1)
        before = (every[:, order[:step]] == image[order[:step]]).all(axis=1)
        assert terms[45, d] == pytest.approx(math.log(p[fixed].sum() / p[before].sum()), abs=1e-9)
    mixed = random_made(D, [12], ordering="random", num_masks=3)
    with pytest.raises(ValueError, match="share one ordering"):
        likelihood.ensemble_conditional_log_probs(mixed, every[:2])


def test_ensemble_log_prob_is_stable_for_large_values():
    per_mask = np.array([[-1000.0, -5000.0], [-1001.0, -5002.0]])
    expected = [-1000 + math.log((1 + math.exp(-1)) / 2), -5000 + math.log((1 + math.exp(-2)) / 2)]
    np.testing.assert_allclose(likelihood.ensemble_log_prob(per_mask), expected)


def test_every_distribution_sums_to_one():
    """Over all 2^D images, each mask's probabilities and the ensemble's sum to one."""
    D = 8
    model = random_made(D, [10], direct=True, ordering="random", num_masks=3)
    every = ((np.arange(2 ** D)[:, None] >> np.arange(D)) & 1).astype(np.uint8)
    for mask in (0, 1, 2, "ensemble"):
        assert np.exp(likelihood.log_prob(model, every, mask=mask)).sum() == pytest.approx(1, abs=1e-9)


def test_bundled_model_matches_torch():
    weights, _ = checkpoint.load_pretrained_weights("mnist")
    model, _ = checkpoint.load_pretrained("mnist")
    images = data.load_test_subset().images[::97]
    for k in (0, 5):
        np.testing.assert_allclose(likelihood.log_prob(weights, images, k),
                                   torch_log_prob(model, images, k), atol=1e-4)
    np.testing.assert_allclose(likelihood.log_prob(weights, images, "ensemble"),
                               torch_log_prob(model, images, "ensemble"), atol=1e-4)
    np.testing.assert_allclose(likelihood.log_prob(weights, images[:2]),
                               likelihood.log_prob(model, images[:2]), atol=1e-9)


def test_bundled_test_nlls_agree_with_the_models():
    """The bundled histogram data: the ensemble's mean is the test NLL in config.json, and the
    subset's digits get the same numbers computed here."""
    nlls = likelihood.load_test_nlls()
    assert set(nlls) == set(checkpoint.list_pretrained())
    weights, config = checkpoint.load_pretrained_weights("mnist")
    assert nlls["mnist"].shape == (len(config["masks"]) + 1, 10_000)
    assert nlls["mnist"][-1].mean() == pytest.approx(config["test_nll"], abs=0.01)
    subset = np.load(checkpoint.pretrained_root() / data.SUBSET_FILE)
    index, images = subset["index"][:20], data.load_test_subset().images[:20]
    np.testing.assert_allclose(-likelihood.log_prob(weights, images, "ensemble"),
                               nlls["mnist"][-1, index], atol=1e-3)


def test_first_k_ensembles_average_image_probabilities():
    """Against a direct mean of probabilities, in float64, k = 1..K."""
    nlls = np.random.default_rng(0).uniform(1, 6, size=(4, 50))
    curve = likelihood.first_k_ensemble_nlls(nlls)
    expected = [-np.log(np.exp(-nlls[:k]).mean(axis=0)).mean() for k in range(1, 5)]
    np.testing.assert_allclose(curve, expected, rtol=1e-12)
    assert curve[0] == pytest.approx(nlls[0].mean())


def test_bundled_masks_curves_are_what_the_command_writes(tmp_path):
    """Each bundled model's nll-by-masks.json equals its recomputation from test-nll.npz, its
    last point is the ensemble's test NLL, and the command rewrites the same file."""
    root = checkpoint.pretrained_root()
    nlls = likelihood.load_test_nlls()
    for name in checkpoint.list_pretrained():
        curve = likelihood.load_masks_curve(name)
        K = len(nlls[name]) - 1
        assert curve.masks == tuple(range(1, K + 1)) and curve.trained_with == K
        np.testing.assert_allclose(curve.test_nll,
                                   likelihood.first_k_ensemble_nlls(nlls[name][:-1]), atol=1e-4)
        assert curve.test_nll[-1] == pytest.approx(nlls[name][-1].mean(), abs=1e-3)
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text((root / name / "config.json").read_text())
    assert likelihood.write_masks_curves(tmp_path, root / likelihood.TEST_NLL_FILE)
    for name in checkpoint.list_pretrained():
        assert ((tmp_path / name / likelihood.MASKS_CURVE_FILE).read_text()
                == (root / name / likelihood.MASKS_CURVE_FILE).read_text())


def test_a_missing_or_broken_masks_curve_names_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"nll-by-masks\.json: no readable .* --masks-curve"):
        likelihood.load_masks_curve("mnist", root=tmp_path)
    (tmp_path / "mnist").mkdir()
    good = json.loads((checkpoint.pretrained_root() / "mnist" / "nll-by-masks.json").read_text())
    (tmp_path / "mnist" / "nll-by-masks.json").write_text(
        json.dumps(dict(good, test_nll=good["test_nll"][:3])))
    with pytest.raises(ValueError, match="one finite number per mask"):
        likelihood.load_masks_curve("mnist", root=tmp_path)


@pytest.mark.parametrize("bad, message", [
    (np.zeros(5), "shape"), (np.full((1, 10), 2), "0s and 1s"), (np.array(["a"] * 10), "dtype"),
])
def test_bad_images_are_named(bad, message):
    model = random_made(10, [16])
    with pytest.raises(ValueError, match=message):
        likelihood.log_prob(model, bad)
    with pytest.raises(ValueError, match="mask"):
        likelihood.log_prob(model, np.zeros(10), mask=3)


def test_score_image_views():
    model = random_made(12, [20], direct=True, ordering="natural", num_masks=3)
    image = np.random.default_rng(5).integers(0, 2, 12).astype(np.uint8)
    score = likelihood.score_image(model, image, "ensemble")
    assert score.terms_of == "ensemble"
    assert score.log_prob == pytest.approx(likelihood.log_prob(model, image, "ensemble")[0])
    assert score.terms.sum() == pytest.approx(score.ensemble, abs=1e-9)
    np.testing.assert_allclose(score.totals, likelihood.per_mask_log_probs(model, image)[:, 0])
    one = likelihood.score_image(model, image, 2)
    assert one.log_prob == pytest.approx(likelihood.log_prob(model, image, 2)[0])
    p = 1 / (1 + np.exp(-likelihood.logits(model, image, 2)[0]))
    np.testing.assert_allclose(one.p_one, p, atol=1e-9)
    mixed = random_made(12, [20], ordering="random", num_masks=2)
    fallback = likelihood.score_image(mixed, image, "ensemble")
    assert fallback.terms_of == 0 and fallback.log_prob == pytest.approx(fallback.ensemble)

"""tiny.py: worlds with exact distributions, enumeration over every pattern, broken masks.

Counts are checked by independent means (a brute-force listing of the images, the product of
the masks in Python integers, model.log_prob on explicit patterns); training runs a fixed
number of steps, never a time budget, so a busy machine changes nothing but the wall time.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from made_viz import tiny
from made_viz.masks import build_masks
from made_viz.model import jacobian_check
from tests.conftest import random_made
from tests.test_masks import exact_path_counts

QUICK = settings(max_examples=12, deadline=None)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny networks, as the server runs them: a second thread only fights for a busy core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def steps(n: int, **extra) -> tiny.TrainSettings:
    return tiny.TrainSettings(seconds=math.inf, max_steps=n, **extra)


def last_report(models, world, n: int, seed: int = 0) -> tiny.Report:
    *_, report = tiny.train_live(models, world, seed=seed, settings=steps(n))
    return report


def default_world() -> tiny.World:
    return tiny.world_from_settings(tiny.DEFAULT_SETUP)


def default_masks(**change) -> list:
    setup = tiny.DEFAULT_SETUP
    options = dict(hidden_sizes=setup.hidden_sizes, ordering=setup.ordering,
                   hidden_degrees=setup.degrees, seed=setup.seed, direct=setup.direct)
    options.update(change)
    D, hidden_sizes = setup.rows * setup.cols, options.pop("hidden_sizes")
    return [build_masks(D, hidden_sizes, **options)]


# --- worlds -----------------------------------------------------------------------------------

@pytest.mark.parametrize("rows, cols, count", [(3, 3, 14), (4, 4, 30), (2, 3, 10)])
def test_bars_and_stripes_are_the_listed_images_equally_likely(rows, cols, count):
    world = tiny.bars_and_stripes(rows, cols)
    images = tiny.all_patterns(rows * cols).reshape(-1, rows, cols)
    rows_constant = (images == images[:, :, :1]).all(axis=(1, 2))
    cols_constant = (images == images[:, :1, :]).all(axis=(1, 2))
    possible = np.isfinite(world.log_probs)
    assert np.array_equal(possible, rows_constant | cols_constant)
    assert possible.sum() == count
    assert np.allclose(world.probs[possible], 1 / count)
    assert world.entropy == pytest.approx(math.log(count))


@given(rows=st.integers(1, 4), cols=st.integers(1, 4),
       noise=st.floats(0, 0.5), data=st.data())
@QUICK
def test_noisy_prototypes_match_a_brute_force_mixture(rows, cols, noise, data):
    D = rows * cols
    if not tiny.MIN_D <= D <= tiny.MAX_D:
        with pytest.raises(ValueError, match=r"D = rows × cols must be in 4\.\.16"):
            tiny.noisy_prototypes(rows, cols, [0], noise)
        return
    prototypes = data.draw(st.lists(st.integers(0, 2 ** D - 1), min_size=1, max_size=4))
    world = tiny.noisy_prototypes(rows, cols, prototypes, noise)
    x = tiny.all_patterns(D).astype(bool)
    expected = np.zeros(2 ** D)
    for p in prototypes:
        flips = (x != tiny.all_patterns(D)[p].astype(bool)).sum(axis=1)
        expected += noise ** flips * (1 - noise) ** (D - flips) / len(prototypes)
    assert np.allclose(world.probs, expected, atol=1e-12)
    assert world.probs.sum() == pytest.approx(1, abs=1e-9)


def test_noise_ends_give_known_entropies():
    assert tiny.noisy_prototypes(3, 3, [5], 0.0).entropy == pytest.approx(0)
    assert tiny.noisy_prototypes(3, 3, [5, 6], 0.5).entropy == pytest.approx(9 * math.log(2))


@pytest.mark.parametrize("call, message", [
    (lambda: tiny.bars_and_stripes(5, 4), r"D = rows × cols must be in 4\.\.16, got 5 × 4 = 20"),
    (lambda: tiny.bars_and_stripes(1, 3), r"D = rows × cols must be in 4\.\.16, got 1 × 3 = 3"),
    (lambda: tiny.noisy_prototypes(3, 3, [], 0.1), r"prototypes: the pattern set is empty"),
    (lambda: tiny.noisy_prototypes(3, 3, [512], 0.1), r"pattern 1 must be a number in 0\.\.511"),
    (lambda: tiny.noisy_prototypes(3, 3, [1], 0.6), r"noise must be .* in 0\.\.0\.5, got 0\.6"),
    (lambda: tiny.noisy_prototypes(3, 3, [1], -0.1), r"noise must be .* in 0\.\.0\.5"),
])
def test_bad_settings_name_the_field_and_range(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_samples_follow_the_world():
    world = tiny.bars_and_stripes(3, 3)
    images = world.sample(14_000, np.random.default_rng(0))
    counts = np.bincount(tiny.pattern_index(images), minlength=2 ** 9)
    assert counts[~np.isfinite(world.log_probs)].sum() == 0
    assert np.all(np.abs(counts[np.isfinite(world.log_probs)] - 1000) < 150)


# --- enumeration ------------------------------------------------------------------------------

def test_enumeration_is_log_prob_of_pattern_i_with_bit_d_as_pixel_d():
    masks = build_masks(5, [7], ordering="random", seed=3, direct=True)
    model = tiny.new_model([masks], seed=1)
    patterns = torch.tensor([[(i >> d) & 1 for d in range(5)] for i in range(32)],
                            dtype=torch.float32)
    with torch.no_grad():
        expected = model.log_prob(patterns).double().numpy()
    assert np.allclose(tiny.enumerate_log_probs(model), expected, atol=1e-5)


def brute_force_logit_average_total(model) -> float:
    """sum over every pattern, one at a time, of prod_d Bernoulli(x_d; sigmoid(mean_k logit)),
    the logits from model.forward under each mask in turn."""
    total = 0.0
    for i in range(2 ** model.D):
        x = torch.tensor([[(i >> d) & 1 for d in range(model.D)]], dtype=torch.float64)
        logits = []
        for k in range(model.num_masks):
            model.set_mask(k)
            with torch.no_grad():
                logits.append(model(x.float()).double())
        p_one = torch.sigmoid(torch.stack(logits).mean(dim=0))
        total += float(torch.where(x == 1, p_one, 1 - p_one).prod())
    model.set_mask(0)
    return total


@pytest.mark.parametrize("orderings, sums_to_one", [
    (["natural", "reverse"], False), (["random", "random", "random"], False),
    (["natural", "natural"], True),
])
def test_averaging_logits_is_a_distribution_only_when_the_orderings_agree(orderings, sums_to_one):
    sets = [build_masks(6, [12], ordering=o, seed=k + 1, direct=True)
            for k, o in enumerate(orderings)]
    model = random_made(6, [12], mask_sets=sets, seed=2)
    sums = tiny.ensemble_sums(model)
    assert sums.probability_average == pytest.approx(1, abs=1e-6)
    assert sums.logit_average == pytest.approx(brute_force_logit_average_total(model), rel=1e-6)
    assert np.exp(tiny.logit_average_log_q(model)).sum() == pytest.approx(sums.logit_average)
    if sums_to_one:
        assert sums.logit_average == pytest.approx(1, abs=1e-6)
    else:
        assert abs(sums.logit_average - 1) > 1e-3, sums


def test_trained_masks_in_two_orderings_averaged_by_logits_beat_the_entropy():
    """What pytorch-made's 79.3 is, in small: after training, the logit average puts more
    than all the mass on the data and its "NLL" falls below the entropy that no distribution
    can beat; the mixture of the same masks stays a distribution above it."""
    world = default_world()
    sets = [build_masks(world.D, [24, 24], ordering="random", seed=k, direct=True)
            for k in range(2)]
    model = tiny.new_model(sets, seed=0)
    report = last_report([model], world, 1500)
    sums = tiny.ensemble_sums(model)
    assert sums.probability_average == pytest.approx(1, abs=1e-6)
    assert sums.logit_average > 1.1
    assert tiny.compare(world, tiny.logit_average_log_q(model)).cross_entropy < world.entropy
    assert report.comparisons[0].cross_entropy > world.entropy


def test_one_mask_averages_to_itself():
    model = tiny.new_model(default_masks(), seed=0)
    np.testing.assert_allclose(tiny.logit_average_log_q(model), tiny.enumerate_log_probs(model))
    assert tiny.ensemble_sums(model).logit_average == pytest.approx(1, abs=1e-6)


@st.composite
def correct_networks(draw):
    D = draw(st.integers(tiny.MIN_D, 12))
    hidden = draw(st.lists(st.integers(1, 24), min_size=0, max_size=3))
    ordering = draw(st.one_of(st.sampled_from(["natural", "reverse", "random"]),
                              st.permutations(range(D))))
    K, seed = draw(st.integers(1, 3)), draw(st.integers(0, 99))
    degrees, direct = draw(st.sampled_from(["random", "equal"])), draw(st.booleans())
    sets = [build_masks(D, hidden, ordering=ordering, seed=seed + k, hidden_degrees=degrees,
                        direct=direct) for k in range(K)]
    prototypes = draw(st.lists(st.integers(0, 2 ** D - 1), min_size=1, max_size=3))
    world = tiny.noisy_prototypes(1, D, prototypes, draw(st.floats(0.01, 0.5)))
    return sets, world, draw(st.integers(0, 2**16))


@given(correct_networks())
@QUICK
def test_a_correct_made_sums_to_one_before_and_after_training(network):
    sets, world, seed = network
    model = tiny.new_model(sets, seed)
    masks = ["ensemble", *range(model.num_masks)]
    for mask in masks:
        assert np.exp(tiny.enumerate_log_probs(model, mask)).sum() == pytest.approx(1, abs=1e-6)
    report = last_report([model], world, 40, seed)
    assert report.step == 40 and report.done
    assert report.comparisons[0].total == pytest.approx(1, abs=1e-6)
    assert report.comparisons[0].kl >= -1e-9  # a distribution: cross-entropy >= H
    for mask in masks:
        assert np.exp(tiny.enumerate_log_probs(model, mask)).sum() == pytest.approx(1, abs=1e-6)


def test_the_default_world_is_learned_to_a_small_kl():
    report = last_report([tiny.new_model(default_masks(), seed=0)], default_world(), 1500)
    assert report.comparisons[0].total == pytest.approx(1, abs=1e-6)
    assert 0 <= report.comparisons[0].kl < 0.05


# --- broken masks -----------------------------------------------------------------------------

def forbidden_flip(masks):
    """An output-layer entry whose flip lets an output see its own input: a hidden unit of
    degree m sees the input of degree m (one hidden layer), so feed it to that input's output."""
    hidden_degrees = masks.hidden_degrees[0]
    unit = int(np.argmax(hidden_degrees))
    output = int(np.flatnonzero(masks.input_degrees == hidden_degrees[unit])[0])
    assert masks.layer_masks[-1][output, unit] == 0
    return dict(layer=len(masks.layer_masks) - 1, row=output, col=unit)


@pytest.mark.parametrize("how", tiny.BREAKS)
def test_each_break_cheats_in_the_masks_in_the_jacobian_and_in_the_sum(how):
    masks = default_masks(hidden_sizes=(24,))[0]
    options = forbidden_flip(masks) if how == "flip" else {}
    broken = tiny.break_masks(masks, how, **options)
    assert not broken.is_autoregressive()
    assert np.array_equal(broken.connectivity(), exact_path_counts(broken).astype(np.int64))
    check = jacobian_check(broken)
    assert check["matches"] and not check["autoregressive"] and check["forbidden_nonzero"] > 0
    assert jacobian_check(masks)["autoregressive"]
    world = default_world()
    correct_model, broken_model = tiny.new_model([masks], 0), tiny.new_model([broken], 0)
    report = last_report([correct_model, broken_model], world, 600)
    correct, cheat = report.comparisons
    assert correct.total == pytest.approx(1, abs=1e-6)
    assert abs(cheat.total - 1) > 0.05
    assert cheat.kl < 0  # no distribution has a cross-entropy below H


def test_the_unmasked_network_trains_below_the_entropy():
    world = default_world()
    broken = tiny.break_masks(default_masks()[0], "unmasked")
    report = last_report([tiny.new_model([broken], 0)], world, 400)
    assert report.train_nll[0] < world.entropy - 1
    assert report.comparisons[0].cross_entropy < world.entropy
    assert report.comparisons[0].total > 2


def test_a_flip_that_removes_a_weight_stays_autoregressive_and_says_so():
    masks = build_masks(6, [8], seed=2)
    row, col = map(int, np.argwhere(masks.layer_masks[0] == 1)[0])
    flipped = tiny.break_masks(masks, "flip", layer=0, row=row, col=col)
    assert flipped.layer_masks[0][row, col] == 0 and masks.layer_masks[0][row, col] == 1
    assert flipped.is_autoregressive() and flipped.edited
    assert np.array_equal(flipped.connectivity(), exact_path_counts(flipped).astype(np.int64))


@given(correct_networks())
@QUICK
def test_edited_masks_count_paths_through_the_masks_as_the_degrees_do(network):
    sets, _, _ = network
    for masks in sets:
        copy = tiny.break_masks(masks, "flip", layer="direct" if not masks.layer_masks else 0,
                                row=0, col=0)
        twice = tiny.break_masks(copy, "flip", layer="direct" if not masks.layer_masks else 0,
                                 row=0, col=0)
        assert twice.edited and np.array_equal(twice.connectivity(), masks.connectivity())


@pytest.mark.parametrize("options, message", [
    (dict(how="upside-down"), r"break must be one of sees-self, flip, unmasked"),
    (dict(how="flip", layer=5, row=0, col=0), r"flip: layer must be in 0\.\.1"),
    (dict(how="flip", layer=0, row=9, col=0), r"flip: row must be in 0\.\.3 and col in 0\.\.3"),
    (dict(how="flip", layer="direct", row=0, col=0), r"no direct connections"),
    (dict(how="flip", layer=0, row=True, col=0), r"flip: row must be in 0\.\.3"),  # True is not row 1
    (dict(how="flip", layer=True, row=0, col=0), r"flip: layer must be in 0\.\.1"),
])
def test_bad_breaks_are_named(options, message):
    masks = build_masks(4, [4], seed=0)
    with pytest.raises(ValueError, match=message):
        tiny.break_masks(masks, options.pop("how"), **options)

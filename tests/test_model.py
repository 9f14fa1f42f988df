"""model.py: masks hold in the torch model, log_prob is a normalized distribution, ensembles
average probabilities, and the MADE API (set_mask, log_prob(mask=...), direct) behaves."""
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from made_viz import network
from made_viz.masks import DEGREE_RULES, build_masks
from made_viz.model import MADE, MaskedLinear, jacobian_check

FAST = settings(max_examples=50, deadline=None)


def orderings(D):
    names = ["natural", "reverse", "random"] + (["columns"] if math.isqrt(D) ** 2 == D else [])
    return st.one_of(st.sampled_from(names), st.permutations(range(D)))


@st.composite
def model_configs(draw, max_D=12):
    D = draw(st.integers(1, max_D))
    num_masks = draw(st.integers(1, 3))
    # One ordering for every mask, or a list of them cycled over the masks.
    ordering = draw(st.one_of(orderings(D), st.lists(orderings(D), min_size=1, max_size=3)))
    return dict(D=D, hidden_sizes=tuple(draw(st.lists(st.integers(1, 12), max_size=3))),
                num_masks=num_masks, ordering=ordering,
                hidden_degrees=draw(st.sampled_from(DEGREE_RULES)),
                direct=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 4)))


def all_binary_vectors(D):
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=D)))


def masked_layers(model):
    return [m for m in model.modules() if isinstance(m, MaskedLinear)]


# ---------------------------------------------------------------- properties of any configuration

@FAST
@given(model_configs(), st.integers(0, 2**31 - 1))
def test_jacobian_is_zero_wherever_there_is_no_path(config, torch_seed):
    torch.manual_seed(torch_seed)
    model = MADE(**config)
    x = torch.rand(4, config["D"])
    for k, ms in enumerate(model.mask_sets):
        model.set_mask(k)
        jacobian = torch.func.vmap(torch.func.jacrev(model))(x)  # (batch, output, input)
        unconnected = torch.from_numpy(ms.connectivity().astype(bool)).logical_not()
        assert jacobian.shape == (4, config["D"], config["D"])
        assert (jacobian[:, unconnected] == 0).all()
        check = jacobian_check(ms, seed=k)
        assert check["matches"] and check["nonzero_where_unconnected"] == 0
        assert check["zero_where_connected"] == 0
        assert check["nonzero"] == check["connected"] == int((ms.connectivity() != 0).sum())


@FAST
@given(model_configs(), st.integers(0, 2**31 - 1))
def test_probabilities_of_all_binary_vectors_sum_to_one(config, torch_seed):
    torch.manual_seed(torch_seed)
    model = MADE(**config)
    x = all_binary_vectors(config["D"])
    with torch.no_grad():
        for k in range(model.num_masks):
            assert model.log_prob(x, mask=k).exp().sum().item() == pytest.approx(1, abs=1e-5)
        ensemble = model.log_prob(x, mask="ensemble")
    assert ensemble.shape == (2 ** config["D"],)
    assert ensemble.exp().sum().item() == pytest.approx(1, abs=1e-5)


def test_normalized_with_twelve_inputs_and_trained_like_weights():
    # Larger weights than the default init give sharper conditionals: still sums to one.
    torch.manual_seed(0)
    model = MADE(12, (30, 30), num_masks=2, ordering=["natural", "random"], direct=True)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4)
        x = all_binary_vectors(12)
        assert model.log_prob(x, "ensemble").exp().sum().item() == pytest.approx(1, abs=1e-5)
        assert model.log_prob(x, 1).exp().sum().item() == pytest.approx(1, abs=1e-5)


# ---------------------------------------------------------------- the Jacobian check itself

def test_jacobian_check_catches_a_mask_that_leaks():
    ms = build_masks(5, (6, 6), seed=1)
    assert jacobian_check(ms)["matches"]
    ms.connectivity()  # counted from the degrees, before the mask below is broken
    ms.layer_masks[0][:] = 1  # every hidden unit now sees every input
    check = jacobian_check(ms)
    assert not check["matches"] and check["nonzero_where_unconnected"] > 0


def test_jacobian_check_of_networks_without_paths():
    for ms in [build_masks(1, ()), build_masks(1, (3,)), build_masks(4, (1,), seed=0)]:
        check = jacobian_check(ms)
        assert check["matches"] and check["nonzero"] == check["connected"]
    assert jacobian_check(build_masks(1, ()))["nonzero"] == 0


# ---------------------------------------------------------------- the MADE API

def test_forward_and_log_prob_shapes():
    model = MADE(7, (9, 5), num_masks=2)
    x = torch.bernoulli(torch.full((5, 7), 0.5))
    assert model(x).shape == (5, 7)
    for mask in (None, 0, 1, "ensemble"):
        lp = model.log_prob(x, mask)
        assert lp.shape == (5,) and torch.isfinite(lp).all() and (lp < 0).all()


def test_log_prob_is_the_sum_of_bernoulli_log_likelihoods():
    torch.manual_seed(1)
    model = MADE(6, (8,))
    x = torch.bernoulli(torch.full((4, 6), 0.5))
    p = torch.sigmoid(model(x)).double()
    manual = (x * p.log() + (1 - x) * (1 - p).log()).sum(-1)
    assert torch.allclose(model.log_prob(x).double(), manual, atol=1e-5)


def test_set_mask_loads_that_mask_into_every_layer():
    model = MADE(6, (7, 5), num_masks=3, ordering="random", direct=True)
    for k in (2, 0, 1):
        model.set_mask(k)
        ms = model.mask_sets[k]
        assert model.mask_index == k and model.masks is ms
        layers = [*model.hidden, model.output]
        for layer, mask in zip(layers, ms.layer_masks):
            assert np.array_equal(layer.mask.numpy(), mask)
        assert np.array_equal(model.direct_layer.mask.numpy(), ms.direct_mask)


@pytest.mark.parametrize("bad", [-1, 3, True, 1.0, "1", None, np.int64(7)])
def test_set_mask_refuses_anything_but_a_mask_index(bad):
    model = MADE(4, (5,), num_masks=3)
    model.set_mask(1)
    with pytest.raises(ValueError) as error:
        model.set_mask(bad)
    in_range_problem = isinstance(bad, (int, np.integer)) and not isinstance(bad, bool)
    assert str(error.value) == (f"mask must be in 0..2, got {bad}" if in_range_problem
                                else f"mask must be a whole number in 0..2, got {bad!r}")
    assert model.mask_index == 1
    model.set_mask(np.int64(2))  # numpy integers are fine
    assert model.mask_index == 2


def test_log_prob_with_a_mask_leaves_the_current_mask_alone():
    torch.manual_seed(0)
    model = MADE(8, (10,), num_masks=3, ordering="random")
    x = torch.bernoulli(torch.full((6, 8), 0.5))
    model.set_mask(0)
    under_0 = model.log_prob(x)
    # Mask 1 is current: neither the first nor the last mask an ensemble loop would stop at.
    model.set_mask(1)
    buffers = [layer.mask.clone() for layer in masked_layers(model)]
    under_1 = model.log_prob(x)
    assert not torch.equal(under_0, under_1)

    def unchanged():
        return model.mask_index == 1 and all(
            torch.equal(a, layer.mask) for a, layer in zip(buffers, masked_layers(model)))
    assert torch.equal(model.log_prob(x, mask=0), under_0) and unchanged()
    assert torch.isfinite(model.log_prob(x, mask=2)).all() and unchanged()
    assert torch.isfinite(model.log_prob(x, mask="ensemble")).all() and unchanged()
    for bad in (5, "average"):
        with pytest.raises(ValueError):
            model.log_prob(x, mask=bad)
        assert unchanged()
    assert torch.equal(model.log_prob(x), under_1)


def test_log_prob_mask_errors_name_the_choices():
    model = MADE(4, (5,), num_masks=2)
    x = torch.zeros(1, 4)
    with pytest.raises(ValueError, match=r"mask must be None, 0\.\.1 or 'ensemble', got 'mean'"):
        model.log_prob(x, mask="mean")
    with pytest.raises(ValueError, match=r"mask must be in 0\.\.1, got 2"):
        model.log_prob(x, mask=2)


def test_ensemble_averages_probabilities_not_logits():
    torch.manual_seed(3)
    model = MADE(10, (12, 12), num_masks=4, ordering=["natural", "reverse", "random"])
    x = torch.bernoulli(torch.full((16, 10), 0.3))
    with torch.no_grad():
        per_mask = []
        for k in range(4):
            model.set_mask(k)
            per_mask.append(model.log_prob(x).double().numpy())
        manual = np.log(np.mean(np.exp(np.stack(per_mask)), axis=0))
        ensemble = model.log_prob(x, "ensemble").double().numpy()
    np.testing.assert_allclose(ensemble, manual, rtol=0, atol=1e-5)
    assert model.mask_index == 3
    model.set_mask(1)
    with torch.no_grad():
        model.log_prob(x, "ensemble")
    assert model.mask_index == 1
    # A mixture lies between its worst and best member.
    assert (ensemble <= np.max(per_mask, axis=0) + 1e-6).all()
    assert (ensemble >= np.min(per_mask, axis=0) - 1e-6).all()
    single = MADE(10, (12,))
    assert torch.equal(single.log_prob(x, "ensemble"), single.log_prob(x))


def test_direct_connections_on_and_off():
    torch.manual_seed(0)
    x = torch.rand(3, 5)
    without = MADE(5, (6,), direct=False)
    assert without.direct_layer is None and not without.direct
    assert all(p.shape != (5, 5) for p in without.parameters())
    with_direct = MADE(5, (6,), direct=True)
    layer = with_direct.direct_layer
    assert with_direct.direct and layer.bias is None
    assert np.array_equal(layer.mask.numpy(), with_direct.masks.direct_mask)
    before = with_direct(x)
    with torch.no_grad():
        layer.weight.add_(1.0)
    change = (with_direct(x) - before).abs()
    # Direct weights move exactly the outputs that have an earlier input: all but x0's.
    assert (change[:, 0] == 0).all() and (change[:, 1:] > 0).all()


@pytest.mark.parametrize("direct", [False, True])
def test_no_hidden_layer_is_a_masked_logistic_regression(direct):
    torch.manual_seed(0)
    model = MADE(6, (), direct=direct, ordering="reverse")
    assert model.output is None and len(model.hidden) == 0 and model.direct
    layer = model.direct_layer
    assert layer.bias is not None
    x = torch.rand(4, 6)
    manual = x @ (layer.weight * torch.from_numpy(model.masks.direct_mask).float()).T + layer.bias
    assert torch.allclose(model(x), manual)
    # Reverse order: output 5 is first (its bias alone), output 0 sees x1..x5.
    assert torch.allclose(model(x)[:, 5], layer.bias[5].expand(4))
    with torch.no_grad():
        assert model.log_prob(all_binary_vectors(6)).exp().sum().item() == pytest.approx(1, 1e-5)


def test_gradients_reach_only_unmasked_weights():
    torch.manual_seed(0)
    model = MADE(8, (10, 9), num_masks=2, ordering="random", direct=True).double()
    model.set_mask(1)
    x = torch.bernoulli(torch.full((32, 8), 0.5, dtype=torch.float64))
    (-model.log_prob(x).sum()).backward()
    for layer in masked_layers(model):
        grad, kept = layer.weight.grad, layer.mask.bool()
        assert (grad[~kept] == 0).all()
        assert (grad[kept] != 0).any()
        assert not layer.mask.requires_grad
        assert "mask" not in layer.state_dict()  # the checkpoint stores degrees, not masks


def test_orderings_are_shared_or_cycled():
    def orders(model):
        return [ms.order.tolist() for ms in model.mask_sets]
    assert orders(MADE(3, (4,), num_masks=4, ordering=["natural", "reverse"])) == [
        [0, 1, 2], [2, 1, 0], [0, 1, 2], [2, 1, 0]]
    assert orders(MADE(3, (4,), num_masks=3, ordering=[[2, 0, 1], (1, 2, 0)])) == [
        [2, 0, 1], [1, 2, 0], [2, 0, 1]]
    for single in ([2, 0, 1], (2, 0, 1), np.array([2, 0, 1])):
        model = MADE(3, (40,), num_masks=2, ordering=single)
        assert orders(model) == [[2, 0, 1], [2, 0, 1]]
        # Same ordering, hidden degrees from seed + k: still two different masks.
        assert not np.array_equal(*(ms.hidden_degrees[0] for ms in model.mask_sets))
    # Mask k is build_masks(..., seed=seed + k).
    a, b = MADE(6, (5,), num_masks=2, ordering="random", seed=7).mask_sets
    for ms, seed in ((a, 7), (b, 8)):
        alone = build_masks(6, (5,), ordering="random", seed=seed, direct=True)
        assert np.array_equal(ms.order, alone.order)
        assert np.array_equal(ms.hidden_degrees[0], alone.hidden_degrees[0])


def test_from_degrees_rebuilds_the_same_masks():
    model = MADE(6, (7, 7), num_masks=3, ordering="random", direct=False, seed=4)
    rebuilt = MADE.from_degrees([ms.order for ms in model.mask_sets],
                                [ms.hidden_degrees for ms in model.mask_sets], direct=False)
    for a, b in zip(model.mask_sets, rebuilt.mask_sets):
        assert all(np.array_equal(x, y) for x, y in zip(a.layer_masks, b.layer_masks))
    assert rebuilt.num_masks == 3 and rebuilt.direct_layer is None
    with pytest.raises(ValueError):
        MADE.from_degrees([model.mask_sets[0].order] * 2, [model.mask_sets[0].hidden_degrees],
                          direct=False)


BAD_MODELS = [
    (dict(num_masks=0), "num_masks must be in 1..1024, got 0"),
    (dict(num_masks=1025), "num_masks must be in 1..1024, got 1025"),
    (dict(num_masks=True), "num_masks must be a whole number in 1..1024, got True"),
    (dict(num_masks=2.0), "num_masks must be a whole number in 1..1024, got 2.0"),
    (dict(seed=2**32 - 1, num_masks=2), "seed must be in 0..4294967294, got 4294967295"),
    (dict(seed=True), "seed must be a whole number in 0..4294967295, got True"),
    (dict(seed=-3), "seed must be in 0..4294967295, got -3"),
    (dict(ordering=[]), "ordering must be a name, a permutation or a list of them, got []"),
    (dict(ordering=None), "ordering must be a name, a permutation or a list of them, got None"),
    (dict(ordering=[0, 1, 1, 2]), "ordering: index 1 appears twice and 3 is missing"),
    (dict(ordering=["natural", "sideways"], num_masks=2), "got 'sideways'"),
    (dict(D=0), "D must be in 1..4096, got 0"),
    (dict(hidden_sizes=(4, 0)), "hidden sizes: layer 2 must be in 1..16384, got 0"),
    (dict(hidden_degrees="even"), "hidden degrees must be one of random, equal, got 'even'"),
    (dict(direct=None), "direct must be True or False, got None"),
]


@pytest.mark.parametrize("change, message", BAD_MODELS, ids=[m for _, m in BAD_MODELS])
def test_bad_model_configuration_names_field_value_and_range(change, message):
    with pytest.raises(ValueError) as error:
        MADE(**{**dict(D=4, hidden_sizes=(5,)), **change})
    assert message in str(error.value)


def test_mask_sets_must_agree():
    with pytest.raises(ValueError, match="share D, hidden sizes and direct"):
        MADE(4, (5,), mask_sets=[build_masks(4, (5,)), build_masks(4, (6,))])
    with pytest.raises(ValueError, match="share D, hidden sizes and direct"):
        MADE(4, (5,), mask_sets=[build_masks(4, (5,)), build_masks(4, (5,), direct=True)])
    with pytest.raises(ValueError, match="at least one"):
        MADE(4, (5,), mask_sets=[])


@pytest.mark.parametrize("hidden, direct", [((), True), ((5,), False), ((5,), True),
                                            ((6, 3, 4), True)])
def test_state_dict_follows_the_one_layout(hidden, direct):
    model = MADE(4, hidden, direct=direct)
    assert {name: tuple(t.shape) for name, t in model.state_dict().items()} == \
        network.tensor_shapes(model.mask_sets[0])

"""masks.py: degrees, masks, exact path counts, dead units, the paths through a unit and every
configuration limit.

Path counts are checked against an independent exact product of the masks (object dtype, so
Python integers, no overflow), never against numbers copied from the implementation.
"""
import itertools
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from made_viz import masks as masks_module
from made_viz.masks import (DEGREE_RULES, MAX_MASK_BYTES, MaskSet, build_masks, degree_sort,
                            mask_bytes, masks_from_degrees)

INT64_MAX = 2**63 - 1
FAST = settings(max_examples=80, deadline=None)


def exact_path_counts(ms) -> np.ndarray:
    """Product of the layer masks plus the direct mask, in exact Python integers."""
    product = np.zeros((ms.D, ms.D), dtype=object)
    if ms.layer_masks:
        # From the output side, so every intermediate product keeps only D rows.
        product = ms.layer_masks[-1].astype(object)
        for mask in reversed(ms.layer_masks[:-1]):
            product = product @ mask.astype(object)
    if ms.direct_mask is not None:
        product = product + ms.direct_mask.astype(object)
    return product


def orderings(D):
    names = ["natural", "reverse", "random"] + (["columns"] if math.isqrt(D) ** 2 == D else [])
    return st.one_of(st.sampled_from(names), st.permutations(range(D)))


@st.composite
def configs(draw, max_D=12, widths=None):
    D = draw(st.integers(1, max_D))
    width = st.integers(1, 12) if widths is None else widths(D)
    return dict(D=D, hidden_sizes=tuple(draw(st.lists(width, max_size=3))),
                ordering=draw(orderings(D)), hidden_degrees=draw(st.sampled_from(DEGREE_RULES)),
                seed=draw(st.integers(0, 2**32 - 1)), direct=draw(st.booleans()))


def assert_message(error, *parts):
    message = str(error.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# ---------------------------------------------------------------- properties of any configuration

@FAST
@given(configs())
def test_degrees_and_masks_follow_the_rules(config):
    ms = build_masks(**config)
    D = config["D"]
    assert sorted(ms.order.tolist()) == list(range(D))
    assert ms.input_degrees[ms.order].tolist() == list(range(1, D + 1))
    if isinstance(config["ordering"], list):
        assert ms.order.tolist() == config["ordering"]
    low = 1
    for degrees, size in zip(ms.hidden_degrees, config["hidden_sizes"]):
        assert len(degrees) == size
        assert degrees.min() >= low and degrees.max() <= max(low, D - 1)
        low = degrees.min()
    widths = [D, *config["hidden_sizes"], D] if config["hidden_sizes"] else []
    assert [m.shape for m in ms.layer_masks] == list(zip(widths[1:], widths[:-1]))
    assert all(m.dtype == np.uint8 for m in ms.layer_masks)
    assert ms.direct == (config["direct"] or not config["hidden_sizes"])


@FAST
@given(configs())
def test_connectivity_is_the_exact_mask_product_and_autoregressive(config):
    ms = build_masks(**config)
    counts = ms.connectivity()
    assert counts.shape == (ms.D, ms.D)
    assert np.array_equal(counts.astype(object), exact_path_counts(ms))
    in_generation_order = counts[np.ix_(ms.order, ms.order)]
    assert np.array_equal(ms.connectivity_in_generation_order(), in_generation_order)
    assert not np.triu(in_generation_order != 0).any()
    assert ms.is_autoregressive()


@FAST
@given(configs(widths=lambda D: st.integers(max(1, D - 1), D + 4)))
def test_equal_degrees_in_wide_layers_let_output_k_see_all_k_minus_1_inputs(config):
    ms = build_masks(**{**config, "hidden_degrees": "equal"})
    counts = ms.connectivity()
    for k, output in enumerate(ms.order, 1):
        assert set(np.flatnonzero(counts[output])) == set(ms.order[:k - 1].tolist())
    # Nothing is dead but what no network can use: the last input and the first output
    # (with D = 1 the hidden units are dead too: see test_single_input).
    layers = len(config["hidden_sizes"])
    if config["D"] > 1:
        assert {(u.layer, u.index) for u in ms.dead_units()} == {
            (0, int(ms.order[-1])), (layers + 1, int(ms.order[0]))}


@FAST
@given(configs())
def test_dead_units_are_exactly_the_units_on_no_input_to_output_path(config):
    ms = build_masks(**config)
    masks = [m.astype(object) for m in ms.layer_masks]
    # A hidden unit is alive when it is both reached from an input and reaches an output.
    reached = [np.ones(ms.D, dtype=object)]
    for mask in masks:
        reached.append(mask @ reached[-1])
    reaches = [np.ones(ms.D, dtype=object)]
    for mask in reversed(masks):
        reaches.insert(0, reaches[0] @ mask)
    expected = set()
    for layer in range(1, len(masks)):
        on_no_path = (reached[layer] * reaches[layer]) == 0
        expected |= {(layer, int(u)) for u in np.flatnonzero(on_no_path)}
    exact = exact_path_counts(ms)
    last = len(ms.hidden_sizes) + 1
    expected |= {(0, int(i)) for i in np.flatnonzero((exact != 0).sum(axis=0) == 0)}
    expected |= {(last, int(o)) for o in np.flatnonzero((exact != 0).sum(axis=1) == 0)}
    dead = ms.dead_units()
    assert {(u.layer, u.index) for u in dead} == expected
    for unit in dead:
        assert unit.degree == ms.layer_degrees(unit.layer)[unit.index]
        assert unit.reason
    # Always dead: the last input (nothing comes after it), the first output (sees nothing).
    assert (0, int(ms.order[-1])) in expected and (last, int(ms.order[0])) in expected


@settings(max_examples=30, deadline=None)
@given(configs())
def test_same_seed_same_masks(config):
    a, b = build_masks(**config), build_masks(**config)
    assert np.array_equal(a.order, b.order)
    assert all(np.array_equal(x, y) for x, y in zip(a.layer_masks, b.layer_masks))
    rebuilt = masks_from_degrees(a.order, a.hidden_degrees, direct=config["direct"])
    assert all(np.array_equal(x, y) for x, y in zip(a.layer_masks, rebuilt.layer_masks))
    assert np.array_equal(a.connectivity(), rebuilt.connectivity())


# ---------------------------------------------------------------- orderings and degree rules

def test_named_orderings():
    assert build_masks(4, (3,)).order.tolist() == [0, 1, 2, 3]
    assert build_masks(4, (3,), ordering="reverse").order.tolist() == [3, 2, 1, 0]
    # Column-major over a 3x3 image: down the first column, then the second...
    assert build_masks(9, (3,), ordering="columns").order.tolist() == [0, 3, 6, 1, 4, 7, 2, 5, 8]
    random_a = build_masks(30, (3,), ordering="random", seed=1).order
    assert sorted(random_a.tolist()) == list(range(30))
    assert np.array_equal(random_a, build_masks(30, (3,), ordering="random", seed=1).order)
    assert not np.array_equal(random_a, build_masks(30, (3,), ordering="random", seed=2).order)


def test_explicit_ordering_sets_input_degrees():
    ms = build_masks(4, (3,), ordering=(2, 0, 3, 1))
    assert ms.input_degrees.tolist() == [2, 4, 1, 3]
    ms_np = build_masks(4, (3,), ordering=np.array([2, 0, 3, 1]))
    assert np.array_equal(ms_np.input_degrees, ms.input_degrees)


def test_equal_degrees_are_evenly_spread():
    # D = 5: degrees 1..4, eight units take each twice.
    ms = build_masks(5, (8, 3), hidden_degrees="equal")
    assert ms.hidden_degrees[0].tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    assert ms.hidden_degrees[1].tolist() == [1, 2, 3]


def test_random_degrees_depend_on_the_seed():
    a = build_masks(20, (50, 50), seed=0).hidden_degrees
    b = build_masks(20, (50, 50), seed=1).hidden_degrees
    assert not all(np.array_equal(x, y) for x, y in zip(a, b))
    assert {int(m) for m in a[0]} <= set(range(1, 20)) and len(set(a[0].tolist())) > 10


# ---------------------------------------------------------------- small networks by hand

def dead(ms):
    return {(u.layer, u.index): u.reason for u in ms.dead_units()}


def test_single_input():
    for hidden in [(), (3,), (2, 2)]:
        for direct in (False, True):
            ms = build_masks(1, hidden, direct=direct)
            assert ms.connectivity().tolist() == [[0]]
            assert ms.is_autoregressive()
            found = dead(ms)
            last = len(hidden) + 1
            assert "last in the ordering" in found.pop((0, 0))
            assert "sees no input" in found.pop((last, 0))
            # Hidden units get degree 1 = D: no output has a higher degree.
            assert set(found) == {(l + 1, u) for l, h in enumerate(hidden) for u in range(h)}
            assert all("no output has a degree above 1" in why for why in found.values())


def test_hidden_layer_narrower_than_D():
    # One hidden unit of degree 1: it sees x0 alone and feeds outputs 1..3.
    ms = build_masks(4, (1,), hidden_degrees="equal")
    assert ms.connectivity().tolist() == [[0, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]]
    found = dead(ms)
    assert set(found) == {(0, 1), (0, 2), (0, 3), (2, 0)}
    assert "x1 (degree 2) reaches no output" in found[(0, 1)]
    assert "x3 is last in the ordering (degree 4)" in found[(0, 3)]
    assert "p(x0) sees no input" in found[(2, 0)]
    # Direct connections rescue every input but the last.
    assert set(dead(build_masks(4, (1,), hidden_degrees="equal", direct=True))) == {(0, 3), (2, 0)}


def test_hidden_layer_narrower_than_D_with_explicit_ordering():
    ms = build_masks(4, (1,), ordering=[2, 0, 3, 1], hidden_degrees="equal")
    assert set(dead(ms)) == {(0, 0), (0, 3), (0, 1), (2, 2)}
    assert "x1 is last in the ordering" in dead(ms)[(0, 1)]


def test_dead_hidden_unit_with_no_wider_unit_above():
    # D = 3, layer 1 degrees (1, 2), layer 2 degree (1): the degree-2 unit feeds nothing.
    ms = build_masks(3, (2, 1), hidden_degrees="equal")
    assert [d.tolist() for d in ms.hidden_degrees] == [[1, 2], [1]]
    found = dead(ms)
    assert set(found) == {(0, 1), (0, 2), (1, 1), (3, 0)}
    assert "no unit in the next layer has a degree >= 2" in found[(1, 1)]
    assert ms.connectivity().tolist() == [[0, 0, 0], [1, 0, 0], [1, 0, 0]]


@pytest.mark.parametrize("D", [1, 2, 5, 9])
def test_no_hidden_layer_is_a_fully_visible_sigmoid_belief_net(D):
    for direct in (False, True):
        ms = build_masks(D, (), ordering="reverse", direct=direct)
        assert ms.layer_masks == [] and ms.hidden_degrees == [] and ms.direct
        # In generation order every output sees every earlier input once, directly.
        assert ms.connectivity_in_generation_order().tolist() == np.tril(
            np.ones((D, D), dtype=int), -1).tolist()
        assert np.array_equal(ms.connectivity(), ms.direct_mask)
        assert set(dead(ms)) == {(0, 0), (1, D - 1)}


def test_direct_connections_add_one_path():
    plain = build_masks(6, (5, 5), seed=3)
    with_direct = build_masks(6, (5, 5), seed=3, direct=True)
    assert plain.direct_mask is None
    difference = with_direct.connectivity() - plain.connectivity()
    assert np.array_equal(difference, with_direct.direct_mask)
    assert difference.sum() == 6 * 5 // 2


# ---------------------------------------------------------------- paths through units, forbidden

def test_paths_through_a_unit_match_the_path_counts():
    masks = build_masks(7, (9, 8), ordering="random", seed=4, direct=True)
    paths = masks.connectivity()
    last = 3
    for i in range(7):
        chosen = np.eye(7, dtype=bool)[i]
        lit, _, _ = masks.paths_through(0, chosen)
        assert np.array_equal(lit[last], paths[:, i] > 0)  # x_i reaches exactly these outputs
        lit, _, _ = masks.paths_through(last, chosen)
        assert np.array_equal(lit[0], paths[i] > 0)  # output i sees exactly these inputs


def test_lit_weights_are_exactly_those_on_some_full_path_through_the_unit():
    masks = build_masks(4, (4, 3), ordering="random", seed=6)
    w = [m.astype(bool) for m in masks.layer_masks]
    widths = [4, 4, 3, 4]
    full_paths = [p for p in itertools.product(*map(range, widths))
                  if all(w[l][p[l + 1], p[l]] for l in range(3))]
    assert full_paths
    for layer in range(4):
        for unit in range(widths[layer]):
            expected = [np.zeros_like(m) for m in w]
            for p in full_paths:
                if p[layer] == unit:
                    for l in range(3):
                        expected[l][p[l + 1], p[l]] = True
            chosen = np.eye(widths[layer], dtype=bool)[unit]
            _, lit, _ = masks.paths_through(layer, chosen)
            for l in range(3):
                assert np.array_equal(lit[l], expected[l]), (layer, unit, l)


def test_degree_sort_lists_units_by_degree_ties_in_index_order():
    assert degree_sort(np.array([3, 1, 2, 1, 3, 2])).tolist() == [1, 3, 2, 5, 0, 4]
    ms = build_masks(6, (4,), ordering="random", seed=1)
    assert np.array_equal(degree_sort(ms.input_degrees), ms.order)  # inputs: the ordering


def test_forbidden_paths_are_the_counted_paths_the_ordering_rules_out():
    ms = build_masks(5, (6,), ordering="random", seed=2, direct=True)
    assert not ms.forbidden_paths().any()
    layer_masks = [m.copy() for m in ms.layer_masks]
    layer_masks[-1][:] = 1  # every hidden unit feeds every output
    edited = MaskSet(ms.D, ms.hidden_sizes, ms.order, ms.input_degrees, ms.hidden_degrees,
                     layer_masks, ms.direct_mask, edited=True)
    step = np.argsort(ms.order)  # step[i]: when x_i is drawn
    expected = (exact_path_counts(edited) != 0) & (step[None, :] >= step[:, None])
    assert expected.any()
    assert np.array_equal(edited.forbidden_paths(), expected)


# ---------------------------------------------------------------- exact counts beyond int64

def test_counts_beyond_int64_are_exact_python_integers():
    # D = 2: every hidden unit has degree 1, so x0 reaches output 1 by 256**8 = 2**64 paths.
    ms = build_masks(2, (256,) * 8)
    counts = ms.connectivity()
    assert counts[1, 0] == 2**64 and type(counts[1, 0]) is int
    assert np.array_equal(counts, exact_path_counts(ms))


def test_counts_beyond_int64_with_16_inputs():
    # 250 units of degree 1 in each of 8 layers: at least 250**8 > 2**63 paths from x0.
    degrees = [np.array([1] * 250 + [2, 3, 5, 8, 13, 15]) for _ in range(8)]
    ms = masks_from_degrees(np.arange(16), degrees, direct=True)
    counts = ms.connectivity()
    exact = exact_path_counts(ms)
    assert max(counts.ravel()) > INT64_MAX
    assert all(type(c) is int for c in counts.ravel())
    assert np.array_equal(counts, exact)
    random_degrees = build_masks(16, (256,) * 8, ordering="random", seed=5, direct=True)
    assert np.array_equal(random_degrees.connectivity(), exact_path_counts(random_degrees))


def test_counts_that_fit_stay_int64():
    ms = build_masks(16, (128,) * 8, seed=2)
    assert ms.connectivity().dtype == np.int64
    assert np.array_equal(ms.connectivity(), exact_path_counts(ms))


def test_huge_counts_with_more_than_1024_inputs_raise_overflow():
    degrees = [np.ones(256, dtype=np.int64)] * 8  # x of degree 1 reaches outputs by 2**64 paths
    for ms in [build_masks(1025, (256,) * 8), masks_from_degrees(np.arange(1025), degrees,
                                                                 direct=False)]:
        with pytest.raises(OverflowError) as error:
            ms.connectivity()
        assert_message(error, "beyond int64", "D <= 1024", "D=1025")
    assert build_masks(1025, (256,) * 2).connectivity().dtype == np.int64


# ---------------------------------------------------------------- limits and messages

def test_largest_allowed_values_are_accepted():
    assert build_masks(4096, ()).D == 4096
    assert build_masks(1, (16384,)).hidden_sizes == (16384,)
    assert build_masks(3, (1,) * 8, seed=2**32 - 1).hidden_sizes == (1,) * 8
    assert build_masks(3, np.array([4, 5])).hidden_sizes == (4, 5)


BAD_CONFIGS = [
    (dict(D=0), ["D must be in 1..4096, got 0"]),
    (dict(D=4097), ["D must be in 1..4096, got 4097"]),
    (dict(D=True), ["D must be a whole number in 1..4096, got True"]),
    (dict(D=3.0), ["D must be a whole number in 1..4096, got 3.0"]),
    (dict(D="3"), ["D must be a whole number in 1..4096, got '3'"]),
    (dict(hidden_sizes=(4,) * 9), ["hidden sizes", "at most 8 hidden layers, got 9"]),
    (dict(hidden_sizes=(0,)), ["hidden sizes: layer 1 must be in 1..16384, got 0"]),
    (dict(hidden_sizes=(4, 16385)), ["hidden sizes: layer 2 must be in 1..16384, got 16385"]),
    (dict(hidden_sizes=(4, -2)), ["hidden sizes: layer 2 must be in 1..16384, got -2"]),
    (dict(hidden_sizes=(True,)), ["hidden sizes: layer 1 must be a whole number", "got True"]),
    (dict(hidden_sizes=(2.0,)), ["hidden sizes: layer 1 must be a whole number", "got 2.0"]),
    (dict(hidden_sizes=("4",)), ["hidden sizes: layer 1 must be a whole number", "got '4'"]),
    (dict(hidden_sizes="500"), ["hidden sizes must be a list of whole numbers, got '500'"]),
    (dict(hidden_sizes=5), ["hidden sizes must be a list of whole numbers, got 5"]),
    (dict(D=4096, hidden_sizes=(16384,) * 3), ["would need 640.0 MB", "limit is 512 MB"]),
    (dict(D=1, hidden_sizes=(16384,) * 3), ["536,903,680 bytes", "536,870,912 bytes"]),
    (dict(D=5, ordering="columns"), ["ordering 'columns' needs D to be a square number", "D=5"]),
    (dict(ordering="diagonal"),
     ["ordering must be one of natural, reverse, random, columns", "got 'diagonal'"]),
    (dict(ordering=[0, 1, 1]),
     ["ordering: index 1 appears twice and 2 is missing", "permutation of 0..2"]),
    (dict(ordering=[0, 1]), ["ordering must list all 3 indices 0..2 once, got 2"]),
    (dict(ordering=[0, 1, 2, 3]), ["ordering must list all 3 indices 0..2 once, got 4"]),
    (dict(ordering=[0, 1, 3]), ["ordering: index 3 is outside 0..2"]),
    (dict(ordering=[0, 1, -1]), ["ordering: index -1 is outside 0..2"]),
    (dict(ordering=[0, 1, 2**70]), ["ordering: index 1180591620717411303424 is outside 0..2"]),
    (dict(ordering=[0, 1, 2.0]), ["ordering: item 2 (2.0) is not a whole number in 0..2"]),
    (dict(ordering=[True, 0, 2]), ["ordering: item 0 (True) is not a whole number in 0..2"]),
    (dict(ordering=["0", "1", "2"]), ["ordering: item 0 ('0') is not a whole number in 0..2"]),
    (dict(ordering=7), ["ordering must be a list of whole numbers, got 7"]),
    (dict(ordering=None), ["ordering must be a list of whole numbers, got None"]),
    (dict(hidden_degrees="uniform"), ["hidden degrees must be one of random, equal", "'uniform'"]),
    (dict(hidden_degrees=None), ["hidden degrees must be one of random, equal, got None"]),
    (dict(seed=-1), ["seed must be in 0..4294967295, got -1"]),
    (dict(seed=2**32), ["seed must be in 0..4294967295, got 4294967296"]),
    (dict(seed=1.5), ["seed must be a whole number in 0..4294967295, got 1.5"]),
    (dict(seed=True), ["seed must be a whole number in 0..4294967295, got True"]),
    (dict(seed="0"), ["seed must be a whole number in 0..4294967295, got '0'"]),
    (dict(direct="yes"), ["direct must be True or False, got 'yes'"]),
    (dict(direct=1), ["direct must be True or False, got 1"]),
]


@pytest.mark.parametrize("change, parts", BAD_CONFIGS, ids=[str(c) for c, _ in BAD_CONFIGS])
def test_bad_configuration_names_field_value_and_range(change, parts):
    config = dict(D=3, hidden_sizes=(4,))
    with pytest.raises(ValueError) as error:
        build_masks(**{**config, **change})
    assert_message(error, *parts)


def test_mask_memory_limit_is_exact(monkeypatch):
    D, hidden = 5, (7, 3)
    assert mask_bytes(D, hidden, direct=False) == 5 * 7 + 7 * 3 + 3 * 5
    assert mask_bytes(D, hidden, direct=True) == 5 * 7 + 7 * 3 + 3 * 5 + 25
    assert mask_bytes(D, (), direct=True) == 25
    needed = mask_bytes(D, hidden, direct=True)
    monkeypatch.setattr(masks_module, "MAX_MASK_BYTES", needed)
    assert build_masks(D, hidden, direct=True).D == D
    monkeypatch.setattr(masks_module, "MAX_MASK_BYTES", needed - 1)
    with pytest.raises(ValueError, match=re.escape(f"({needed:,} bytes)")):
        build_masks(D, hidden, direct=True)
    # Without direct weights the same network fits again.
    assert build_masks(D, hidden, direct=False).D == D


def test_the_real_mask_limit_refuses_a_network_before_allocating_it():
    hidden = (16384,) * 3  # 4096 x 16384 + 2 x 16384 x 16384 + 16384 x 4096 bytes
    needed = mask_bytes(4096, hidden, direct=False)
    assert needed > MAX_MASK_BYTES
    with pytest.raises(ValueError, match=re.escape(f"({needed:,} bytes); the limit is")):
        build_masks(4096, hidden)

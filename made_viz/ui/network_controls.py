"""The controls that build a network (hidden sizes, ordering, degree rule, seed, direct
connections) under the same URL keys on every page that has them, the masks they build, and the
Jacobian check of those masks."""
from __future__ import annotations

from functools import lru_cache

import streamlit as st

from made_viz.masks import DEGREE_RULES, ORDERINGS, MaskSet, build_masks
from made_viz.validation import SEED_MAX, check_int, parse_hidden_sizes, parse_ordering
from made_viz.ui.server import server_torch
from made_viz.ui.widgets import choice, flag, int_input, parsed_input

ORDERING_CHOICES = (*ORDERINGS, "custom")
ORDERING_HELP = ("natural: x0 first; reverse: last first; random: a seeded permutation; columns:"
                 " column by column for a square D (as for images); custom: type a permutation.")
ORDER_SHOWN = "network_order_shown"  # this module's own session key (remember_order)


def parse_page_hidden(text: str, max_layers: int, max_units: int) -> tuple[int, ...]:
    sizes = parse_hidden_sizes(text)
    if len(sizes) > max_layers:
        raise ValueError(f"hidden sizes: at most {max_layers} hidden layers here,"
                         f" got {len(sizes)}")
    return tuple(check_int(f"hidden sizes: layer {layer}", size, 1, max_units)
                 for layer, size in enumerate(sizes, 1))


# Shared rather than copied per call (a big MaskSet is megabytes): nothing changes a MaskSet
# once its path counts, its one lazy field, have been computed here. Process-wide caches keyed
# by hashable values: Streamlit's caches hash their arguments their own way, slowly for a
# call a page run makes a dozen times.
@lru_cache(maxsize=16)
def cached_masks(D, hidden_sizes, ordering, degrees, seed, direct) -> MaskSet:
    masks = build_masks(D, hidden_sizes, ordering=ordering, hidden_degrees=degrees, seed=seed,
                        direct=direct)
    masks.connectivity()
    return masks


@lru_cache(maxsize=64)
def jacobian(masks: MaskSet) -> dict:
    """made_viz.model.jacobian_check of these masks, once per MaskSet (cached_masks shares
    them); torch loads only when a check first runs."""
    from made_viz.model import jacobian_check

    server_torch()
    return jacobian_check(masks)


def remember_order(masks: MaskSet) -> None:
    """The ordering the page now shows: switching to 'custom' starts the permutation from it."""
    st.session_state[ORDER_SHOWN] = [int(i) for i in masks.order]


def _prefill_permutation() -> None:
    """Switching to 'custom' starts the permutation field from the current ordering."""
    if st.session_state.get("ordering") == "custom" and not st.session_state.get("perm"):
        shown = st.session_state.get(ORDER_SHOWN)
        if shown is not None:
            st.session_state["perm"] = " ".join(map(str, shown))


def network_controls(D: int, *, defaults: dict, max_layers: int, max_units: int) -> tuple:
    """Hidden sizes, ordering, degree rule, seed and direct connections for D inputs: the same
    controls under the same URL keys on every page that builds a network."""
    hidden = parsed_input("hidden sizes", "hidden", default=defaults["hidden"],
                          parse=lambda text: parse_page_hidden(text, max_layers, max_units),
                          expected=f"up to {max_layers} sizes in 1..{max_units}, such as"
                                   f" '{defaults['hidden']}'; empty for none",
                          help="Units per hidden layer, comma separated. Empty: direct only.")
    ordering = choice("ordering", "ordering", ORDERING_CHOICES, default=defaults["ordering"],
                      help=ORDERING_HELP, on_change=_prefill_permutation)
    if ordering == "custom":
        ordering = parsed_input(
            "custom permutation", "perm", default="", fallback=tuple(range(D)),
            parse=lambda text: _parse_permutation(text, D),
            expected=f"each of 0..{D - 1} once, in generation order, such as '{_example(D)}'",
            help="Which input is generated first, second, ...: a permutation of 0..D-1.")
    degrees = choice("hidden degrees", "degrees", DEGREE_RULES, default=defaults["degrees"],
                     help="random: each hidden degree drawn uniformly (the paper). equal: spread "
                          "evenly over 1..D-1 (TFP, pyro).")
    seed = int_input("seed", "seed", default=defaults["seed"], low=0, high=SEED_MAX,
                     help="Drives the random ordering and degrees; mask k uses seed + k.")
    direct = flag("direct connections", "direct", default=defaults["direct"],
                  help="Masked input-to-output weights: x_i reaches p(x_d) when i comes before d.")
    return hidden, ordering, degrees, seed, direct


def _example(D: int) -> str:
    """A permutation to show as an example: the reverse order, cut short for big D."""
    return " ".join(map(str, range(D - 1, max(D - 5, -1), -1))) + (" ..." if D > 4 else "")


def _parse_permutation(text: str, D: int) -> tuple[int, ...]:
    if not text.strip():
        raise ValueError(f"custom permutation: type each of 0..{D - 1} once")
    try:
        return parse_ordering(text, D)
    except ValueError as error:  # the library names the field "ordering"
        raise ValueError("custom permutation" + str(error).removeprefix("ordering")) from None

"""Masks page: build MADE's masks, see the network and its matrices, check they hold.

Every control is bound to the URL, so a copied link replays the view. A value that is not
allowed, typed or in the link, gets a warning naming the field and its range, and the page keeps
showing the last valid network. The views themselves are ui/masks_views.py's (the tour shows
them too); this page reads its controls and lays them out.
"""
from __future__ import annotations

from html import escape

import streamlit as st

from made_viz.figures import graph
from made_viz.ui import presenter, server
from made_viz.ui.masks_views import (Network, check_panel, explain, graph_view,
                                     jacobian_check_panel, masks_for, matrices_view)
from made_viz.ui.network_controls import network_controls, parse_page_hidden, remember_order
from made_viz.ui.widgets import flag, int_input, parsed_input

# Page limits: what the browser can show interactively (the library allows more).
MAX_D = 1024
MAX_LAYERS = 4
MAX_UNITS = 2048
MAX_MASKS = 32

DEFAULTS = dict(D=4, hidden="5, 5", ordering="natural", degrees="random", seed=0, direct=False,
                K=1, mask=0)


def read_controls() -> tuple[Network | None, list[str]]:
    """The network the controls ask for, or None with the reasons when it cannot be built."""
    st.header("Network")
    D = int_input("D (inputs)", "D", default=DEFAULTS["D"], low=1, high=MAX_D,
                  help="Number of binary inputs x0..x(D-1).")
    hidden, ordering, degrees, seed, direct = network_controls(
        D, defaults=DEFAULTS, max_layers=MAX_LAYERS, max_units=MAX_UNITS)
    st.header("Masks")
    K = int_input("number of masks K", "K", default=DEFAULTS["K"], low=1, high=MAX_MASKS,
                  help="MADE can train with several masks (connectivity-agnostic training).")
    mask = int_input("mask shown", "mask", default=DEFAULTS["mask"], low=0, high=K - 1,
                     help="Which of the K masks to draw; mask k is built with seed + k.")
    if mask >= K:  # the field kept its last value, which this K no longer allows (warned above)
        return None, []
    net = Network(D, hidden, ordering, degrees, seed, direct, K, mask)
    try:
        masks_for(net)
    except ValueError as error:
        return None, [str(error)]
    return net, []


def render() -> None:
    side = presenter.controls_area("Network")
    st.title("MADE masks")
    st.caption("Germain et al., 2015: an autoencoder becomes a distribution when output d only "
               "sees the inputs before d. Masks on the weights make sure of it.")
    server.my_turn()
    with side:
        net, problems = read_controls()
    if net is None:
        # Keep the last network that worked, and say which field stopped this one.
        for problem in problems:
            st.warning(f"{problem}. Still showing the last valid network.",
                       icon=":material/warning:")
        net = st.session_state.get("_masks_last_network") or Network(
            DEFAULTS["D"], parse_page_hidden(DEFAULTS["hidden"], MAX_LAYERS, MAX_UNITS),
            DEFAULTS["ordering"], DEFAULTS["degrees"], DEFAULTS["seed"], DEFAULTS["direct"],
            DEFAULTS["K"], DEFAULTS["mask"])
    st.session_state["_masks_last_network"] = net
    masks = masks_for(net)
    remember_order(masks)

    with side:
        st.header("Highlight")
        selected = parsed_input(
            "highlighted unit", "unit", default="", keep_last=False,
            parse=lambda text: graph.parse_unit(text, masks),
            expected="x<i> for an input, h<layer>.<unit> for a hidden unit, o<d> for an output,"
                     " or empty",
            help="Click a unit in the graph, or type its name: x3, h1.2, o3.",
            placeholder="click a unit, or type x0, h1.2, o3")

    present = presenter.presenting()
    if present:  # the network in presenter type
        presenter.readout(f"<b>{escape(net.describe())}</b>")
    else:
        st.markdown(f"**{net.describe()}**")
    if net.K > 1:
        st.caption(f"MADE can train with {net.K} masks, drawing one per minibatch "
                   "(connectivity-agnostic training), and average the models' probabilities at "
                   "test time. Change *mask shown* to step through them.")
    # The three charts go out first (the browser starts drawing them at once), then the text
    # beside and below the graph, and last the Jacobian check, while torch works.
    graph_col, text_col = st.columns([3, 1.25], gap="medium")
    with graph_col:
        graph_view(net, masks, selected)
    draw_matrices(net, masks)
    with graph_col:
        jacobian_slot = check_panel(masks)
    with text_col:
        explain(masks)
    with jacobian_slot:
        jacobian_check_panel(net, masks, big=present)


def draw_matrices(net: Network, masks) -> None:
    st.subheader("The masks as matrices")
    generation = flag("order rows and columns by generation order", "gen", default=False,
                      help="Index order: x0, x1, ... Generation order: inputs and outputs in the "
                           "ordering, hidden units sorted by degree. The product matrix is then "
                           "strictly lower-triangular.")
    matrices_view(net, masks, generation)

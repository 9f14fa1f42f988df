"""Masks page: build MADE's masks, see the network and its matrices, check they hold.

Every control is bound to the URL, so a copied link replays the view. A value that is not
allowed, typed or in the link, gets a warning naming the field and its range, and the page keeps
showing the last valid network.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import streamlit as st

from made_viz.figures import graph, matrices
from made_viz.masks import MaskSet
from made_viz.ui import server
from made_viz.ui.network_controls import (cached_masks, jacobian, network_controls,
                                          parse_page_hidden, remember_order)
from made_viz.ui.widgets import flag, int_input, parsed_input

# Page limits: what the browser can show interactively (the library allows more).
MAX_D = 1024
MAX_LAYERS = 4
MAX_UNITS = 2048
MAX_MASKS = 32
# Above this many multiply-adds the Jacobian check waits for a button instead of running itself.
AUTO_JACOBIAN_FLOPS = 2e9

DEFAULTS = dict(D=4, hidden="5, 5", ordering="natural", degrees="random", seed=0, direct=False,
                K=1, mask=0)
GRAPH_CONFIG = dict(displayModeBar=True, displaylogo=False, scrollZoom=False,
                    modeBarButtonsToRemove=["select2d", "lasso2d", "zoom2d", "pan2d",
                                            "zoomIn2d", "zoomOut2d", "autoScale2d"])


@dataclass(frozen=True)
class Network:
    """Everything the masks are built from; hashable, so it keys the caches."""
    D: int
    hidden_sizes: tuple[int, ...]
    ordering: str | tuple[int, ...]
    degrees: str
    seed: int
    direct: bool
    K: int
    mask: int

    def describe(self) -> str:
        ordering = self.ordering if isinstance(self.ordering, str) else "custom"
        # Without a hidden layer the direct connections are the network, whatever the toggle.
        network = (f"hidden {', '.join(map(str, self.hidden_sizes))}, {ordering} ordering, "
                   f"{self.degrees} degrees, direct {'on' if self.direct else 'off'}"
                   if self.hidden_sizes else
                   f"hidden none (direct connections only), {ordering} ordering")
        return (f"D = {self.D}, {network}; mask {self.mask} of {self.K}"
                f" uses seed {self.seed} + {self.mask} = {self.seed + self.mask}")


def masks_for(net: Network) -> MaskSet:
    """Mask `net.mask` of K, built with seed + k as made_viz.model.MADE does."""
    return cached_masks(net.D, net.hidden_sizes, net.ordering, net.degrees, net.seed + net.mask,
                        net.direct)


# Figures are pure functions of (network, view): cached so that a click or a toggle rebuilds
# only what changed. Shared, not copied: st.plotly_chart only reads a figure.
@lru_cache(maxsize=48)
def graph_figure(net: Network, selected: tuple[int, int] | None):
    return graph.connectivity_graph(masks_for(net), selected)


@lru_cache(maxsize=16)
def matrix_figures(net: Network, generation: bool):
    masks = masks_for(net)
    layer_masks = (matrices.layer_masks_figure(masks, by_degree=generation, height=440)
                   if masks.layer_masks else None)
    return layer_masks, matrices.path_count_figure(masks, generation_order=generation, height=440)


def _on_graph_click() -> None:
    """A click on a node puts its name in the 'highlighted unit' field (and so in the URL)."""
    event = st.session_state.get("graph")
    points = event["selection"]["points"] if event else []
    # An empty selection also arrives when the figure is redrawn: keep the highlight then.
    for point in points:
        data = point.get("customdata")
        if data:
            st.session_state["unit"] = str(data[2])
            return


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
    st.title("MADE masks")
    st.caption("Germain et al., 2015: an autoencoder becomes a distribution when output d only "
               "sees the inputs before d. Masks on the weights make sure of it.")
    server.my_turn()
    with st.sidebar:
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

    with st.sidebar:
        st.header("Highlight")
        selected = parsed_input(
            "highlighted unit", "unit", default="", keep_last=False,
            parse=lambda text: graph.parse_unit(text, masks),
            expected="x<i> for an input, h<layer>.<unit> for a hidden unit, o<d> for an output,"
                     " or empty",
            help="Click a unit in the graph, or type its name: x3, h1.2, o3.",
            placeholder="click a unit, or type x0, h1.2, o3")

    st.markdown(f"**{net.describe()}**")
    if net.K > 1:
        st.caption(f"MADE can train with {net.K} masks, drawing one per minibatch "
                   "(connectivity-agnostic training), and average the models' probabilities at "
                   "test time. Change *mask shown* to step through them.")
    # The three charts go out first (the browser starts drawing them at once), then the text
    # beside and below the graph, and last the Jacobian check, while torch works.
    graph_col, text_col = draw_graph(net, masks, selected)
    draw_matrices(net, masks)
    with graph_col:
        jacobian_slot = check_panel(masks)
    with text_col:
        explain(masks)
    with jacobian_slot:
        jacobian_check_panel(net, masks)


def draw_graph(net: Network, masks: MaskSet, selected):
    """The graph and the lines under it; returns its column and the empty one beside it."""
    graph_col, text_col = st.columns([3, 1.25], gap="medium")
    grouped = graph.is_grouped(masks)
    with graph_col:
        st.plotly_chart(graph_figure(net, selected), key="graph", theme=None,
                        on_select=_on_graph_click, selection_mode="points",
                        config={**GRAPH_CONFIG, "toImageButtonOptions": dict(
                            format="png", filename=f"made-graph-{_slug(net)}", scale=2)})
        if selected is not None:
            st.markdown(f"**Highlighting {graph.selection_summary(masks, selected)}**")
            if grouped:
                st.caption("The reduced graph lights the paths of the selected unit's whole "
                           "degree group.")
        else:
            st.caption("Click a unit to light up every path into and out of it.")
        if grouped:
            widest = max(graph.layer_widths(masks))
            st.info(f"This network is too big to draw unit by unit (up to {widest:,} units in a "
                    f"layer, {graph.weight_count(masks):,} weights): units with nearby degrees "
                    "are merged into one node, and a line's width grows with the number of weights "
                    "it stands for.", icon=":material/info:")
    return graph_col, text_col


def explain(masks: MaskSet) -> None:
    D = masks.D
    dead = masks.dead_units()
    st.subheader("How to read it")
    st.markdown(
        f"- Every unit has a **degree** *m*. Input *x*ᵢ gets its place in the ordering, "
        f"1 to {D}.\n"
        f"- A hidden unit gets *m* from 1 to {max(D - 1, 1)} and keeps a weight when "
        "*m*(unit) ≥ *m*(source): it sees only inputs up to its degree.\n"
        "- An output keeps a weight only when *m*(output) > *m*(source), "
        "strictly: *p*(*x_d* | ·) never sees *x_d* itself or anything after it.\n"
        f"- Hidden degrees stop at *D* − 1: a unit of degree {D} could only feed an output of "
        f"degree above {D}, and there is none.\n"
        "- A **dead unit** (grey) is on no input-to-output path, so its weights are wasted. "
        "The first output and the last input always are: the first output has nothing to "
        "see, the last input nobody to tell.")
    # Math in Unicode, not $...$: the browser typesets (KaTeX) every such text again on each
    # change, a noticeable part of an update. Apart, so that the text above stays the same.
    st.markdown(f"Dead units in this network: **{len(dead)}**.")


def check_panel(masks: MaskSet):
    """The check from the masks; returns the slot where the Jacobian check goes."""
    st.subheader("Check")
    from_masks, from_jacobian = st.columns(2, gap="medium")
    with from_masks:
        if masks.is_autoregressive():
            st.success("**Autoregressive**, from the masks: no output depends on its own input "
                       "or a later one.", icon=":material/check_circle:")
        else:
            st.error("**Not autoregressive**: some output sees itself or a later input.",
                     icon=":material/cancel:")
        st.caption("Read off the product matrix: in generation order nothing lies on or above "
                   "the diagonal.")
    return from_jacobian.empty()


def jacobian_check_panel(net: Network, masks: MaskSet) -> None:
    with st.container():
        flops = net.D * sum(m.size for m in masks.layer_masks) + net.D ** 2 * net.direct
        if flops > AUTO_JACOBIAN_FLOPS and not st.button("Run the Jacobian check", key="run_jac"):
            st.caption("The Jacobian check for a network this big takes a few seconds: press "
                       "the button to run it.")
            return
        result = jacobian(masks)
        mismatches = result["nonzero_where_unconnected"] + result["zero_where_connected"]
        st.markdown(
            # Non-breaking spaces: the fraction stays on one line.
            "**Confirmed numerically**: the Jacobian ∂\u00a0logitₒ\u00a0/\u00a0∂\u00a0*x*ᵢ of a "
            "randomly initialized MADE with these masks is nonzero exactly where a path exists.")
        st.markdown(
            f"| | count |\n|---|--:|\n| Jacobian entries ≠ 0 | {result['nonzero']:,} |\n"
            f"| (o, i) pairs with a path | {result['connected']:,} |\n"
            f"| mismatches | {mismatches:,} |")
        if not result["matches"]:
            st.error(f"The Jacobian disagrees with the masks in {mismatches} entries.",
                     icon=":material/close:")


def draw_matrices(net: Network, masks: MaskSet) -> None:
    st.subheader("The masks as matrices")
    generation = flag("order rows and columns by generation order", "gen", default=False,
                      help="Index order: x0, x1, ... Generation order: inputs and outputs in the "
                           "ordering, hidden units sorted by degree. The product matrix is then "
                           "strictly lower-triangular.")
    st.caption("Each mask has the weight's shape (units above × units below); dark = weight kept. "
               "Their product counts the paths from each input to each output. "
               + ("Units are sorted by degree: inputs and outputs in the ordering."
                  if generation else "Units are in index order."))
    layer_masks, product = matrix_figures(net, generation)
    if layer_masks is None:
        mask_col, product_col = st.columns([1, 1])
        mask_col.caption("No hidden layer: the direct connections are the whole network.")
    else:
        mask_col, product_col = st.columns([len(masks.layer_masks) + 0.5, 2], gap="medium")
        with mask_col:
            st.plotly_chart(layer_masks, key="masks", theme=None, config={
                                "displaylogo": False, "toImageButtonOptions": dict(
                                    format="png", filename=f"made-masks-{_slug(net)}", scale=2)})
    with product_col:
        st.plotly_chart(product, key="paths", theme=None, config={
            "displayModeBar": True, "displaylogo": False, "toImageButtonOptions": dict(
                format="png", filename=f"made-paths-{_slug(net)}", scale=2)})


def _slug(net: Network) -> str:
    hidden = "-".join(map(str, net.hidden_sizes)) or "none"
    return f"D{net.D}-h{hidden}-seed{net.seed + net.mask}"

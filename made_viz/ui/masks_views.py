"""The Masks page's views, each drawn from explicit settings (a Network): the network as a
graph (click a unit to light every path through it), each layer's mask and their product as
matrices, and the checks that the masks hold (read off the masks, and numerically with the
Jacobian). The Masks page and the tour call them; `key` prefixes every chart's and widget's
key and `unit_key` names the session key a click on the graph writes, so two pages showing
the same view never share its state by accident.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial

import streamlit as st

from made_viz.figures import graph, matrices
from made_viz.masks import MaskSet
from made_viz.ui.network_controls import cached_masks, jacobian

# Above this many multiply-adds the Jacobian check waits for a button instead of running itself.
AUTO_JACOBIAN_FLOPS = 2e9
MATRIX_PX = 440
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
    K: int = 1
    mask: int = 0

    def describe(self) -> str:
        ordering = self.ordering if isinstance(self.ordering, str) else "custom"
        # Without a hidden layer the direct connections are the network, whatever the toggle.
        network = (f"hidden {', '.join(map(str, self.hidden_sizes))}, {ordering} ordering, "
                   f"{self.degrees} degrees, direct {'on' if self.direct else 'off'}"
                   if self.hidden_sizes else
                   f"hidden none (direct connections only), {ordering} ordering")
        return (f"D = {self.D}, {network}; mask {self.mask} of {self.K}"
                f" uses seed {self.seed} + {self.mask} = {self.seed + self.mask}")

    def slug(self) -> str:
        """The network in a file name: made-graph-D4-h5-5-seed0.png."""
        hidden = "-".join(map(str, self.hidden_sizes)) or "none"
        return f"D{self.D}-h{hidden}-seed{self.seed + self.mask}"


def masks_for(net: Network) -> MaskSet:
    """Mask `net.mask` of K, built with seed + k as made_viz.model.MADE does."""
    return cached_masks(net.D, net.hidden_sizes, net.ordering, net.degrees, net.seed + net.mask,
                        net.direct)


# Figures are pure functions of (network, view): cached so that a click or a toggle rebuilds
# only what changed. Shared, not copied: st.plotly_chart only reads a figure.
@lru_cache(maxsize=48)
def graph_figure(net: Network, selected: tuple[int, int] | None, height: int | None = None):
    return graph.connectivity_graph(masks_for(net), selected, height=height)


@lru_cache(maxsize=16)
def layer_masks_figure(net: Network, generation: bool, height: int = MATRIX_PX):
    masks = masks_for(net)
    return (matrices.layer_masks_figure(masks, by_degree=generation, height=height)
            if masks.layer_masks else None)


@lru_cache(maxsize=16)
def product_figure(net: Network, generation: bool, height: int = MATRIX_PX):
    return matrices.path_count_figure(masks_for(net), generation_order=generation, height=height)


def graph_clicked(chart_key: str, unit_key: str) -> None:
    """A click on a node puts its name in the highlighted unit's session key."""
    event = st.session_state.get(chart_key)
    points = event["selection"]["points"] if event else []
    # An empty selection also arrives when the figure is redrawn: keep the highlight then.
    for point in points:
        data = point.get("customdata")
        if data:
            st.session_state[unit_key] = str(data[2])
            return


def graph_view(net: Network, masks: MaskSet, selected, *, key: str = "",
               unit_key: str = "unit", height: int | None = None) -> None:
    """The graph, clickable, and the lines under it: what is lit, how to light it."""
    chart_key = f"{key}graph"
    grouped = graph.is_grouped(masks)
    st.plotly_chart(graph_figure(net, selected, height), key=chart_key, theme=None,
                    on_select=partial(graph_clicked, chart_key, unit_key),
                    selection_mode="points",
                    config={**GRAPH_CONFIG, "toImageButtonOptions": dict(
                        format="png", filename=f"made-graph-{net.slug()}", scale=2)})
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


def masks_verdict(masks: MaskSet) -> None:
    """What the masks say: autoregressive or not."""
    if masks.is_autoregressive():
        st.success("**Autoregressive**, from the masks: no output depends on its own input "
                   "or a later one.", icon=":material/check_circle:")
    else:
        st.error("**Not autoregressive**: some output sees itself or a later input.",
                 icon=":material/cancel:")


def check_panel(masks: MaskSet):
    """The check from the masks; returns the slot where the Jacobian check goes."""
    st.subheader("Check")
    from_masks, from_jacobian = st.columns(2, gap="medium")
    with from_masks:
        masks_verdict(masks)
        st.caption("Read off the product matrix: in generation order nothing lies on or above "
                   "the diagonal.")
    return from_jacobian.empty()


def jacobian_check_panel(net: Network, masks: MaskSet, *, key: str = "",
                         big: bool = False) -> None:
    """The Jacobian check of these masks: a table (big: the same counts as one read-out in
    presenter type); for a network too big to check at once, a button that runs it."""
    with st.container():
        flops = net.D * sum(m.size for m in masks.layer_masks) + net.D ** 2 * net.direct
        if flops > AUTO_JACOBIAN_FLOPS and not st.button("Run the Jacobian check",
                                                         key=f"{key}run_jac"):
            st.caption("The Jacobian check for a network this big takes a few seconds: press "
                       "the button to run it.")
            return
        if big:
            jacobian_readout(masks, big=True)
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


def jacobian_readout(masks: MaskSet, big: bool = False) -> None:
    """The Jacobian check in three numbers, in our read-out type (the tour's; the page has the
    table, and a button for big networks)."""
    result = jacobian(masks)
    mismatches = result["nonzero_where_unconnected"] + result["zero_where_connected"]
    st.html(f"<div class='mv-readout{' mv-big' if big else ''}'>The Jacobian ∂ logit / ∂ x of"
            f" a random network with these masks: <b>{result['nonzero']}</b> entries ≠ 0,"
            f" <b>{result['connected']}</b> (o, i) pairs with a path, <b>{mismatches}</b>"
            " mismatches.</div>")


def matrices_caption(generation: bool) -> str:
    return ("Each mask has the weight's shape (units above × units below); dark = weight kept. "
            "Their product counts the paths from each input to each output. "
            + ("Units are sorted by degree: inputs and outputs in the ordering."
               if generation else "Units are in index order."))


def layer_masks_chart(net: Network, generation: bool, *, key: str = "",
                      height: int = MATRIX_PX) -> bool:
    """Each layer's mask side by side; False (and nothing drawn) without a hidden layer."""
    figure = layer_masks_figure(net, generation, height)
    if figure is None:
        return False
    st.plotly_chart(figure, key=f"{key}masks", theme=None, config={
        "displaylogo": False, "toImageButtonOptions": dict(
            format="png", filename=f"made-masks-{net.slug()}", scale=2)})
    return True


def product_chart(net: Network, generation: bool, *, key: str = "",
                  height: int = MATRIX_PX) -> None:
    """The product of the masks: the number of paths from each input to each output."""
    st.plotly_chart(product_figure(net, generation, height), key=f"{key}paths", theme=None,
                    config={"displayModeBar": True, "displaylogo": False,
                            "toImageButtonOptions": dict(
                                format="png", filename=f"made-paths-{net.slug()}", scale=2)})


def matrices_view(net: Network, masks: MaskSet, generation: bool, *, key: str = "") -> None:
    """The layer masks beside their product, under a line saying how to read them."""
    st.caption(matrices_caption(generation))
    if not masks.layer_masks:
        mask_col, product_col = st.columns([1, 1])
        mask_col.caption("No hidden layer: the direct connections are the whole network.")
    else:
        mask_col, product_col = st.columns([len(masks.layer_masks) + 0.5, 2], gap="medium")
        with mask_col:
            layer_masks_chart(net, generation, key=key)
    with product_col:
        product_chart(net, generation, key=key)

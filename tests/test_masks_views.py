"""The Masks page's views, drawn from explicit settings: keyed by the caller, so the tour's
graph and the page's never share a chart or a highlighted unit; the network in words and in a
file name."""
from __future__ import annotations

import streamlit as st
from streamlit.testing.v1 import AppTest

from made_viz.ui import masks_views
from made_viz.ui.masks_views import Network


def two_graphs():
    from made_viz.ui.masks_views import Network, graph_view, masks_for, jacobian_readout

    net = Network(4, (5, 5), "natural", "random", 0, False)
    masks = masks_for(net)
    graph_view(net, masks, None)
    graph_view(net, masks, (3, 2), key="tour_", unit_key="tour_unit", height=480)
    jacobian_readout(masks, big=True)


def test_two_graphs_on_one_page_keep_their_own_keys():
    at = AppTest.from_function(two_graphs, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    ids = [c.proto.id for c in at.get("plotly_chart")]
    assert ids[0].endswith("-graph") and ids[1].endswith("-tour_graph")
    assert any("Highlighting o2 (degree 3)" in m.value for m in at.markdown)
    readout = next(h.proto.body for h in at.get("html") if "mv-readout" in h.proto.body)
    assert "mv-big" in readout and "<b>0</b> mismatches" in readout


def test_a_click_on_the_graph_writes_the_callers_unit_key_only():
    st.session_state.clear()
    st.session_state["tour_graph"] = {"selection": {"points": [{"customdata": [2, 1, "h1.1"]}]}}
    masks_views.graph_clicked("tour_graph", "tour_unit")
    assert st.session_state["tour_unit"] == "h1.1" and "unit" not in st.session_state
    st.session_state["tour_graph"] = {"selection": {"points": []}}  # a redraw: keep the unit
    masks_views.graph_clicked("tour_graph", "tour_unit")
    assert st.session_state["tour_unit"] == "h1.1"


def test_a_network_says_what_it_is():
    net = Network(4, (5, 5), "natural", "random", 3, True, K=2, mask=1)
    assert net.describe() == ("D = 4, hidden 5, 5, natural ordering, random degrees, direct on;"
                              " mask 1 of 2 uses seed 3 + 1 = 4")
    assert net.slug() == "D4-h5-5-seed4"
    assert Network(3, (), (2, 1, 0), "equal", 0, False).slug() == "D3-hnone-seed0"
    assert masks_views.matrices_caption(True).endswith("inputs and outputs in the ordering.")

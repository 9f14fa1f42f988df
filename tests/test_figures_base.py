"""figures/base.py: the plumbing every figure shares, seen through the Masks page's figures
(the graph, the layer masks and the path counts)."""
from __future__ import annotations

from made_viz.figures import base, graph, matrices
from made_viz.masks import build_masks


def test_figures_stay_cheap_for_the_browser_to_draw_again():
    """Streamlit hands Plotly.react each new chart a second time: it is ~free only with a data
    revision that follows the data, plain lists (no typed arrays) and no template object; the
    matrices must not ask Plotly to measure their labels (automargin) nor push their margins
    (a colour bar), and the graph's lines are a few SVG paths, not one element per line."""
    import plotly.io

    def build(masks, selected=None, generation=False):
        return [graph.connectivity_graph(masks, selected),
                matrices.layer_masks_figure(masks, by_degree=generation),
                matrices.path_count_figure(masks, generation_order=generation)]

    for D, hidden in [(4, (5, 5)), (32, (64, 64)), (784, (500,))]:
        masks = build_masks(D, hidden, seed=1, direct=True)
        drawn = build(masks)
        specs = [plotly.io.to_json(f.to_dict(), validate=False) for f in drawn]
        assert not any('"bdata"' in spec for spec in specs)
        assert all(f.to_dict()["layout"]["template"] == "none" for f in drawn)
        for figure in drawn[1:]:
            axes = [v for k, v in figure.to_dict()["layout"].items() if k[1:5] == "axis"]
            assert axes and all(axis["automargin"] is False for axis in axes)
            # Unlabelled unit axes get no ticks (Plotly would place one every few units).
            assert all(axis.get("tickvals") == [] for axis in axes
                       if axis.get("type") == "category" and not axis["showticklabels"])
        assert drawn[2].layout.margin.autoexpand is False
        if D > 16:  # a colour bar, in a margin wide enough for it
            assert drawn[2].layout.margin.r >= base.COLORBAR_PX
        drawn_graph = drawn[0]
        assert all(t.x == (None,) for t in drawn_graph.data if t.mode == "lines")  # legend swatches
        assert 1 <= len(drawn_graph.layout.shapes) <= 12
        assert len([t for t in drawn_graph.data if t.customdata]) <= 2  # live and dead nodes
        if D == 4:
            assert sum(map(len, specs)) < 20_000  # all three charts of the default view
        # The revision follows the data: same network, same revision; any change, another one.
        revisions = [f.layout.datarevision for f in drawn]
        assert revisions == [f.layout.datarevision for f in build(build_masks(
            D, hidden, seed=1, direct=True))]
        for other in (build(build_masks(D, hidden, seed=2, direct=True)),
                      build(masks, (0, 0), generation=True)):
            assert all(a != b.layout.datarevision for a, b in zip(revisions, other))


def test_cached_figures_survive_plotly_reading_them():
    """The page's figures are cached and shared by every session: plotly's repr and to_json
    write into the top of the dict they are given, and must not reach the figure's own."""
    import plotly.io

    masks = build_masks(6, (5,), seed=2)
    for figure in (graph.connectivity_graph(masks), matrices.layer_masks_figure(masks),
                   matrices.path_count_figure(masks)):
        before = plotly.io.to_json(figure, validate=False)
        repr(figure)
        figure.to_dict()["layout"]["title"] = "changed"
        figure.to_dict()["data"][0]["name"] = "changed"
        assert plotly.io.to_json(figure, validate=False) == before

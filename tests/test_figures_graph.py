"""figures/graph.py: the connectivity graph, unit names and their parsing."""
from __future__ import annotations

import re

import numpy as np
import pytest

from made_viz.figures import graph
from made_viz.masks import build_masks


def test_parse_unit_accepts_names_and_rejects_others():
    masks = build_masks(4, (5, 5), seed=0)
    assert graph.parse_unit("x3", masks) == (0, 3)
    assert graph.parse_unit(" H2.4 ", masks) == (2, 4)
    assert graph.parse_unit("o0", masks) == (3, 0)
    assert graph.parse_unit("", masks) is None
    for bad, words in [("x4", "0..3"), ("h3.0", "layers 1..2"), ("h1.5", "0..4"),
                       ("y1", "look like x3")]:
        with pytest.raises(ValueError, match=re.escape(words)):
            graph.parse_unit(bad, masks)


def test_graph_draws_one_line_per_kept_weight_when_exact():
    masks = build_masks(5, (6, 4), seed=3, direct=True)
    figure = graph.connectivity_graph(masks)
    assert not graph.is_grouped(masks)
    # The lines are a few SVG paths (layout shapes): one M(ove) starts each line.
    drawn = [s for s in figure.layout.shapes if s.type == "path"]
    segments = sum(s.path.count("M") for s in drawn if s.line.dash is None)
    arcs = sum(s.path.count("M") for s in drawn if s.line.dash == "dot")
    assert segments == sum(int(m.sum()) for m in masks.layer_masks)
    assert arcs == int(masks.direct_mask.sum())
    assert all(s.layer == "below" for s in drawn)  # under the clickable nodes
    # Each weight's line joins exactly its two units' nodes: (layer, unit) -> the node's centre.
    at = {(c[0], c[1]): (x, y) for t in figure.data if t.customdata
          for x, y, c in zip(t.x, t.y, t.customdata)}
    number = r"([-\d.]+)"
    lines = {tuple(map(float, m)) for s in drawn if s.line.dash is None
             for m in re.findall(rf"M{number},{number}L{number},{number}", s.path)}
    assert lines == {(*at[l, i], *at[l + 1, o]) for l, m in enumerate(masks.layer_masks)
                     for o, i in zip(*np.nonzero(m))}
    arcs = {tuple(map(float, m)) for s in drawn if s.line.dash == "dot"
            for m in re.findall(rf"M{number},{number}Q[-\d.]+,[-\d.]+ {number},{number}", s.path)}
    last = len(masks.layer_masks)
    assert arcs == {(*at[0, i], *at[last, o]) for o, i in zip(*np.nonzero(masks.direct_mask))}


def test_dead_units_are_grey_with_the_reason_on_hover():
    masks = build_masks(4, (5, 5), seed=0)
    dead = masks.dead_units()
    figure = graph.connectivity_graph(masks)
    grey = next(t for t in figure.data if t.name.startswith("dead unit") and t.customdata)
    assert sorted(c[2] for c in grey.customdata) == sorted(
        graph.unit_name(masks, d.layer, d.index) for d in dead)
    for (layer, index, _), hover in zip(grey.customdata, grey.hovertext):
        reason = next(d.reason for d in dead if (d.layer, d.index) == (layer, index))
        assert reason in hover


def test_graph_legend_keeps_its_order_whatever_is_selected():
    masks = build_masks(4, (5, 5), seed=0, direct=True)
    order = ["kept weight (mask = 1)", "on a path through the selected unit",
             "direct connection (input → output)"]
    for selected in (None, (3, 3), (2, 3), (0, 0), (1, 4)):
        names = [t.name for t in graph.connectivity_graph(masks, selected).data
                 if t.mode == "lines"]
        assert names == [n for n in order if n in names] and order[0] in names

"""The Masks page, driven headlessly with Streamlit's AppTest (and the figures it draws)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from made_viz import figures
from made_viz.masks import build_masks

APP = Path(__file__).resolve().parents[1] / "app.py"
DEFAULT_VIEW = "D = 4, hidden 5, 5, natural ordering"


def open_page(**query) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(query)
    return at.run()


def view(at: AppTest) -> str:
    """The bold line that says which network is drawn."""
    return next(m.value for m in at.markdown if m.value.startswith("**D = "))


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def jacobian_counts(at: AppTest) -> dict[str, int]:
    table = next(m.value for m in at.markdown if "Jacobian entries" in m.value)
    rows = re.findall(r"\| ([^|]+?) \| ([\d,]+) \|", table)
    return {name: int(count.replace(",", "")) for name, count in rows}


def chart(at: AppTest, key: str) -> dict:
    element = next(c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}"))
    return {"figure": json.loads(element.proto.spec), "config": json.loads(element.proto.config),
            "bytes": len(element.proto.spec)}


def test_default_view_is_small_and_checked():
    at = open_page()
    assert not at.exception and not warnings(at)
    assert view(at).startswith(f"**{DEFAULT_VIEW}")
    masks = build_masks(4, (5, 5), seed=0)
    counts = jacobian_counts(at)
    assert counts["(o, i) pairs with a path"] == int((masks.connectivity() != 0).sum())
    assert counts["Jacobian entries ≠ 0"] == counts["(o, i) pairs with a path"]
    assert counts["mismatches"] == 0
    assert any("Autoregressive" in s.value for s in at.success) and not at.error
    graph = chart(at, "graph")
    # Every unit is one clickable node carrying its name.
    names = [c[2] for t in graph["figure"]["data"] for c in (t.get("customdata") or [])]
    assert sorted(names) == sorted([f"x{i}" for i in range(4)] + [f"h1.{i}" for i in range(5)]
                                   + [f"h2.{i}" for i in range(5)] + [f"o{i}" for i in range(4)])
    assert graph["config"]["toImageButtonOptions"]["format"] == "png"
    assert graph["config"]["toImageButtonOptions"]["filename"].startswith("made-graph-D4")
    assert chart(at, "paths")["config"]["toImageButtonOptions"]["filename"].startswith("made-paths")


@pytest.mark.parametrize("key, text, field, allowed", [
    ("D", "0", "D (inputs)", "1..1024"),
    ("D", "abc", "D (inputs)", "1..1024"),
    ("D", "5000", "D (inputs)", "1..1024"),
    ("hidden", "4, x", "hidden sizes", "1..2048"),
    ("hidden", "0", "hidden sizes", "1..2048"),
    ("hidden", "3000", "hidden sizes", "1..2048"),
    ("hidden", "2 2 2 2 2", "hidden sizes", "at most 4"),
    ("seed", "-1", "seed", "0..2147483647"),
    ("seed", "1.5", "seed", "0..2147483647"),
    ("K", "0", "number of masks K", "1..32"),
    ("K", "33", "number of masks K", "1..32"),
    ("mask", "1", "mask shown", "0..0"),
])
def test_typed_bad_value_warns_and_keeps_the_last_view(key, text, field, allowed):
    at = open_page()
    at.text_input(key="D").set_value("6").run()
    good = view(at)
    assert good.startswith("**D = 6")
    at.text_input(key=key).set_value(text).run()
    assert not at.exception
    shown = warnings(at)
    assert len(shown) == 1, shown
    assert f"**{field}**" in shown[0] and allowed in shown[0]
    assert view(at) == good


def test_a_fixed_value_clears_the_warning():
    at = open_page()
    at.text_input(key="D").set_value("0").run()
    assert warnings(at)
    at.text_input(key="D").set_value("7").run()
    assert not warnings(at) and view(at).startswith("**D = 7")


def test_every_bad_link_value_is_named_and_the_defaults_are_shown():
    at = open_page(D="abc", hidden="4;x", ordering="bogus", degrees="weird", direct="maybe",
                   seed="-3", K="0", gen="perhaps", unit="h7.1")
    assert not at.exception
    text = "\n".join(warnings(at))
    for field, allowed in [("D (inputs)", "1..1024"), ("hidden sizes", "1..2048"),
                           ("ordering", "natural, reverse, random, columns, custom"),
                           ("hidden degrees", "random, equal"),
                           ("direct connections", "true or false"), ("seed", "0..2147483647"),
                           ("number of masks K", "1..32"),
                           ("order rows and columns", "true or false"),
                           ("highlighted unit", "hidden layer 7")]:
        assert f"**{field}" in text and allowed in text, field
    assert view(at).startswith(f"**{DEFAULT_VIEW}")


def test_link_warning_stays_until_the_field_is_changed():
    at = open_page(ordering="bogus")
    assert "bogus" in "".join(warnings(at))
    at.text_input(key="D").set_value("5").run()  # another field: the link was still wrong
    assert "bogus" in "".join(warnings(at))
    at.selectbox(key="ordering").set_value("reverse").run()
    assert not warnings(at) and "reverse ordering" in view(at)


def test_a_link_reproduces_the_view_including_mask_k():
    at = open_page(D="6", hidden="8,8", ordering="reverse", degrees="equal", seed="3",
                   direct="true", K="3", mask="2", unit="o4")
    assert not at.exception and not warnings(at)
    assert view(at).startswith("**D = 6, hidden 8, 8, reverse ordering, equal degrees, direct on;"
                               " mask 2 of 3 uses seed 3 + 2 = 5")
    masks = build_masks(6, (8, 8), ordering="reverse", hidden_degrees="equal", seed=5,
                        direct=True)
    counts = jacobian_counts(at)
    assert counts["(o, i) pairs with a path"] == int((masks.connectivity() != 0).sum())
    # o4 is generated second in reverse order: it sees x5 alone.
    assert any(m.value.startswith("**Highlighting o4 (degree 2), sees x5;") for m in at.markdown)


def test_mask_shown_must_be_below_K():
    at = open_page(K="3", mask="2")
    assert "mask 2 of 3" in view(at)
    at.text_input(key="K").set_value("2").run()
    shown = warnings(at)
    assert len(shown) == 1 and "**mask shown**" in shown[0] and "0..1" in shown[0]
    assert "mask 2 of 3" in view(at)  # the last valid view


def test_columns_ordering_needs_a_square_D_and_keeps_the_last_view():
    at = open_page(ordering="columns")  # D = 4 is square
    assert "columns ordering" in view(at)
    at.text_input(key="D").set_value("5").run()
    assert not at.exception
    assert any("ordering 'columns' needs D to be a square number" in w for w in warnings(at))
    assert view(at).startswith("**D = 4")
    at.text_input(key="D").set_value("9").run()
    assert not warnings(at) and view(at).startswith("**D = 9")


def test_custom_permutation_starts_from_the_current_order_and_is_validated():
    at = open_page(ordering="reverse")
    at.selectbox(key="ordering").set_value("custom").run()
    assert at.text_input(key="perm").value == "3 2 1 0"
    assert not warnings(at) and "custom ordering" in view(at)
    at.text_input(key="perm").set_value("2 0 3 1").run()
    assert not warnings(at)
    good = view(at)
    for bad, words in [("0 0 1 2", "appears twice"), ("0 1 2", "all 4 indices"),
                       ("0 1 2 9", "outside 0..3"), ("a b c d", "not a whole number")]:
        at.text_input(key="perm").set_value(bad).run()
        shown = warnings(at)
        assert len(shown) == 1 and "**custom permutation**" in shown[0] and words in shown[0]
        assert "each of 0..3 once" in shown[0]
        assert view(at) == good


def test_highlighted_unit_names_what_it_sees_and_feeds():
    at = open_page(D="5", hidden="6", seed="2")
    masks = build_masks(5, (6,), seed=2)
    paths = masks.connectivity()
    for output in range(5):
        at.text_input(key="unit").set_value(f"o{output}").run()
        line = next(m.value for m in at.markdown if m.value.startswith("**Highlighting"))
        seen = [f"x{i}" for i in np.flatnonzero(paths[output])]
        assert (f"sees {', '.join(seen)};" if seen else "sees none;") in line
    at.text_input(key="unit").set_value("h3.0").run()
    assert warnings(at)[0].startswith("**highlighted unit**: hidden layer 3 does not exist"
                                      " (layers 1..1; allowed: x0..x4, h1.0..h1.N, o0..o4)")
    assert not any(m.value.startswith("**Highlighting") for m in at.markdown)


def test_big_network_is_drawn_reduced_and_small():
    at = open_page(D="784", hidden="500", ordering="random", direct="true", gen="true",
                   unit="h1.3")
    assert not at.exception and not warnings(at)
    assert any("too big to draw unit by unit" in i.value for i in at.info)
    total = sum(chart(at, key)["bytes"] for key in ("graph", "paths", "masks"))
    assert total < 3 * 2**20
    assert jacobian_counts(at)["mismatches"] == 0


def test_huge_network_waits_for_the_jacobian_button():
    at = open_page(D="1024", hidden="2048, 2048")
    assert not at.exception
    assert at.button(key="run_jac").label == "Run the Jacobian check"
    assert any("press the button to run it" in c.value for c in at.caption)
    assert not any("Jacobian entries" in m.value for m in at.markdown)


# The figures the page draws, as pure functions.

def test_parse_unit_accepts_names_and_rejects_others():
    masks = build_masks(4, (5, 5), seed=0)
    assert figures.parse_unit("x3", masks) == (0, 3)
    assert figures.parse_unit(" H2.4 ", masks) == (2, 4)
    assert figures.parse_unit("o0", masks) == (3, 0)
    assert figures.parse_unit("", masks) is None
    for bad, words in [("x4", "0..3"), ("h3.0", "layers 1..2"), ("h1.5", "0..4"),
                       ("y1", "look like x3")]:
        with pytest.raises(ValueError, match=re.escape(words)):
            figures.parse_unit(bad, masks)


def test_graph_draws_one_line_per_kept_weight_when_exact():
    masks = build_masks(5, (6, 4), seed=3, direct=True)
    figure = figures.connectivity_graph(masks)
    assert not figures.is_grouped(masks)
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
    figure = figures.connectivity_graph(masks)
    grey = next(t for t in figure.data if t.name.startswith("dead unit") and t.customdata)
    assert sorted(c[2] for c in grey.customdata) == sorted(
        figures.unit_name(masks, d.layer, d.index) for d in dead)
    for (layer, index, _), hover in zip(grey.customdata, grey.hovertext):
        reason = next(d.reason for d in dead if (d.layer, d.index) == (layer, index))
        assert reason in hover


def test_generation_order_product_is_strictly_lower_triangular_in_the_figure():
    masks = build_masks(6, (7,), ordering="random", seed=5)
    figure = figures.path_count_figure(masks, generation_order=True)
    z = np.array(figure.data[0].z)
    assert not np.triu(z).any() and np.tril(z, -1).any()


def test_no_hidden_layer_is_the_direct_connections():
    at = open_page(hidden="", unit="o2", ordering="reverse")
    assert not at.exception and not warnings(at)
    assert "hidden none" in view(at)
    # Reverse order generates x3 first, then x2: the output for x2 sees x3 alone.
    assert any(m.value.startswith("**Highlighting o2 (degree 2), sees x3;") for m in at.markdown)
    assert any("direct connections are the whole network" in c.value for c in at.caption)
    assert jacobian_counts(at)["mismatches"] == 0


def test_figures_stay_cheap_for_the_browser_to_draw_again():
    """Streamlit hands Plotly.react each new chart a second time: it is ~free only with a data
    revision that follows the data, plain lists (no typed arrays) and no template object; the
    matrices must not ask Plotly to measure their labels (automargin) nor push their margins
    (a colour bar), and the graph's lines are a few SVG paths, not one element per line."""
    import plotly.io

    def build(masks, selected=None, generation=False):
        return [figures.connectivity_graph(masks, selected),
                figures.layer_masks_figure(masks, by_degree=generation),
                figures.path_count_figure(masks, generation_order=generation)]

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
            assert drawn[2].layout.margin.r >= figures.COLORBAR_PX
        graph = drawn[0]
        assert all(t.x == (None,) for t in graph.data if t.mode == "lines")  # legend swatches
        assert 1 <= len(graph.layout.shapes) <= 12
        assert len([t for t in graph.data if t.customdata]) <= 2  # live and dead nodes
        if D == 4:
            assert sum(map(len, specs)) < 20_000  # all three charts of the default view
        # The revision follows the data: same network, same revision; any change, another one.
        revisions = [f.layout.datarevision for f in drawn]
        assert revisions == [f.layout.datarevision for f in build(build_masks(
            D, hidden, seed=1, direct=True))]
        for other in (build(build_masks(D, hidden, seed=2, direct=True)),
                      build(masks, (0, 0), generation=True)):
            assert all(a != b.layout.datarevision for a, b in zip(revisions, other))


def test_page_text_has_no_typeset_math():
    """The browser typesets $...$ (KaTeX) in every text again on each change, even unchanged
    text: the Masks page writes its math in Unicode."""
    at = open_page(D="32", hidden="64, 64")
    texts = [e.value for kind in ("markdown", "caption", "success", "subheader", "title")
             for e in at.get(kind)]
    assert any("m*(unit) ≥ *m*(source)" in t for t in texts)
    assert any("∂\u00a0logitₒ\u00a0/\u00a0∂\u00a0*x*ᵢ" in t for t in texts)  # on one line
    assert not [t for t in texts if re.search(r"(?<!\\)\$", t)]


def test_log_colour_bar_is_labelled_in_path_counts():
    """Beyond 100 paths the colours are log10(1 + paths); the colour bar still reads in paths."""
    for D, hidden in [(32, (64, 64)), (784, (500, 500)), (1024, (2048,) * 4)]:
        masks = build_masks(D, hidden, seed=1)
        peak = float(np.asarray(masks.connectivity(), dtype=np.float64).max())
        assert peak > 100
        figure = figures.path_count_figure(masks).to_dict()
        bar = next(t.get("colorbar") or t["marker"]["colorbar"] for t in figure["data"]
                   if t.get("colorbar") or t.get("marker", {}).get("colorbar"))
        assert bar["title"]["text"] == "paths (log scale)"
        superscripts = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
        counts = [10 ** int(label[2:].translate(superscripts)) if label[2:3] in "⁰¹²³⁴⁵⁶⁷⁸⁹"
                  and label[2:] else int(label.replace(",", "")) for label in bar["ticktext"]]
        # Powers of ten, evenly spaced (0 apart), the last one within a step of the peak.
        powers = [c for c in counts if c]
        assert len({b / a for a, b in zip(powers, powers[1:])}) == 1
        assert powers[0] == 1 and powers[-1] <= peak < powers[-1] ** 2 / powers[-2]
        assert np.allclose(bar["tickvals"], np.log10(1 + np.array(counts, dtype=float)),
                           atol=1e-3)
        assert 3 <= len(counts) <= 6


def test_cached_figures_survive_plotly_reading_them():
    """The page's figures are cached and shared by every session: plotly's repr and to_json
    write into the top of the dict they are given, and must not reach the figure's own."""
    import plotly.io

    masks = build_masks(6, (5,), seed=2)
    for figure in (figures.connectivity_graph(masks), figures.layer_masks_figure(masks),
                   figures.path_count_figure(masks)):
        before = plotly.io.to_json(figure, validate=False)
        repr(figure)
        figure.to_dict()["layout"]["title"] = "changed"
        figure.to_dict()["data"][0]["name"] = "changed"
        assert plotly.io.to_json(figure, validate=False) == before


def test_graph_legend_keeps_its_order_whatever_is_selected():
    masks = build_masks(4, (5, 5), seed=0, direct=True)
    order = ["kept weight (mask = 1)", "on a path through the selected unit",
             "direct connection (input → output)"]
    for selected in (None, (3, 3), (2, 3), (0, 0), (1, 4)):
        names = [t.name for t in figures.connectivity_graph(masks, selected).data
                 if t.mode == "lines"]
        assert names == [n for n in order if n in names] and order[0] in names

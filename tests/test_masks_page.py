"""The Masks page, driven headlessly with Streamlit's AppTest."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import open_app
from made_viz.validation import SEED_MAX
from made_viz.masks import build_masks

DEFAULT_VIEW = "D = 4, hidden 5, 5, natural ordering"


def open_page(**query) -> AppTest:
    return open_app(**query)


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
    ("seed", "-1", "seed", f"0..{SEED_MAX}"),
    ("seed", "1.5", "seed", f"0..{SEED_MAX}"),
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
                           ("direct connections", "true or false"), ("seed", f"0..{SEED_MAX}"),
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


def test_no_hidden_layer_is_the_direct_connections():
    at = open_page(hidden="", unit="o2", ordering="reverse")
    assert not at.exception and not warnings(at)
    assert "hidden none" in view(at)
    # Reverse order generates x3 first, then x2: the output for x2 sees x3 alone.
    assert any(m.value.startswith("**Highlighting o2 (degree 2), sees x3;") for m in at.markdown)
    assert any("direct connections are the whole network" in c.value for c in at.caption)
    assert jacobian_counts(at)["mismatches"] == 0


def test_page_text_has_no_typeset_math():
    """The browser typesets $...$ (KaTeX) in every text again on each change, even unchanged
    text: the Masks page writes its math in Unicode."""
    at = open_page(D="32", hidden="64, 64")
    texts = [e.value for kind in ("markdown", "caption", "success", "subheader", "title")
             for e in at.get(kind)]
    assert any("m*(unit) ≥ *m*(source)" in t for t in texts)
    assert any("∂\u00a0logitₒ\u00a0/\u00a0∂\u00a0*x*ᵢ" in t for t in texts)  # on one line
    assert not [t for t in texts if re.search(r"(?<!\\)\$", t)]

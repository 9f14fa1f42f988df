"""The Tiny world page, driven headlessly with Streamlit's AppTest: what it says and keeps."""
from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import open_app


def open_tiny(**query) -> AppTest:
    at = open_app("tiny", timeout=120, **{"secs": "1", **query})
    assert not at.exception, [e.value for e in at.exception]
    return at


def readouts(at: AppTest) -> list[str]:
    bodies = [h.proto.body for h in at.get("html") if "tiny-readout" in h.proto.body
              and "<div" in h.proto.body]
    return [re.search(r"<b>([\d,.]+)</b>", body).group(1) for body in bodies]


def progress(at: AppTest) -> str:
    return at.get("progress")[0].proto.text


def test_the_default_world_sums_to_one_before_and_after_training():
    at = open_tiny()
    assert not at.warning and not at.error
    assert readouts(at) == ["1.000000"]
    assert any("Autoregressive" in s.value for s in at.success)
    assert any("H = 3.964 nats" in m.value for m in at.markdown)
    assert progress(at).startswith("Not trained yet")
    at.button(key="train").click().run()
    assert not at.exception
    assert progress(at).startswith("Done:") and readouts(at) == ["1.000000"]


def test_a_broken_network_trains_beside_the_correct_one_and_does_not_sum_to_one():
    at = open_tiny(**{"break": "unmasked"})
    assert any("Not autoregressive" in e.value and "Jacobian check failed" in e.value
               for e in at.error)
    at.button(key="train").click().run()
    assert not at.exception
    correct, broken = readouts(at)
    assert correct == "1.000000" and abs(float(broken.replace(",", "")) - 1) > 0.01
    assert any("below H: not a distribution" in m.value for m in at.markdown)


def test_a_new_setting_ends_the_run_and_starts_from_scratch():
    at = open_tiny()
    at.button(key="train").click().run()
    assert progress(at).startswith("Done:")
    at.text_input(key="seed").set_value("5").run()
    assert progress(at).startswith("Not trained yet")


@pytest.mark.parametrize("query, kind, words", [
    ({"rows": "5", "cols": "4"}, "error", "D = rows × cols must be in 4..16, got 5 × 4 = 20"),
    ({"rows": "1", "cols": "3"}, "error", "D = rows × cols must be in 4..16, got 1 × 3 = 3"),
    ({"protos": ""}, "warning", "the pattern set is empty"),
    ({"protos": "1, 600"}, "warning", "pattern 2 must be a number in 0..511"),
    ({"noise": "0.7"}, "warning", "allowed: a number in 0..0.5"),
    ({"flip": "9, 0, 0", "break": "flip"}, "warning", "layer in 1..3"),
    ({"flip": "3, 20, 0", "break": "flip"}, "warning", "W3 has rows 0..8 and columns 0..23"),
    ({"hidden": "24, 100"}, "warning", "layer 2 must be in 1..64"),
])
def test_bad_settings_get_a_message_naming_the_field_and_range(query, kind, words):
    at = open_tiny(**query)
    shown = [m.value for m in (at.error if kind == "error" else at.warning)]
    assert any(words in m for m in shown), shown


def test_removing_every_prototype_is_named_and_the_last_world_stays():
    at = open_tiny()
    for _ in range(3):
        at.button(key="proto_remove").click().run()
    assert not at.exception
    assert any("the pattern set is empty" in w.value for w in at.warning)
    # The last valid world stays: one prototype, H = 9 pixels x H(0.1 flip) = 2.926 nats.
    assert any("1 prototypes 3×3" in m.value and "H = 2.926 nats" in m.value
               for m in at.markdown)
    at.button(key="proto_add").click().run()
    # The editor kept showing the last valid prototypes: "add" adds to those.
    assert not at.warning and at.text_input(key="protos").value == "495, 0"
    assert readouts(at) == ["1.000000"]


def test_the_data_set_sets_d_and_the_entropy():
    at = open_tiny(data="bars-and-stripes", rows="4", cols="4")
    assert any("65,536" in m.value and "H = 3.401 nats" in m.value for m in at.markdown)
    assert readouts(at) == ["1.000000"]


HOSTILE = ["9" * 10_000, "-1", "٣", "<b>x</b>](javascript:alert(1))"]


@pytest.mark.parametrize("field", ["data", "rows", "cols", "noise", "protos", "secs", "K",
                                   "break", "flip"])
def test_hostile_link_values_get_a_message_never_an_exception(field):
    for value in HOSTILE:
        at = open_tiny(**{field: value, **({"break": "flip"} if field == "flip" else {})})
        shown = [m.value for m in at.warning] + [m.value for m in at.error]
        assert shown, f"{field}={value[:20]!r}: no message"
        assert not any("javascript:alert" in m and "](javascript" in m for m in shown)


@pytest.mark.parametrize("event", [
    {"selection": {"points": [{"customdata": ["x", 1]}]}},
    {"selection": {"points": [{"customdata": [99, 1]}]}},
    {"selection": {"points": [{"customdata": [0, -5]}]}},
    {"selection": {"points": [{"customdata": [0]}]}},
    {"selection": "nope"},
    {"no selection": 1},
])
def test_crafted_chart_clicks_change_nothing(event):
    """A chart's selection comes from the browser: one that names no cell is ignored."""
    import streamlit as st
    from made_viz.ui import tiny_page

    st.session_state.clear()
    st.session_state["chart"] = event
    tiny_page._on_prototype_click("chart", (495, 273, 219))
    tiny_page._on_mask_click("chart", None)
    assert "protos" not in st.session_state and "flip" not in st.session_state


def logit_average_readouts(at: AppTest) -> list[str]:
    bodies = [h.proto.body for h in at.get("html") if "sum of q(x)" in h.proto.body]
    return [re.search(r"<b>([\d,.]+)</b>", body).group(1) for body in bodies]


def test_masks_in_different_orderings_averaged_by_logits_do_not_sum_to_one():
    """K = 2 masks in random orderings: the mixture reads 1.000000 before and after training,
    the logit average another number, with why and pytorch-made's 79.3."""
    at = open_tiny(K="2", ordering="random")
    assert readouts(at)[0] == "1.000000" and len(logit_average_readouts(at)) == 1
    at.button(key="train").click().run()
    assert not at.exception
    assert readouts(at)[0] == "1.000000"
    (total,) = logit_average_readouts(at)
    assert abs(float(total.replace(",", "")) - 1) > 0.01, total
    assert any("79.3 nats" in c.value and "no chain rule" in c.value for c in at.caption)


def test_masks_sharing_one_ordering_average_their_logits_into_a_distribution():
    at = open_tiny(K="3", ordering="natural")
    assert logit_average_readouts(at) == ["1.000000"]
    assert any("share one ordering" in c.value for c in at.caption)
    assert logit_average_readouts(open_tiny(K="1")) == []  # one mask: nothing to average

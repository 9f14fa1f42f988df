"""The tour's card component, server side: a formula's markup is ours alone, a card's text is
one line, and only a step the tour has counts as a report (the browser side: e2e)."""
import pytest

from made_viz.ui.tour_nav import card, formula_html, reported_step


@pytest.mark.parametrize("formula, html", [
    ("p(x) = ∏_{d} p(x_{d} | x_{<d})",
     "p(x) = ∏<sub>d</sub> p(x<sub>d</sub> | x<sub>&lt;d</sub>)"),
    ("M_{k, j} = 1 when m(k) ≥ m(j)", "M<sub>k, j</sub> = 1 when m(k) ≥ m(j)"),
    ("2^{D}", "2<sup>D</sup>"),
    ("x_d (no braces: as written)", "x_d (no braces: as written)"),
    ("<script>alert(1)</script>_{<b>}", "&lt;script&gt;alert(1)&lt;/script&gt;<sub>&lt;b&gt;</sub>"),
    ("a & b", "a &amp; b"),
    (None, ""),
])
def test_a_formula_is_escaped_text_with_sub_and_superscripts(formula, html):
    assert formula_html(formula) == html


def test_a_card_is_the_steps_words_on_one_line():
    shown = card("Title", "one\n  two\nthree ", "x_{1}", "masks?D=4")
    assert shown == {"title": "Title", "text": "one two three", "formula": "x<sub>1</sub>",
                     "link": "masks?D=4"}


@pytest.mark.parametrize("state, expected", [
    ({"step": 3}, 3), ({"step": 1}, 1), ({"step": 10}, 10),
    ({"step": 0}, None), ({"step": 11}, None), ({"step": -1}, None),  # Back at 1, Next at 10
    ({"step": "3"}, None), ({"step": True}, None), ({"step": 3.0}, None), ({"step": None}, None),
    ({}, None), (None, None),
])
def test_only_a_step_the_tour_has_counts_as_a_report(state, expected):
    assert reported_step(state, 10) == expected

"""made_viz.validation. Text fields (parse_int_list, parse_hidden_sizes, parse_ordering): good
text parses; any other text gives a ValueError that names the field and the offending item,
never anything else. Values (check_int, check_number, check_index): bools, NaN and values out of
range are refused with the field's name and range. Choices, texts and tables of fields (a tour
file's, a link's tour name) are refused with the field's name and what it allows."""
import re

import pytest
from hypothesis import given, settings, strategies as st

from made_viz.validation import (MAX_DIGITS, MAX_HIDDEN_UNITS, check_bool, check_choice,
                                  check_fields, check_index, check_int, check_number,
                                  check_text, parse_hidden_sizes, parse_int, parse_int_list,
                                  parse_ordering)

FAST = settings(max_examples=100, deadline=None)
separators = st.sampled_from([",", ", ", " ", "  ", ";", "\t", "\n", " , "])


@pytest.mark.parametrize("text, expected", [
    ("500, 500", (500, 500)),
    ("500 500", (500, 500)),
    ("500;500", (500, 500)),
    (" 500 ,, 500 ,", (500, 500)),
    ("\t1\n2  3", (1, 2, 3)),
    ("+7", (7,)),
    ("16384", (16384,)),
    ("1,1,1,1,1,1,1,1", (1,) * 8),
    ("", ()),
    ("  , ", ()),
])
def test_parse_hidden_sizes_good(text, expected):
    sizes = parse_hidden_sizes(text)
    assert sizes == expected and all(type(s) is int for s in sizes)


def test_parse_ordering_good():
    assert parse_ordering("3 1 2 0", 4) == (3, 1, 2, 0)
    assert parse_ordering("3,1,2,0", 4) == (3, 1, 2, 0)
    assert parse_ordering("0", 1) == (0,)
    assert all(type(i) is int for i in parse_ordering("1 0", 2))


def test_one_digit_limit_for_a_number_and_for_a_list():
    widest, too_wide = "9" * MAX_DIGITS, "9" * (MAX_DIGITS + 1)
    assert parse_int(widest, "seed", 0, 10**MAX_DIGITS) == int(widest)
    assert parse_int_list(f"1 {widest}", "x") == (1, int(widest))
    with pytest.raises(ValueError, match="seed must be a whole number in 0"):
        parse_int(too_wide, "seed", 0, 10**(MAX_DIGITS + 1))
    with pytest.raises(ValueError, match=f"x: item 2 .* is too large .at most {MAX_DIGITS} digits"):
        parse_int_list(f"1 {too_wide}", "x")


def test_parse_int_list_good():
    assert parse_int_list("1, -2, +3, 007", "x") == (1, -2, 3, 7)
    assert parse_int_list("999999999 -999999999", "x") == (999999999, -999999999)
    assert parse_int_list("", "x") == ()


@pytest.mark.parametrize("text, message", [
    ("abc", "hidden sizes: item 1 ('abc') is not a whole number"),
    ("500, x", "hidden sizes: item 2 ('x') is not a whole number"),
    ("1.5", "hidden sizes: item 1 ('1.5') is not a whole number"),
    ("1e3", "hidden sizes: item 1 ('1e3') is not a whole number"),
    ("0x10", "hidden sizes: item 1 ('0x10') is not a whole number"),
    ("1_000", "hidden sizes: item 1 ('1_000') is not a whole number"),
    ("--5", "hidden sizes: item 1 ('--5') is not a whole number"),
    ("٣٠٠", "hidden sizes: item 1 ('٣٠٠') is not a whole number"),  # Arabic-Indic digits
    ("５００", "hidden sizes: item 1 ('５００') is not a whole number"),  # full-width digits
    ("½", "hidden sizes: item 1 ('½') is not a whole number"),
    ("500 ５", "hidden sizes: item 2 ('５') is not a whole number"),
    ("a" * 10_000, "hidden sizes: item 1 ('aaaaaaaaaaaaaaaaaaaa...') is not a whole number"),
    ("1" * 10_000, "hidden sizes: item 1 ('11111111111111111111...') is too large"),
    ("9999999999999", "hidden sizes: item 1 ('9999999999999') is too large (at most 12 digits)"),
    ("99999999999", "hidden sizes: layer 1 must be in 1..16384, got 99999999999"),
    ("-5", "hidden sizes: layer 1 must be in 1..16384, got -5"),
    ("0", "hidden sizes: layer 1 must be in 1..16384, got 0"),
    ("100, 16385", "hidden sizes: layer 2 must be in 1..16384, got 16385"),
    ("999999999", "hidden sizes: layer 1 must be in 1..16384, got 999999999"),
    ("1 " * 5_000, "hidden sizes: at most 8 hidden layers, got 5000"),
    ("1,2,3,4,5,6,7,8,9", "hidden sizes: at most 8 hidden layers, got 9"),
])
def test_parse_hidden_sizes_bad(text, message):
    with pytest.raises(ValueError) as error:
        parse_hidden_sizes(text)
    assert str(error.value).startswith(message)
    assert len(str(error.value)) < 200  # a 10,000-character entry is not echoed back whole


@pytest.mark.parametrize("text, D, message", [
    ("0 1 2", 4, "ordering must list all 4 indices 0..3 once, got 3"),
    ("", 2, "ordering must list all 2 indices 0..1 once, got 0"),
    ("0 1 1 2", 4, "ordering: index 1 appears twice and 3 is missing"),
    ("0 1 2 4", 4, "ordering: index 4 is outside 0..3"),
    ("-1 0 1 2", 4, "ordering: index -1 is outside 0..3"),
    ("0 1 2 999999999", 4, "ordering: index 999999999 is outside 0..3"),
    ("0 1 2 3x", 4, "ordering: item 4 ('3x') is not a whole number"),
    ("0 1 2 ３", 4, "ordering: item 4 ('３') is not a whole number"),
    ("0 " * 5_000, 4, "ordering must list all 4 indices 0..3 once, got 5000"),
    ("1" * 10_000, 4, "ordering: item 1 ('11111111111111111111...') is too large"),
])
def test_parse_ordering_bad(text, D, message):
    with pytest.raises(ValueError) as error:
        parse_ordering(text, D)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("bad", [None, 500, b"500", ["500"]])
def test_parse_int_list_needs_text(bad):
    with pytest.raises(ValueError, match=f"my field must be text such as '500, 500', got "
                                         f"{type(bad).__name__}"):
        parse_int_list(bad, "my field")


@FAST
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_value_error(text):
    for parse in (lambda t: parse_int_list(t, "field"), parse_hidden_sizes,
                  lambda t: parse_ordering(t, 3)):
        try:
            values = parse(text)
        except ValueError as error:
            assert str(error)
        else:
            assert isinstance(values, tuple) and all(type(v) is int for v in values)


@FAST
@given(st.text(alphabet="0123456789+-,; \t.x", max_size=60))
def test_numeric_looking_text_parses_or_raises_value_error(text):
    try:
        values = parse_int_list(text, "field")
    except ValueError as error:
        assert str(error).startswith("field: item ")
    else:
        assert all(abs(v) < 10**MAX_DIGITS for v in values)  # at most MAX_DIGITS digits


@FAST
@given(st.lists(st.integers(1, MAX_HIDDEN_UNITS), max_size=8), separators)
def test_hidden_sizes_round_trip(sizes, separator):
    assert parse_hidden_sizes(separator.join(map(str, sizes))) == tuple(sizes)


@FAST
@given(st.integers(1, 40).flatmap(lambda D: st.tuples(st.just(D), st.permutations(range(D)))),
       separators)
def test_ordering_round_trip(D_and_order, separator):
    D, order = D_and_order
    assert parse_ordering(separator.join(map(str, order)), D) == tuple(order)


@FAST
@given(st.lists(st.integers(-10**9 + 1, 10**9 - 1), max_size=20), separators)
def test_int_list_round_trip(values, separator):
    assert parse_int_list(separator.join(map(str, values)), "x") == tuple(values)


@pytest.mark.parametrize("check, value, message", [
    (lambda v: check_int("seed", v, 0, 9), True, r"seed must be a whole number in 0\.\.9, got True"),
    (lambda v: check_int("seed", v, 0, 9), 10, r"seed must be in 0\.\.9, got 10"),
    (lambda v: check_number("noise", v, 0, 0.5), float("nan"), r"noise must be a number in 0\.\.0\.5"),
    (lambda v: check_number("noise", v, 0, 0.5), False, r"noise must be a number"),
    (lambda v: check_number("noise", v, 0, 0.5), "0.1", r"noise must be a number"),
    (lambda v: check_number("p", v, 0, 1), 1.0001, r"p must be a number in 0\.\.1, got 1\.0001"),
    (lambda v: check_index("row", v, 4), True, r"row must be in 0\.\.3, got True"),
    (lambda v: check_index("row", v, 4), -1, r"row must be in 0\.\.3, got -1"),
])
def test_bad_values_are_named(check, value, message):
    with pytest.raises(ValueError, match=message):
        check(value)


@FAST
@given(st.integers(-5, 5) | st.floats(allow_nan=True) | st.booleans())
def test_checks_return_plain_values_in_range(value):
    for check, low, high in ((lambda v: check_number("x", v, 0, 1), 0, 1),
                             (lambda v: check_index("x", v, 3), 0, 2)):
        try:
            out = check(value)
        except ValueError as error:
            assert str(error).startswith("x must be")
        else:
            assert type(out) in (int, float) and low <= out <= high
            assert not isinstance(value, bool)


@pytest.mark.parametrize("check, message", [
    (lambda: check_choice("tour", "../../etc/passwd", ["lecture", "quick"]),
     "tour must be one of lecture, quick, got '../../etc/passwd'"),
    (lambda: check_choice("tour", "x" * 500, ["lecture"]), "got '" + "x" * 30 + "...'"),
    (lambda: check_choice("mode", 1, ["1"]), "mode must be one of 1, got 1"),
    (lambda: check_choice("flag", True, [1]), "flag must be one of 1, got True"),
    (lambda: check_choice("view", ["a"] * 100, ["a"]), "view must be one of a, got ['a', 'a'"),
    (lambda: check_bool("direct", "true"), "direct must be true or false, got 'true'"),
    (lambda: check_text("title", "", max_chars=10), "title must be a non-empty text"),
    (lambda: check_text("title", 5, max_chars=10), "title must be a non-empty text, got '5'"),
    (lambda: check_text("title", "a b\nc", max_chars=10, one_line=True), "title must be one line"),
    (lambda: check_text("title", "abcdefghijk", max_chars=10), "title: at most 10 characters"),
    (lambda: check_text("text", "one two three", max_chars=99, max_words=2),
     "text: at most 2 words, got 3"),
    (lambda: check_fields("step 2", {"titel": 1}, ("title", "text")),
     "step 2: unknown field 'titel' (allowed: title, text)"),
    (lambda: check_fields("step 2", {"text": 1}, ("title", "text"), required=("title",)),
     "step 2: missing field 'title'"),
    (lambda: check_fields("step 2", ["title"], ("title",)),
     "step 2 must be a table of fields, got list"),
])
def test_choices_texts_and_tables_are_refused_by_name(check, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check()


def test_choices_texts_and_tables_return_what_they_checked():
    assert check_choice("tour", "quick", ["lecture", "quick"]) == "quick"
    assert check_choice("digit", 3, [1, 2, 3]) == 3
    assert check_bool("direct", False) is False
    assert check_text("title", "  Count the paths \n", max_chars=20, max_words=3) == \
        "Count the paths"
    table = {"title": "a"}
    assert check_fields("step 1", table, ("title", "text"), required=("title",)) is table

"""Hostile input: every text field and every URL parameter of both pages, fuzzed.

Huge, negative, non-numeric, Unicode-digit, markup and 10,000-character values, in the link
and typed, and unknown parameters. Each bad value gets a warning that names its field and the
allowed values and falls back (a link to the defaults, a typed value to the last valid one);
nothing raises. The parsers the pages use are fuzzed with hypothesis here where
tests/test_parsers.py does not already (parse_int, parse_unit and the pages' own wrappers).
"""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st
from streamlit.testing.v1 import AppTest

import io
import struct
import zlib

import numpy as np
from PIL import Image

from tests.conftest import open_app
from made_viz.validation import SEED_MAX
from made_viz import checkpoint, data, images
from made_viz.figures import graph
from made_viz.masks import build_masks
from made_viz.ui import masks_page
from made_viz.ui.network_controls import parse_page_hidden
from made_viz.validation import parse_int
from player_view import player_data

FUZZ = settings(max_examples=200, deadline=None)
APP_FUZZ = settings(max_examples=40, deadline=None)

def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header and holds no pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IEND", b""))


HOSTILE = [
    "-1", "-99999999999999999999", "9" * 30, "1e309", "NaN", "inf", "0x10", "1.5", "abc",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: str.isdigit() says yes, the parsers must say no
    "\uff15",  # FULLWIDTH DIGIT FIVE
    "\u00b2",  # SUPERSCRIPT TWO: isdigit() yes, int() no
    "+-5", "x\u0663", "\u202e5", "\x00",
    "a" * 10_000, "1" * 10_000, "5," * 5_000,
    "<script>alert(1)</script>", "[Log in](https://e.invalid)", "https://e.invalid",
    "www.e.invalid", "me@e.invalid", "$\\huge{x}$", "../../../etc/passwd",
]
IDS = [repr(v[:12]) + (f"x{len(v)}" if len(v) > 12 else "") for v in HOSTILE]

# Masks page: URL parameter -> (the field's label, the allowed values its warning must name),
# for the default view (D = 4, K = 1).
MASKS_FIELDS = {
    "D": ("D (inputs)", "1..1024"),
    "hidden": ("hidden sizes", "1..2048"),
    "ordering": ("ordering", "natural, reverse, random, columns, custom"),
    "degrees": ("hidden degrees", "random, equal"),
    "seed": ("seed", f"0..{SEED_MAX}"),
    "direct": ("direct connections", "true or false"),
    "K": ("number of masks K", "1..32"),
    "mask": ("mask shown", "0..0"),
    "unit": ("highlighted unit", "x0..x3"),
    "gen": ("order rows and columns by generation order", "true or false"),
}
MASKS_TEXT_FIELDS = ("D", "hidden", "seed", "K", "mask", "unit")
DEFAULT_VIEW = "**D = 4, hidden 5, 5, natural ordering, random degrees, direct off; mask 0 of 1"


def sampling_fields() -> dict[str, tuple[str, str]]:
    return {"model": ("model", ", ".join(checkpoint.list_pretrained())),
            "ordering": ("ordering", "natural"),
            "seed": ("seed", "0..4294967295"),
            "lecture": ("Lecture mode", "true or false")}


def likelihood_fields() -> dict[str, tuple[str, str]]:
    return {"x": ("x", "131 characters of base64url"),
            "model": ("model", ", ".join(checkpoint.list_pretrained())),
            "mask": ("mask", "ensemble, 0, 1, 2, 3, 4, 5, 6, 7")}


def open_likelihood(**query) -> AppTest:
    at = open_app("likelihood", **query)
    assert [t.value for t in at.title] == ["Likelihood"]
    return at


def open_masks(**query) -> AppTest:
    return open_app(**query)


def open_sampling(**query) -> AppTest:
    at = open_app("sampling", **query)
    assert [t.value for t in at.title] == ["Sampling studio"]
    return at


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def masks_view(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**D = "))


def assert_named(shown: list[str], label: str, allowed: str) -> None:
    """One warning names the field (its bold label) and what it allows."""
    hits = [w for w in shown if w.startswith(f"**{label}**")]
    assert hits, f"no warning names {label!r}: {shown}"
    assert any(allowed in w for w in hits), f"{label!r} warning lacks {allowed!r}: {hits}"


def live_links(markdown: str) -> list[str]:
    """What Markdown would turn into a link: [text](url), a bare URL, www. or an email."""
    text = re.sub(r"`[^`]*`", "", markdown)  # code spans show their text as it is
    return re.findall(r"(?<!\\)\]\(|[A-Za-z]://|www\.|\w@\w", text)


def assert_calm(at: AppTest) -> None:
    """No exception, no error box, no warning echoing a huge value whole, and no link a
    crafted URL could put into the page (a lecture link must not show a "Log in" link)."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert all(len(w) < 600 for w in warnings(at)), max(warnings(at), key=len)[:300]
    assert not [w for w in warnings(at) if live_links(w)], [
        w for w in warnings(at) if live_links(w)]


# --- links -------------------------------------------------------------------------------------

def open_with_every_field(open_page, fields: dict, value: str) -> AppTest:
    """A page opened by a link with `value` in every field: calm, and each field named."""
    at = open_page(**dict.fromkeys(fields, value))
    assert_calm(at)
    for label, allowed in fields.values():
        assert_named(warnings(at), label, allowed)
    return at


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_masks_link_with_a_hostile_value_in_every_parameter(value):
    at = open_with_every_field(open_masks, MASKS_FIELDS, value)
    assert masks_view(at).startswith(DEFAULT_VIEW)


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_masks_link_with_a_hostile_custom_permutation(value):
    at = open_masks(ordering="custom", perm=value)
    assert_calm(at)
    assert_named(warnings(at), "custom permutation", "each of 0..3 once")
    assert masks_view(at).startswith("**D = 4, hidden 5, 5, custom ordering")


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_sampling_link_with_a_hostile_value_in_every_parameter(value):
    at = open_with_every_field(open_sampling, sampling_fields(), value)
    name, _, seed = at.session_state["sampling_run_key"]
    assert (name, seed) == ("mnist", 0)  # the defaults


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_likelihood_link_with_a_hostile_value_in_every_parameter(value):
    at = open_with_every_field(open_likelihood, likelihood_fields(), value)
    digits = data.load_test_subset()
    assert at.session_state["lik_image"].tolist() == digits.images[0].tolist()  # the default
    assert at.query_params["x"] == images.encode_image(digits.images[0])


HOSTILE_UPLOADS = [
    ("notes.png", b"this is not a png", "not an image"),
    ("empty.png", b"", "not an image"),
    ("cut.png", _png(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))[:200],
     "damaged or truncated"),
    ("blank.png", _png(np.full((40, 40), 250, dtype=np.uint8)), "blank"),
    ("huge.png", _png_header(60_000, 60_000), "at most 40,000,000 pixels"),
    ("wide.png", _png_header(20_000, 2_001), "20000x2001 pixels; at most 40,000,000"),
    ("page.html", b"<html><script>alert(1)</script></html>", "not an image"),
]


def test_likelihood_hostile_uploads_keep_the_last_image():
    at = open_likelihood()
    at.radio(key="lik_source").set_value("Upload").run()
    good = _png(np.pad(np.full((60, 12), 255, dtype=np.uint8), 20))  # a white "1" on black
    at.file_uploader(key="lik_upload").upload("one.png", good, "image/png").run()
    assert_calm(at)
    kept = at.session_state["lik_image"].copy()
    assert kept.tolist() == images.prepare_upload(good).tolist()
    for name, payload, message in HOSTILE_UPLOADS:
        at.file_uploader(key="lik_upload").upload(name, payload, "image/png").run()
        assert_calm(at)
        assert_named(warnings(at), f"upload {name}", message)
        assert "Keeping the last image" in warnings(at)[0]
        assert at.session_state["lik_image"].tolist() == kept.tolist(), name


@FUZZ
@given(value=st.text(alphabet="01", min_size=780, max_size=790) | st.text(max_size=40)
       | st.none() | st.integers() | st.sampled_from(HOSTILE))
def test_sketch_values_are_784_bits_or_refused(value):
    """What the sketch pad sends (a component's value, so anything a crafted client sends)."""
    from made_viz.ui.sketch import stroke_image

    image = stroke_image(value)
    if image is None:
        assert not (isinstance(value, str) and len(value) == 784 and set(value) <= {"0", "1"})
    else:
        assert image.dtype == np.uint8 and "".join(map(str, image.tolist())) == value


def test_unknown_and_repeated_parameters_are_harmless():
    junk = {"utm_source": "x" * 10_000, "__proto__": "1", "constructor": "x", "x[]": "1",
            "sampling_history": "-3", "sampling_view": "nope", "sampling_speed": "999",
            "sampling_run": "x", "_last_valid_D": "999", "_masks_last_network": "x"}
    at = open_masks(**junk, D="5")
    assert_calm(at)
    assert not warnings(at) and masks_view(at).startswith("**D = 5, hidden 5, 5")
    assert at.session_state["_last_valid_D"] == 5  # the URL cannot write session state
    at = open_sampling(**junk, seed="7")
    assert_calm(at)
    assert not warnings(at)
    run = at.session_state["sampling_run"]
    assert at.session_state["sampling_run_key"][2] == 7 and run.position == 0
    assert at.session_state["sampling_view"] == "Step by step"
    # A repeated parameter: the last value counts, as in st.query_params.
    at = open_masks(D=["5", "abc"])
    assert_calm(at)
    assert_named(warnings(at), "D (inputs)", "1..1024")
    assert masks_view(at).startswith("**D = 4")


# --- typed values ------------------------------------------------------------------------------

@pytest.mark.parametrize("key", MASKS_TEXT_FIELDS)
def test_masks_typed_hostile_values_keep_the_last_valid_view(key):
    at = open_masks(D="6", hidden="3, 3", K="2", mask="1", seed="9")
    good = masks_view(at)
    assert good.startswith("**D = 6, hidden 3, 3") and not warnings(at)
    label = MASKS_FIELDS[key][0]
    allowed = {"mask": "0..1", "unit": "x0..x5"}.get(key, MASKS_FIELDS[key][1])
    for value in HOSTILE:
        at.text_input(key=key).set_value(value).run()
        assert_calm(at)
        assert_named(warnings(at), label, allowed)
        assert masks_view(at) == good, value[:20]


def test_masks_typed_hostile_permutation_keeps_the_last_valid_one():
    at = open_masks(ordering="custom", perm="3 1 0 2")
    good = masks_view(at)
    assert "custom ordering" in good and not warnings(at)
    for value in HOSTILE:
        at.text_input(key="perm").set_value(value).run()
        assert_calm(at)
        assert_named(warnings(at), "custom permutation", "each of 0..3 once")
        assert masks_view(at) == good


def test_sampling_typed_hostile_seeds_keep_the_last_valid_digit():
    at = open_sampling(seed="123")
    key = at.session_state["sampling_run_key"]
    assert key[2] == 123
    run_id = player_data(at)["run_id"]
    for value in HOSTILE:
        at.text_input(key="seed").set_value(value).run()
        assert_calm(at)
        assert_named(warnings(at), "seed", "0..4294967295")
        assert at.session_state["sampling_run_key"] == key
        # the run was not even replaced, so the player keeps its position (a new run id
        # would send it back to the start)
        assert player_data(at)["run_id"] == run_id


@APP_FUZZ
@given(text=st.text(max_size=40) | st.sampled_from(HOSTILE))
def test_any_typed_D_is_taken_exactly_or_named_and_refused(text):
    at = _fuzz_app()
    before = masks_view(at)
    at.text_input(key="D").set_value(text).run()
    assert_calm(at)
    if (re.fullmatch(r"\s*[+]?0*[1-9][0-9]{0,3}\s*", text) and len(text.strip()) <= 12
            and int(text) <= 1024):
        assert masks_view(at).startswith(f"**D = {int(text)},")
    else:
        assert_named(warnings(at), "D (inputs)", "1..1024")
        assert masks_view(at) == before


_FUZZ_APP: list[AppTest] = []


def _fuzz_app() -> AppTest:
    """One Masks page for all the fuzzed values (a fresh AppTest per example would make the
    fuzzing slow)."""
    if not _FUZZ_APP:
        _FUZZ_APP.append(open_masks(hidden="3"))
    return _FUZZ_APP[0]


# --- the parsers behind the fields (hypothesis) -------------------------------------------------

@FUZZ
@given(text=st.text(max_size=30) | st.sampled_from(HOSTILE),
       low=st.integers(-5, 5), span=st.integers(0, 10**10))
def test_parse_int_takes_ascii_decimals_in_range_and_names_field_and_range_otherwise(
        text, low, span):
    high = low + span
    try:
        value = parse_int(text, "my field", low, high)
    except ValueError as error:
        message = str(error)
        assert message.startswith("my field") and f"{low}..{high}" in message, message
        assert len(message) < 200
    else:
        assert re.fullmatch(r"\s*[+-]?[0-9]+\s*", text), f"{text!r} was taken as {value}"
        assert value == int(text.strip()) and low <= value <= high


@FUZZ
@given(value=st.integers(0, 2**32 - 1), pad=st.sampled_from(["", " ", "\t", "  "]))
def test_parse_int_round_trips(value, pad):
    assert parse_int(f"{pad}{value}{pad}", "seed", 0, 2**32 - 1) == value


UNIT_MASKS = build_masks(5, (4, 3), seed=0)


@FUZZ
@given(text=st.text(max_size=20)
       | st.from_regex(r"[xohXOH][0-9\u0660-\u0669.]{1,5}", fullmatch=True))
def test_parse_unit_takes_only_unit_names_in_range(text):
    try:
        unit = graph.parse_unit(text, UNIT_MASKS)
    except ValueError as error:
        assert str(error).startswith("highlighted unit"), str(error)
    else:
        if unit is None:
            assert not text.strip()
            return
        layer, index = unit
        assert re.fullmatch(r"\s*([xXoO][0-9]+|[hH][0-9]+\.[0-9]+)\s*", text), text
        assert 0 <= layer <= 3 and 0 <= index < (5, 4, 3, 5)[layer]


@FUZZ
@given(text=st.text(alphabet="0123456789 ,;-+x\u0663", max_size=40) | st.text(max_size=30))
def test_page_hidden_sizes_are_bounded_or_named(text):
    try:
        sizes = parse_page_hidden(text, masks_page.MAX_LAYERS, masks_page.MAX_UNITS)
    except ValueError as error:
        assert str(error).startswith("hidden sizes"), str(error)
    else:
        assert len(sizes) <= masks_page.MAX_LAYERS
        assert all(1 <= s <= masks_page.MAX_UNITS for s in sizes)

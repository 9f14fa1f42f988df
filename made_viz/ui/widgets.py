"""Shared inputs: every one bound to the URL and validated, so a copied link replays a view.

Each widget uses `bind="query-params"` with its key as the URL parameter name. Streamlit
silently drops a bound URL value it cannot use (an unknown option, "maybe" for a toggle); these
widgets read the raw URL value on the widget's first run and warn instead. Numbers and lists
are text inputs parsed here, so a bad value, typed or in the URL, gets a warning that names the
field and the allowed range, and the widget returns the last valid value: the view stays put.

    D = int_input("D (inputs)", "D", default=4, low=1, high=1024)
    sizes = parsed_input("hidden sizes", "hidden", default="4, 4", parse=parse_hidden_sizes,
                         expected="comma-separated sizes such as '4, 4'")
    ordering = choice("ordering", "ordering", ["natural", "reverse"], default="natural")
    direct = flag("direct connections", "direct", default=False)

parsed_input(..., keep_last=False) falls back to `fallback` instead of the last valid value
(for a field whose old value may not fit the new view); choice and flag take an on_change
callback.
"""
from __future__ import annotations

import re
from typing import Callable, Sequence, TypeVar

import streamlit as st

from made_viz.validation import parse_int

T = TypeVar("T")


def _last_valid_key(key: str) -> str:
    return f"_last_valid_{key}"


def _url_warning_key(key: str) -> str:
    return f"_url_warning_{key}"


def last_valid(key: str, default=None):
    """The last value a widget accepted (None before its first valid value)."""
    return st.session_state.get(_last_valid_key(key), default)


def defuse(text: str) -> str:
    """Markdown that shows user text as typed: no link, address or formula a crafted URL could
    slip into a warning (a lecture link must not show a "Log in" link)."""
    text = text.replace("](", "]\\(").replace("$", "\\$")
    text = re.sub(r"([A-Za-z]):(?=//)", r"\1\\:", text)
    text = re.sub(r"(?i)(www)\.", r"\1\\.", text)
    return re.sub(r"(\w)@", r"\1\\@", text)


def parsed_input(label: str, key: str, *, default: str, parse: Callable[[str], T],
                 expected: str | None = None, fallback: T | None = None, keep_last: bool = True,
                 help: str | None = None, placeholder: str | None = None) -> T:
    """A URL-bound text input whose text goes through `parse` (which raises ValueError).

    On a ValueError: a warning with the message (plus `expected`, the allowed form), and the
    last valid value is returned (with keep_last) or else `fallback`, else parse(default).
    """
    text = st.text_input(label, value=default, key=key, bind="query-params", help=help,
                         placeholder=placeholder)
    try:
        value = parse(text if text is not None else "")
    except ValueError as error:
        kept = last_valid(key) if keep_last else None
        if kept is None:
            kept = fallback if fallback is not None or not keep_last else parse(default)
        message = defuse(str(error))
        # Library messages usually start with the field's name: make that the bold label.
        message = (f"**{label}**{message[len(label):]}" if message.lower().startswith(label.lower())
                   else f"**{label}**: {message}")
        hint = f" (allowed: {expected})" if expected else ""
        st.warning(f"{message}{hint}. Keeping {_show(kept)}.", icon="⚠️")
        return kept
    st.session_state[_last_valid_key(key)] = value
    return value


def int_input(label: str, key: str, *, default: int, low: int, high: int,
              help: str | None = None) -> int:
    """A URL-bound whole number in low..high, typed as text so any bad value can be named."""
    return parsed_input(label, key, default=str(default), help=help,
                        parse=lambda text: parse_int(text, label, low, high))


def _check_url_value(key: str, label: str, allowed: Callable[[str], bool], allowed_text: str,
                     default) -> None:
    """On the widget's first run, remember a warning when its URL value is unusable.

    Streamlit drops such a value and shows the default; the warning stays until the user
    picks another value, so whoever opened the link sees why the view differs from it.
    """
    if key in st.session_state:
        return
    raw = st.query_params.get(key)
    if raw is not None and not allowed(raw):
        shown = raw if len(raw) <= 30 else raw[:30] + "..."
        st.session_state[_url_warning_key(key)] = (
            f"**{label}**: the link's value {defuse(repr(shown))} is not allowed"
            f" (allowed: {allowed_text}). Using {_show(default)}.", default)


def _show_url_warning(key: str, value) -> None:
    pending = st.session_state.get(_url_warning_key(key))
    if pending is None:
        return
    message, fallback = pending
    if value == fallback:
        st.warning(message, icon="⚠️")
    else:
        del st.session_state[_url_warning_key(key)]


def choice(label: str, key: str, options: Sequence[str], *, default: str,
           help: str | None = None, format_func: Callable[[str], str] = str,
           on_change: Callable[[], None] | None = None) -> str:
    """A URL-bound selectbox over string options; an unknown option in the URL is named."""
    options = list(options)
    _check_url_value(key, label, lambda raw: raw in options, ", ".join(options), default)
    value = st.selectbox(label, options, index=options.index(default), key=key,
                         bind="query-params", help=help, format_func=format_func,
                         on_change=on_change or "rerun")
    _show_url_warning(key, value)
    return value


def flag(label: str, key: str, *, default: bool, help: str | None = None,
         on_change: Callable[[], None] | None = None) -> bool:
    """A URL-bound toggle; the URL spells it true or false."""
    _check_url_value(key, label, lambda raw: raw.lower() in ("true", "false"),
                     "true or false", default)
    value = st.toggle(label, value=default, key=key, bind="query-params", help=help,
                      on_change=on_change or "rerun")
    _show_url_warning(key, value)
    return value


def number_slider(label: str, key: str, *, low: float, high: float, step: float,
                  default: float, help: str | None = None) -> float:
    """A URL-bound slider; a value in the URL outside low..high (or not a number) is named."""
    def allowed(raw: str) -> bool:
        try:
            return low <= float(raw) <= high
        except ValueError:
            return False

    _check_url_value(key, label, allowed, f"a number in {low:g}..{high:g}", default)
    value = st.slider(label, min_value=low, max_value=high, value=default, step=step, key=key,
                      bind="query-params", help=help)
    _show_url_warning(key, value)
    return value


def _show(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        items = [str(v) for v in value[:8]] + (["..."] if len(value) > 8 else [])
        return "'" + ", ".join(items) + "'" if value else "none"
    return repr(value) if isinstance(value, str) else str(value)

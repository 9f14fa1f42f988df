"""Checking what users, links, files and the command line hand in. NumPy only.

Every check returns the value in its plain form or raises ValueError with a message that names
the field and what it allows. A whole number typed as text is ASCII decimal digits, at most
MAX_DIGITS of them, with an optional sign: int() would also take '٣' or '５' or '1_000', which
nobody means to type and a link should not smuggle in, and would spend seconds on a million
digits.
"""
from __future__ import annotations

import operator
import re
from typing import Callable, Sequence

import numpy as np

# What the mask library accepts (a page may allow less).
MAX_HIDDEN_LAYERS = 8
MAX_HIDDEN_UNITS = 16384
MAX_DIGITS = 12
# The URL key `seed` means the same on every page: numpy's default_rng and torch take it whole.
SEED_MAX = 2**32 - 1
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


def is_int(value) -> bool:
    """A Python or NumPy integer, and not a bool (True is an int to Python)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _allowed(low: int, high: int | None) -> str:
    return f"in {low}..{high}" if high is not None else f">= {low}"


def check_int(name: str, value, low: int, high: int | None = None) -> int:
    """`value` as an int in low..high (no upper limit when high is None), or a ValueError
    naming the field and the range."""
    if not is_int(value):
        raise ValueError(f"{name} must be a whole number {_allowed(low, high)}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {_allowed(low, high)}, got {value}")
    return int(value)


def check_number(name: str, value, low: float, high: float, what: str = "a number") -> float:
    """`value` (an int or float, not a bool, not NaN) as a float in low..high, or a ValueError
    naming the field and the range."""
    number = (int, float, np.integer, np.floating)
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, number)
            or not low <= value <= high):
        raise ValueError(f"{name} must be {what} in {low}..{high}, got {value!r}")
    return float(value)


def check_index(name: str, value, size: int) -> int:
    """`value` as an index into `size` items (0..size-1), refusing bools (True is not row 1)."""
    if not is_int(value) or not 0 <= value < size:
        raise ValueError(f"{name} must be in 0..{size - 1}, got {value!r}")
    return int(value)


def check_binary_images(name: str, x, D: int) -> np.ndarray:
    """`x` as uint8 (n, D) of 0/1: one image (D,) becomes one row; bools and 0/1 integers or
    floats are taken. The ValueError names the field, the shape and the first bad value."""
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != D:
        raise ValueError(f"{name} must have shape (D,) or (n, D) with D = {D},"
                         f" got {np.shape(x)}")
    if a.dtype == bool:
        return a.astype(np.uint8)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{name} must hold 0s and 1s, got dtype {a.dtype}")
    bad = ~np.isin(a, (0, 1))
    if bad.any():
        i, d = np.argwhere(bad)[0]
        raise ValueError(f"{name} must hold 0s and 1s; {name}[{i}, {d}] is {a[i, d]}")
    return a.astype(np.uint8)


def _shown(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def check_choice(name: str, value, allowed: Sequence):
    """`value` when it is one of `allowed` (compared as is: "1" is not 1), or a ValueError
    naming the field and every allowed value."""
    if isinstance(value, (str, int, float, bool)) and any(
            value == a and type(value) is type(a) for a in allowed):
        return value
    shown = repr(_shown(value, 30)) if isinstance(value, str) else _shown(repr(value), 30)
    raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}, got {shown}")


def check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return bool(value)


def check_text(name: str, value, *, max_chars: int, max_words: int | None = None,
               one_line: bool = False) -> str:
    """`value` as a non-empty, stripped string within the limits, or a ValueError naming the
    field and the limit it breaks."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty text, got {_shown(str(value))!r}")
    text = value.strip()
    if one_line and "\n" in text:
        raise ValueError(f"{name} must be one line")
    if len(text) > max_chars:
        raise ValueError(f"{name}: at most {max_chars} characters, got {len(text)}")
    words = len(text.split())
    if max_words is not None and words > max_words:
        raise ValueError(f"{name}: at most {max_words} words, got {words}")
    return text


def check_fields(name: str, mapping, allowed: Sequence[str], required: Sequence[str] = ()):
    """A table (dict) whose keys are all in `allowed` and include `required`; the ValueError
    names the first unknown or missing field and the allowed ones."""
    if not isinstance(mapping, dict):
        raise ValueError(f"{name} must be a table of fields, got {type(mapping).__name__}")
    unknown = [key for key in mapping if key not in allowed]
    if unknown:
        raise ValueError(f"{name}: unknown field {_shown(str(unknown[0]), 30)!r}"
                         f" (allowed: {', '.join(allowed)})")
    missing = [key for key in required if key not in mapping]
    if missing:
        raise ValueError(f"{name}: missing field {missing[0]!r}")
    return mapping


def _not_whole(token: str) -> str | None:
    """Why `token` is not a whole number as typed here, or None when it is one."""
    if not _WHOLE_NUMBER.fullmatch(token):
        return "is not a whole number"
    if len(token.lstrip("+-")) > MAX_DIGITS:
        return f"is too large (at most {MAX_DIGITS} digits)"
    return None


def parse_int(text: str, name: str, low: int, high: int | None = None) -> int:
    """'12' -> 12, checked to lie in low..high; the ValueError names the field and the range."""
    stripped = text.strip() if isinstance(text, str) else ""
    if _not_whole(stripped):
        raise ValueError(f"{name} must be a whole number {_allowed(low, high)},"
                         f" got {_shown(str(text))!r}")
    return check_int(name, int(stripped), low, high)


def parse_int_list(text: str, name: str) -> tuple[int, ...]:
    """'500, 500' or '3 1 2 0' -> a tuple of ints; a clear ValueError naming `name` otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"{name} must be text such as '500, 500', got {type(text).__name__}")
    values = []
    for position, token in enumerate((t for t in re.split(r"[\s,;]+", text.strip()) if t), 1):
        problem = _not_whole(token)
        if problem:
            raise ValueError(f"{name}: item {position} ({_shown(token)!r}) {problem}")
        values.append(int(token))
    return tuple(values)


def parse_hidden_sizes(text: str) -> tuple[int, ...]:
    """'500, 500' -> (500, 500); '' -> () (no hidden layer: direct connections only)."""
    return check_hidden_sizes(parse_int_list(text, "hidden sizes"))


def parse_ordering(text: str, D: int) -> tuple[int, ...]:
    """'3 1 2 0' -> (3, 1, 2, 0), checked to be a permutation of range(D)."""
    return tuple(int(i) for i in check_order(parse_int_list(text, "ordering"), D))


def check_hidden_sizes(hidden_sizes: Sequence[int]) -> tuple[int, ...]:
    if isinstance(hidden_sizes, np.ndarray) and hidden_sizes.ndim == 1:
        hidden_sizes = hidden_sizes.tolist()
    if isinstance(hidden_sizes, (str, bytes)) or not isinstance(hidden_sizes, Sequence):
        raise ValueError(f"hidden sizes must be a list of whole numbers, got {hidden_sizes!r}")
    if len(hidden_sizes) > MAX_HIDDEN_LAYERS:
        raise ValueError(
            f"hidden sizes: at most {MAX_HIDDEN_LAYERS} hidden layers, got {len(hidden_sizes)}")
    return tuple(check_int(f"hidden sizes: layer {l + 1}", h, 1, MAX_HIDDEN_UNITS)
                 for l, h in enumerate(hidden_sizes))


def check_order(order: Sequence[int], D: int) -> np.ndarray:
    """An explicit ordering must list every index 0..D-1 exactly once; say which one is not."""
    if isinstance(order, (str, bytes)):
        raise ValueError(f"ordering must be a list of whole numbers, got {order!r}")
    try:
        items = list(order)
    except TypeError:
        raise ValueError(f"ordering must be a list of whole numbers, got {order!r}") from None
    values = []
    for position, item in enumerate(items):
        # operator.index, not int(): 1.5 or '3' must be refused, not truncated or parsed.
        try:
            if isinstance(item, (bool, np.bool_)):
                raise TypeError
            values.append(operator.index(item))
        except TypeError:
            raise ValueError(f"ordering: item {position} ({item!r}) is not a whole number"
                             f" in 0..{D - 1}") from None
    if len(values) != D:
        raise ValueError(f"ordering must list all {D} indices 0..{D - 1} once, got {len(values)}")
    out_of_range = [i for i in values if not 0 <= i < D]
    if out_of_range:
        raise ValueError(f"ordering: index {out_of_range[0]} is outside 0..{D - 1}")
    seen: set[int] = set()
    for i in values:
        if i in seen:
            missing = sorted(set(range(D)) - set(values))
            raise ValueError(f"ordering: index {i} appears twice and {missing[0]} is missing;"
                             f" it must be a permutation of 0..{D - 1}")
        seen.add(i)
    return np.asarray(values, dtype=np.int64)


def int_argument(option: str, low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse `type` for a whole-number option: argparse then names the option and this
    says what it allows ("argument --masks: must be in 1..1024, got 0")."""
    import argparse

    def parse(text: str) -> int:
        try:
            return parse_int(text, option, low, high)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix(option).lstrip()) from None

    parse.__name__ = f"whole number {_allowed(low, high)}"
    return parse

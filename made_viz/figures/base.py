"""The plumbing every figure shares: the unchecked figure and its data revision, plain lists,
the colours and font used in several modules, and the pixel metrics (estimated text widths).

Every figure in this package is a pure function of data (no streamlit) built on these.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np
import plotly.graph_objects as go

from ..masks import MaskSet

FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=15, color="#262730")
LIT_COLOR = "#E4572E"           # a path through the selected unit; the product's diagonal
FORBIDDEN_COLOR = "#D62728"     # a path the ordering forbids; a broken network


# Every figure here is built as plain dicts and wrapped once in an unchecked go.Figure: Plotly's
# property checks and update_* machinery cost more than the figure itself (most of a small
# page's server time, on every new network), and the values are known to be valid.
#
# What the browser does with a figure matters more. Streamlit draws a new chart, then hands
# Plotly.react the same figure again (a JSON copy) once it is mounted. Plotly redraws it all
# unless (1) layout.datarevision is set, so data arrays of unchanged revision are trusted as
# unchanged, (2) the arrays are plain lists (typed arrays, NumPy's "bdata", always count as
# changed), and (3) the template is not an object ({} never equals its copy). With all three
# the second pass costs next to nothing instead of a whole second drawing. The template "none" also
# keeps Plotly's default one (6.6 KB of JSON per chart) off the wire; colours are set here.
def figure(data: list[dict], layout: dict, revision) -> go.Figure:
    """revision: anything that changes whenever the figure's data does (hashed)."""
    digest = hashlib.blake2b(repr(revision).encode(), digest_size=8).hexdigest()
    data = [{key: _Shared(value) if isinstance(value, list) else value
             for key, value in trace.items()} for trace in data]
    return _PlainFigure(data=data, layout={**layout, "template": "none", "datarevision": digest},
                        _validate=False)


class _Shared(list):
    """A trace's data array, which go.Figure's deep copy shares instead of copying: it is built
    here and never changed (a 64 x 64 x 2 stack of masks is 8k numbers, a large part of the
    figure's building time to copy)."""

    def __deepcopy__(self, memo) -> "_Shared":
        return self


class _PlainFigure(go.Figure):
    """A go.Figure whose to_dict copies only the top of its dicts instead of a deep copy walked
    for NumPy arrays: these figures hold none, and st.plotly_chart only reads the dict to write
    its JSON. For a matrix of thousands of cells the deep copy and the walk cost more than
    building the figure. Below the top the dict is the figure's own: change it through the
    figure's methods, never directly (cached figures are shared by every session)."""

    def to_dict(self) -> dict:
        # One level copied: plotly's own repr and to_json write into the top of what they get.
        return {"data": [dict(trace) for trace in self._data], "layout": dict(self._layout)}


def fingerprint(masks: MaskSet) -> tuple:
    """What the masks are made of: the ordering and every layer's degrees (the masks follow),
    and the masks themselves once edited (then they no longer follow)."""
    edited = [m.tobytes() for m in masks.layer_masks] + (
        [masks.direct_mask.tobytes()] if masks.direct else []) if masks.edited else []
    return (masks.D, masks.direct, *(masks.layer_degrees(l).tobytes()
                                     for l in range(len(masks.hidden_sizes) + 2)), *edited)


def plain(values: np.ndarray, digits: int = 3) -> list:
    """A float array as a JSON-ready list, rounded, NaN (a line break) as None."""
    rounded = np.round(np.asarray(values, dtype=np.float64), digits)
    return np.where(np.isnan(rounded), None, rounded).tolist()


def hex_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return tuple(int(color[i: i + 2], 16) for i in (0, 2, 4))


def sup(number: int) -> str:
    return str(number).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


# ---------------------------------------------------------------------------------------------
# Pixel metrics
# ---------------------------------------------------------------------------------------------

# How wide the browser will draw things, estimated here so that margins and legends get their
# room without Plotly measuring and laying a chart out twice. Every text-width estimate lives
# here; they are for Plotly's default sans-serif (Arial-like) fonts.
GRAPH_PX = 647            # the graph's width in a 1400 px window
LEGEND_CHAR_PX = 6.0      # one character of the 13 px legend font
LEGEND_ITEM_PX = 36       # a legend entry's swatch and gaps
CHAR_PX = 7               # one character of a matrix's 13 px tick labels
TITLE_PX = 26             # a matrix axis title
COLORBAR_PX = 96          # a colour bar and its labels


def text_px(text: str, size: float) -> float:
    """About how wide Plotly draws `text` (its pseudo-HTML) in Arial at `size` px: ~0.55 em a
    character, 0.4 em one in a <sub>script."""
    sub = sum(len(part) for part in re.findall(r"<sub>(.*?)</sub>", text))
    shown = len(re.sub(r"<[^>]*>", "", re.sub(r"<sub>(.*?)</sub>", "", text)))
    return size * (0.55 * shown + 0.4 * sub)


def space_px(size: float) -> float:
    """A non-breaking space in Arial at `size` px."""
    return 0.278 * size


def label_px(labels: list[str], shown: bool) -> int:
    """Room for a matrix axis's tick labels (none when they are not shown)."""
    return CHAR_PX * max(map(len, labels)) + 8 if shown and labels else 0


def plot_px(left_px: int, right_px: int) -> int:
    """The plot area's width in the usual window, between the label margins."""
    return GRAPH_PX - left_px - right_px


def legend_rows(names: list[str], row_px: float) -> int:
    """Rows a horizontal legend of `names` takes: a row runs until the next entry would pass
    `row_px`, as Plotly wraps it."""
    rows, used = 1, 0.0
    for name in names:
        width = LEGEND_ITEM_PX + LEGEND_CHAR_PX * len(name)
        if used and used + width > row_px:
            rows, used = rows + 1, 0.0
        used += width
    return rows


def legend_x(left_px: int, right_px: int) -> dict:
    """The legend under the graph, from near one edge of the figure to the far edge of the plot:
    Plotly wraps a row there when the legend starts outside the plot (x < 0 or > 1). Anchored on
    the side whose label margin is wider, so the rows get the most room."""
    plot = plot_px(left_px, right_px)
    if right_px > left_px:  # long output labels on the right
        return dict(xanchor="right", x=1 + (right_px - 16) / plot)
    return dict(xanchor="left", x=-(left_px - 16) / plot)

"""Plotly figures as pure functions of data (no streamlit).

Masks: the connectivity graph of one MaskSet (units as columns, one line per kept weight, click a
unit to light its paths) and the matrices (each layer's mask, the product matrix of path counts).
Small networks are drawn unit by unit; big ones as a reduction (units grouped by degree, line
width = number of weights) and big matrices as PNG images, so a figure stays well under a few MB.
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from .masks import MaskSet, degree_sort

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
def _figure(data: list[dict], layout: dict, revision) -> go.Figure:
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


def _fingerprint(masks: MaskSet) -> tuple:
    """What the masks are made of: the ordering and every layer's degrees (the masks follow),
    and the masks themselves once edited (then they no longer follow)."""
    edited = [m.tobytes() for m in masks.layer_masks] + (
        [masks.direct_mask.tobytes()] if masks.direct else []) if masks.edited else []
    return (masks.D, masks.direct, *(masks.layer_degrees(l).tobytes()
                                     for l in range(layer_count(masks))), *edited)


def _plain(values: np.ndarray, digits: int = 3) -> list:
    """A float array as a JSON-ready list, rounded, NaN (a line break) as None."""
    rounded = np.round(np.asarray(values, dtype=np.float64), digits)
    return np.where(np.isnan(rounded), None, rounded).tolist()


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


def _text_px(text: str, size: float) -> float:
    """About how wide Plotly draws `text` (its pseudo-HTML) in Arial at `size` px: ~0.55 em a
    character, 0.4 em one in a <sub>script."""
    sub = sum(len(part) for part in re.findall(r"<sub>(.*?)</sub>", text))
    shown = len(re.sub(r"<[^>]*>", "", re.sub(r"<sub>(.*?)</sub>", "", text)))
    return size * (0.55 * shown + 0.4 * sub)


def _space_px(size: float) -> float:
    """A non-breaking space in Arial at `size` px."""
    return 0.278 * size


def _label_px(labels: list[str], shown: bool) -> int:
    """Room for a matrix axis's tick labels (none when they are not shown)."""
    return CHAR_PX * max(map(len, labels)) + 8 if shown and labels else 0


def _plot_px(left_px: int, right_px: int) -> int:
    """The plot area's width in the usual window, between the label margins."""
    return GRAPH_PX - left_px - right_px


def _legend_rows(names: list[str], row_px: float) -> int:
    """Rows a horizontal legend of `names` takes: a row runs until the next entry would pass
    `row_px`, as Plotly wraps it."""
    rows, used = 1, 0.0
    for name in names:
        width = LEGEND_ITEM_PX + LEGEND_CHAR_PX * len(name)
        if used and used + width > row_px:
            rows, used = rows + 1, 0.0
        used += width
    return rows


def _legend_x(left_px: int, right_px: int) -> dict:
    """The legend under the graph, from near one edge of the figure to the far edge of the plot:
    Plotly wraps a row there when the legend starts outside the plot (x < 0 or > 1). Anchored on
    the side whose label margin is wider, so the rows get the most room."""
    plot = _plot_px(left_px, right_px)
    if right_px > left_px:  # long output labels on the right
        return dict(xanchor="right", x=1 + (right_px - 16) / plot)
    return dict(xanchor="left", x=-(left_px - 16) / plot)


# ---------------------------------------------------------------------------------------------
# Masks: the connectivity graph
# ---------------------------------------------------------------------------------------------

INPUT_COLOR, HIDDEN_COLOR, OUTPUT_COLOR = "#4C78A8", "#54A24B", "#B279A2"
DEAD_COLOR, DEAD_LINE = "#D9D9D9", "#9A9A9A"
EDGE_COLOR, EDGE_DIM = "rgba(70, 70, 70, 0.42)", "rgba(70, 70, 70, 0.07)"
LIT_COLOR = "#E4572E"
DIRECT_COLOR, DIRECT_DIM = "rgba(245, 133, 24, 0.75)", "rgba(245, 133, 24, 0.12)"
FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=15, color="#262730")

# Unit by unit up to this size; above it, units are grouped by degree.
EXACT_MAX_UNITS_PER_LAYER = 24
EXACT_MAX_EDGES = 2500
MAX_GROUPS_PER_LAYER = 24


def layer_count(masks: MaskSet) -> int:
    """Number of unit columns: inputs, the hidden layers, outputs."""
    return len(masks.hidden_sizes) + 2


def layer_widths(masks: MaskSet) -> list[int]:
    return [masks.D, *masks.hidden_sizes, masks.D]


def _layer_masks(masks: MaskSet) -> list[np.ndarray]:
    """Boolean (out, in) masks between consecutive columns; none when there is no hidden layer."""
    return [m.astype(bool) for m in masks.layer_masks]


def weight_count(masks: MaskSet) -> int:
    total = sum(int(m.sum()) for m in masks.layer_masks)
    return total + (int(masks.direct_mask.sum()) if masks.direct else 0)


def is_grouped(masks: MaskSet) -> bool:
    """Whether the graph is drawn as a reduction (units grouped by degree) rather than exactly."""
    return (max(layer_widths(masks)) > EXACT_MAX_UNITS_PER_LAYER
            or weight_count(masks) > EXACT_MAX_EDGES)


# Unit names: x3 (input 3), h1.2 (hidden layer 1, unit 2), o3 (output 3, which models x3).

def unit_name(masks: MaskSet, layer: int, index: int) -> str:
    last = layer_count(masks) - 1
    return f"x{index}" if layer == 0 else f"o{index}" if layer == last else f"h{layer}.{index}"


def parse_unit(text: str, masks: MaskSet) -> tuple[int, int] | None:
    """'x3' / 'h1.2' / 'o3' -> (layer, index); '' -> None. ValueError names what is allowed."""
    text = text.strip().lower()
    if not text:
        return None
    layers, D = len(masks.hidden_sizes), masks.D
    allowed = f"x0..x{D - 1}, " + (f"h1.0..h{layers}.N, " if layers else "") + f"o0..o{D - 1}"
    match = re.fullmatch(r"([xo])([0-9]{1,6})|h([0-9]{1,2})\.([0-9]{1,6})", text)
    if match is None:
        raise ValueError(f"highlighted unit must look like x3, h1.2 or o3 ({allowed}),"
                         f" got {text[:20]!r}")
    if match.group(1):
        layer, index = (0 if match.group(1) == "x" else layers + 1), int(match.group(2))
    else:
        layer, index = int(match.group(3)), int(match.group(4))
        if not 1 <= layer <= layers:
            raise ValueError(f"highlighted unit: hidden layer {layer} does not exist"
                             f" (layers 1..{layers}; allowed: {allowed})" if layers else
                             f"highlighted unit: there is no hidden layer (allowed: {allowed})")
    width = layer_widths(masks)[layer]
    if not 0 <= index < width:
        raise ValueError(f"highlighted unit: {text} is out of range; that layer has units"
                         f" 0..{width - 1}")
    return layer, index


def _faded(color: str) -> str:
    r, g, b = _hex_rgb(color)
    return f"rgba({r}, {g}, {b}, 0.25)"


def _sub(text) -> str:
    return f"<sub>{text}</sub>"


def _conditional_label(masks: MaskSet, output: int) -> str:
    """p(x_d | the inputs before d in the ordering), listed when there are few of them."""
    earlier = masks.order[: masks.input_degrees[output] - 1]
    given = ("" if len(earlier) == 0 else
             " | " + ", ".join(f"x{_sub(i)}" for i in earlier) if len(earlier) <= 3 else
             f" | x{_sub('<' + str(output))}" if np.array_equal(earlier, np.arange(output)) else
             f" | {len(earlier)} earlier x")
    return f"p(x{_sub(output)}{given})"


def _listing(names: list[str], limit: int = 8) -> str:
    if not names:
        return "none"
    return ", ".join(names[:limit]) + (f" … ({len(names)} in all)" if len(names) > limit else "")


def _column_positions(widths: list[int]) -> list[np.ndarray]:
    """y of each unit: index 0 at the top, unit spacing 1, every column centred on 0."""
    return [(w - 1) / 2 - np.arange(w, dtype=float) for w in widths]


def _number(value: float) -> str:
    return f"{round(value, 3):g}"


def _segments(x0: float, y0: np.ndarray, x1: float, y1: np.ndarray) -> str:
    """Many straight lines as one SVG path in data units: M x0,y0 L x1,y1 for each."""
    a, b = _number(x0), _number(x1)
    return "".join(f"M{a},{_number(p)}L{b},{_number(q)}" for p, q in zip(y0.tolist(), y1.tolist()))


def _arcs(x0: float, y0: np.ndarray, x1: float, y1: np.ndarray, top: float) -> tuple[str, float]:
    """Direct connections as quadratic curves bowing over the hidden columns: one SVG path,
    and the highest point any curve reaches."""
    cy = top + 0.25 * np.abs(y1 - y0)
    cx = (x0 + x1) / 2
    # A quadratic Bezier peaks at t = (y0 - cy) / (y0 - 2 cy + y1), here always inside (0, 1).
    t = (y0 - cy) / (y0 - 2 * cy + y1)
    peak = float(((1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t ** 2 * y1).max())
    a, b, c = _number(x0), _number(x1), _number(cx)
    return "".join(f"M{a},{_number(p)}Q{c},{_number(k)} {b},{_number(q)}"
                   for p, k, q in zip(y0.tolist(), cy.tolist(), y1.tolist())), peak


@dataclass
class _Column:
    """What the graph draws for one column: one node per unit, or per degree group."""
    y: np.ndarray            # node positions
    members: list[np.ndarray]  # unit indices in each node
    degrees: list[tuple[int, int]]  # (lowest, highest) degree in each node
    names: list[str]
    labels: list[str]        # text drawn in or beside the node


def _degree_bins(D: int) -> tuple[int, int]:
    """(bin width, bin count) for grouping degrees 1..D into at most MAX_GROUPS_PER_LAYER."""
    width = max(1, math.ceil(D / MAX_GROUPS_PER_LAYER))
    return width, math.ceil(D / width)


def _columns(masks: MaskSet, grouped: bool) -> list[_Column]:
    widths, last = layer_widths(masks), layer_count(masks) - 1
    columns = []
    if not grouped:
        for layer, y in enumerate(_column_positions(widths)):
            degrees = masks.layer_degrees(layer)
            columns.append(_Column(
                y, [np.array([i]) for i in range(widths[layer])],
                [(int(m), int(m)) for m in degrees],
                [unit_name(masks, layer, i) for i in range(widths[layer])],
                [str(int(m)) for m in degrees]))
        return columns
    # One row per degree range, the same in every column: a weight can only run level or
    # downwards (to a higher degree), which is the >= rule made visible.
    bin_width, bin_count = _degree_bins(masks.D)
    for layer in range(last + 1):
        degrees = masks.layer_degrees(layer)
        bins = (degrees - 1) // bin_width
        used = np.unique(bins)
        groups = [np.flatnonzero(bins == b) for b in used]
        y = (bin_count - 1) / 2 - used.astype(float)
        spans = [(int(degrees[g].min()), int(degrees[g].max())) for g in groups]
        kind = "x" if layer == 0 else "o" if layer == last else f"h{layer}"
        names = [f"{kind} m={lo}" if lo == hi else f"{kind} m={lo}–{hi}" for lo, hi in spans]
        labels = [str(lo) if lo == hi else f"{lo}–{hi}" for lo, hi in spans]
        columns.append(_Column(y, groups, spans, names, labels))
    return columns


def _group_matrix(members: list[np.ndarray], width: int) -> np.ndarray:
    onehot = np.zeros((len(members), width), dtype=np.float64)
    for g, units in enumerate(members):
        onehot[g, units] = 1
    return onehot


@dataclass
class _Lit:
    """What a selected unit lights: units per column, weights per layer mask, direct weights
    (see MaskSet.paths_through); `units` is None when nothing is selected."""
    units: list[np.ndarray] | None = None
    weights: list[np.ndarray] | None = None
    direct: np.ndarray | None = None


@dataclass
class _NodeSizes:
    """The graph's height and its nodes' sizes in px, from the tallest column."""
    height: int
    base: float           # a unit's node diameter (a group's grows from it)
    biggest_group: int    # the most units in one node

    @classmethod
    def of(cls, columns: list[_Column], height: int | None) -> "_NodeSizes":
        tallest = max(len(c.y) for c in columns)
        height = height or int(np.clip(170 + 72 * tallest, 520, 900))
        unit_px = (height - 170) / max(tallest, 1)
        return cls(height, float(np.clip(0.62 * unit_px, 12, 40)),
                   max(len(m) for c in columns for m in c.members))

    def node_px(self, units: np.ndarray, grouped: bool) -> float:
        if not grouped:
            return round(self.base, 2)
        return round(10 + (self.base + 6 - 10) * math.sqrt(len(units) / self.biggest_group), 2)


def connectivity_graph(masks: MaskSet, selected: tuple[int, int] | None = None,
                       *, grouped: bool | None = None, height: int | None = None) -> go.Figure:
    """The network as columns of units, one line per kept weight, paths through `selected` lit.

    selected: (layer, unit index), layers numbered 0 (inputs) .. L+1 (outputs). grouped=None
    picks the reduction for big networks (see is_grouped): one node per degree range, line width
    growing with the number of weights it stands for. Nodes carry customdata [layer, unit] (the
    first unit of a group) so a click can be mapped back to a unit.
    """
    grouped = is_grouped(masks) if grouped is None else grouped
    columns = _columns(masks, grouped)
    lit = _lit_by(masks, columns, selected)
    top = max(c.y.max() for c in columns) + 0.9
    lines = _edge_lines(masks, columns, lit, grouped)
    arc_top = _arc_lines(masks, columns, lit, grouped, top, lines)
    traces, shapes = _line_legend_and_shapes(lines, dimmed=selected is not None, grouped=grouped)
    sizes = _NodeSizes.of(columns, height)
    node_traces, node_px = _node_traces(masks, columns, selected, lit, grouped, sizes)
    label_trace, side_px = _label_trace(masks, columns, lit, grouped, sizes, node_px)
    traces += node_traces + [label_trace]
    layout = _graph_layout(masks, columns, grouped, sizes.height, side_px, shapes,
                           radius=max(node_px.values()) / 2 + 3, arc_top=arc_top,
                           legend_names=[t["name"] for t in traces
                                         if t.get("showlegend") is not False])
    return _figure(traces, layout, (_fingerprint(masks), selected, grouped))


def _lit_by(masks: MaskSet, columns: list[_Column], selected: tuple[int, int] | None) -> _Lit:
    """The paths through the selected unit's node (its whole degree group when grouped)."""
    if selected is None:
        return _Lit()
    layer, index = selected
    chosen = np.zeros(layer_widths(masks)[layer], dtype=bool)
    node = next(g for g, units in enumerate(columns[layer].members) if index in units)
    chosen[columns[layer].members[node]] = True
    return _Lit(*masks.paths_through(layer, chosen))


# Lines: all weights drawn alike (kind, lit, width class) go into one SVG path, whatever the
# layer: a layout shape, not a scatter trace, which Plotly would split into one <path> per
# segment, styled one by one (hundreds of elements, most of the graph's drawing time).
_Lines = dict[tuple[str, bool, float], list[str]]  # (kind, lit, width) -> SVG paths


def _lit_parts(mask: np.ndarray, lit: np.ndarray | None) -> list[tuple[bool, np.ndarray]]:
    """A mask split into its unlit and lit weights (all unlit when nothing is selected)."""
    return [(False, mask)] if lit is None else [(False, mask & ~lit), (True, lit)]


def _edge_lines(masks: MaskSet, columns: list[_Column], lit: _Lit, grouped: bool) -> _Lines:
    """The kept weights between consecutive columns, grouped: weights counted between nodes."""
    widths = layer_widths(masks)
    edge_sets = []  # (layer, lit?, (out, in) counts between nodes)
    for l, mask in enumerate(_layer_masks(masks)):
        for is_lit, part in _lit_parts(mask, None if lit.weights is None else lit.weights[l]):
            if grouped:
                counts = (_group_matrix(columns[l + 1].members, widths[l + 1]) @ part
                          @ _group_matrix(columns[l].members, widths[l]).T)
            else:
                counts = part.astype(np.float64)
            edge_sets.append((l, is_lit, counts))
    lines: _Lines = {}
    biggest = max([c.max() for _, _, c in edge_sets if c.size] + [1.0])
    for l, is_lit, counts in edge_sets:
        outs, ins = np.nonzero(counts)
        # Grouped: a few width classes, width ~ sqrt(number of weights).
        level = (np.ceil(4 * np.sqrt(counts[outs, ins] / biggest)).astype(int) if grouped
                 else np.ones(len(outs), dtype=int))
        for w in np.unique(level):
            pick = level == w
            width = ((1.2 * w if is_lit else 0.9 * w) if grouped else (2.8 if is_lit else 1.3))
            lines.setdefault(("weight", is_lit, float(width)), []).append(
                _segments(l, columns[l].y[ins[pick]], l + 1, columns[l + 1].y[outs[pick]]))
    return lines


def _arc_lines(masks: MaskSet, columns: list[_Column], lit: _Lit, grouped: bool, top: float,
               lines: _Lines) -> float:
    """Adds the direct connections to `lines` as arcs over the hidden columns; returns the
    highest point they reach (top - 0.9 when there are none). Grouped, only the selected
    unit's: hundreds of arcs would hide the inputs."""
    arc_top = top - 0.9
    if not masks.direct:
        return arc_top
    last = layer_count(masks) - 1
    widths = layer_widths(masks)
    for is_lit, part in _lit_parts(masks.direct_mask.astype(bool), lit.direct):
        if grouped and not is_lit:
            continue
        if grouped:
            part = (_group_matrix(columns[last].members, widths[last]) @ part
                    @ _group_matrix(columns[0].members, widths[0]).T)
        outs, ins = np.nonzero(part)
        if len(outs) == 0:
            continue
        level = (np.ceil(3 * np.sqrt(part[outs, ins] / part.max())).astype(int) if grouped
                 else np.ones(len(outs), dtype=int))
        for w in np.unique(level):
            pick = level == w
            path, peak = _arcs(0, columns[0].y[ins[pick]], last, columns[last].y[outs[pick]], top)
            arc_top = max(arc_top, peak)
            lines.setdefault(("direct", is_lit, (2.2 if is_lit else 1.2) * w), []).append(path)
    return arc_top


_LINE_NAMES = {("weight", False): "kept weight (mask = 1)",
               ("weight", True): "on a path through the selected unit",
               ("direct", False): "direct connection (input → output)",
               ("direct", True): "direct connection (input → output)"}


def _line_legend_and_shapes(lines: _Lines, *, dimmed: bool,
                            grouped: bool) -> tuple[list[dict], list[dict]]:
    """The lines as shapes below the nodes, and for each kind of line a point-less legend entry
    in full colour, even when its lines are dimmed."""
    traces: list[dict] = []
    shapes: list[dict] = []
    swatches = set()
    drawn = {(k, lit) for k, lit, _ in lines}
    for kind, lit in [key for key in _LINE_NAMES if key in drawn]:  # the legend in a fixed order
        name, dash = _LINE_NAMES[kind, lit], "dot" if kind == "direct" else None
        if name not in swatches:
            swatches.add(name)
            traces.append(dict(
                type="scatter", x=[None], y=[None], mode="lines", name=name, hoverinfo="skip",
                legendgroup=name, line=dict(color=DIRECT_COLOR if kind == "direct" else
                                            LIT_COLOR if lit else EDGE_COLOR, width=2,
                                            **({"dash": dash} if dash else {}))))
        color = (LIT_COLOR if lit else
                 (DIRECT_DIM if dimmed or grouped else DIRECT_COLOR) if kind == "direct" else
                 EDGE_DIM if dimmed else EDGE_COLOR)
        for (k, l, width), paths in lines.items():
            if (k, l) == (kind, lit):
                shapes.append(dict(
                    type="path", path="".join(paths), xref="x", yref="y", layer="below",
                    line=dict(color=color, width=width, **({"dash": dash} if dash else {}))))
    return traces, shapes


_NODE_COLORS = {"input": INPUT_COLOR, "hidden": HIDDEN_COLOR, "output": OUTPUT_COLOR,
                "dead": DEAD_COLOR}
_NODE_LEGEND = {"input": "input x_i (number = degree = position in the ordering)",
                "hidden": "hidden unit (number = degree m)",
                "output": "output p(x_d | earlier x) (number = degree of x_d)",
                "dead": "dead unit: no input-to-output path (hover for why)"}
_GROUP_LEGEND = {"input": "inputs", "hidden": "hidden units", "output": "outputs",
                 "dead": "dead units only (hover for why)"}


def _node_traces(masks: MaskSet, columns: list[_Column], selected: tuple[int, int] | None,
                 lit: _Lit, grouped: bool,
                 sizes: _NodeSizes) -> tuple[list[dict], dict[tuple[int, int], float]]:
    """Nodes: live units in one trace, dead ones (grey text) in another; every kind of node gets
    a point-less legend entry of its own (a node trace's swatch would take the colour of its
    first point, which may be faded). Few traces: Plotly's cost grows with their number.
    Returns the traces and each node's diameter in px, by (layer, node)."""
    last = layer_count(masks) - 1
    dead = {(u.layer, u.index): u.reason for u in masks.dead_units()}
    legends = _GROUP_LEGEND if grouped else _NODE_LEGEND
    kinds = {kind: [] for kind in _NODE_COLORS}
    for layer, column in enumerate(columns):
        for node, units in enumerate(column.members):
            dead_units = [int(u) for u in units if (layer, int(u)) in dead]
            kind = ("dead" if len(dead_units) == len(units) else
                    "input" if layer == 0 else "output" if layer == last else "hidden")
            kinds[kind].append((layer, node, dead_units))
    traces = [dict(type="scatter", x=[None], y=[None], mode="markers", name=legends[kind],
                   hoverinfo="skip", marker=dict(size=12, color=_NODE_COLORS[kind], line=dict(
                       width=1.5, color=DEAD_LINE if kind == "dead" else "white")))
              for kind, nodes in kinds.items() if nodes]
    node_px = {}
    for group in (("input", "hidden", "output"), ("dead",)):
        nodes = [(kind, node) for kind in group for node in kinds[kind]]
        if not nodes:
            continue
        xs, ys, texts, hovers, px, fills, line_w, line_c, custom = ([] for _ in range(9))
        for kind, (layer, node, dead_units) in nodes:
            column, units = columns[layer], columns[layer].members[node]
            xs.append(layer)
            ys.append(round(float(column.y[node]), 3))
            texts.append(column.labels[node])
            hovers.append(_node_hover(masks, layer, column, node, dead_units, dead, grouped))
            px.append(sizes.node_px(units, grouped))
            node_px[layer, node] = px[-1]
            is_lit = lit.units is None or bool(lit.units[layer][units].any())
            fills.append(_NODE_COLORS[kind] if is_lit else _faded(_NODE_COLORS[kind]))
            is_selected = selected is not None and selected[0] == layer and selected[1] in units
            line_w.append(4 if is_selected else 1.5)
            line_c.append(LIT_COLOR if is_selected else (DEAD_LINE if kind == "dead" else "white"))
            custom.append([layer, int(units[0]), unit_name(masks, layer, int(units[0]))])
        text_color = "#555555" if group == ("dead",) else "white"
        traces.append(dict(
            type="scatter", x=xs, y=ys, mode="markers" if grouped else "markers+text",
            text=texts, name=legends["dead"] if group == ("dead",) else "units",
            customdata=custom, showlegend=False, hovertext=hovers, hoverinfo="text",
            textposition="middle center",
            textfont=dict(size=round(max(9, min(15, sizes.base * 0.48)), 1) if not grouped
                          else 10, color=text_color),
            # Opaque (Plotly would draw nodes of several sizes at 0.7): lines pass under them.
            marker=dict(size=px, color=fills, opacity=1, line=dict(width=line_w, color=line_c)),
            # Plotly would fade the points a click did not select: the paths do that here.
            selected=dict(marker=dict(opacity=1), textfont=dict(color=text_color)),
            unselected=dict(marker=dict(opacity=1), textfont=dict(color=text_color))))
    return traces, node_px


def _label_trace(masks: MaskSet, columns: list[_Column], lit: _Lit, grouped: bool,
                 sizes: _NodeSizes, node_px: dict) -> tuple[dict, dict[int, float]]:
    """Input and output labels beside their columns (one trace); grouped, the row labels on the
    left name the degree range of the whole row. Each is anchored at its node's centre and kept
    clear of the node by non-breaking spaces, and the margins hold them: their room is in
    pixels, whatever the window's width (data units would shrink with it and cut them off).
    Returns the trace and the widest label's px on each labelled side (by column)."""
    last = layer_count(masks) - 1
    label_size = 12 if grouped else round(max(10, min(14, sizes.base * 0.55)), 1)
    space_px = _space_px(label_size)
    label_x, label_y, labels, positions, alphas = [], [], [], [], []
    side_px = {}
    for layer, pos in ((0, "middle left"), (last, "middle right")):
        column = columns[layer]
        if grouped and layer == last:
            break
        if grouped:
            text = [f"m {t}" for t in column.labels]
        elif layer == 0:
            text = [f"x{_sub(i)}" for i in range(masks.D)]
        else:
            text = [_conditional_label(masks, o) for o in range(masks.D)]
        pads = [math.ceil((node_px[layer, node] / 2 + 5) / space_px)
                for node in range(len(column.members))]
        labels += [(t + "\u00a0" * k) if layer == 0 else ("\u00a0" * k + t)
                   for t, k in zip(text, pads)]
        side_px[layer] = max(_text_px(t, label_size) + k * space_px for t, k in zip(text, pads))
        label_x += [layer] * len(text)
        label_y += column.y.round(3).tolist()
        positions += [pos] * len(text)
        alphas += [1.0 if lit.units is None or lit.units[layer][m].any() else 0.35
                   for m in column.members]
    return dict(
        type="scatter", x=label_x, y=label_y, mode="text", text=labels, textposition=positions,
        hoverinfo="skip", showlegend=False, cliponaxis=False,
        textfont=dict(size=label_size, color=[f"rgba(38, 39, 48, {a})" for a in alphas])), side_px


def _column_headers(masks: MaskSet, grouped: bool) -> list[dict]:
    """Each column's name and rule above it; grouped, a note on how to read the reduction."""
    last = layer_count(masks) - 1
    headers = ["inputs"] + [f"hidden {l}" for l in range(1, last)] + ["outputs"]
    # Two short lines each: one long line runs into the next column's in a narrow window.
    subheaders = ([("m = place", "in order")] + [("keep if", "m ≥ m(in)")] * (last - 1)
                  + [("keep if", "m > m(in)")])
    small = "<span style='font-size:12px;color:#666'>{}</span>"
    annotations = [dict(x=l, y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                        font=dict(size=14),
                        text=f"<b>{h}</b><br>" + "<br>".join(map(small.format, lines)))
                   for l, (h, lines) in enumerate(zip(headers, subheaders))]
    if grouped:
        annotations.append(dict(
            x=0, y=-0.02, xref="paper", yref="paper", xanchor="left", yanchor="top",
            align="left", showarrow=False, font=dict(size=12, color="#666"),
            # Short lines: a long one runs past the graph's right edge in a 1280 px window.
            text="Reduced view: one row per degree range m (left),<br>node size = number of"
                 " units, line width = number of weights."
                 + ("<br>Direct connections are shown for the selected unit only."
                    if masks.direct else "")))
    return annotations


def _graph_layout(masks: MaskSet, columns: list[_Column], grouped: bool, height: int,
                  side_px: dict[int, float], shapes: list[dict], *, radius: float,
                  arc_top: float, legend_names: list[str]) -> dict:
    """Margins that hold the labels, axis ranges that keep the outer nodes inside, the headers,
    the lines (`shapes`), and the legend below the plot."""
    last = layer_count(masks) - 1
    # The outer nodes' centres stay at least a radius inside the plot (the axis range is padded
    # below), so the margins hold the rest of the labels and of the column headers (~72 px).
    left_px = round(10 + max(side_px.get(0, 0), 36) - radius)
    right_px = round(10 + max(side_px.get(last, 0), 36) - radius)
    # Two radii of room at the usual width, so still one in a window half as wide.
    pad = 2 * radius * max(last, 1) / max(_plot_px(left_px, right_px) - 4 * radius, 100)
    note_px = 18 * (1 + masks.direct) if grouped else 0  # the note's lines after its first
    # The legend sits below the plot in a margin reserved for it: a legend that has to push
    # Plotly's margins (it still may, in a narrow window) makes it lay the chart out twice.
    rows = _legend_rows(legend_names, GRAPH_PX - min(left_px, right_px) - 16)
    legend_px = 30 * rows + (60 + note_px if grouped else 22)
    return dict(
        height=height, margin=dict(l=left_px, r=right_px, t=84, b=legend_px),
        font=FONT, plot_bgcolor="white", paper_bgcolor="white",
        annotations=_column_headers(masks, grouped), shapes=shapes,
        # "pan" on fixed axes drags nothing; Streamlit would switch a falsy dragmode to it
        # after the first draw, and redraw.
        hovermode="closest", clickmode="event+select", dragmode="pan",
        legend=dict(orientation="h", yanchor="top", **_legend_x(left_px, right_px),
                    y=-0.06 - note_px / (height - 84 - legend_px) if grouped else -0.01,
                    itemclick=False, itemdoubleclick=False, font=dict(size=13)),
        # The nodes are clipped to the plot (unclipped, Plotly draws points more slowly).
        xaxis=dict(visible=False, range=[-pad, last + pad], fixedrange=True),
        yaxis=dict(visible=False, range=[min(c.y.min() for c in columns) - 0.7, arc_top + 0.6],
                   fixedrange=True))


def _node_hover(masks: MaskSet, layer: int, column: _Column, node: int, dead_units: list[int],
                dead: dict, grouped: bool) -> str:
    units = column.members[node]
    lo, hi = column.degrees[node]
    last = layer_count(masks) - 1
    degree = f"degree m = {lo}" if lo == hi else f"degrees m = {lo}..{hi}"
    if grouped:
        lines = [f"<b>{column.names[node]}</b>: {len(units)} unit(s), {degree}"]
        if dead_units:
            reason = dead[(layer, dead_units[0])]
            lines.append(f"{len(dead_units)} dead, e.g. {unit_name(masks, layer, dead_units[0])}:"
                         f" {reason}")
        return "<br>".join(lines)
    index = int(units[0])
    name = unit_name(masks, layer, index)
    if layer == 0:
        lines = [f"<b>x{index}</b>: input, {degree} (position {lo} in the ordering)"]
    elif layer == last:
        lines = [f"<b>{name}</b>: output for {_conditional_label(masks, index)}, {degree}"]
    else:
        lines = [f"<b>{name}</b>: hidden unit, {degree}"]
    if (layer, index) in dead:
        lines.append(f"dead: {dead[(layer, index)]}")
    else:
        lit, _, _ = masks.paths_through(layer, np.eye(len(column.y), dtype=bool)[index])
        if layer > 0:
            lines.append("sees " + _listing([f"x{i}" for i in np.flatnonzero(lit[0])]))
        if layer < last:
            lines.append("feeds " + _listing([f"p(x{o})" for o in np.flatnonzero(lit[last])]))
    return "<br>".join(lines)


def selection_summary(masks: MaskSet, selected: tuple[int, int]) -> str:
    """One line for the page: what the selected unit sees and feeds, in words."""
    layer, index = selected
    last = layer_count(masks) - 1
    chosen = np.zeros(layer_widths(masks)[layer], dtype=bool)
    chosen[index] = True
    lit, weights, direct = masks.paths_through(layer, chosen)
    m = int(masks.layer_degrees(layer)[index])
    n_weights = sum(int(w.sum()) for w in weights)
    n_weights += int(direct.sum()) if direct is not None else 0
    name = unit_name(masks, layer, index)
    parts = [f"{name} (degree {m})"]
    if layer > 0:
        parts.append("sees " + _listing([f"x{i}" for i in np.flatnonzero(lit[0])], 6))
    if layer < last:
        parts.append("feeds " + _listing([f"p(x{o})" for o in np.flatnonzero(lit[last])], 6))
    return ", ".join(parts) + f"; {n_weights} weights lie on its paths."


# ---------------------------------------------------------------------------------------------
# Masks: the matrices
# ---------------------------------------------------------------------------------------------

# Drawn cell by cell (with hover text) up to this many rows or columns; above it as a PNG image.
HEATMAP_MAX_SIDE = 64
IMAGE_MAX_SIDE = 512
KEPT_RGB, EMPTY_RGB = (58, 76, 140), (244, 244, 246)
COUNT_SCALE = [[0.0, "#f4f4f6"], [1e-9, "#dbe6f3"], [0.5, "#6b9bd1"], [1.0, "#1d3f7a"]]
FORBIDDEN_COLOR, FORBIDDEN_FILL = "#D62728", "rgba(214, 39, 40, 0.55)"


def _block_max(image: np.ndarray, limit: int) -> np.ndarray:
    """Shrink a big 2-D array by taking the max over square blocks, so sparse ones survive."""
    step = math.ceil(max(image.shape) / limit)
    if step <= 1:
        return image
    rows, cols = (math.ceil(s / step) * step for s in image.shape)
    padded = np.zeros((rows, cols), dtype=image.dtype)
    padded[: image.shape[0], : image.shape[1]] = image
    return padded.reshape(rows // step, step, cols // step, step).max(axis=(1, 3))


def _image_trace(rgb: np.ndarray, x_title: str, y_title: str, extent: tuple[int, int],
                 axes: str = "") -> dict:
    """An RGB array as one PNG image trace spanning `extent` = (columns, rows) of the matrix."""
    rows, cols = rgb.shape[:2]
    return dict(type="image", source=png_data_uri(rgb), x0=-0.5 + extent[0] / cols / 2,
                dx=extent[0] / cols, y0=-0.5 + extent[1] / rows / 2, dy=extent[1] / rows,
                xaxis=f"x{axes}", yaxis=f"y{axes}",
                hovertemplate=f"{x_title} ≈ %{{x:.0f}}<br>{y_title} ≈ %{{y:.0f}}<extra></extra>")


def png_data_uri(rgb: np.ndarray) -> str:
    """An (h, w, 3) uint8 array as a PNG data: URI, as px.imshow(binary_string=True) makes it
    (without building a whole figure, which costs far more than the encoding)."""
    import base64
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# Matrix axes carry no automargin: Plotly then measures the labels and lays the whole chart out
# a second time (most of a small matrix's drawing time). The margins are sized here from the
# longest label instead (_label_px, with the other pixel metrics).


def _matrix_axis(title: str, **extra) -> dict:
    return dict(title=dict(text=title, standoff=4), showgrid=False, zeroline=False,
                automargin=False, **extra)


def _category_axis(labels_shown: bool, **extra) -> dict:
    """A unit-name axis. Unlabelled, it gets no ticks at all: Plotly would still place and draw
    (invisibly) a tick for every few of its categories, much of a matrix's drawing time."""
    hidden = {} if labels_shown else dict(tickmode="array", tickvals=[])
    return dict(type="category", showticklabels=labels_shown, **hidden, **extra)


def layer_masks_figure(masks: MaskSet, *, by_degree: bool = False,
                       height: int = 400, clickable: bool = False) -> go.Figure:
    """Every layer's mask side by side (one figure, so the browser draws one plot).

    Mask W_l has the weight's (out, in) shape: rows = units above, columns = units below.
    by_degree sorts every layer's units by degree (inputs by their place in the ordering).
    clickable: every cell carries a (nearly) invisible marker with customdata [layer index,
    row, column], since Plotly reports no clicks on heatmaps (up to HEATMAP_MAX_SIDE only).
    """
    last = layer_count(masks) - 1
    short = ["x", *[f"h{k}" for k in range(1, last)], "out"]
    count = len(masks.layer_masks)
    widths = [m.shape[1] for m in masks.layer_masks]
    small = all(max(m.shape) <= 16 for m in masks.layer_masks)
    labels = [[f"{unit_name(masks, layer, u)}·{int(d)}"
               for u, d in enumerate(masks.layer_degrees(layer))] for layer in range(last + 1)]
    # Between two masks sit the right one's axis title and row labels: the gap is sized for
    # them at the chart's usual width (~520 px) so the title never lands on the left mask.
    gap_px = TITLE_PX + 14 + (max(_label_px(names, True) for names in labels[1:]) if small else 30)
    spacing = max(0.12 / max(count - 1, 1) + 0.04, gap_px / 520) if count > 1 else 0.0
    room = 1 - spacing * (count - 1)
    left = np.concatenate([[0.0], np.cumsum(widths)[:-1]]) / sum(widths) * room
    traces, layout, annotations = [], {}, []
    x_label_px = y_label_px = 0
    for l, mask in enumerate(masks.layer_masks):
        x0 = float(left[l] + spacing * l)
        domain = [x0, min(1.0, x0 + widths[l] / sum(widths) * room)]
        suffix = "" if l == 0 else str(l + 1)
        rule = f"m({short[l + 1]}) {'>' if l + 1 == last else '≥'} m({short[l]})"
        annotations.append(dict(
            text=f"<b>W{l + 1}</b>: {short[l]} → {short[l + 1]}<br><span style='font-size:"
                 f"12px;color:#666'>1 where {rule}</span>",
            x=sum(domain) / 2, y=1.0, xref="paper", yref="paper", xanchor="center",
            yanchor="bottom", showarrow=False, font=dict(size=15), yshift=8))
        rows_deg, cols_deg = masks.layer_degrees(l + 1), masks.layer_degrees(l)
        rows = degree_sort(rows_deg) if by_degree else np.arange(mask.shape[0])
        cols = degree_sort(cols_deg) if by_degree else np.arange(mask.shape[1])
        shown = mask[np.ix_(rows, cols)]
        x_title, y_title = f"{short[l]} unit", f"{short[l + 1]} unit"
        unit_words = " · m" if small else ""
        xaxis = _matrix_axis(x_title + unit_words, domain=domain, anchor=f"y{suffix}")
        yaxis = _matrix_axis(y_title + unit_words, domain=[0.0, 1.0], anchor=f"x{suffix}")
        if max(shown.shape) <= HEATMAP_MAX_SIDE:
            gap = int(max(shown.shape) <= 16)
            x_names = [labels[l][u] for u in cols]
            y_names = [labels[l + 1][u] for u in rows]
            x_label_px = max(x_label_px, _label_px(x_names, small))
            y_label_px = max(y_label_px, _label_px(y_names, small))
            # Unit names as categories: the hover names both ends without a string per cell.
            traces.append(dict(
                type="heatmap", z=shown.astype(int).tolist(), x=x_names,
                y=y_names, showscale=False, zmin=0, zmax=1, xgap=gap, ygap=gap,
                hovertemplate="%{y} ← %{x}: mask %{z}<extra></extra>",
                colorscale=[[0, "rgb(%d,%d,%d)" % EMPTY_RGB], [1, "rgb(%d,%d,%d)" % KEPT_RGB]],
                xaxis=f"x{suffix}", yaxis=f"y{suffix}"))
            xaxis.update(_category_axis(small, tickangle=-90))
            yaxis.update(_category_axis(small))
            if clickable:
                traces.append(_click_targets(l, rows, cols, x_names, y_names, mask, suffix))
        else:
            shrunk = _block_max(shown, IMAGE_MAX_SIDE)
            rgb = np.where(shrunk[..., None] > 0, KEPT_RGB, EMPTY_RGB).astype(np.uint8)
            traces.append(_image_trace(rgb, x_title, y_title, (shown.shape[1], shown.shape[0]),
                                       suffix))
            x_label_px = max(x_label_px, 18)  # numbered axes
            y_label_px = max(y_label_px, _label_px([str(shown.shape[0])], True))
        # Fixed ranges, row 0 at the top (categories count 0, 1, ... too): no autorange pass.
        xaxis.update(range=[-0.5, shown.shape[1] - 0.5])
        yaxis.update(range=[shown.shape[0] - 0.5, -0.5])
        layout[f"xaxis{suffix}"], layout[f"yaxis{suffix}"] = xaxis, yaxis
    layout.update(annotations=annotations, height=height, font=dict(FONT, size=13),
                  margin=dict(l=10 + TITLE_PX + y_label_px, r=10, t=70,
                              b=10 + TITLE_PX + x_label_px),
                  plot_bgcolor="white", paper_bgcolor="white")
    return _figure(traces, layout, (_fingerprint(masks), by_degree, clickable))


def _click_targets(layer: int, rows: np.ndarray, cols: np.ndarray, x_names: list,
                   y_names: list, mask: np.ndarray, suffix: str) -> dict:
    """One marker per cell of a heatmap, carrying [layer, row, col] in the mask's own index."""
    r, c = np.meshgrid(np.arange(len(rows)), np.arange(len(cols)), indexing="ij")
    r, c = r.ravel(), c.ravel()
    return dict(type="scatter", mode="markers", x=[x_names[k] for k in c],
                y=[y_names[k] for k in r], showlegend=False,
                customdata=[[layer, int(rows[i]), int(cols[j])] for i, j in zip(r, c)],
                marker=dict(symbol="square", size=10, color="rgba(0, 0, 0, 0.01)"),
                selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)),
                hovertemplate="%{y} ← %{x}: click to flip<extra></extra>",
                xaxis=f"x{suffix}", yaxis=f"y{suffix}")


def path_count_figure(masks: MaskSet, *, generation_order: bool = False,
                      height: int = 460, counts_shown: bool | None = None) -> go.Figure:
    """The product of the masks: [o, i] = paths from input i to output o.

    generation_order permutes rows and columns into the ordering: the matrix is then strictly
    lower-triangular. The diagonal is outlined (output d never sees x_d); in generation order
    the upper triangle, which must stay empty, is shaded.
    """
    D = masks.D
    counts = (masks.connectivity_in_generation_order() if generation_order
              else masks.connectivity())
    axis_units = masks.order if generation_order else np.arange(D)
    forbidden = masks.forbidden_paths()[np.ix_(axis_units, axis_units)]
    numeric = np.asarray(counts, dtype=np.float64)  # exact counts may be Python ints
    peak = float(numeric.max()) if numeric.size else 0.0
    use_log = peak > 100
    color_values = np.log10(1 + numeric) if use_log else numeric
    top = float(color_values.max()) or 1.0
    order_words = ("generation order: strictly lower-triangular (shaded: must be 0)"
                   if generation_order
                   else "index order; the diagonal is always 0")
    product = " · ".join(f"W{l}" for l in range(len(masks.layer_masks), 0, -1))
    if forbidden.any():
        order_words = (f"<b style='color:{FORBIDDEN_COLOR}'>red: {int(forbidden.sum())} forbidden"
                       f" (output sees itself or a later input)</b>")
    title = (f"Paths input → output{': ' + product if product else ''}<br><span style="
             f"'font-size:12px;color:#666'>{order_words}</span>")
    colorbar = dict(title=dict(text="paths (log scale)" if use_log else "paths", side="right"),
                    thickness=12, **(_log_count_ticks(peak) if use_log else {}))
    xaxis, yaxis = _matrix_axis("input"), _matrix_axis("output")
    x_label_px = y_label_px = 0
    # Counts written in the cells (then no colour bar): up to D = 16 unless asked otherwise.
    in_cells = (D <= 16 if counts_shown is None else counts_shown) and D <= HEATMAP_MAX_SIDE
    if D <= HEATMAP_MAX_SIDE:
        exact = np.vectorize(str, otypes=[object])(counts).tolist()  # exact, even beyond int64
        show = in_cells
        x_names = [f"x{int(i)}" for i in axis_units]
        y_names = [f"p(x{int(i)})" for i in axis_units]
        y_label_px = _label_px(y_names, show)
        x_label_px = 18 if show else 0
        # Inputs and outputs by name as categories; positions 0..D-1 still place the shapes.
        data = [dict(
            type="heatmap", z=_plain(color_values, 4), x=x_names, y=y_names, zmin=0,
            zmax=top, text=exact, texttemplate="%{text}" if show else None,
            textfont=dict(size=12), hovertemplate="%{y} ← %{x}: %{text} path(s)<extra></extra>",
            colorscale=COUNT_SCALE, xgap=int(show), ygap=int(show), colorbar=colorbar,
            # Every count is written in its cell: a colour bar would only repeat them.
            showscale=not show)]
        xaxis.update(_category_axis(show, tickangle=0))
        yaxis.update(_category_axis(show))
    else:
        small = _block_max(color_values, IMAGE_MAX_SIDE) / top
        rgb = np.where(_block_max(forbidden, IMAGE_MAX_SIDE)[..., None],
                       np.array(_hex_rgb(FORBIDDEN_COLOR), dtype=np.uint8), _colorize(small))
        # An invisible marker carries the colour bar the PNG image cannot have.
        data = [_image_trace(rgb, "input", "output", (D, D)), dict(
            type="scatter", x=[None], y=[None], mode="markers", showlegend=False,
            hoverinfo="skip", marker=dict(colorscale=COUNT_SCALE, cmin=0, cmax=top, color=[0],
                                          showscale=True, colorbar=colorbar))]
        x_label_px, y_label_px = 18, _label_px([str(D)], True)  # numbered axes
    # The diagonal: output d never sees x_d; outlined in both orders.
    shapes = [dict(type="line", x0=-0.5, y0=-0.5, x1=D - 0.5, y1=D - 0.5,
                   line=dict(color=LIT_COLOR, width=2, dash="dot"))]
    if D <= HEATMAP_MAX_SIDE:  # forbidden cells in red, over the heatmap
        shapes += [dict(type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5,
                        fillcolor=FORBIDDEN_FILL, line=dict(color=FORBIDDEN_COLOR, width=2))
                   for r, c in np.argwhere(forbidden).tolist()]
    if generation_order:
        shapes.append(dict(type="path", path=f"M -0.5 -0.5 L {D - 0.5} -0.5 L {D - 0.5} "
                                             f"{D - 0.5} Z",
                           fillcolor="rgba(228, 87, 46, 0.07)", line=dict(width=0),
                           layer="below"))
    # Square cells: the y axis keeps the x axis's scale and both shrink their domain to fit.
    # Fixed ranges, row 0 at the top (categories count 0, 1, ... too): no autorange pass.
    xaxis.update(side="bottom", constrain="domain", range=[-0.5, D - 0.5])
    yaxis.update(constrain="domain", scaleanchor="x", range=[D - 0.5, -0.5])
    return _figure(data, dict(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=16)), height=height,
        # Room on the right for the colour bar (its offset, thickness, tick labels and title:
        # ~90 px), fixed: a colour bar allowed to push the margin makes Plotly lay the chart
        # out twice.
        margin=dict(l=10 + TITLE_PX + y_label_px, r=10 if in_cells else COLORBAR_PX,
                    t=80,
                    b=10 + TITLE_PX + x_label_px, autoexpand=False),
        font=dict(FONT, size=13), plot_bgcolor="white", paper_bgcolor="white",
        xaxis=xaxis, yaxis=yaxis, shapes=shapes),
        (_fingerprint(masks), generation_order, in_cells))


def _log_count_ticks(peak: float, most: int = 6) -> dict:
    """Colour-bar ticks for colours log10(1 + count), labelled in counts: 0, 1, 10, 100, 1,000,
    then 10⁴, 10⁵, ...; every k-th power of ten when more than `most` would fit, and no 0 when
    it would crowd the 1 (at 0.3 on a bar running to log10(peak))."""
    if not math.isfinite(peak) or peak < 1:
        return {}
    zero = [0] * (peak < 10_000)
    powers = range(int(math.log10(peak)) + 1)
    step = max(1, math.ceil((len(powers) + len(zero)) / most))
    counts = zero + [10 ** k for k in powers[::step]]
    plain = 10_000 if counts[-1] < 10_000 else 1_000  # 1,000 beside 10⁴ would mix two styles
    return dict(tickmode="array", tickvals=[round(math.log10(1 + n), 4) for n in counts],
                ticktext=[f"{n:,}" if n < plain else f"10{_sup(round(math.log10(n)))}"
                          for n in counts])


def _sup(number: int) -> str:
    return str(number).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _colorize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB uint8 along COUNT_SCALE; exact zeros get the empty colour."""
    stops = np.array([0.0, 1e-9, 0.5, 1.0])
    colors = np.array([_hex_rgb(c) for _, c in COUNT_SCALE], dtype=np.float64)
    rgb = np.stack([np.interp(values, stops, colors[:, k]) for k in range(3)], axis=-1)
    return np.round(rgb).astype(np.uint8)


def _hex_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return tuple(int(color[i: i + 2], 16) for i in (0, 2, 4))


# ---------------------------------------------------------------------------------------------
# Tiny world: pixel grids, the training curve, learned against true p(x)
# ---------------------------------------------------------------------------------------------

INK, PAPER = "#262730", "#E8EBF2"
CORRECT_COLOR, BROKEN_COLOR, ENTROPY_COLOR = "#1f77b4", FORBIDDEN_COLOR, "#2CA02C"
# A p(x) of exactly 0 has no place on a log axis: it gets its own column left of the floor.
LOG_P_FLOOR = -10
# One marker per pattern up to this many patterns; above, a 2-D histogram of them.
SCATTER_MAX_PATTERNS = 4096


def pixel_grid_figure(images: np.ndarray, rows: int, cols: int, *, titles=None,
                      cell_px: int = 22, per_line: int | None = None,
                      clickable: bool = False) -> go.Figure:
    """Small binary images side by side (wrapped after per_line), one square marker per pixel.

    Markers, not a heatmap, so that a click on a pixel reports customdata [image, pixel]
    (Plotly reports no clicks on heatmaps).
    """
    images = np.asarray(images, dtype=np.uint8).reshape(len(images), rows * cols)
    per_line = per_line or max(len(images), 1)
    lines = max(1, math.ceil(len(images) / per_line))
    pixel = np.arange(rows * cols)
    xs, ys, colors, custom = [], [], [], []
    for k, image in enumerate(images):
        line, slot = divmod(k, per_line)
        xs += (slot * (cols + 1) + pixel % cols).tolist()
        ys += (line * (rows + 1.6) + pixel // cols).tolist()
        colors += [INK if v else PAPER for v in image]
        custom += [[k, int(d)] for d in pixel]
    width_units, height_units = per_line * (cols + 1) - 1, lines * (rows + 1.6) - 1.6
    top = 26 if titles is not None else 6
    annotations = [dict(text=str(title), x=(k % per_line) * (cols + 1) + (cols - 1) / 2,
                        y=(k // per_line) * (rows + 1.6) - 0.6, xref="x", yref="y",
                        yanchor="bottom", showarrow=False, font=dict(size=13))
                   for k, title in enumerate(titles or [])]
    trace = dict(type="scatter", mode="markers", x=xs, y=ys, customdata=custom,
                 marker=dict(symbol="square", size=cell_px - 2, color=colors,
                             line=dict(width=1 if clickable else 0, color="#B8BECC")),
                 selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)),
                 hovertemplate=("image %{customdata[0]}, pixel %{customdata[1]}: click to flip"
                                if clickable else "pixel %{customdata[1]}") + "<extra></extra>")
    axis = dict(showgrid=False, zeroline=False, showticklabels=False, fixedrange=True,
                automargin=False)
    layout = dict(width=int(cell_px * (width_units + 1)) + 12,
                  height=int(cell_px * (height_units + 1)) + top + 6,
                  margin=dict(l=6, r=6, t=top, b=6, autoexpand=False),
                  xaxis=dict(axis, range=[-0.5, width_units + 0.5]),
                  yaxis=dict(axis, range=[height_units + 0.5, -0.5 - (0.9 if titles else 0)]),
                  annotations=annotations, plot_bgcolor="white", paper_bgcolor="white",
                  font=FONT, dragmode=False, hovermode="closest", showlegend=False)
    return _figure([trace], layout, (images.tobytes(), rows, cols, per_line, clickable))


def training_curve_figure(runs: list[dict], entropy: float, seconds: float,
                          height: int = 420) -> go.Figure:
    """NLL against the world's entropy H (top) and the exact KL (bottom), over seconds.

    runs: one dict per network: label, color, seconds, train_nll (minibatch NLL), and
    cross_entropy and kl (exact, over every pattern) at each report.
    """
    traces = [dict(type="scatter", x=[0, seconds], y=[entropy, entropy], mode="lines",
                   name=f"H = {entropy:.3f} nats (the floor)", hoverinfo="skip",
                   line=dict(color=ENTROPY_COLOR, width=3, dash="dash"))]
    for run in runs:
        traces += [
            dict(type="scatter", x=_plain(run["seconds"]), y=_plain(run["train_nll"]),
                 mode="lines", name=f"{run['label']}: minibatch NLL", opacity=0.55,
                 line=dict(color=run["color"], width=1.5),
                 hovertemplate="%{x:.1f} s: %{y:.3f} nats<extra></extra>"),
            dict(type="scatter", x=_plain(run["seconds"]), y=_plain(run["cross_entropy"]),
                 mode="lines", name=f"{run['label']}: exact NLL = H + KL",
                 line=dict(color=run["color"], width=3),
                 hovertemplate="%{x:.1f} s: %{y:.3f} nats<extra></extra>"),
            dict(type="scatter", x=_plain(run["seconds"]), y=_plain(run["kl"], 4),
                 mode="lines+markers", name=f"{run['label']}: KL", showlegend=False,
                 line=dict(color=run["color"], width=2.5), marker=dict(size=4),
                 hovertemplate="%{x:.1f} s: KL %{y:.4f}<extra></extra>", xaxis="x2",
                 yaxis="y2")]
    values = [v for run in runs for key in ("train_nll", "cross_entropy") for v in run[key]]
    top = max([entropy * 1.6, *values[:3]] if values else [entropy * 1.6, 1.0])
    kl_values = [v for run in runs for v in run["kl"]] or [0.0, 0.1]
    kl_range = [min(0.0, min(kl_values)) * 1.05 - 0.02, max(0.1, max(kl_values[1:] or
                                                                      kl_values)) * 1.1]
    axis = dict(showgrid=True, gridcolor="#ECECEC", zeroline=False, automargin=False)
    layout = dict(
        height=height, margin=dict(l=64, r=16, t=30 + 22 * len(runs), b=48,
                                   autoexpand=False),
        font=FONT, plot_bgcolor="white", paper_bgcolor="white", hovermode="closest",
        legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom", font=dict(size=13)),
        xaxis=dict(axis, range=[0, seconds], anchor="y", showticklabels=False),
        xaxis2=dict(axis, range=[0, seconds], anchor="y2", title=dict(text="seconds")),
        yaxis=dict(axis, domain=[0.42, 1.0], range=[0, top], title=dict(text="NLL (nats)")),
        yaxis2=dict(axis, domain=[0.0, 0.32], range=kl_range, title=dict(text="KL"),
                    zeroline=True, zerolinecolor="#999"))
    return _figure(traces, layout, repr(runs) + str(entropy))


ZERO_AT = LOG_P_FLOOR - 2


def _log_p(log_probs: np.ndarray) -> np.ndarray:
    """log10 p, with p = 0 moved to a column of its own left of LOG_P_FLOOR."""
    with np.errstate(divide="ignore"):
        values = np.asarray(log_probs, dtype=np.float64) / math.log(10)
    return np.where(np.isfinite(values), np.maximum(values, LOG_P_FLOOR), ZERO_AT)


def _log_p_axis(title: str, step: int) -> dict:
    ticks = list(range(LOG_P_FLOOR, 1, step))
    return dict(title=dict(text=title), range=[ZERO_AT - 0.8, 0.6], showgrid=True,
                gridcolor="#ECECEC", zeroline=False, automargin=False, tickmode="array",
                tickvals=[ZERO_AT, *ticks], tickangle=0,
                ticktext=["0", *[f"10{_sup(t)}" if t else "1" for t in ticks]])


def probability_figure(true_log_probs: np.ndarray, model_log_probs: np.ndarray, *,
                       color: str = CORRECT_COLOR, height: int = 380) -> go.Figure:
    """Learned against true p(x), every pattern, both on log axes (p = 0 in its own column).

    On the diagonal the model is right. Up to SCATTER_MAX_PATTERNS one dot per pattern, above
    that a 2-D histogram (cell colour: how many patterns), so 65,536 patterns stay readable.
    """
    x, y = _log_p(true_log_probs), _log_p(model_log_probs)
    diagonal = dict(type="scatter", x=[LOG_P_FLOOR, 0], y=[LOG_P_FLOOR, 0], mode="lines",
                    hoverinfo="skip", line=dict(color="#888", dash="dot", width=1.5))
    if len(x) <= SCATTER_MAX_PATTERNS:
        points = dict(type="scatter", x=_plain(x), y=_plain(y), mode="markers",
                      marker=dict(size=6, color=color, opacity=0.55),
                      customdata=list(range(len(x))),
                      hovertemplate="pattern %{customdata}<br>true 10^%{x:.2f}<br>model "
                                    "10^%{y:.2f}<extra></extra>")
    else:
        edges = np.arange(ZERO_AT - 0.5, 0.75, 0.25)
        counts, _, _ = np.histogram2d(x, y, bins=[edges, edges])
        centres = (edges[:-1] + edges[1:]) / 2
        points = dict(type="heatmap", x=_plain(centres), y=_plain(centres),
                      z=np.where(counts.T > 0, np.log10(np.maximum(counts.T, 1)) + 0.1,
                                 None).tolist(),
                      customdata=counts.T.astype(int).tolist(),
                      colorscale=[[0, "#c6dbef"], [1, color]], showscale=False,
                      hovertemplate="%{customdata} patterns<extra></extra>")
    layout = dict(height=height, margin=dict(l=64, r=12, t=12, b=52, autoexpand=False),
                  font=FONT, plot_bgcolor="white", paper_bgcolor="white", showlegend=False,
                  xaxis=_log_p_axis("true p(x)", 5), yaxis=_log_p_axis("model's p(x)", 2))
    return _figure([points, diagonal], layout, (x.tobytes(), y.tobytes(), color))

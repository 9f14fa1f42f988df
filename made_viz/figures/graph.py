"""The connectivity graph of one MaskSet: units as columns, one line per kept weight, a click on
a unit lights every path through it. Small networks are drawn unit by unit; big ones as a
reduction (units grouped by degree, line width = number of weights). Also the units' names
(x3, h1.2, o3), parsing them, and a selection's summary in words.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from ..masks import MaskSet
from .base import (FONT, GRAPH_PX, LIT_COLOR, figure, fingerprint, hex_rgb, legend_rows,
                   legend_x, plot_px, space_px, text_px)

INPUT_COLOR, HIDDEN_COLOR, OUTPUT_COLOR = "#4C78A8", "#54A24B", "#B279A2"
DEAD_COLOR, DEAD_LINE = "#D9D9D9", "#9A9A9A"
EDGE_COLOR, EDGE_DIM = "rgba(70, 70, 70, 0.42)", "rgba(70, 70, 70, 0.07)"
DIRECT_COLOR, DIRECT_DIM = "rgba(245, 133, 24, 0.75)", "rgba(245, 133, 24, 0.12)"

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
    r, g, b = hex_rgb(color)
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
    return figure(traces, layout, (fingerprint(masks), selected, grouped))


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
    space = space_px(label_size)
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
        pads = [math.ceil((node_px[layer, node] / 2 + 5) / space)
                for node in range(len(column.members))]
        labels += [(t + "\u00a0" * k) if layer == 0 else ("\u00a0" * k + t)
                   for t, k in zip(text, pads)]
        side_px[layer] = max(text_px(t, label_size) + k * space for t, k in zip(text, pads))
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
    pad = 2 * radius * max(last, 1) / max(plot_px(left_px, right_px) - 4 * radius, 100)
    note_px = 18 * (1 + masks.direct) if grouped else 0  # the note's lines after its first
    # The legend sits below the plot in a margin reserved for it: a legend that has to push
    # Plotly's margins (it still may, in a narrow window) makes it lay the chart out twice.
    rows = legend_rows(legend_names, GRAPH_PX - min(left_px, right_px) - 16)
    legend_px = 30 * rows + (60 + note_px if grouped else 22)
    return dict(
        height=height, margin=dict(l=left_px, r=right_px, t=84, b=legend_px),
        font=FONT, plot_bgcolor="white", paper_bgcolor="white",
        annotations=_column_headers(masks, grouped), shapes=shapes,
        # "pan" on fixed axes drags nothing; Streamlit would switch a falsy dragmode to it
        # after the first draw, and redraw.
        hovermode="closest", clickmode="event+select", dragmode="pan",
        legend=dict(orientation="h", yanchor="top", **legend_x(left_px, right_px),
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

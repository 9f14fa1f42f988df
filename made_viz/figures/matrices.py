"""The masks as matrices: every layer's mask side by side, and the product of the masks (the
path counts from each input to each output) in index or generation order. Up to
HEATMAP_MAX_SIDE rows and columns cell by cell; bigger ones as PNG images, so a figure stays
well under a few MB.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from ..masks import MaskSet, degree_sort
from .base import (COLORBAR_PX, FONT, FORBIDDEN_COLOR, LIT_COLOR, TITLE_PX, figure, fingerprint,
                   hex_rgb, label_px, plain, sup)
from .graph import layer_count, unit_name

# Drawn cell by cell (with hover text) up to this many rows or columns; above it as a PNG image.
HEATMAP_MAX_SIDE = 64
IMAGE_MAX_SIDE = 512
KEPT_RGB, EMPTY_RGB = (58, 76, 140), (244, 244, 246)
COUNT_SCALE = [[0.0, "#f4f4f6"], [1e-9, "#dbe6f3"], [0.5, "#6b9bd1"], [1.0, "#1d3f7a"]]
FORBIDDEN_FILL = "rgba(214, 39, 40, 0.55)"


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
# longest label instead (base.label_px, with the other pixel metrics).


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
    gap_px = TITLE_PX + 14 + (max(label_px(names, True) for names in labels[1:]) if small else 30)
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
            x_label_px = max(x_label_px, label_px(x_names, small))
            y_label_px = max(y_label_px, label_px(y_names, small))
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
            y_label_px = max(y_label_px, label_px([str(shown.shape[0])], True))
        # Fixed ranges, row 0 at the top (categories count 0, 1, ... too): no autorange pass.
        xaxis.update(range=[-0.5, shown.shape[1] - 0.5])
        yaxis.update(range=[shown.shape[0] - 0.5, -0.5])
        layout[f"xaxis{suffix}"], layout[f"yaxis{suffix}"] = xaxis, yaxis
    layout.update(annotations=annotations, height=height, font=dict(FONT, size=13),
                  margin=dict(l=10 + TITLE_PX + y_label_px, r=10, t=70,
                              b=10 + TITLE_PX + x_label_px),
                  plot_bgcolor="white", paper_bgcolor="white")
    return figure(traces, layout, (fingerprint(masks), by_degree, clickable))


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
        y_label_px = label_px(y_names, show)
        x_label_px = 18 if show else 0
        # Inputs and outputs by name as categories; positions 0..D-1 still place the shapes.
        data = [dict(
            type="heatmap", z=plain(color_values, 4), x=x_names, y=y_names, zmin=0,
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
                       np.array(hex_rgb(FORBIDDEN_COLOR), dtype=np.uint8), _colorize(small))
        # An invisible marker carries the colour bar the PNG image cannot have.
        data = [_image_trace(rgb, "input", "output", (D, D)), dict(
            type="scatter", x=[None], y=[None], mode="markers", showlegend=False,
            hoverinfo="skip", marker=dict(colorscale=COUNT_SCALE, cmin=0, cmax=top, color=[0],
                                          showscale=True, colorbar=colorbar))]
        x_label_px, y_label_px = 18, label_px([str(D)], True)  # numbered axes
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
    return figure(data, dict(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=16)), height=height,
        # Room on the right for the colour bar (its offset, thickness, tick labels and title:
        # ~90 px), fixed: a colour bar allowed to push the margin makes Plotly lay the chart
        # out twice.
        margin=dict(l=10 + TITLE_PX + y_label_px, r=10 if in_cells else COLORBAR_PX,
                    t=80,
                    b=10 + TITLE_PX + x_label_px, autoexpand=False),
        font=dict(FONT, size=13), plot_bgcolor="white", paper_bgcolor="white",
        xaxis=xaxis, yaxis=yaxis, shapes=shapes),
        (fingerprint(masks), generation_order, in_cells))


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
    with_commas = 10_000 if counts[-1] < 10_000 else 1_000  # 1,000 beside 10⁴: two styles
    return dict(tickmode="array", tickvals=[round(math.log10(1 + n), 4) for n in counts],
                ticktext=[f"{n:,}" if n < with_commas else f"10{sup(round(math.log10(n)))}"
                          for n in counts])


def _colorize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB uint8 along COUNT_SCALE; exact zeros get the empty colour."""
    stops = np.array([0.0, 1e-9, 0.5, 1.0])
    colors = np.array([hex_rgb(c) for _, c in COUNT_SCALE], dtype=np.float64)
    rgb = np.stack([np.interp(values, stops, colors[:, k]) for k in range(3)], axis=-1)
    return np.round(rgb).astype(np.uint8)

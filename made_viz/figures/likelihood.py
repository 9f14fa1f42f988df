"""The Likelihood page's figures as pure functions of data (no streamlit): the surprise and
probability maps, the running cost, the test-set histogram, and small surprise maps and the
image itself as crisp PNGs. Built on base.py like every figure here."""
from __future__ import annotations

import io
import math

import numpy as np
import plotly.graph_objects as go

from .. import images
from .base import FONT, figure, hex_rgb, plain

SIDE = 28
SURPRISE_MAX = 5.0  # nats; the colour scale saturates here (p = e^-5, under 1 in 148)
SURPRISE_SCALE = [[0.0, "#ffffff"], [0.12, "#fff1b8"], [0.35, "#fdae61"], [0.6, "#e8452c"],
                  [0.85, "#9e0a26"], [1.0, "#4a0010"]]
PROB_SCALE = [[0.0, "#ffffff"], [0.5, "#7fa8d8"], [1.0, "#0d2a5c"]]
MAP_PX = 336  # 12 screen pixels per MNIST pixel


def _pixel_axes() -> tuple[dict, dict]:
    """A 28x28 field, square, row 0 at the top, framed so its edge shows on white."""
    axis = dict(showgrid=False, zeroline=False, showticklabels=False, ticks="", fixedrange=True,
                range=[-0.5, SIDE - 0.5], constrain="domain", showline=False)
    return dict(axis), dict(axis, range=[SIDE - 0.5, -0.5], scaleanchor="x")


def _frame(axes: str = "") -> dict:
    """The 28x28 field's edge (axis lines vanish on a constrained square axis)."""
    return dict(type="rect", xref=f"x{axes}", yref=f"y{axes}", x0=-0.5, x1=SIDE - 0.5, y0=-0.5,
                y1=SIDE - 0.5, line=dict(color="#9aa3b2", width=1), layer="above")


def _heatmap(values: np.ndarray, scale, low: float, high: float, **extra) -> dict:
    return dict(type="heatmap", z=plain(np.asarray(values).reshape(SIDE, SIDE), 4),
                colorscale=scale, zmin=low, zmax=high, zsmooth=False, **extra)


def pixel_hover(image, p_one, surprise, rank) -> list[list[str]]:
    """One hover line per pixel: where, its value, p(x_d = 1 | x_<d), its cost, its step."""
    D = len(image)
    text = [f"pixel ({d // SIDE}, {d % SIDE}) · value {int(image[d])}<br>"
            f"p(x=1 | before) = {p_one[d]:.3f}<br>cost {surprise[d]:.2f} nats<br>"
            f"step {int(rank[d]) + 1} of {D} in the ordering" for d in range(D)]
    return [text[r * SIDE:(r + 1) * SIDE] for r in range(SIDE)]


def conditional_maps_figure(surprise: np.ndarray, p_one: np.ndarray, hover, revision,
                            title: str, height: int = MAP_PX + 72) -> go.Figure:
    """Side by side: -log p(x_d | x_<d) (fixed 0..SURPRISE_MAX nats scale) and
    p(x_d = 1 | x_<d) (0..1), each with its colour bar. No fixed width: each square map takes
    what its half of the container allows, up to the height, next to its colour bar."""
    left_end, right_start, right_end = 0.40, 0.54, 0.94
    xaxis, yaxis = _pixel_axes()
    bar_style = dict(thickness=14, len=0.86, y=0.43, outlinewidth=0, tickfont=dict(size=13),
                     xpad=6)
    capped = np.minimum(surprise, SURPRISE_MAX)
    data = [
        _heatmap(capped, SURPRISE_SCALE, 0, SURPRISE_MAX, text=hover,
                 hovertemplate="%{text}<extra></extra>", xaxis="x", yaxis="y",
                 colorbar=dict(bar_style, x=left_end, xanchor="left",
                               title=dict(text="nats", side="top"),
                               tickvals=[0, 1, 2, 3, 4, 5],
                               ticktext=["0", "1", "2", "3", "4", "≥5"])),
        _heatmap(p_one, PROB_SCALE, 0, 1, text=hover, hovertemplate="%{text}<extra></extra>",
                 xaxis="x2", yaxis="y2",
                 colorbar=dict(bar_style, x=right_end, xanchor="left",
                               title=dict(text="p", side="top"))),
    ]
    xaxis2, yaxis2 = _pixel_axes()
    heading = dict(y=1.0, yanchor="bottom", xref="paper", yref="paper", showarrow=False)
    layout = dict(
        height=height, margin=dict(l=1, r=0, t=64, b=8),
        xaxis=dict(xaxis, domain=[0, left_end], constraintoward="right"), yaxis=yaxis,
        xaxis2=dict(xaxis2, domain=[right_start, right_end], anchor="y2",
                    constraintoward="right"),
        yaxis2=dict(yaxis2, scaleanchor="x2", anchor="x2"), shapes=[_frame(), _frame("2")],
        annotations=[
            dict(heading, text="<b>Surprise</b>  −log p(x<sub>d</sub> | x<sub>&lt;d</sub>)",
                 x=0, xanchor="left", yshift=26, font=dict(size=16)),
            dict(heading, text="<b>Prediction</b>  p(x<sub>d</sub> = 1 | x<sub>&lt;d</sub>)",
                 x=right_start, xanchor="left", yshift=26, font=dict(size=16)),
            dict(heading, text=title, x=0, xanchor="left", yshift=6,
                 font=dict(size=13, color="#555")),
        ],
        font=FONT, plot_bgcolor="white", paper_bgcolor="white", hovermode="closest",
        dragmode=False, hoverlabel=dict(font=dict(size=14)))
    return figure(data, layout, ("maps", revision))


def running_cost_figure(step_costs: np.ndarray, order: np.ndarray, revision,
                        height: int = 396) -> go.Figure:
    """The cost so far, pixel by pixel in generation order, and each pixel's own cost."""
    D = len(step_costs)
    steps = np.arange(1, D + 1)
    total = np.cumsum(step_costs)
    top_cost = max(SURPRISE_MAX, float(np.max(step_costs, initial=0)) * 1.05)
    where = [f"pixel ({d // SIDE}, {d % SIDE})" for d in np.asarray(order).tolist()]
    # Each pixel's cost as one stepped, filled line (not 784 bars: one SVG path to draw).
    data = [
        dict(type="scatter", mode="lines", x=steps.tolist(), y=plain(step_costs, 3),
             yaxis="y2", name="this pixel", line=dict(color="#e8452c", width=1, shape="hvh"),
             fill="tozeroy", fillcolor="rgba(232, 69, 44, 0.35)", customdata=where,
             hovertemplate="step %{x}, %{customdata}<br>this pixel: %{y:.2f} nats<extra></extra>"),
        dict(type="scatter", mode="lines", x=steps.tolist(), y=plain(total, 2), name="so far",
             line=dict(color="#1d3f7a", width=3),
             hovertemplate="after step %{x}: %{y:.1f} nats<extra></extra>"),
    ]
    layout = dict(
        height=height, margin=dict(l=64, r=64, t=50, b=52), font=FONT,
        title=dict(text="<b>Running cost</b> in generation order", x=0, xanchor="left",
                   y=0.98, font=dict(size=16)),
        xaxis=dict(title=dict(text="step in the ordering"), range=[0, D + 1], showgrid=False,
                   zeroline=False, fixedrange=True),
        yaxis=dict(title=dict(text="nats so far"), rangemode="tozero", gridcolor="#e6e9ef",
                   fixedrange=True, zeroline=False),
        yaxis2=dict(title=dict(text="nats, this pixel", font=dict(color="#c0392b")),
                    overlaying="y", side="right", showgrid=False, nticks=7,
                    range=[0, top_cost], **({"dtick": 1} if top_cost <= 6 else {}),
                    fixedrange=True, tickfont=dict(color="#c0392b")),
        legend=dict(x=0.01, xanchor="left", y=0.99, yanchor="top",
                    bgcolor="rgba(255, 255, 255, 0.8)"),
        plot_bgcolor="white", paper_bgcolor="white", hovermode="x", dragmode=False)
    return figure(data, layout, ("running", revision))


def histogram_counts(values: np.ndarray, bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of the test NLLs (computed once, then only the marker moves)."""
    low, high = np.percentile(values, [0, 99.9])
    return np.histogram(values, bins=bins, range=(math.floor(low), math.ceil(high)))


def nll_histogram_figure(counts: np.ndarray, edges: np.ndarray, nll: float, label: str,
                         n_test: int, height: int = 300) -> go.Figure:
    centres = (edges[:-1] + edges[1:]) / 2
    width = float(edges[1] - edges[0])
    high = max(float(edges[-1]), nll * 1.04)
    low = min(float(edges[0]), nll * 0.96)
    data = [dict(type="bar", x=plain(centres, 2), y=counts.tolist(), width=width,
                 marker=dict(color="#9db4d6", line=dict(width=0)), name="test digits",
                 hovertemplate="%{y} test digits at %{x:.0f} nats<extra></extra>")]
    layout = dict(
        height=height, margin=dict(l=64, r=24, t=46, b=52), font=FONT, showlegend=False,
        title=dict(text=f"<b>Among the {n_test:,} test digits</b>", x=0, xanchor="left",
                   y=0.97, font=dict(size=16)),
        xaxis=dict(title=dict(text="NLL, nats (lower = more likely)"), range=[low, high],
                   showgrid=False, zeroline=False, fixedrange=True),
        yaxis=dict(title=dict(text="test digits"), gridcolor="#e6e9ef", fixedrange=True,
                   zeroline=False),
        shapes=[dict(type="line", x0=nll, x1=nll, y0=0, y1=1, yref="paper",
                     line=dict(color="#e8452c", width=3))],
        annotations=[dict(text=label, x=nll, y=1, yref="paper", yanchor="bottom",
                          xanchor="right" if nll > (low + high) / 2 else "left",
                          showarrow=False, font=dict(size=14, color="#c0392b"))],
        plot_bgcolor="white", paper_bgcolor="white", bargap=0, dragmode=False)
    return figure(data, layout, ("histogram", n_test, float(edges[0]), nll, label))


def _colour_lut(scale) -> np.ndarray:
    """A colour scale as 256 RGB rows, for values 0..1."""
    stops = np.array([s for s, _ in scale])
    colours = np.array([hex_rgb(c) for _, c in scale], dtype=np.float64)
    grid = np.linspace(0, 1, 256)
    return np.round(np.stack([np.interp(grid, stops, colours[:, k]) for k in range(3)],
                             axis=1)).astype(np.uint8)


_SURPRISE_LUT = _colour_lut(SURPRISE_SCALE)


def _png(pixels: np.ndarray, scale: int) -> bytes:
    """Each MNIST pixel a scale x scale square: shown at its own size, it stays crisp."""
    from PIL import Image

    big = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, format="PNG")
    return buffer.getvalue()


def small_maps_html(maps: list[tuple[bytes, str]], scale: int) -> str:
    """PNG maps with captions in rows that wrap to the width they get, each shown at its own
    size in whole pixels (crisp)."""
    import base64
    from html import escape

    side = SIDE * scale
    figures = "".join(
        f'<figure style="margin:0;width:{side}px;text-align:center">'
        f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" width="{side}"'
        f' height="{side}" style="image-rendering:pixelated;border:1px solid #d5dbe6"'
        f' alt="{escape(caption)}"><figcaption style="font-size:0.85rem;color:#4a5060;'
        f'line-height:1.25">{escape(caption)}</figcaption></figure>' for png, caption in maps)
    return f'<div style="display:flex;flex-wrap:wrap;gap:10px 14px">{figures}</div>'


def surprise_png(surprise: np.ndarray, scale: int = 5) -> bytes:
    """A surprise map on SURPRISE_SCALE as a PNG."""
    level = np.round(np.clip(np.asarray(surprise) / SURPRISE_MAX, 0, 1) * 255).astype(np.uint8)
    return _png(_SURPRISE_LUT[level.reshape(SIDE, SIDE)], scale)


def ink_png(image: np.ndarray, scale: int = 5) -> bytes:
    """A binary image as a PNG, dark ink on white."""
    square = (1 - np.asarray(image, dtype=np.uint8).reshape(SIDE, SIDE)) * 255
    return _png(square.astype(np.uint8), scale)


def thumbnail_png(data: bytes, side: int = 140) -> bytes:
    """An image file (already checked by images.decode_image) as a PNG at most side x side
    pixels, its first frame, for a preview."""
    from PIL import Image

    small = images.small_frame(data)  # decoded small once, for the score and this preview
    if small.mode.startswith("I") or small.mode == "F":  # 16-bit or wider greys
        grey = np.asarray(small, dtype=np.float64)
        frame = Image.fromarray(np.uint8(np.round(255 * grey / max(grey.max(), 1))))
    else:
        frame = small.convert("RGBA")
    frame.thumbnail((side, side))
    buffer = io.BytesIO()
    frame.save(buffer, format="PNG")
    return buffer.getvalue()


MASKS_COLOR = "#1f5fa8"
PAPER_COLORS = ("#8c8c8c", "#c0392b")  # one and two hidden layers


def masks_curve_figure(nlls, model: str, paper_points, height: int = 340) -> go.Figure:
    """Test NLL against the number of masks averaged at test time, k = 1..len(nlls), of one
    model trained with them all, beside the paper's models, one per number of masks (each
    trained with that many). paper_points: (name, [(masks, nll), ...]) per paper series."""
    K = len(nlls)
    data = [dict(type="scatter", mode="lines+markers", x=list(range(1, K + 1)),
                 y=plain(np.asarray(nlls), 5), name=f"{model}: its first k masks averaged at test"
                 f" time (one model, trained with {K})",
                 line=dict(color=MASKS_COLOR, width=2.5), marker=dict(size=9),
                 hovertemplate="first %{x} masks: %{y:.2f} nats<extra></extra>")]
    for (name, points), color in zip(paper_points, PAPER_COLORS):
        data.append(dict(type="scatter", mode="markers", x=[m for m, _ in points],
                         y=[v for _, v in points], name=name,
                         marker=dict(size=11, symbol="diamond", color=color),
                         hovertemplate="trained with %{x} masks: %{y:.2f} nats<extra></extra>"))
    ticks = [1, 2, 4, 8, 16, 32]
    values = [*nlls, *(v for _, points in paper_points for _, v in points)]
    layout = dict(
        height=height, margin=dict(l=64, r=20, t=40, b=52), font=FONT,
        title=dict(text="<b>Test NLL against the number of masks</b>", x=0, xanchor="left",
                   y=0.97, font=dict(size=16)),
        xaxis=dict(type="log", tickvals=ticks, ticktext=[str(t) for t in ticks],
                   range=[math.log10(0.8), math.log10(40)], title=dict(text="masks"),
                   showgrid=False, zeroline=False, fixedrange=True),
        yaxis=dict(title=dict(text="test NLL, nats"), gridcolor="#e6e9ef", zeroline=False,
                   fixedrange=True, range=[math.floor(min(values)) - 0.5,
                                           math.ceil(max(values)) + 0.5]),
        legend=dict(x=0, xanchor="left", y=-0.22, yanchor="top", font=dict(size=13)),
        plot_bgcolor="white", paper_bgcolor="white", dragmode=False)
    return figure(data, layout, ("masks", model, tuple(nlls), repr(paper_points)))

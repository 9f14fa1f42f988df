"""The Tiny world's figures: the training curve (NLL against the entropy, and the exact KL) and
the learned against the true p(x) of every pattern.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from .base import FONT, FORBIDDEN_COLOR, figure, plain, sup

CORRECT_COLOR, BROKEN_COLOR, ENTROPY_COLOR = "#1f77b4", FORBIDDEN_COLOR, "#2CA02C"
# A p(x) of exactly 0 has no place on a log axis: it gets its own column left of the floor.
LOG_P_FLOOR = -10
# One marker per pattern up to this many patterns; above, a 2-D histogram of them.
SCATTER_MAX_PATTERNS = 4096


def training_curve_figure(runs: list[dict], entropy: float, seconds: float,
                          height: int = 420, legend_rows: int | None = None) -> go.Figure:
    """NLL against the world's entropy H (top) and the exact KL (bottom), over seconds.

    runs: one dict per network: label, color, seconds, train_nll (minibatch NLL), and
    cross_entropy and kl (exact, over every pattern) at each report. legend_rows: the rows
    the legend above the plot takes (default: one per network, as a wide page lays it out).
    """
    traces = [dict(type="scatter", x=[0, seconds], y=[entropy, entropy], mode="lines",
                   name=f"H = {entropy:.3f} nats (the floor)", hoverinfo="skip",
                   line=dict(color=ENTROPY_COLOR, width=3, dash="dash"))]
    for run in runs:
        traces += [
            dict(type="scatter", x=plain(run["seconds"]), y=plain(run["train_nll"]),
                 mode="lines", name=f"{run['label']}: minibatch NLL", opacity=0.55,
                 line=dict(color=run["color"], width=1.5),
                 hovertemplate="%{x:.1f} s: %{y:.3f} nats<extra></extra>"),
            dict(type="scatter", x=plain(run["seconds"]), y=plain(run["cross_entropy"]),
                 mode="lines", name=f"{run['label']}: exact NLL = H + KL",
                 line=dict(color=run["color"], width=3),
                 hovertemplate="%{x:.1f} s: %{y:.3f} nats<extra></extra>"),
            dict(type="scatter", x=plain(run["seconds"]), y=plain(run["kl"], 4),
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
        height=height, margin=dict(l=64, r=16, t=8 + 22 * (legend_rows or len(runs) + 1), b=48,
                                   autoexpand=False),
        font=FONT, plot_bgcolor="white", paper_bgcolor="white", hovermode="closest",
        legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom", font=dict(size=13)),
        xaxis=dict(axis, range=[0, seconds], anchor="y", showticklabels=False),
        xaxis2=dict(axis, range=[0, seconds], anchor="y2", title=dict(text="seconds")),
        yaxis=dict(axis, domain=[0.42, 1.0], range=[0, top], title=dict(text="NLL (nats)")),
        yaxis2=dict(axis, domain=[0.0, 0.32], range=kl_range, title=dict(text="KL"),
                    zeroline=True, zerolinecolor="#999"))
    return figure(traces, layout, repr(runs) + str(entropy))


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
                ticktext=["0", *[f"10{sup(t)}" if t else "1" for t in ticks]])


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
        points = dict(type="scatter", x=plain(x), y=plain(y), mode="markers",
                      marker=dict(size=6, color=color, opacity=0.55),
                      customdata=list(range(len(x))),
                      hovertemplate="pattern %{customdata}<br>true 10^%{x:.2f}<br>model "
                                    "10^%{y:.2f}<extra></extra>")
    else:
        edges = np.arange(ZERO_AT - 0.5, 0.75, 0.25)
        counts, _, _ = np.histogram2d(x, y, bins=[edges, edges])
        centres = (edges[:-1] + edges[1:]) / 2
        points = dict(type="heatmap", x=plain(centres), y=plain(centres),
                      z=np.where(counts.T > 0, np.log10(np.maximum(counts.T, 1)) + 0.1,
                                 None).tolist(),
                      customdata=counts.T.astype(int).tolist(),
                      colorscale=[[0, "#c6dbef"], [1, color]], showscale=False,
                      hovertemplate="%{customdata} patterns<extra></extra>")
    layout = dict(height=height, margin=dict(l=64, r=12, t=12, b=52, autoexpand=False),
                  font=FONT, plot_bgcolor="white", paper_bgcolor="white", showlegend=False,
                  xaxis=_log_p_axis("true p(x)", 5), yaxis=_log_p_axis("model's p(x)", 2))
    return figure([points, diagonal], layout, (x.tobytes(), y.tobytes(), color))

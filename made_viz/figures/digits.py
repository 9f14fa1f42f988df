"""Small binary images as pixel grids: one square marker per pixel, so a click names the image
and the pixel (the Tiny world's patterns and samples).
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from .base import FONT, figure

INK, PAPER = "#262730", "#E8EBF2"


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
    return figure([trace], layout, (images.tobytes(), rows, cols, per_line, clickable))

"""figures/digits.py: binary images as pixel grids, one clickable marker per pixel."""
from __future__ import annotations

import numpy as np

from made_viz.figures import digits


def test_every_pixel_is_one_marker_that_names_its_image_and_pixel():
    rows, cols = 3, 4
    images = np.random.default_rng(0).integers(0, 2, (7, rows * cols))
    figure = digits.pixel_grid_figure(images, rows, cols, per_line=3, clickable=True)
    (trace,) = figure.data
    assert len(trace.x) == images.size
    places = set()
    for x, y, (k, d), color in zip(trace.x, trace.y, trace.customdata, trace.marker.color):
        assert color == (digits.INK if images[k, d] else digits.PAPER)
        line, slot = divmod(k, 3)  # three images a line, one column and 1.6 rows between them
        assert (x, y) == (slot * (cols + 1) + d % cols, line * (rows + 1.6) + d // cols)
        places.add((x, y))
    assert len(places) == images.size  # no two pixels drawn on one another
    assert "click to flip" in trace.hovertemplate


def test_titles_sit_above_their_images():
    images = np.eye(4, dtype=np.uint8)
    figure = digits.pixel_grid_figure(images, 2, 2, titles=["a", "b", "c", "d"], per_line=2)
    assert [a.text for a in figure.layout.annotations] == ["a", "b", "c", "d"]
    assert [a.x for a in figure.layout.annotations] == [0.5, 3.5, 0.5, 3.5]
    assert "click" not in figure.data[0].hovertemplate

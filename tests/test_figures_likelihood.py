"""figures/likelihood.py: the Likelihood page's maps, running cost, histogram and PNGs."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from made_viz.figures import likelihood as lf
from tests.conftest import png_bytes, synthetic_digit

RNG = np.random.default_rng(0)
IMAGE = (RNG.random(784) < 0.2).astype(np.uint8)
P_ONE = RNG.random(784)


def decoded(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_upload_preview_thumbnails():
    for payload in (png_bytes(synthetic_digit(900, 300, dark_ink=True)),
                    png_bytes(synthetic_digit(60, 60, dark_ink=False).astype(np.uint16) * 257),
                    png_bytes(synthetic_digit(80, 80, dark_ink=True), mode="P", format="GIF")):
        thumb = Image.open(io.BytesIO(lf.thumbnail_png(payload)))
        assert max(thumb.size) <= 140
        pixels = np.asarray(thumb.convert("L"))
        assert pixels.max() - pixels.min() > 100  # the digit still shows


def test_ink_png_is_the_image_in_black_on_white_squares():
    for scale in (1, 3, 5):
        pixels = decoded(lf.ink_png(IMAGE, scale))
        expected = np.kron(1 - IMAGE.reshape(28, 28), np.ones((scale, scale))) * 255
        assert np.array_equal(pixels, expected)


def test_surprise_png_runs_from_white_to_the_end_of_the_scale():
    surprise = np.zeros(784)
    surprise[:28] = lf.SURPRISE_MAX * 3  # the first row: beyond the scale
    pixels = decoded(lf.surprise_png(surprise, 2))
    assert pixels.shape == (56, 56, 3)
    assert (pixels[:2] == [0x4A, 0x00, 0x10]).all()  # SURPRISE_SCALE's last colour
    assert (pixels[2:] == 255).all()


def test_maps_cap_the_surprise_and_keep_each_pixel_in_place():
    surprise = -np.log(np.where(IMAGE == 1, P_ONE, 1 - P_ONE))
    surprise[5] = 40.0
    hover = lf.pixel_hover(IMAGE, P_ONE, surprise, np.arange(784))
    figure = lf.conditional_maps_figure(surprise, P_ONE, hover, "revision", "title")
    cost, prediction = (np.array(trace.z, dtype=float) for trace in figure.data)
    assert np.allclose(cost, np.minimum(surprise, lf.SURPRISE_MAX).reshape(28, 28), atol=1e-4)
    assert np.allclose(prediction, P_ONE.reshape(28, 28), atol=1e-4)
    assert len(hover) == 28 and all(len(row) == 28 for row in hover)
    assert hover[1][3].startswith("pixel (1, 3) · value %d" % IMAGE[31])
    assert "step 32 of 784" in hover[1][3]


def test_running_cost_adds_the_pixels_up_in_generation_order():
    costs = RNG.random(784)
    order = RNG.permutation(784)
    figure = lf.running_cost_figure(costs, order, "revision")
    each, so_far = figure.data
    assert np.allclose(each.y, costs, atol=1e-3)
    assert np.allclose(so_far.y, np.cumsum(costs), atol=1e-2)
    assert each.customdata[0] == f"pixel ({order[0] // 28}, {order[0] % 28})"


def test_histogram_marks_the_image_among_the_test_digits():
    values = 70 + 40 * RNG.random(1000)
    counts, edges = lf.histogram_counts(values)
    assert counts.sum() == np.sum(values <= edges[-1])
    figure = lf.nll_histogram_figure(counts, edges, 95.5, "this image", 1000)
    marker = figure.layout.shapes[0]
    assert marker.x0 == marker.x1 == 95.5
    assert figure.layout.annotations[0].text == "this image"


def test_masks_curve_figure_draws_our_curve_and_the_papers_points():
    nlls = [87.2, 86.07, 85.84, 85.6, 85.51, 85.42, 85.36, 85.3]
    paper_points = [("paper, 1 hidden layer", [(1, 88.4), (32, 88.04)]),
                    ("paper, 2 hidden layers", [(1, 89.59), (32, 86.64)])]
    fig = lf.masks_curve_figure(nlls, "mnist", paper_points).to_dict()
    ours, one, two = fig["data"]
    assert list(ours["x"]) == list(range(1, 9)) and list(ours["y"]) == nlls
    assert "first k masks averaged at test time" in ours["name"]
    assert "trained with 8" in ours["name"]
    assert (list(one["x"]), list(one["y"])) == ([1, 32], [88.4, 88.04])
    assert (list(two["x"]), list(two["y"])) == ([1, 32], [89.59, 86.64])
    layout = fig["layout"]
    assert layout["xaxis"]["type"] == "log" and layout["xaxis"]["tickvals"][-1] == 32
    low, high = layout["yaxis"]["range"]
    assert low < min(nlls) and high > 89.59

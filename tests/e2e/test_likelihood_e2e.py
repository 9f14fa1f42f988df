"""Likelihood page in headless Chromium: a mouse stroke on the canvas, a click on a pixel, an
uploaded PNG, a link with `x`, and hostile links; the score shown is the library's number."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from made_viz import checkpoint, images, likelihood
from tests.e2e.conftest import ARTIFACTS, wait_idle

pytestmark = pytest.mark.e2e

SCORE = ".st-key-lik_score"
PAD = ".st-key-lik_sketch canvas.pad"


def shown_nll(page) -> float:
    page.wait_for_function(
        "(sel) => /[\\d,]+\\.\\d\\d\\s*nats/.test(document.querySelector(sel)?.innerText ?? '')",
        arg=SCORE, timeout=30_000)
    text = page.locator(SCORE).inner_text()
    match = re.search(r"([\d,]+\.\d\d)\s*nats", text)
    assert match, text
    return float(match.group(1).replace(",", ""))


def assert_clean(page) -> None:
    """No Python exception on the page and no error from a component's JavaScript."""
    assert not page.locator("[data-testid='stException']").count()
    assert not page.get_by_text("Component Error").count()


def open_likelihood(page, url: str, query: str = "") -> None:
    page.goto(f"{url}/likelihood{query}")
    wait_idle(page, 90_000)
    page.locator(SCORE).wait_for(timeout=90_000)


def wait_for_new_score(page, before: float, timeout: float = 30_000) -> float:
    page.wait_for_function(
        """([sel, before]) => {
            const m = document.querySelector(sel)?.innerText.match(/([\\d,]+\\.\\d\\d)\\s*nats/);
            return m && parseFloat(m[1].replace(/,/g, '')) !== before;
        }""", arg=[SCORE, before], timeout=timeout)
    wait_idle(page)
    return shown_nll(page)


def library_nll(image, model="mnist", mask="ensemble") -> float:
    weights, _ = checkpoint.load_pretrained_weights(model)
    return float(-likelihood.log_prob(weights, image, mask)[0])


def current_x(page) -> np.ndarray:
    from urllib.parse import parse_qs, urlparse
    return images.decode_url_image(parse_qs(urlparse(page.url).query)["x"][0])


def test_link_replays_the_image_and_its_score(page, app_url):
    image = np.zeros(784, dtype=np.uint8)
    square = image.reshape(28, 28)
    square[6:22, 13:16] = 1  # a "1"
    square[6:8, 11:13] = 1
    x = images.encode_image(image)
    for model, mask in (("mnist", "ensemble"), ("mnist-orders", "2")):
        open_likelihood(page, app_url, f"?x={x}&model={model}&mask={mask}")
        expected = library_nll(image, model, "ensemble" if mask == "ensemble" else int(mask))
        assert shown_nll(page) == pytest.approx(expected, abs=0.006)
        assert current_x(page).tolist() == image.tolist()
        assert_clean(page)


@pytest.mark.parametrize("x, message", [
    ("!!!not-base64!!!", "other characters"),
    ("A" * 10_000, "got 10,000 characters"),
    ("A" * 130, "got 130 characters"),
    ("A" * 130 + "B", "bits no image has"),
])
def test_hostile_x_gets_a_message(page, app_url, x, message):
    open_likelihood(page, app_url, f"?x={x}")
    warning = page.locator("[data-testid='stAlert']").filter(has_text="x must be")
    warning.wait_for(timeout=30_000)
    assert message in warning.inner_text()
    assert_clean(page)
    assert shown_nll(page) > 0  # a test digit is scored instead


def click_pixel(page, row: int, col: int) -> None:
    pad = page.locator(PAD)
    pad.wait_for(timeout=30_000)
    box = pad.bounding_box()
    page.mouse.click(box["x"] + (col + 0.5) * box["width"] / 28,
                     box["y"] + (row + 0.5) * box["height"] / 28)


def test_click_a_pixel_flips_it_and_back(page, app_url):
    open_likelihood(page, app_url)
    first_image, first = current_x(page), shown_nll(page)
    row, col = 14, 5
    click_pixel(page, row, col)
    after = wait_for_new_score(page, first)
    image = current_x(page)
    assert np.flatnonzero(image != first_image).tolist() == [row * 28 + col]
    assert after == pytest.approx(library_nll(image), abs=0.006)
    assert page.get_by_text(f"pixel ({row}, {col}) flipped").count()
    click_pixel(page, row, col)  # the same pixel again: back to the first image
    assert wait_for_new_score(page, after) == first
    assert current_x(page).tolist() == first_image.tolist()


def stroke(page, pad, x: float, y0: float, y1: float) -> None:
    """A vertical stroke at x (a fraction of the pad's width) from y0 to y1."""
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y0)
    page.mouse.down()
    for t in np.linspace(y0, y1, 20):
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * t)
    page.mouse.up()


def test_draw_a_stroke_and_erase_it(page, app_url):
    open_likelihood(page, app_url)
    pad = page.locator(PAD)
    pad.wait_for(timeout=30_000)
    page.locator(".st-key-lik_sketch").get_by_text("Clear").click()
    page.get_by_text("Image: blank.").wait_for(timeout=30_000)
    wait_idle(page)
    before = shown_nll(page)
    assert not current_x(page).any()
    page.locator(".st-key-lik_sketch").get_by_text("Brush").click()
    stroke(page, pad, 0.5, 0.15, 0.85)  # a "1" down the middle
    after = wait_for_new_score(page, before)
    image = current_x(page).reshape(28, 28)
    rows, cols = np.nonzero(image)
    assert set(cols.tolist()) == {13, 14} and rows.min() <= 5 and rows.max() >= 22
    assert after == pytest.approx(library_nll(image.reshape(-1)), abs=0.006)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "likelihood-drawn.png"))
    # The eraser takes the top half of the stroke away.
    page.locator(".st-key-lik_sketch").get_by_text("Eraser").click()
    stroke(page, pad, 0.5, 0.1, 0.5)
    erased = wait_for_new_score(page, after)
    image = current_x(page).reshape(28, 28)
    assert not image[:13].any() and image[16:22, 13:15].all()
    assert erased == pytest.approx(library_nll(image.reshape(-1)), abs=0.006)
    # Hovering a pixel says what the model made of it.
    box = pad.bounding_box()
    page.mouse.move(box["x"] + 14.5 * box["width"] / 28, box["y"] + 18.5 * box["height"] / 28)
    status = page.locator(".st-key-lik_sketch .status")
    assert re.search(r"pixel \(18, 14\) · value 1 · p\(x=1 \| before\) = 0\.\d{3} · cost"
                     r" \d+\.\d\d nats · step 519 of 784", status.inner_text())
    assert_clean(page)


def test_upload_a_png(page, app_url, tmp_path):
    open_likelihood(page, app_url)
    page.locator(".st-key-lik_source").get_by_text("Upload", exact=True).click()
    wait_idle(page)
    # A "7" in dark ink on light paper, 300 x 240 pixels.
    grey = np.full((300, 240), 235, dtype=np.uint8)
    grey[40:60, 40:200] = 20
    for r in range(60, 270):
        c = int(200 - (r - 60) * 0.45)
        grey[r, c - 10:c + 10] = 20
    path = tmp_path / "seven.png"
    Image.fromarray(grey).save(path)
    before = shown_nll(page)
    page.locator(".st-key-lik_upload input[type=file]").set_input_files(str(path))
    after = wait_for_new_score(page, before)
    expected_image = images.prepare_upload(path.read_bytes())
    assert current_x(page).tolist() == expected_image.tolist()
    assert after == pytest.approx(library_nll(expected_image), abs=0.006)
    page.get_by_text("seven.png as uploaded").wait_for(timeout=10_000)
    page.get_by_text("what the model sees").first.wait_for(timeout=10_000)
    # Not an image: a message, and the last image stays.
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not a png")
    page.locator(".st-key-lik_upload input[type=file]").set_input_files(str(bad))
    warning = page.locator("[data-testid='stAlert']").filter(has_text="notes.png")
    warning.wait_for(timeout=30_000)
    assert "not an image" in warning.inner_text()
    assert shown_nll(page) == after
    assert_clean(page)

"""The paper's figures, live, in headless Chromium: each of the 16 samples beside its nearest
training digit, the finished digit's nearest three, the test NLL against the number of masks
beside the paper's table, the Tiny world's logit average that does not sum to one, and the
server's memory once the training digits are loaded.

Read as a user would: images and captions, the chart's points as drawn, the sums as shown.
"""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, ROOT, exceptions, open_app, wait_idle
from tests.load.lecture_hall import Server

pytestmark = pytest.mark.e2e
NEAREST_CAPTION = re.compile(r"^#\d+, a \d: \d+ pixels differ$")
PLAYER_NEAREST = re.compile(r"^training #\d+, a \d: \d+ pixels differ$")
MEMORY_LIMIT = 1.2 * 2**30
# As `make run` serves the app (see the Makefile): the warm-up prepares every mask of the model.
SERVER_ENV = {"MALLOC_ARENA_MAX": "2", "NUMPY_MADVISE_HUGEPAGE": "0", "MADE_VIZ_WARM_UP": "1"}
TRAIN_WAIT_MS = 180_000


def grid_neighbours(page) -> list[str]:
    """The caption under each grid digit's training digit, in grid order (16 of them)."""
    captions = []
    for i in range(16):
        frame = page.locator(f".st-key-sampling_grid_nearest_{i}")
        expect(frame.locator("img")).to_have_count(1, timeout=60_000)
        captions.append(frame.locator("[data-testid='stImageCaption']").inner_text().strip())
    return captions


def test_each_of_the_16_samples_shows_its_nearest_training_digit(page, app_url):
    open_app(page, f"{app_url}/sampling?view=grid&seed=40")
    captions = grid_neighbours(page)
    assert all(NEAREST_CAPTION.match(c) for c in captions), captions
    distances = [int(re.search(r"(\d+) pixels", c).group(1)) for c in captions]
    assert all(0 < d < 784 for d in distances), distances
    buttons = [page.get_by_role("button", name=f"seed {40 + i}", exact=True) for i in range(16)]
    for button in buttons:
        expect(button).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "paper-grid-nearest.png"), full_page=True)
    buttons[5].click()  # clicking a sample still opens it step by step
    wait_idle(page)
    expect(page.get_by_role("tab", name="Step by step", selected=True)).to_be_visible()
    expect(page.locator(".made-player .count")).to_be_visible(timeout=30_000)
    assert "seed=45" in page.url
    assert exceptions(page) == []


def test_the_finished_digit_shows_its_three_nearest_training_digits(page, app_url):
    open_app(page, f"{app_url}/sampling?seed=40")
    nearest = page.locator(".made-player .nearest")
    expect(page.locator(".made-player .count")).to_be_visible(timeout=30_000)
    expect(nearest).to_be_hidden()  # not before the digit is finished: it would give it away
    page.keyboard.press("End")
    expect(nearest).to_be_visible()
    expect(nearest.locator("figure canvas")).to_have_count(3)
    captions = nearest.locator("figcaption").all_inner_texts()
    assert len(captions) == 3 and all(PLAYER_NEAREST.match(c) for c in captions), captions
    distances = [int(re.search(r"(\d+) pixels", c).group(1)) for c in captions]
    assert distances == sorted(distances)
    page.screenshot(path=str(ARTIFACTS / "paper-player-nearest.png"))
    page.keyboard.press("ArrowLeft")
    expect(nearest).to_be_hidden()
    assert exceptions(page) == []


def chart_points_y(page, key: str, trace: int = 0) -> list[float]:
    """The screen y of each point of one scatter trace of a Plotly chart, left to right."""
    points = page.locator(f".st-key-{key} .scatterlayer .trace").nth(trace).locator("path.point")
    transforms = [points.nth(k).get_attribute("transform") for k in range(points.count())]
    return [float(re.search(r"translate\(([-\d.]+),\s*([-\d.]+)\)", t).group(2))
            for t in transforms]


def test_the_likelihood_page_charts_nll_against_masks_beside_the_paper(page, app_url):
    open_app(page, f"{app_url}/likelihood")
    chart = page.locator(".st-key-lik_masks")
    chart.scroll_into_view_if_needed()
    expect(chart.locator(".scatterlayer .trace")).to_have_count(3, timeout=30_000)
    heights = chart_points_y(page, "lik_masks")
    assert len(heights) == 8, heights
    # A lower NLL is drawn lower: from k = 1 to k = 8 the points go down the screen.
    assert heights[-1] > heights[0] and sum(b > a for a, b in zip(heights, heights[1:])) >= 6
    expect(chart.get_by_text("trained with 8")).to_be_visible()
    table = page.locator("table").filter(has_text="paper: MADE, 2 hidden layers, 32 masks")
    expect(table).to_contain_text("86.64")
    expect(table).to_contain_text("85.30")
    expect(page.get_by_text("Which binarization each number used")).to_be_visible()
    page.get_by_text("Beside the paper").evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "paper-likelihood-masks.png"))
    assert exceptions(page) == []


def tiny_sum(page, selector: str) -> float:
    text = page.locator(f"{selector} .tiny-readout").last.inner_text()
    return float(re.search(r"patterns:\s*([\d,.]+)", text).group(1).replace(",", ""))


def test_the_tiny_world_logit_average_does_not_sum_to_one(page, app_url):
    page.goto(f"{app_url}/tiny?secs=3&K=2&ordering=random")
    page.wait_for_selector("[class*='st-key-logit_average'] .tiny-readout", timeout=120_000)
    wait_idle(page, timeout=120_000)
    page.locator(".st-key-train button").click()
    page.wait_for_selector("text=Done:", timeout=TRAIN_WAIT_MS)
    wait_idle(page, timeout=TRAIN_WAIT_MS)
    correct = page.locator(".st-key-result_0 .tiny-readout").inner_text()
    assert re.search(r"patterns:\s*1\.000000", correct), correct
    logit_average = tiny_sum(page, "[class*='st-key-logit_average']")
    assert abs(logit_average - 1) > 0.01, logit_average
    expect(page.get_by_text("79.3 nats", exact=False)).to_be_visible()
    page.get_by_text("Does it sum to one").first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "paper-tiny-logit-average.png"))
    assert exceptions(page) == []


def test_server_memory_after_the_first_sampling_page(browser):
    """A fresh server: the first Sampling page (16 at once, each with its nearest training
    digit) and a second session leave it within 1.2 GB, the training digits loaded once."""
    server = Server(ROOT / "app.py", env=SERVER_ENV)
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            for _ in range(2):
                page = context.new_page()
                open_app(page, f"{server.url}/sampling?view=grid")
                grid_neighbours(page)
                page.close()
        finally:
            context.close()
        memory = server.memory()
        loads = [line for line in server.log if "loaded the packed training digits" in line]
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "paper-memory.json").write_text(json.dumps(
            {**memory, "training_digit_loads": len(loads)}, indent=1))
        assert len(loads) == 1, server.log[-20:]
        assert max(memory["VmRSS"], memory["VmHWM"]) < MEMORY_LIMIT, memory
        assert server.log_errors() == []
    finally:
        server.stop()

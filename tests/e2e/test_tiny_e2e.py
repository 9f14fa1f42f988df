"""The Tiny world page in headless Chromium: train, see the sum read 1.000000; break a mask,
train, see the broken network's sum read something else; no exception anywhere."""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import ARTIFACTS, exceptions, wait_idle

pytestmark = pytest.mark.e2e
# Training takes `secs` seconds of the server's time; 2 shared cores can take several times it.
TRAIN_WAIT_MS = 180_000


def open_tiny(page, app_url: str, query: str = "") -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{app_url}/tiny?secs=2{query}")
    page.wait_for_selector(".st-key-result_0 .tiny-readout", timeout=120_000)
    wait_idle(page, timeout=120_000)
    return errors


def readout(page, k: int) -> str:
    text = page.locator(f".st-key-result_{k} .tiny-readout").inner_text()
    return re.search(r"patterns:\s*([\d,.]+)", text).group(1)


def train(page) -> None:
    page.locator(".st-key-train button").click()
    page.wait_for_selector("text=Done:", timeout=TRAIN_WAIT_MS)
    wait_idle(page, timeout=TRAIN_WAIT_MS)


def choose(page, key: str, option: str) -> None:
    box = page.locator(f".st-key-{key} [role='combobox']")
    box.click(timeout=60_000)
    box.fill(option)
    page.locator("[role='option']").filter(has_text=re.compile(f"^{option}$")).click()
    wait_idle(page, timeout=120_000)


def test_train_sums_to_one_then_a_broken_mask_does_not(page, app_url):
    errors = open_tiny(page, app_url)
    assert readout(page, 0) == "1.000000"  # before training, too
    train(page)
    assert readout(page, 0) == "1.000000"
    assert page.locator(".st-key-result_1").count() == 0
    choose(page, "break", "sees-self")
    page.wait_for_selector(".st-key-result_1 .tiny-readout", timeout=120_000)
    page.wait_for_selector("text=Not autoregressive", timeout=60_000)
    train(page)
    assert readout(page, 0) == "1.000000"
    broken = float(readout(page, 1).replace(",", ""))
    assert abs(broken - 1) > 0.01, broken
    assert page.locator("text=below H: not a distribution").count() >= 1
    assert not exceptions(page) and not errors


def test_clicking_a_mask_cell_flips_it(page, app_url):
    errors = open_tiny(page, app_url, "&hidden=8")
    chart = page.locator("[class*='st-key-flip_masks_'] .js-plotly-plot")
    chart.wait_for(timeout=60_000)
    # The last trace holds the output layer's cells; click one of its markers.
    points = chart.locator(".scatterlayer .trace").last.locator(".point")
    points.nth(3).click(force=True)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.st-key-flip input')].some(i => i.value)",
        timeout=60_000)
    wait_idle(page, timeout=120_000)
    flipped = page.locator(".st-key-flip input").input_value()
    assert re.fullmatch(r"2, \d+, \d+", flipped), flipped
    assert page.locator(".st-key-break [role='combobox']").input_value() == "flip"
    assert "flip=2" in page.url  # the flipped entry is in the link
    assert page.locator(".st-key-result_1 .tiny-readout").count() == 1
    assert not exceptions(page) and not errors


@pytest.mark.parametrize("width", [1100, 1400])
def test_the_broken_page_at_lecture_widths(browser, app_url, width):
    context = browser.new_context(viewport={"width": width, "height": 3400})
    page = context.new_page()
    try:
        errors = open_tiny(page, app_url, "&break=unmasked")
        train(page)
        assert readout(page, 0) == "1.000000" and readout(page, 1) != "1.000000"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"tiny_broken_{width}.png"), full_page=True,
                        timeout=120_000)
        assert not exceptions(page) and not errors
    finally:
        context.close()


def test_stop_and_leaving_the_page_end_a_run_cleanly(page, app_url):
    errors = open_tiny(page, app_url, "&secs=20")
    page.locator(".st-key-train button").click()
    page.wait_for_selector("text=Training:", timeout=120_000)
    page.locator(".st-key-stop button").click()
    page.wait_for_selector("text=Stopped:", timeout=120_000)
    wait_idle(page, timeout=120_000)
    stopped = page.locator("text=Stopped:").inner_text()
    assert int(re.search(r"([\d,]+) steps", stopped).group(1).replace(",", "")) > 0
    # Leave while training, come back: the run stopped where it was, the page works.
    page.locator(".st-key-train button").click()
    page.wait_for_selector("text=Training:", timeout=120_000)
    page.get_by_role("link", name="Masks").click()
    wait_idle(page, timeout=120_000)
    page.get_by_role("link", name="Tiny world").click()
    page.wait_for_selector("text=Stopped:", timeout=120_000)
    assert readout(page, 0) == "1.000000"
    assert not exceptions(page) and not errors

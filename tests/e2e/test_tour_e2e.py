"""The Lecture in headless Chromium, as a presenter gives it: presenter mode on a 1280x720
projector, the keyboard only. Every step shows without an exception and without scrolling,
and shows its claim: the autoencoder's sum far from 1 (step 1), 1.000000 after training
(step 5), a digit's score in nats equal to the Likelihood page's (step 6), a broken mask's sum
other than 1 (step 10), samples above their nearest training digits (step 11). Keys do
nothing while the user draws on the sketch pad or types in a field; a link to a step opens
that step."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from made_viz.tour import load_tour
from tests.e2e.conftest import APP_IDLE, ARTIFACTS, exceptions, wait_idle

pytestmark = pytest.mark.e2e
PROJECTOR = {"width": 1280, "height": 720}
TRAIN_WAIT_MS = 180_000  # a step that trains for `secs`: 2 shared cores can take longer
CARD = ".made-tour.ready"
NATS = re.compile(r"([\d,]+\.\d\d)\s*nats")
LAST = len(load_tour("lecture").steps)


@pytest.fixture(scope="module")
def projector(browser):
    context = browser.new_context(viewport=PROJECTOR)
    yield context
    context.close()


def card_step(page) -> int:
    return int(page.locator(f"{CARD} .n").inner_text())


def view(page, n: int) -> str:
    return f".st-key-tour_view_{n}"


def settle(page, n: int) -> None:
    """Step n's view drawn, and a step that trains done training."""
    page.locator(view(page, n)).wait_for(timeout=60_000)
    wait_idle(page, TRAIN_WAIT_MS)
    if page.locator(f"{view(page, n)} [data-testid=stProgress]").count():
        page.locator(view(page, n)).get_by_text("Done:").wait_for(timeout=TRAIN_WAIT_MS)
        wait_idle(page, TRAIN_WAIT_MS)


def scroll_needed(page) -> int:
    """How far the main area would scroll (0: it all fits)."""
    return page.evaluate("() => { const m = document.querySelector('[data-testid=stMain]');"
                         " return m.scrollHeight - m.clientHeight; }")


def sums(page, n: int) -> list[float]:
    texts = page.locator(f"{view(page, n)} .tiny-readout b").all_inner_texts()
    return [float(t.replace(",", "")) for t in texts]


def nats(page, where: str) -> float:
    page.wait_for_function(
        "([sel, re]) => new RegExp(re).test(document.querySelector(sel)?.innerText ?? '')",
        arg=[where, NATS.pattern], timeout=60_000)
    return float(NATS.search(page.locator(where).inner_text()).group(1).replace(",", ""))


def likelihood_page_nats(context, link: str, app_url: str) -> float:
    """The score the Likelihood page shows for the card's "open in the full page" link."""
    page = context.new_page()
    try:
        page.goto(f"{app_url}/{link}")
        wait_idle(page, 90_000)
        return nats(page, ".st-key-lik_score")
    finally:
        page.close()


def keys_stay_out_of_the_pad_and_the_fields(page) -> None:
    """Step 7: a key pressed while drawing, or while typing in a what-if field, is theirs."""
    pad = page.locator(f"{view(page, 7)} canvas.pad")
    box = pad.bounding_box()
    page.mouse.move(box["x"] + 30, box["y"] + 30)
    page.mouse.down()
    page.keyboard.press("ArrowRight")
    page.mouse.move(box["x"] + 60, box["y"] + 40)
    page.mouse.up()
    wait_idle(page)
    assert card_step(page) == 7
    page.get_by_text("What if?").first.click()
    field = page.get_by_label(re.compile(r"^test digit"))
    field.click()
    for key in ("End", "Home", "ArrowRight", "PageDown"):
        page.keyboard.press(key)
    assert card_step(page) == 7
    page.keyboard.press("Escape")
    page.locator(f"{CARD} .title").click()  # focus back on the card: keys are the tour's
    wait_idle(page)


def test_the_lecture_with_the_keyboard_only_on_a_projector(projector, app_url):
    page = projector.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{app_url}/tour?present=1")
    page.locator(CARD).wait_for(timeout=60_000)
    page.keyboard.press("ArrowLeft")  # Back at the first step: nothing happens
    seen = {}
    for n in range(1, LAST + 1):
        settle(page, n)
        assert card_step(page) == n and f"step={n}" in page.url
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"tour-step{n:02d}.png"))
        assert exceptions(page) == [] and errors == [], (n, errors)
        assert scroll_needed(page) <= 0, f"step {n} needs scrolling"
        if n in (1, 5, 10):
            seen[n] = sums(page, n)
        if n == 6:
            seen[6] = (nats(page, view(page, 6)),
                       page.locator(f"{CARD} a.full").get_attribute("href"))
        if n == 7:
            keys_stay_out_of_the_pad_and_the_fields(page)
        if n == LAST:  # new digits, each above its nearest training digit
            expect(page.locator(view(page, n)).get_by_text(
                re.compile(r"^\d+ pixels differ$"))).to_have_count(8)
        page.keyboard.press("ArrowRight" if n % 2 else "PageDown")  # what clickers send
    page.keyboard.press("ArrowRight")  # Next at the last step: nothing happens
    wait_idle(page)
    assert card_step(page) == LAST and exceptions(page) == [] and errors == []
    (first,), (trained,), (correct, broken) = seen[1], seen[5], seen[10]
    assert abs(first - 1) > 0.5, f"step 1: an autoencoder's sum of {first}"
    assert trained == 1.0 and correct == 1.0
    assert abs(broken - 1) > 0.01, f"step 10: a broken sum of {broken}"
    score, link = seen[6]
    assert link.startswith("likelihood?") and "present=1" in link
    assert likelihood_page_nats(projector, link, app_url) == pytest.approx(score, abs=0.006)
    page.keyboard.press("Home")
    expect(page.locator(f"{CARD} .n")).to_have_text("1")
    settle(page, 1)
    assert "step=1" in page.url and exceptions(page) == []
    page.close()


def test_a_link_to_a_step_opens_that_step(projector, app_url):
    page = projector.new_page()
    page.goto(f"{app_url}/tour?step=6&present=1")
    page.locator(CARD).wait_for(timeout=60_000)
    page.wait_for_selector(APP_IDLE, timeout=60_000)
    assert card_step(page) == 6
    assert nats(page, view(page, 6)) > 0 and exceptions(page) == []
    assert page.locator("[data-testid=stSidebar]").count() == 0  # presenter mode: no sidebar
    page.get_by_role("button", name="Leave presenter mode").click()
    page.locator("[data-testid=stSidebar]").wait_for(timeout=30_000)
    assert "present" not in page.url and card_step(page) == 6
    page.close()

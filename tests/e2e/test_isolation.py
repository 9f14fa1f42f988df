"""Two sessions at once never see each other's state.

Two browser contexts (two users) open the Sampling page with different seeds and step a
different number of times, their clicks interleaved. Each must end with its own count, on its
canvas exactly its own seed's digit (the library's SamplingRun for that seed, drawn up to that
count), and its own position on the server (the Export tab's PNG is of its own image).
"""
import functools
import re

import numpy as np
import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, exceptions, open_app

pytestmark = pytest.mark.e2e

D, SIDE = 784, 28
SEEDS = {"a": 11, "b": 12}
# (user, button, pixels): interleaved, so both sessions' reruns overlap on the server; far
# enough (about 12 rows) that both digits have ink to tell them apart.
CLICKS = ([("a", "Step", 1)] * 4 + [("b", "Step", 1)] * 2
          + [(user, "Step row", 28) for _ in range(12) for user in "ab"]
          + [("a", "Step", 1), ("b", "Step row", 28), ("a", "Step", 1)])

# The colour at the centre of every MNIST pixel of the digit canvas (in its shadow root).
CELL_COLOURS = """canvas => {
  const ctx = canvas.getContext("2d"), cell = canvas.width / %d;
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const out = [];
  for (let i = 0; i < %d; i++) {
    const x = Math.floor((i %% %d + 0.5) * cell), y = Math.floor((Math.floor(i / %d) + 0.5) * cell);
    const k = 4 * (y * canvas.width + x);
    out.push([data[k], data[k + 1], data[k + 2]]);
  }
  return out;
}""" % (SIDE, D, SIDE, SIDE)


def shown_digit(page) -> np.ndarray:
    """Per pixel: 1 drawn as ink, 0 drawn as paper, -1 not drawn yet (tinted, or the next)."""
    rgb = np.array(page.locator(".made-player canvas.digit").evaluate(CELL_COLOURS))
    return np.where(rgb.max(axis=1) < 100, 1, np.where(rgb.min(axis=1) >= 254, 0, -1))


def shown_mask(page) -> int:
    """Which of the model's masks the page says the seed picked ("Mask 3 of 8...")."""
    caption = page.get_by_text(re.compile(r"^Mask \d+ of \d+")).inner_text()
    return int(re.match(r"Mask (\d+)", caption).group(1))


@functools.cache
def bundled_model():
    from made_viz.checkpoint import load_pretrained

    return load_pretrained("mnist")[0]


def expected_digit(seed: int, mask: int, position: int) -> np.ndarray:
    """The library's digit for this seed and mask, drawn up to `position` (-1 after)."""
    from made_viz import sampling

    run = sampling.SamplingRun(bundled_model(), seed=seed, mask=mask)
    return np.where(run.rank < position, run.final_image.astype(np.int64), -1)


def test_two_sessions_stepping_at_once_see_only_their_own_digit(browser, app_url):
    contexts = {user: browser.new_context(viewport={"width": 1400, "height": 1000},
                                          accept_downloads=True)
                for user in SEEDS}
    pages = {user: context.new_page() for user, context in contexts.items()}
    try:
        for user, page in pages.items():
            open_app(page, f"{app_url}/sampling?seed={SEEDS[user]}")
            expect(page.locator(".made-player .count")).to_have_text(f"0 / {D} pixels")
        counts = dict.fromkeys(SEEDS, 0)
        for user, button, pixels in CLICKS:
            counts[user] += pixels
            pages[user].get_by_role("button", name=button, exact=True).click()
            expect(pages[user].locator(".made-player .count")).to_have_text(
                f"{counts[user]} / {D} pixels")
        assert counts["a"] != counts["b"]
        masks = {user: shown_mask(page) for user, page in pages.items()}
        for user, page in pages.items():
            expect(page.locator(".made-player .count")).to_have_text(f"{counts[user]} / {D} pixels")
            assert f"seed {SEEDS[user]}." in page.locator("[data-testid='stCaptionContainer']",
                                                          has_text="order, seed").inner_text()
            shown = shown_digit(page)
            other = "b" if user == "a" else "a"
            expected = expected_digit(SEEDS[user], masks[user], counts[user])
            others = expected_digit(SEEDS[other], masks[other], counts[user])
            assert not np.array_equal(expected, others)  # else the check below proves nothing
            assert np.array_equal(shown, expected), f"user {user} does not see its own digit"
            assert (expected == 1).sum() > 10  # some ink is drawn
        for user, page in pages.items():  # both at once: the servers' runs, each its own
            page.get_by_role("tab", name="Export").click()
        for user, page in pages.items():
            expect(page.get_by_text(f"{counts[user]} / {D} pixels drawn.")).to_be_visible(
                timeout=30_000)
            download = page.get_by_role("button", name="Download PNG")
            with page.expect_download() as png:
                download.click()
            assert png.value.suggested_filename == (
                f"made-mnist-natural-seed{SEEDS[user]}-{counts[user]}px.png")
            assert exceptions(page) == []
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        for user, page in pages.items():
            page.screenshot(path=str(ARTIFACTS / f"isolation-{user}.png"))
        for context in contexts.values():
            context.close()

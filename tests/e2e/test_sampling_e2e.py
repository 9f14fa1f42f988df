"""The Sampling studio in headless Chromium: the player's own buttons, scrubber and keys, play
and pause, the server catching up where a view needs it (Export), and a GIF export.

Everything is driven and read as a user would: buttons by role and name, the pixel count the
player shows, the Export tab's caption of the current image.
"""
import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from conftest import ARTIFACTS, exceptions, open_app, wait_idle

pytestmark = pytest.mark.e2e

D = 784


def open_sampling(page, app_url: str, query: str = "") -> None:
    open_app(page, f"{app_url}/sampling{query}")
    expect(count(page)).to_be_visible()


def count(page):
    return page.locator(".made-player .count")


def drawn(page) -> int:
    return int(page.locator(".made-player .drawn").inner_text())


def button(page, name: str):
    return page.get_by_role("button", name=name, exact=True)


def expect_export_at(page, position: int) -> None:
    """The server's run is where the player was: the Export tab's PNG is of that image."""
    page.get_by_role("tab", name="Export").click()
    expect(page.get_by_text(f"{position} / {D} pixels drawn.")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Download PNG")).to_be_visible()


def back_to_the_player(page) -> None:
    page.get_by_role("tab", name="Step by step").click()
    expect(count(page)).to_be_visible(timeout=30_000)


def test_step_play_pause_and_export_a_gif(page, app_url):
    open_sampling(page, app_url, "?seed=7")
    expect(count(page)).to_have_text(f"0 / {D} pixels")
    expect(button(page, "Reset")).to_be_disabled()  # nothing to reset yet
    for i in range(1, 21):
        button(page, "Step").click()
        expect(count(page)).to_have_text(f"{i} / {D} pixels")
    # 20 pixels of near-certain background (log-likelihood -0.0014 here) read 0.00, not -0.00.
    expect(page.locator(".made-player .llvalue")).to_have_text("0.00")
    button(page, "Step row").click()
    expect(count(page)).to_have_text(f"48 / {D} pixels")

    button(page, "Play").click()
    expect(button(page, "Pause")).to_be_visible()
    expect(button(page, "Step")).to_be_disabled()  # while playing
    page.wait_for_timeout(2000)
    button(page, "Pause").click()
    expect(button(page, "Play")).to_be_visible()
    stopped = drawn(page)
    assert stopped > 48 + 30, f"two seconds of play drew only {stopped - 48} pixels"
    page.wait_for_timeout(500)
    assert drawn(page) == stopped  # paused means paused
    page.screenshot(path=str(ARTIFACTS / "sampling-paused.png"))

    expect_export_at(page, stopped)
    png = page.get_by_role("button", name="Download PNG")
    with page.expect_download() as download:
        png.click()
    assert download.value.suggested_filename.endswith(f"-seed7-{stopped}px.png")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download GIF").click()
    gif = Image.open(io.BytesIO(open(download.value.path(), "rb").read()))
    assert gif.format == "GIF" and gif.n_frames > 1
    assert download.value.suggested_filename.endswith(".gif")
    back_to_the_player(page)
    expect(count(page)).to_have_text(f"{stopped} / {D} pixels")  # remounted where it was
    assert exceptions(page) == []


def test_finish_reset_scrubber_and_overlays(page, app_url):
    open_sampling(page, app_url, "?model=mnist-orders&ordering=columns&seed=3")
    button(page, "Step row").click()
    expect(count(page)).to_have_text(f"28 / {D} pixels")
    # column order: the next pixel after one full column is the top of the second column
    expect(page.locator(".made-player .nextline")).to_have_text("next: pixel 1 (row 0, column 1)")
    page.get_by_role("radio", name="sensitivity").check()
    # the server's view of the next pixel arrives: its receptive field's size is shown
    expect(page.locator(".made-player .rfcount")).to_have_text(re.compile(r"^\(\d+ pixels\)$"),
                                                               timeout=30_000)
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "sampling-columns-sensitivity.png"))
    button(page, "Finish").click()
    expect(count(page)).to_have_text(f"{D} / {D} pixels")
    expect(button(page, "Step")).to_be_disabled()
    expect(button(page, "Finish")).to_be_disabled()
    button(page, "Reset").click()
    expect(count(page)).to_have_text(f"0 / {D} pixels")
    scrubber = page.get_by_role("slider", name="History: pixels drawn")
    scrubber.fill("300")
    expect(count(page)).to_have_text(f"300 / {D} pixels")
    expect_export_at(page, 300)
    assert exceptions(page) == []


def test_a_rerun_does_not_move_the_player(page, app_url):
    open_sampling(page, app_url, "?seed=8")
    for _ in range(5):
        button(page, "Step").click()
    expect(count(page)).to_have_text(f"5 / {D} pixels")
    page.get_by_text("Lecture mode").click()  # reruns the whole page, the player stays
    wait_idle(page)
    expect(page.get_by_role("heading", name="Sampling studio", level=1)).to_have_count(0)
    expect(count(page)).to_have_text(f"5 / {D} pixels")
    page.get_by_role("combobox", name="Speed: pixels per tick").select_option("28")
    wait_idle(page)
    button(page, "Step").click()
    expect(count(page)).to_have_text(f"6 / {D} pixels")
    # Play at the end starts over: Finish, then Play plays from the start again
    button(page, "Finish").click()
    button(page, "Play").click()
    expect(button(page, "Pause")).to_be_visible()
    expect(count(page)).to_have_text(f"{D} / {D} pixels", timeout=10_000)  # 28 a tick: soon
    expect(button(page, "Play")).to_be_visible()  # it stopped at the end by itself
    assert exceptions(page) == []


def test_lecture_mode_keyboard_and_the_other_views(page, app_url):
    page.goto(f"{app_url}/sampling?seed=5&lecture=true")
    # The first key the moment the player shows, even before the page's script run ends: the
    # player shows only once its script listens for keys (player.css).
    expect(count(page)).to_be_visible(timeout=30_000)
    page.keyboard.press("ArrowRight")  # a presenter's clicker
    expect(count(page)).to_have_text(f"1 / {D} pixels")
    page.keyboard.press("Shift+ArrowRight")
    expect(count(page)).to_have_text(f"29 / {D} pixels")
    page.keyboard.press("ArrowLeft")
    expect(count(page)).to_have_text(f"28 / {D} pixels")
    page.keyboard.press("End")
    expect(count(page)).to_have_text(f"{D} / {D} pixels")
    page.keyboard.press("Home")
    expect(count(page)).to_have_text(f"0 / {D} pixels")
    page.keyboard.press("Space")
    expect(button(page, "Pause")).to_be_visible()
    page.wait_for_timeout(500)
    page.keyboard.press("Space")
    expect(button(page, "Play")).to_be_visible()
    assert drawn(page) > 0
    button(page, "Step").click()  # focus is now on the Step button; space still plays
    page.keyboard.press("Space")
    expect(button(page, "Pause")).to_be_visible()
    page.keyboard.press("Space")
    expect(page.locator(".made-player .secondary")).to_be_hidden()
    page.screenshot(path=str(ARTIFACTS / "sampling-lecture.png"))
    for view in ("16 at once", "Completion"):
        page.get_by_role("tab", name=view).click()
        wait_idle(page)
        expect(page.get_by_role("tab", name=view, selected=True)).to_be_visible()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / f"sampling-{view.split()[0].lower()}.png"),
                        full_page=True)
    expect(page.get_by_text("keeps the 392 given pixels")).to_be_visible()
    assert exceptions(page) == []

"""A short lecture hall in every test run: 4 browser pages use made-viz at once for 10 s.

Each page steps, plays, pauses and picks a new seed on the Sampling page and changes D and the
hidden sizes on the Masks page (tests/load/lecture_hall.py, run here as a user would). The
full run, 20 pages for 60 s beside a bare Streamlit app, is on demand:
`.venv/bin/python -m tests.load.lecture_hall --pages 20 --seconds 60`. Speed is measured
there, never asserted here.
"""
import json
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, ROOT, exceptions, open_app, wait_idle

pytestmark = pytest.mark.e2e


def test_four_pages_at_once_no_errors_model_loaded_once_memory_bounded():
    out = ARTIFACTS / "load-short.json"
    out.unlink(missing_ok=True)
    run = subprocess.run(
        [sys.executable, "-m", "tests.load.lecture_hall", "--pages", "4", "--seconds", "10",
         "--no-baseline", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    app = report["app"]
    assert app["errors"] == [], run.stdout[-3000:]
    assert app["model_loads"] == {"mnist": 1}  # four sessions, one model in memory
    assert app["peak_memory_bytes"] < 1.5 * 2**30
    actions = app["actions"]
    assert actions.get("step", 0) >= 4 * 3 and actions.get("play", 0) >= 4, actions
    assert actions.get("seed", 0) >= 4 and actions.get("masks change", 0) >= 4, actions
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


# Under load a button's label lags a rerun behind. Clicked in the same moment as playback ends
# (so before the server hears of the end), "Pause" must not start the digit over.
PAUSE_AS_IT_ENDS = """() => new Promise((resolve) => {
  const host = [...document.querySelectorAll("*")].find(
    (e) => e.shadowRoot && e.shadowRoot.querySelector(".made-player"));
  const player = host.shadowRoot.querySelector(".made-player");
  const button = () => document.querySelector(".st-key-sampling_play button");
  let started = false;
  const observer = new MutationObserver(() => {
    if (player.dataset.playing === "true") started = true;
    if (started && player.dataset.playing === "false" && player.dataset.position === "784") {
      observer.disconnect();
      const label = button().innerText.trim();
      const click = new MouseEvent("click", {bubbles: true, cancelable: true});
      button().dispatchEvent(click);
      resolve({label, swallowed: click.defaultPrevented});
    }
  });
  observer.observe(player, {attributes: true});
  button().click();
})"""


def test_pause_clicked_as_playback_ends_does_not_start_over(page, app_url):
    open_app(page, f"{app_url}/sampling?seed=21")
    speed = page.locator(".st-key-sampling_speed input[type=range]")
    speed.focus()
    speed.press("End")  # 28 pixels a tick: the digit plays through in about a second
    expect(page.locator(".st-key-sampling_speed [data-testid=stSliderThumbValue]")
           ).to_have_text("28")
    wait_idle(page)
    clicked = page.evaluate(PAUSE_AS_IT_ENDS)
    assert clicked == {"label": "Pause", "swallowed": True}  # a stale label, and the click kept
    expect(page.get_by_role("button", name="Play", exact=True)).to_be_visible()
    page.wait_for_timeout(1500)  # a restart would be under way by now
    wait_idle(page)
    expect(page.locator(".st-key-sampling_history input[type=range]")).to_have_value("784")
    expect(page.locator(".made-player")).to_have_attribute("data-position", "784")
    expect(page.locator(".made-player")).to_have_attribute("data-playing", "false")
    assert exceptions(page) == []

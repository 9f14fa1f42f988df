"""What a change costs on the Likelihood page, as a user sees it, beside the bare app's click.

    .venv/bin/python -m tests.load.likelihood_cost                 # 2 rounds of 15 each
    .venv/bin/python -m tests.load.likelihood_cost --clicks 20 --rounds 3

Starts both servers (made-viz and tests/load/bare_app.py) and one headless Chromium page on
each, then, in rounds that alternate so all see the same machine load: clicks a pixel of the
Likelihood page's image (the pixel flips) and draws a short stroke on it with the brush, and clicks the
bare app's button. Each is timed in the page from just before the mouse event (a stroke: its release,
when the canvas sends the drawing) to the frame in which the new score (the bare app's new
count) is painted; "settled" adds the wait until the
script run has finished and every figure is sent. One change at a time, one user: this is the
cost of a change, not a load test (tests/load/lecture_hall.py is).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import APP_IDLE, ARTIFACTS, CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.load.lecture_hall import Server, percentile  # noqa: E402

SCORE = ".st-key-lik_score"
PAD = ".st-key-lik_sketch canvas.pad"
BARE_BUTTON = ".st-key-step button"
BARE_COUNT = ".st-key-count [data-testid=stText]"
TIMEOUT_MS = 30_000

# Before the mouse event: note the element's text and the time; on every frame after, look for
# a different text.
WATCH = """(sel) => {
  const text = () => document.querySelector(sel)?.textContent ?? null;
  const before = text();
  window.__changed = null;
  const start = window.__start = performance.now();
  const check = () => {
    if (text() !== before) window.__changed = performance.now() - start;
    else if (performance.now() - start < %d) requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
}""" % TIMEOUT_MS


def timed(page, sel: str, act) -> tuple[float, float]:
    """(ms until the text of `sel` changed, ms until the app was idle again) around act()."""
    page.evaluate(WATCH, sel)
    act()
    page.wait_for_function("() => window.__changed !== null", timeout=TIMEOUT_MS, polling="raf")
    page.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
    settled = page.evaluate("() => performance.now() - window.__start")
    return page.evaluate("() => window.__changed"), settled


def flip(page, rng: random.Random) -> tuple[float, float]:
    box = page.locator(PAD).bounding_box()
    row, col = rng.randrange(4, 24), rng.randrange(4, 24)
    return timed(page, SCORE, lambda: page.mouse.click(
        box["x"] + (col + 0.5) * box["width"] / 28, box["y"] + (row + 0.5) * box["height"] / 28))


def stroke(page, rng: random.Random) -> tuple[float, float]:
    """A short straight stroke; timed from the mouse's release, when the canvas sends it."""
    page.locator(".st-key-lik_sketch").get_by_text("Brush").click()  # in the browser only
    box = page.locator(PAD).bounding_box()
    x0, y0 = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
    x1, y1 = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
    page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
    page.mouse.down()
    for t in (0.25, 0.5, 0.75, 1.0):
        page.mouse.move(box["x"] + (x0 + t * (x1 - x0)) * box["width"],
                        box["y"] + (y0 + t * (y1 - y0)) * box["height"])
    shown = timed(page, SCORE, page.mouse.up)
    page.locator(".st-key-lik_sketch").get_by_text("Flip").click()
    return shown


def bare_click(page) -> tuple[float, float]:
    box = page.locator(BARE_BUTTON).bounding_box()
    return timed(page, BARE_COUNT, lambda: page.mouse.click(box["x"] + box["width"] / 2,
                                                            box["y"] + box["height"] / 2))


def open_pages(browser, app: Server, bare: Server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    app_page = context.new_page()
    app_page.goto(f"{app.url}/likelihood")
    app_page.locator(SCORE).wait_for(timeout=120_000)
    app_page.wait_for_selector(APP_IDLE, timeout=120_000)
    app_page.locator(PAD).wait_for(timeout=60_000)
    bare_page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    bare_page.goto(bare.url)
    bare_page.locator(BARE_BUTTON).wait_for(timeout=60_000)
    return app_page, bare_page


def summary(values: list[float]) -> dict:
    return {"median_ms": statistics.median(values), "p95_ms": percentile(values, 95),
            "n": len(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load.likelihood_cost",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=15, help="of each kind per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ARTIFACTS / "likelihood-cost.json")
    args = parser.parse_args(argv)
    if not (1 <= args.clicks <= 200 and 1 <= args.rounds <= 20):
        parser.error("--clicks must be in 1..200 and --rounds in 1..20")
    from playwright.sync_api import sync_playwright

    rng = random.Random(0)
    times = {kind: {"shown": [], "settled": []} for kind in ("flip", "stroke", "bare")}
    load_before = os.getloadavg()
    app, bare = Server(ROOT / "app.py"), Server(ROOT / "tests/load/bare_app.py")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            app_page, bare_page = open_pages(browser, app, bare)
            for _ in range(3):  # warm-up: caches, Plotly's first charts
                flip(app_page, rng), stroke(app_page, rng), bare_click(bare_page)
            for _ in range(args.rounds):
                for kind, action in (("flip", lambda: flip(app_page, rng)),
                                     ("stroke", lambda: stroke(app_page, rng)),
                                     ("bare", lambda: bare_click(bare_page))):
                    for _ in range(args.clicks):
                        shown, settled = action()
                        times[kind]["shown"].append(shown)
                        times[kind]["settled"].append(settled)
                        time.sleep(0.05)
            errors = app_page.locator("[data-testid='stException']").count()
            browser.close()
    finally:
        app.stop()
        bare.stop()
    result = {"clicks": args.clicks, "rounds": args.rounds, "load_average_before": load_before,
              "load_average_after": os.getloadavg(), "exceptions": errors,
              **{kind: {part: summary(values) for part, values in parts.items()}
                 for kind, parts in times.items()}}
    bare_median = result["bare"]["shown"]["median_ms"]
    lines = [f"one user, {args.rounds} rounds x {args.clicks} of each; load average"
             f" {load_before[0]:.2f} before, {result['load_average_after'][0]:.2f} after",
             f"{'':<22}{'shown median':>14}{'p95':>8}{'/ bare':>8}{'settled median':>16}"]
    for kind, title in (("bare", "bare app click"), ("flip", "pixel flip"),
                        ("stroke", "stroke on the canvas")):
        shown, settled = result[kind]["shown"], result[kind]["settled"]
        result[kind]["ratio_to_bare"] = shown["median_ms"] / bare_median
        lines.append(f"{title:<22}{shown['median_ms']:>14.0f}{shown['p95_ms']:>8.0f}"
                     f"{result[kind]['ratio_to_bare']:>7.2f}x{settled['median_ms']:>16.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print("\n".join(lines) + f"\n(target: a flip or a stroke shows its score within 1.5x the"
          f" bare app's click)\n\nJSON: {args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

"""One user's Step: click to new count, beside a static page and the bare app; Play's frames.

    .venv/bin/python -m tests.load.step_cost            # 60 clicks on each page, 2 rounds
    .venv/bin/python -m tests.load.step_cost --steps 100 --rounds 3

The Sampling page's player has the whole run, so a Step is drawn in the browser: the new
count should show as soon as on a static page whose button changes its text at once (target:
median and p95 within 1.5x). This opens three pages in one headless Chromium: that static page,
the bare one-button Streamlit app (tests/load/bare_app.py: every click a server round trip)
and made-viz's Sampling page, and clicks each `--steps` times, one click at a time, as a real
Playwright click, timed in the page from its pointerdown until the new count is in a painted
frame (lecture_hall.timed_click). Rounds alternate between the pages so all see the same
machine load.

Also reported: the server CPU time per click (user + system, from /proc, less what the same
server burns idle over the same span): the bare app's is its rerun; made-viz's is the player
telling the server where it stands once it rests (for the receptive field and sensitivity
maps), which no click waits for. And Play: the frames per second that show a new count while
playing at the default speed (target >= 30). Exit status 1 when a target is missed or a page
gave no timed click.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.load.lecture_hall import (BARE_COUNT, BARE_STEP, COUNT, D, LATENCY_RATIO,  # noqa: E402
                                     PLAY_FPS, PLAYER, STEP, Server, latency_ratios, settled,
                                     summary, timed_click)

PAUSE_S = 0.3  # between a click's new count and the next click: the player rests and reports
MIN_FPS = 30
PLAY_SECONDS = 3.0
# A button that changes its text at once: the floor of a click in this browser.
STATIC_PAGE = """<!doctype html><html><body>
<button id="step" onclick="document.getElementById('count').textContent = String(++window.n)">
Step</button> <span id="count">0</span><script>window.n = 0;</script></body></html>"""


async def static_steps(page, n: int, done: int) -> list[float]:
    return await _counted_clicks(page, "#step", "#count", n, done)


async def bare_steps(page, n: int, done: int) -> list[float]:
    return await _counted_clicks(page, BARE_STEP, BARE_COUNT, n, done)


async def _counted_clicks(page, click: str, count: str, n: int, done: int) -> list[float]:
    times = []
    for k in range(done + 1, done + n + 1):
        (shown,) = await timed_click(page, click, [{"sel": count, "expect": str(k)}])
        if shown is None:
            raise TimeoutError(f"click {k} on {click} not shown")
        times.append(shown)
        await asyncio.sleep(PAUSE_S)
    return times


async def app_steps(page, n: int) -> list[float]:
    """n Steps on the Sampling page; the milliseconds until each new count showed."""
    times = []
    for _ in range(n):
        target = await settled(page) + 1
        if target > D:
            raise RuntimeError("the run ended: use fewer --steps")
        (shown,) = await timed_click(page, STEP, [{"sel": f"{PLAYER} .drawn",
                                                   "expect": str(target)}])
        if shown is None:
            raise TimeoutError(f"Step to {target} not shown")
        times.append(shown)
        await asyncio.sleep(PAUSE_S)
    return times


async def cpu_per_click(server: Server | None, clicks: int, run) -> tuple[float | None, list]:
    """Await run() and return (the server's CPU ms per click, the click latencies)."""
    if server is None:
        return None, await run()
    before, start = server.cpu_seconds(), time.monotonic()
    times = await run()
    spent, span = server.cpu_seconds() - before, time.monotonic() - start
    await asyncio.sleep(1.0)  # let the last report's rerun finish
    idle_span = min(span, 5.0)  # the same server idle, for as long (at most 5 s), to subtract
    idle_before = server.cpu_seconds()
    await asyncio.sleep(idle_span)
    idle = (server.cpu_seconds() - idle_before) * span / idle_span
    return max(0.0, spent - idle) * 1e3 / clicks, times


async def open_pages(browser, app: Server, bare: Server) -> dict:
    pages = {}
    for name, url, ready in (("app", f"{app.url}/sampling?seed=11", COUNT),
                             ("bare", bare.url, BARE_STEP), ("static", None, "#step")):
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        if url:
            await page.goto(url)
        else:
            await page.set_content(STATIC_PAGE)
        await page.locator(ready).wait_for(timeout=120_000)
        pages[name] = page
    await settled(pages["app"])
    return pages


async def measure(args, app: Server, bare: Server) -> dict:
    from playwright.async_api import async_playwright

    result = {name: {"cpu_ms": [], "shown_ms": []} for name in ("static", "bare", "app")}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = await open_pages(browser, app, bare)
        await app_steps(pages["app"], 3)  # the first clicks and reports build caches
        await bare_steps(pages["bare"], 3, 0)
        await static_steps(pages["static"], 3, 0)
        for r in range(args.rounds):
            done = 3 + r * args.steps
            for name, server, run in (
                    ("static", None, lambda: static_steps(pages["static"], args.steps, done)),
                    ("bare", bare, lambda: bare_steps(pages["bare"], args.steps, done)),
                    ("app", app, lambda: app_steps(pages["app"], args.steps))):
                cpu, times = await cpu_per_click(server, args.steps, run)
                if cpu is not None:
                    result[name]["cpu_ms"].append(cpu)
                result[name]["shown_ms"] += times
        await pages["app"].locator(f"{PLAYER} .reset").click()
        fps = await pages["app"].evaluate(PLAY_FPS, {"ms": PLAY_SECONDS * 1000})
        result["app"]["play_fps"] = fps
        await browser.close()
    return result


def judge(result: dict) -> dict:
    app = result["app"]
    for name in ("static", "bare", "app"):
        r = result[name]
        r["shown"] = summary(r["shown_ms"])
        r["cpu_ms_per_click"] = statistics.median(r["cpu_ms"]) if r["cpu_ms"] else None
    result["app_vs_static"] = latency_ratios(app["shown"], result["static"]["shown"])
    result["app_vs_bare"] = latency_ratios(app["shown"], result["bare"]["shown"])
    ratios = result["app_vs_static"]
    result["checks"] = {
        f"Step shown within {LATENCY_RATIO}x of the static page (median, p95)":
            ratios is not None and all(v <= LATENCY_RATIO for v in ratios.values()),
        f"Play >= {MIN_FPS} frames per second":
            app["play_fps"] is not None and app["play_fps"] >= MIN_FPS,
    }
    return result


def table(result: dict, args) -> str:
    def ms(v):
        return "-" if v is None else f"{v:.0f}"

    lines = [f"one user, {args.rounds} x {args.steps} clicks per page; load average"
             f" {result['load_average_before'][0]:.2f} before,"
             f" {result['load_average_after'][0]:.2f} after",
             f"{'':<14}{'shown median':>14}{'p95':>8}{'server CPU ms/click':>21}"]
    for name, label in (("static", "static page"), ("bare", "bare app"), ("app", "made-viz")):
        r = result[name]
        lines.append(f"{label:<14}{ms(r['shown']['median_ms']):>14}{ms(r['shown']['p95_ms']):>8}"
                     f"{ms(r['cpu_ms_per_click']):>21}")
    for key, label in (("app_vs_static", "static page"), ("app_vs_bare", "bare app")):
        ratios = result[key]
        lines.append(f"made-viz / {label}: " + ("no samples" if ratios is None else
                     f"median {ratios['median']:.2f}x, p95 {ratios['p95']:.2f}x"))
    fps = result["app"]["play_fps"]
    lines.append(f"Play: {'-' if fps is None else f'{fps:.0f}'} frames per second")
    lines.append("")
    lines += [f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in result["checks"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load.step_cost",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="clicks per page per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, alternating the pages")
    parser.add_argument("--app", type=Path, default=ROOT / "app.py",
                        help="the made-viz entry script (another checkout's, to compare)")
    parser.add_argument("--out", type=Path, default=ARTIFACTS / "step-cost.json")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.rounds < 1 or not 3 + args.steps * args.rounds <= D:
        parser.error(f"--steps and --rounds must be >= 1, and 3 + steps x rounds at most {D}")
    app, bare = Server(args.app.resolve()), Server(ROOT / "tests/load/bare_app.py")
    before = os.getloadavg()
    try:
        result = asyncio.run(measure(args, app, bare))
    finally:
        app.stop()
        bare.stop()
    result.update(steps=args.steps, rounds=args.rounds, load_average_before=before,
                  load_average_after=os.getloadavg())
    judge(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(table(result, args) + f"\n\nJSON: {args.out}")
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""What one Step costs the server: CPU time per position report, beside the bare one-button app.

    .venv/bin/python -m tests.load.step_cost            # 60 steps on each app
    .venv/bin/python -m tests.load.step_cost --steps 100 --rounds 3

A Step on the Sampling page is drawn in the browser at once and reported to the server as a
position ({run, position}), which reruns the page's studio fragment; the server's answer shows
when the history slider reaches the new position. This starts both servers (made-viz and
tests/load/bare_app.py), one headless Chromium page on each, and clicks Step `--steps` times on
each, one click at a time, waiting for the server's answer before the next. Reported per click:
the server process's CPU time (user + system, from /proc, less what the same server burns
idle over the same span) and the answered latency (median, p95), for both apps; rounds
alternate between the apps so both see the same machine load. One user: this is the cost of a
report, not a load test (tests/load/lecture_hall.py is).
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
from tests.load.lecture_hall import (D, PLAYER, SLIDER, STEP, Server, percentile,  # noqa: E402
                                     synced, timed_click)

PAUSE_S = 0.05  # between a click's answer and the next click


async def app_steps(page, n: int) -> list[float]:
    """n Steps on the Sampling page; the milliseconds until the server answered each."""
    times = []
    for _ in range(n):
        target = int(await page.locator(PLAYER).get_attribute("data-position")) + 1
        if target > D:
            raise RuntimeError("the run ended: use fewer --steps")
        _, answered = await timed_click(page, STEP, [
            {"sel": f"{PLAYER} .drawn", "prop": "text", "expect": str(target)},
            {"sel": SLIDER, "prop": "value", "expect": str(target)}])
        if answered is None:
            raise TimeoutError(f"Step to {target} not answered")
        times.append(answered)
        await asyncio.sleep(PAUSE_S)
    return times


async def bare_steps(page, n: int, done: int) -> list[float]:
    times = []
    for k in range(done + 1, done + n + 1):
        (answered,) = await timed_click(page, ".st-key-step button", [
            {"sel": ".st-key-count [data-testid=stText]", "prop": "text", "expect": str(k)}])
        if answered is None:
            raise TimeoutError(f"click {k} not answered")
        times.append(answered)
        await asyncio.sleep(PAUSE_S)
    return times


def cpu_per_click(server: Server, clicks: int, run) -> tuple[float, list[float]]:
    """Run `run` (a coroutine factory) and return (server CPU ms per click, latencies)."""
    before, start = server.cpu_seconds(), time.monotonic()
    times = asyncio.get_event_loop().run_until_complete(run())
    spent, span = server.cpu_seconds() - before, time.monotonic() - start
    time.sleep(min(span, 5.0))  # the same server idle, for as long (at most 5 s), to subtract
    idle_before = server.cpu_seconds()
    time.sleep(min(span, 5.0))
    idle = (server.cpu_seconds() - idle_before) * span / min(span, 5.0)
    return max(0.0, spent - idle) * 1e3 / clicks, times


async def open_pages(browser, app: Server, bare: Server):
    pages = []
    for url, ready in ((f"{app.url}/sampling?seed=11", f"{PLAYER} .count"),
                       (bare.url, ".st-key-step button")):
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        await page.goto(url)
        await page.locator(ready).first.wait_for(timeout=120_000)
        pages.append(page)
    await synced(pages[0], 0)
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load.step_cost",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="clicks per app per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, alternating the apps")
    parser.add_argument("--app", type=Path, default=ROOT / "app.py",
                        help="the made-viz entry script (another checkout's, to compare)")
    parser.add_argument("--out", type=Path, default=ARTIFACTS / "step-cost.json")
    args = parser.parse_args(argv)
    if not 1 <= args.steps * args.rounds <= D - 5 or args.steps < 1:
        parser.error(f"--steps times --rounds must be in 1..{D - 5}")
    from playwright.async_api import async_playwright

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app, bare = Server(args.app.resolve()), Server(ROOT / "tests/load/bare_app.py")
    result = {"steps": args.steps, "rounds": args.rounds, "load_average_before": os.getloadavg(),
              "app": {"cpu_ms": [], "answered_ms": []}, "bare": {"cpu_ms": [], "answered_ms": []}}
    try:
        playwright = loop.run_until_complete(async_playwright().start())
        browser = loop.run_until_complete(
            playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS))
        app_page, bare_page = loop.run_until_complete(open_pages(browser, app, bare))
        loop.run_until_complete(app_steps(app_page, 3))  # the first reports build caches
        loop.run_until_complete(bare_steps(bare_page, 3, 0))
        for r in range(args.rounds):
            cpu, times = cpu_per_click(app, args.steps, lambda: app_steps(app_page, args.steps))
            result["app"]["cpu_ms"].append(cpu)
            result["app"]["answered_ms"] += times
            done = 3 + r * args.steps
            cpu, times = cpu_per_click(bare, args.steps,
                                       lambda: bare_steps(bare_page, args.steps, done))
            result["bare"]["cpu_ms"].append(cpu)
            result["bare"]["answered_ms"] += times
        loop.run_until_complete(browser.close())
        loop.run_until_complete(playwright.stop())
    finally:
        app.stop()
        bare.stop()
    result["load_average_after"] = os.getloadavg()
    lines = [f"one user, {args.rounds} x {args.steps} clicks per app; load average"
             f" {result['load_average_before'][0]:.2f} before, "
             f"{result['load_average_after'][0]:.2f} after",
             f"{'':<10}{'CPU ms/click':>14}{'answered median':>17}{'p95':>8}"]
    for name in ("bare", "app"):
        r = result[name]
        r["cpu_ms_per_click"] = statistics.median(r["cpu_ms"])
        r["answered_median_ms"] = statistics.median(r["answered_ms"])
        r["answered_p95_ms"] = percentile(r["answered_ms"], 95)
        lines.append(f"{'made-viz' if name == 'app' else 'bare app':<10}"
                     f"{r['cpu_ms_per_click']:>14.1f}{r['answered_median_ms']:>17.0f}"
                     f"{r['answered_p95_ms']:>8.0f}")
    lines.append(f"made-viz / bare: CPU {result['app']['cpu_ms_per_click'] / max(result['bare']['cpu_ms_per_click'], 1e-9):.2f}x,"
                 f" answered median {result['app']['answered_median_ms'] / result['bare']['answered_median_ms']:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print("\n".join(lines) + f"\n\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

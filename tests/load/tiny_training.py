"""N headless Chromium users press Train on the Tiny world page at the same moment.

    .venv/bin/python -m tests.load.tiny_training --users 6 --seconds 8

Each user has a session of its own (a browser context), a seed of its own, and every other
user trains a broken network beside the correct one (break=sees-self: two networks). All press
Train together; each page records, in the browser, every time the training curve is replaced
(its chart gains a point with every report), from the click until "Done". Reported:
errors (exceptions on a page, page errors, console errors, HTTP errors, ERROR or Traceback in
the server's log, timeouts: target 0), every user's curve updates per second (target >= 2) and
the gaps between updates, how many reports the server made (the final curve's points) against
how many the browser drew, each correct network's sum read-out (must read 1.000000), the
server's resident memory before, at its peak and after (sampled twice a second), and its CPU. JSON goes to
test-artifacts/tiny-load.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import APP_IDLE, ARTIFACTS, CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.load.lecture_hall import Server, Tally, load_averages, percentile  # noqa: E402

OPEN_TIMEOUT_MS = 300_000
# Records when the curve in the browser gains a report (its chart's trace grows).
WATCH_CURVE = """() => {
  window.__curveTimes = [];
  let last = null;
  window.__curveWatch = setInterval(() => {
    const plot = document.querySelector(".st-key-curve .js-plotly-plot");
    const points = plot && plot.data && plot.data.length > 1 ? plot.data[1].x.length : null;
    if (points !== null && points !== last) {
      window.__curveTimes.push(performance.now()); last = points;
    }
  }, 10);
  return performance.now();
}"""


async def user(browser, url: str, number: int, seconds: int, ready: set, start: asyncio.Event,
               tally: Tally) -> dict:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    tally.watch(page, number)
    broken = number % 2 == 1
    query = f"secs={seconds}&seed={number}" + ("&break=sees-self" if broken else "")
    result: dict = {"user": number, "broken_network": broken}
    try:
        await page.goto(f"{url}/tiny?{query}", timeout=OPEN_TIMEOUT_MS)
        await page.wait_for_selector(".st-key-result_0 .tiny-readout", timeout=OPEN_TIMEOUT_MS)
        await page.wait_for_selector(APP_IDLE, timeout=OPEN_TIMEOUT_MS)
        ready.add(number)
        await start.wait()
        clicked = await page.evaluate(WATCH_CURVE)
        await page.locator(".st-key-train button").click(timeout=OPEN_TIMEOUT_MS)
        await page.wait_for_selector("text=Done:", timeout=OPEN_TIMEOUT_MS)
        await page.wait_for_selector(APP_IDLE, timeout=OPEN_TIMEOUT_MS)
        times = await page.evaluate("() => { clearInterval(window.__curveWatch);"
                                    " return window.__curveTimes; }")
        # Reports the server made (the final curve's points) against those the browser drew.
        reports = await page.evaluate("() => document.querySelector("
                                      "'.st-key-curve .js-plotly-plot').data[1].x.length")
        gaps = [b - a for a, b in zip(times, times[1:])]
        span = (times[-1] - times[0]) / 1e3 if len(times) > 1 else 0.0
        result.update(
            server_reports=reports, curve_updates=len(times), first_update_ms=round(times[0] - clicked) if times else None,
            updates_per_second=round((len(times) - 1) / span, 2) if span else None,
            gap_median_ms=round(statistics.median(gaps)) if gaps else None,
            gap_p95_ms=round(percentile(gaps, 95)) if gaps else None,
            readout=(await page.locator(".st-key-result_0 .tiny-readout").inner_text()).split(
                ":")[-1].strip(),
            progress=await page.locator("text=Done:").first.inner_text(),
            exceptions=await page.locator("[data-testid='stException']").count())
        if result["exceptions"]:
            tally.errors.append(f"user {number}: {result['exceptions']} exceptions on the page")
    except Exception as error:  # a timeout is an error of the run, not a crash of the script
        tally.errors.append(f"user {number}: {type(error).__name__}: {str(error)[:200]}")
    finally:
        await context.close()
    return result


async def sample_memory(server: Server, rss: list[int]) -> None:
    while True:
        rss.append(server.memory()["VmRSS"])
        await asyncio.sleep(0.5)


async def run(users: int, seconds: int) -> dict:
    from playwright.async_api import async_playwright

    report: dict = {"users": users, "seconds": seconds, "load_average_before": load_averages()}
    server, tally = Server(ROOT / "app.py"), Tally()
    try:
        rss: list[int] = []
        cpu_before = server.cpu_seconds()
        sampler = asyncio.create_task(sample_memory(server, rss))
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS)
            start, ready = asyncio.Event(), set()
            tasks = [asyncio.create_task(user(browser, server.url, k, seconds, ready, start,
                                              tally)) for k in range(users)]
            # Every page loaded (or failed) before anyone trains.
            while not all(task.done() or k in ready for k, task in enumerate(tasks)):
                await asyncio.sleep(0.5)
            loaded_rss = server.memory()["VmRSS"]
            start.set()
            report["results"] = await asyncio.gather(*tasks)
            await browser.close()
        sampler.cancel()
        memory = server.memory()
        report.update(
            errors=tally.errors + [f"server log: {line[:300]}" for line in server.log_errors()],
            rss_after_load_mb=round(loaded_rss / 2**20) if loaded_rss else None,
            rss_peak_sampled_mb=round(max(rss) / 2**20) if rss else None,
            rss_end_mb=round(memory["VmRSS"] / 2**20), vmhwm_mb=round(memory["VmHWM"] / 2**20),
            server_cpu_seconds=round(server.cpu_seconds() - cpu_before, 1))
    finally:
        server.stop()
    report["load_average_after"] = load_averages()
    rates = [r["updates_per_second"] for r in report["results"] if r.get("updates_per_second")]
    report["updates_per_second_median"] = round(statistics.median(rates), 2) if rates else None
    report["updates_per_second_min"] = min(rates) if rates else None
    report["all_correct_sums_one"] = all(r.get("readout") == "1.000000"
                                         for r in report["results"])
    return report


def table(report: dict) -> str:
    lines = [f"Tiny world, {report['users']} users training {report['seconds']} s at once; "
             f"load average {report['load_average_before'][0]} before, "
             f"{report['load_average_after'][0]} after",
             f"errors: {len(report['errors'])}",
             f"server RSS: {report['rss_after_load_mb']} MB with every page loaded, peak "
             f"{report['rss_peak_sampled_mb']} MB while training (VmHWM {report['vmhwm_mb']} MB),"
             f" {report['rss_end_mb']} MB at the end",
             f"curve updates per second: median {report['updates_per_second_median']}, "
             f"slowest user {report['updates_per_second_min']} (target >= 2)",
             f"server CPU over the whole run: {report['server_cpu_seconds']} s",
             "user  networks  reports  drawn  per s  gap median / p95 ms  first ms  sum"]
    for r in report["results"]:
        lines.append(f"{r['user']:>4}  {2 if r['broken_network'] else 1:>8}  "
                     f"{r.get('server_reports', '-'):>7}  "
                     f"{r.get('curve_updates', '-'):>5}  {r.get('updates_per_second', '-'):>5}  "
                     f"{r.get('gap_median_ms', '-'):>9} / {r.get('gap_p95_ms', '-'):<8}  "
                     f"{r.get('first_update_ms', '-'):>8}  {r.get('readout', '-')}")
    lines += [f"error: {e}" for e in report["errors"][:20]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load.tiny_training",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=8, help="training time of each run")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.users, args.seconds))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "tiny-load.json").write_text(json.dumps(report, indent=1))
    print(table(report))
    good = (not report["errors"] and report["all_correct_sums_one"]
            and (report["updates_per_second_min"] or 0) >= 2)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())

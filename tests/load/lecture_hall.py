"""A lecture hall of users: N headless Chromium pages use made-viz at once for S seconds.

    .venv/bin/python -m tests.load.lecture_hall --pages 20 --seconds 60
    .venv/bin/python -m tests.load.lecture_hall --soak     # one session draws ten digits

Load. Starts `streamlit run` for app.py and for the bare one-button app (bare_app.py) on free
ports, and one Chromium. N users use made-viz, each in a context (an app session) of its own:
on the Sampling page a user steps, plays, pauses and picks a new seed; on the Masks page it
changes D and the hidden sizes (odd users start there). At the same time N more users click
the bare app's button, so both apps are measured under the same load, on the same machine, in
the same seconds. The same think time (0.2-0.6 s) follows every click on both apps. The S
seconds start once every page has loaded.

A click is a real Playwright click, timed in the page from its pointerdown (performance.now,
checked once per animation frame, so "shown" means "in the frame painted"): for the Sampling
page's Step, until the player shows the new count (the player has the whole run and draws the
step itself); for the bare app, until its count shows, which is the server's answer. Compared:
made-viz's Step against the bare app's click, median and p95 (target: within 1.5x); a run in
which either app gave no timed click fails. Play's frames per second: how many frames a second
show a new count while playing.

Errors (target 0): an stException on a page, a console error, an uncaught page error, a failed
request or an HTTP status >= 400, an ERROR or Traceback line in the server's log, and every
timeout. Streamlit's two 404 probes when a page is opened by a deep link (/sampling/_stcore/
health and /host-config, streamlit/streamlit#7074) are counted apart, not as errors.

Also reported: the server's peak memory (VmHWM from /proc), how often each model was loaded
(the "loaded pretrained model" lines the Sampling page logs: must be once, for every page),
and the load average. A table goes to stdout and JSON to test-artifacts/.

Soak. One session plays ten complete digits in a row, a new seed each time; the server's
resident memory is read after each digit and must grow by less than 50 MB after the first.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a file, or imported by pytest without the root on the path
    sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import (APP_IDLE, ARTIFACTS, CHROMIUM, CHROMIUM_ARGS,  # noqa: E402
                                free_port, start_streamlit, stop)

D = 784
SEED_MAX = 2**32 - 1
THINK = (0.2, 0.6)  # seconds between a user's clicks, in both phases
TIMEOUT_MS = 90_000  # one action of a user (a timeout counts as an error)
OPEN_TIMEOUT_MS = 300_000  # the first load: 40 pages compiling Streamlit's JS on 2 busy cores
ARRIVAL = 0.25  # seconds between users opening the link, as a hall of students does
LATENCY_RATIO = 1.5
PEAK_MEMORY = 1.5 * 2**30
SOAK_GROWTH = 50 * 2**20
MODEL_LOADED = re.compile(r"loaded pretrained model '([^']+)'")
# Streamlit probes /<page>/_stcore/... before /_stcore/... when a page is opened by a deep link.
KNOWN_404 = re.compile(r"/[\w-]+/_stcore/(health|host-config)$")

# The player's own controls (Playwright's CSS selectors see into its shadow root).
PLAYER = ".made-player"
STEP = f"{PLAYER} button.step"
PLAY = f"{PLAYER} button.play"
SPEED = f"{PLAYER} .speed select"
COUNT = f"{PLAYER} .count"
# The bare app: Streamlit draws each button twice, the second copy hidden: take the first.
BARE_STEP = ".st-key-step button >> nth=0"
BARE_COUNT = ".st-key-count [data-testid=stText]"

# querySelector that also looks inside shadow roots (the player is a custom component).
DEEP = """  const deep = (sel, root = document) => {
    const hit = root.querySelector(sel);
    if (hit) return hit;
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) { const inner = deep(sel, el.shadowRoot); if (inner) return inner; }
    }
    return null;
  };
"""

# Arm a timer for the next click: from its pointerdown, on each animation frame read every
# probe; window.__madeTimed resolves with the milliseconds until each probe first read its
# expected text (null: not within `timeout`).
ARM_CLICK = """({probes, timeout}) => {
""" + DEEP + """  const found = probes.map(() => null);
  const read = (p, i) => {
    if (!found[i] || !found[i].isConnected) found[i] = deep(p.sel);
    return found[i] ? found[i].textContent.trim() : null;
  };
  probes.forEach(read);
  window.__madeTimed = new Promise((resolve) => {
    const times = probes.map(() => null);
    let start = 0;
    const check = () => {
      const now = performance.now();
      probes.forEach((p, i) => {
        if (times[i] === null && read(p, i) === p.expect) times[i] = now - start;
      });
      if (times.every((t) => t !== null) || now - start > timeout) resolve(times);
      else requestAnimationFrame(check);
    };
    window.addEventListener("pointerdown", () => {
      start = performance.now();
      check();
    }, {capture: true, once: true});
  });
}"""

# The player at rest: drawn, not playing, and no script run in progress: {position} then.
SETTLED = """() => {
""" + DEEP + """  const player = deep(".made-player");
  const play = player && player.querySelector("button.play");
  const rest = player && player.classList.contains("ready") && play.textContent === "Play"
    && document.querySelector("%s");
  return rest ? {position: Number(player.querySelector(".drawn").textContent)} : false;
}""" % APP_IDLE

# Click Play, watch the count for `ms` (or to the end), then Pause: the frames per second that
# showed a new count, over the span from the first new count to the last.
PLAY_FPS = """async ({ms}) => {
""" + DEEP + """  const player = deep(".made-player"), drawn = player.querySelector(".drawn");
  const play = player.querySelector("button.play");
  let last = drawn.textContent;
  const changes = [];
  play.click();
  const start = performance.now();
  await new Promise((resolve) => {
    const check = (now) => {
      if (drawn.textContent !== last) { changes.push(now); last = drawn.textContent; }
      if (now - start >= ms || play.textContent === "Play") resolve();
      else requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  });
  if (play.textContent === "Pause") play.click();
  const span = changes.length > 1 ? (changes[changes.length - 1] - changes[0]) / 1000 : 0;
  return span ? (changes.length - 1) / span : null;
}"""


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "median_ms": statistics.median(values) if values else None,
            "p95_ms": percentile(values, 95), "max_ms": max(values) if values else None}


class Server:
    """`streamlit run script`, its log read as it comes (a full pipe would stall the server)."""

    def __init__(self, script: Path, env: dict | None = None):
        self.port = free_port()
        self.process = start_streamlit(script, self.port, env)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.process.stderr:
            self.log.append(raw.decode(errors="replace").rstrip())

    def memory(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak) of the server process, in bytes."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return {key: int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1)) * 1024
                for key in ("VmRSS", "VmHWM")}

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server process has used."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def model_loads(self) -> dict[str, int]:
        return dict(Counter(m.group(1) for line in self.log if (m := MODEL_LOADED.search(line))))

    def log_errors(self) -> list[str]:
        return [line for line in self.log if " ERROR " in line or "Traceback" in line]

    def stop(self) -> None:
        stop(self.process)
        self._reader.join(timeout=5)


@dataclass
class Tally:
    """What the pages of one app measured and what went wrong."""
    step_shown: list[float] = field(default_factory=list)  # made-viz: the player's count
    step_answered: list[float] = field(default_factory=list)  # the bare app: the server's count
    page_loads: list[float] = field(default_factory=list)
    play_fps: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    known_404: int = 0
    actions: Counter = field(default_factory=Counter)

    def watch(self, page, user: int) -> None:
        """Count every console error, page error, failed request and HTTP error of `page`."""
        def console(message):
            if message.type != "error":
                return
            if KNOWN_404.search(message.location.get("url", "")):
                return  # counted once, as its response
            self.errors.append(f"user {user}: console error: {message.text[:200]}")

        def response(response):
            if response.status < 400:
                return
            if response.status == 404 and KNOWN_404.search(response.url):
                self.known_404 += 1
            else:
                self.errors.append(f"user {user}: HTTP {response.status} {response.url}")

        page.on("console", console)
        page.on("pageerror", lambda error: self.errors.append(f"user {user}: page error: {error}"))
        page.on("requestfailed", lambda request: self.errors.append(
            f"user {user}: request failed: {request.url} ({request.failure})"))
        page.on("response", response)


async def think(rng: random.Random) -> None:
    await asyncio.sleep(rng.uniform(*THINK))


async def timed_click(page, click: str, probes: list[dict]) -> list[float | None]:
    """A Playwright click on `click`; per probe ({sel, expect}), the milliseconds from the
    click's pointerdown until the probe's element showed `expect` (None: it did not)."""
    await page.evaluate(ARM_CLICK, {"probes": probes, "timeout": TIMEOUT_MS})
    await page.locator(click).click()
    return await page.evaluate("() => window.__madeTimed")


async def open_page(page, url: str, ready: str, tally: Tally,
                    timeout: float = OPEN_TIMEOUT_MS) -> None:
    start = time.perf_counter()
    await page.goto(url, timeout=timeout)
    await page.wait_for_selector(APP_IDLE, timeout=timeout)
    await page.locator(ready).first.wait_for(timeout=timeout)
    tally.page_loads.append((time.perf_counter() - start) * 1e3)


async def exceptions(page) -> int:
    return await page.locator("[data-testid='stException']").count()


# --- the bare app -------------------------------------------------------------------------------

async def bare_user(context, url: str, user: int, start_at: asyncio.Event, until: list[float],
                    tally: Tally) -> None:
    rng = random.Random(user)
    page = await context.new_page()
    tally.watch(page, user)
    await open_page(page, url, BARE_STEP, tally)
    clicks = 0
    await start_at.wait()
    while time.monotonic() < until[0]:
        clicks += 1
        (answered,) = await timed_click(page, BARE_STEP, [
            {"sel": BARE_COUNT, "expect": str(clicks)}])
        if answered is None:
            tally.errors.append(f"user {user}: timeout: click {clicks} not shown")
            return
        tally.step_answered.append(answered)
        tally.actions["click"] += 1
        await think(rng)
    if await exceptions(page):
        tally.errors.append(f"user {user}: stException on the bare app")


# --- made-viz ------------------------------------------------------------------------------------

async def settled(page) -> int:
    """Wait until the player rests (nothing plays) and no script run is in progress; where."""
    handle = await page.wait_for_function(SETTLED, polling=100)
    return int((await handle.json_value())["position"])


async def step(page, tally: Tally, user: int) -> None:
    target = await settled(page) + 1
    if target > D:
        return
    (shown,) = await timed_click(page, STEP, [{"sel": f"{PLAYER} .drawn", "expect": str(target)}])
    if shown is None:
        raise TimeoutError(f"Step to {target} not shown")
    tally.step_shown.append(shown)
    tally.actions["step"] += 1


async def play_pause(page, seconds: float, tally: Tally) -> None:
    fps = await page.evaluate(PLAY_FPS, {"ms": seconds * 1000})
    if fps is not None:
        tally.play_fps.append(fps)
    await settled(page)
    tally.actions["play"] += 1


async def new_seed(page, seed: int, tally: Tally) -> None:
    field = page.locator(".st-key-seed input")
    await field.fill(str(seed))
    await field.press("Enter")
    await page.locator("[data-testid='stCaptionContainer']", has_text=f"seed {seed}.").wait_for()
    await page.locator(COUNT, has_text=f"0 / {D} pixels").wait_for()  # the new run, at 0
    at = await settled(page)
    if at != 0:
        raise AssertionError(f"seed {seed}: the new run is at {at}, not 0")
    tally.actions["seed"] += 1


async def masks_visit(page, rng: random.Random, tally: Tally, user: int) -> None:
    await page.locator("[data-testid='stSidebarNavLink']", has_text="Masks").click()
    await page.locator(".st-key-graph .js-plotly-plot").wait_for()
    inputs, hidden = rng.randint(3, 9), f"{rng.randint(2, 9)}, {rng.randint(2, 9)}"
    for key, value in (("D", str(inputs)), ("hidden", hidden)):
        field = page.locator(f".st-key-{key} input")
        await field.fill(value)
        await field.press("Enter")
        await think(rng)
    await page.locator("strong", has_text=f"D = {inputs}, hidden {hidden},").wait_for()
    await page.wait_for_selector(APP_IDLE)
    tally.actions["masks change"] += 2
    await page.locator("[data-testid='stSidebarNavLink']", has_text="Sampling").click()
    await page.locator(COUNT).wait_for()
    await settled(page)


async def sampling_visit(page, rng: random.Random, tally: Tally, user: int) -> None:
    await settled(page)
    for _ in range(rng.randint(3, 6)):
        await step(page, tally, user)
        await think(rng)
    await play_pause(page, rng.uniform(0.8, 1.6), tally)
    await think(rng)
    await new_seed(page, rng.randrange(SEED_MAX), tally)


async def app_user(context, url: str, user: int, start_at: asyncio.Event, until: list[float],
                   tally: Tally) -> None:
    """Step, play and pick a seed on the Sampling page, then change the Masks page and come
    back (odd users start with the Masks page), until the time is up."""
    rng = random.Random(1000 + user)
    page = await context.new_page()
    tally.watch(page, user)
    start_url = f"{url}/sampling?seed={rng.randrange(SEED_MAX)}"
    await open_page(page, start_url, COUNT, tally)
    await start_at.wait()
    visits = [sampling_visit, masks_visit][::-1 if user % 2 else 1]
    while time.monotonic() < until[0]:
        try:
            for visit in visits:
                await visit(page, rng, tally, user)
            if await exceptions(page):
                tally.errors.append(f"user {user}: stException on the page")
        except Exception as error:  # Playwright's TimeoutError, ours, a closed page: all errors
            tally.errors.append(f"user {user}: {type(error).__name__}: {str(error)[:300]}")
            tally.actions["recovery"] += 1
            if tally.actions["recovery"] <= 5:
                ARTIFACTS.mkdir(exist_ok=True)
                shot = ARTIFACTS / f"load-error-{user}-{len(tally.errors)}.png"
                await page.screenshot(path=str(shot))
            try:
                await open_page(page, start_url, COUNT, tally, TIMEOUT_MS)
            except Exception as again:
                tally.errors.append(f"user {user}: could not reopen: {str(again)[:200]}")
                return


# --- the runs ------------------------------------------------------------------------------------

async def drive(browser, pages: int, seconds: float, phases: list[tuple]) -> float:
    """For each phase (user_fn, url, tally), `pages` users, each in its own context (a page in
    a background tab of a shared context gets few animation frames); once every page is
    loaded, all of them run at once for `seconds`. Returns the seconds loading took."""
    start_at, until, users = asyncio.Event(), [0.0], []
    for user_fn, url, tally in phases:
        for i in range(pages):
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(TIMEOUT_MS)
            users.append((i, tally, context, asyncio.create_task(
                user_fn(context, url, i, start_at, until, tally))))
            await asyncio.sleep(ARRIVAL)
    began = time.monotonic()
    while (sum(len(tally.page_loads) for _, _, tally in phases) < len(users)
           and not any(task.done() for *_, task in users)):
        await asyncio.sleep(0.2)
    loaded = time.monotonic() - began
    until[0] = time.monotonic() + seconds
    start_at.set()
    for i, tally, context, task in users:
        try:
            await task
        except Exception as error:
            tally.errors.append(f"user {i}: {type(error).__name__}: {str(error)[:300]}")
        await context.close()
    return loaded


def load_averages() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


async def sample_memory(server: Server, rss: list[int]) -> None:
    while True:
        rss.append(server.memory()["VmRSS"])
        await asyncio.sleep(1)


async def load_run(pages: int, seconds: float, baseline: bool) -> dict:
    """Every user has a made-viz page and, with `baseline`, a bare-app page, all at once."""
    from playwright.async_api import async_playwright

    report: dict = {"kind": "load", "pages": pages, "seconds": seconds, "cpus": os.cpu_count(),
                    "load_average_before": load_averages()}
    servers = {"app": Server(ROOT / "app.py")}
    tallies = {"app": Tally()}
    phases = [(app_user, servers["app"].url, tallies["app"])]
    try:
        if baseline:
            servers["bare"], tallies["bare"] = Server(ROOT / "tests/load/bare_app.py"), Tally()
            phases.append((bare_user, servers["bare"].url, tallies["bare"]))
        cpu_before = {name: server.cpu_seconds() for name, server in servers.items()}
        rss: list[int] = []
        sampler = asyncio.create_task(sample_memory(servers["app"], rss))
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS)
            try:
                loaded = await drive(browser, pages, seconds, phases)
            finally:
                await browser.close()
        sampler.cancel()
        for name, server in servers.items():
            report[name] = phase_report(tallies[name], server, rss if name == "app" else [],
                                        loaded)
            report[name]["server_cpu_seconds"] = round(
                server.cpu_seconds() - cpu_before[name], 1)
        report["app"]["model_loads"] = servers["app"].model_loads()
    finally:
        for server in servers.values():
            server.stop()
    report["load_average_after"] = load_averages()
    return judge(report)


def phase_report(tally: Tally, server: Server, rss: list[int], loaded: float | None) -> dict:
    memory = server.memory()
    errors = tally.errors + [f"server log: {line[:300]}" for line in server.log_errors()]
    return {"errors": errors, "known_streamlit_404s": tally.known_404,
            "actions": dict(tally.actions),
            "all_pages_loaded_s": None if loaded is None else round(loaded, 1),
            "page_load": summary(tally.page_loads), "step_shown": summary(tally.step_shown),
            "step_answered": summary(tally.step_answered),
            "play_fps": summary(tally.play_fps),
            # VmHWM is only updated lazily (when the kernel is about to lower RSS): a sampled
            # VmRSS can exceed it, so the peak is the larger of the two.
            "peak_memory_bytes": max([memory["VmHWM"], *rss]), "vmhwm_bytes": memory["VmHWM"],
            "rss_bytes_during_run": {
                "first": rss[0] if rss else None, "max": max(rss) if rss else None,
                "last": memory["VmRSS"]}}


def latency_ratios(app: dict, base: dict) -> dict | None:
    """made-viz's latency summary over the baseline's, median and p95; None when either has
    no sample (a run that timed nothing must fail, not pass for want of a check)."""
    if not app["n"] or not base["n"]:
        return None
    return {q: app[f"{q}_ms"] / base[f"{q}_ms"] for q in ("median", "p95")}


def judge(report: dict) -> dict:
    app, bare = report["app"], report.get("bare")
    checks = {"errors": len(app["errors"]) + len(bare["errors"] if bare else []) == 0,
              "model loaded once": bool(app["model_loads"]) and all(
                  n == 1 for n in app["model_loads"].values()),
              "peak memory < 1.5 GB": app["peak_memory_bytes"] < PEAK_MEMORY}
    if bare:
        ratios = latency_ratios(app["step_shown"], bare["step_answered"])
        report["step_vs_bare"] = ratios
        # no timed click on either app is a failure, never a check left out
        checks[f"Step shown within {LATENCY_RATIO}x of the bare app's click (median, p95)"] = (
            ratios is not None and all(r <= LATENCY_RATIO for r in ratios.values()))
    report["checks"] = checks
    return report


async def soak_run(digits: int = 10) -> dict:
    from playwright.async_api import async_playwright

    report: dict = {"kind": "soak", "digits": digits, "load_average_before": load_averages()}
    tally, rss, seed = Tally(), [], 4242
    app = Server(ROOT / "app.py")
    cpu_before = app.cpu_seconds()
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS)
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(TIMEOUT_MS)
            page = await context.new_page()
            tally.watch(page, 0)
            await open_page(page, f"{app.url}/sampling?seed={seed}", COUNT, tally)
            # 28 pixels a tick: a digit plays through in about a second
            await page.locator(SPEED).select_option("28")
            for digit in range(digits):
                if digit:
                    await new_seed(page, seed + digit, tally)
                for _ in range(3):
                    await step(page, tally, 0)
                await page.locator(PLAY).click()
                await page.locator(COUNT, has_text=f"{D} / {D} pixels").wait_for()
                await settled(page)
                tally.actions["digit played through"] += 1
                await asyncio.sleep(0.5)
                rss.append(app.memory()["VmRSS"])
            if await exceptions(page):
                tally.errors.append("stException on the page")
            await browser.close()
        report["app"] = phase_report(tally, app, rss, None)
        report["app"]["server_cpu_seconds"] = round(app.cpu_seconds() - cpu_before, 1)
        report["app"]["model_loads"] = app.model_loads()
    finally:
        app.stop()
    report["rss_after_each_digit_bytes"] = rss
    report["growth_after_first_bytes"] = max(rss[1:]) - rss[0]  # the worst digit, not the last
    report["load_average_after"] = load_averages()
    report["checks"] = {"errors": not report["app"]["errors"],
                        "memory grows < 50 MB after the first digit":
                            report["growth_after_first_bytes"] < SOAK_GROWTH,
                        "model loaded once": report["app"]["model_loads"] == {"mnist": 1}}
    return report


# --- report --------------------------------------------------------------------------------------

def ms(value) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def mb(value) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f} MB"


def table(report: dict) -> str:
    lines = [f"made-viz {report['kind']} run, {os.cpu_count()} CPUs; load average"
             f" {report['load_average_before']} before, {report['load_average_after']} after"]
    if report["kind"] == "load":
        lines[0] += (f"; {report['pages']} user{'s' * (report['pages'] != 1)} on each app at"
                     f" once for {report['seconds']:g} s")
    rows = [("", "bare app", "made-viz")]
    app, bare = report["app"], report.get("bare", {})

    def row(name, key, shown):
        rows.append((name, shown(bare[key]) if bare else "-", shown(app[key])))

    row("errors", "errors", lambda e: str(len(e)))
    row("Streamlit deep-link 404 probes (not errors)", "known_streamlit_404s", str)
    row("actions", "actions", lambda a: ", ".join(f"{n} {k}" for k, n in sorted(a.items())))
    row("all pages loaded after", "all_pages_loaded_s",
        lambda s: "-" if s is None else f"{s:g} s")
    row("page load median / p95", "page_load",
        lambda s: f"{ms(s['median_ms'])} / {ms(s['p95_ms'])}")
    def latency(s):
        return f"{ms(s['median_ms'])} / {ms(s['p95_ms'])} (n={s['n']})"

    rows.append(("click until the new count shows: median / p95",
                 latency(bare["step_answered"]) if bare else "-", latency(app["step_shown"])))
    row("Play frames per second: median", "play_fps",
        lambda s: "-" if s["median_ms"] is None else f"{s['median_ms']:.0f} (n={s['n']})")
    row("server peak memory (VmHWM, VmRSS samples)", "peak_memory_bytes", mb)
    row("server CPU time during the run", "server_cpu_seconds", lambda s: f"{s:g} s")
    rows.append(("model loads", "-", ", ".join(f"{k}: {n}" for k, n in app["model_loads"].items())
                 or "none"))
    if "step_vs_bare" in report:
        ratios = report["step_vs_bare"]
        rows.append(("Step shown / bare app's click", "-", "no samples" if ratios is None else
                     f"median {ratios['median']:.2f}x, p95 {ratios['p95']:.2f}x"))
    if report["kind"] == "soak":
        rows.append(("RSS after each digit", "-",
                     " ".join(f"{v / 2**20:.1f}" for v in report["rss_after_each_digit_bytes"])
                     + " MB"))
        rows.append(("growth after the first digit", "-", mb(report["growth_after_first_bytes"])))
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    lines += [f"{a:<{width[0]}}  {b:<{width[1]}}  {c}" for a, b, c in rows]
    lines.append("")
    lines += [f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in report["checks"].items()]
    for error in (bare.get("errors", []) + app["errors"])[:20]:
        lines.append(f"  error: {error}")
    return "\n".join(lines)


def write(report: dict, out: Path | None) -> Path:
    if out is None:
        name = (f"load-{report['pages']}x{report['seconds']:g}s" if report["kind"] == "load"
                else "soak")
        out = ARTIFACTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load.lecture_hall",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20, help="browser pages (app sessions)")
    parser.add_argument("--seconds", type=float, default=60, help="length of each phase")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare app phase")
    parser.add_argument("--soak", action="store_true", help="the soak run instead of the load")
    parser.add_argument("--digits", type=int, default=10, help="digits the soak plays")
    parser.add_argument("--out", type=Path, help="where the JSON goes (default test-artifacts/)")
    args = parser.parse_args(argv)
    if not 1 <= args.pages <= 200 or not 1 <= args.seconds <= 3600 or not 2 <= args.digits <= 100:
        parser.error("--pages must be in 1..200, --seconds in 1..3600, --digits in 2..100")
    if args.soak:
        report = asyncio.run(soak_run(args.digits))
    else:
        report = asyncio.run(load_run(args.pages, args.seconds, not args.no_baseline))
    path = write(report, args.out)
    print(table(report))
    print(f"\nJSON: {path}")
    return 0 if all(report["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

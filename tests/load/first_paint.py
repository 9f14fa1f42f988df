"""First paint after `make run`: how long until a user sees the page's main view.

    .venv/bin/python -m tests.load.first_paint               # both pages, 3 runs each
    .venv/bin/python -m tests.load.first_paint --runs 5 --page sampling
    .venv/bin/python -m tests.load.first_paint --baseline \
        --variant "old=env -C /tmp/old MALLOC_ARENA_MAX=2 $PWD/.venv/bin/python -m streamlit run app.py --server.port {port} --server.headless true"

For each run: Chromium is started first (a fresh browser context each run, so nothing is
cached), then `make run PORT=<free port>` is started; /_stcore/health is polled, and the page is
opened as soon as it answers. The page is watched on every animation frame until its main view
is painted: on the Masks page (/) the network graph (Plotly's SVG drawn), on the Sampling page
(/sampling) the player's canvas with its first frame, on the Likelihood page (/likelihood) the
score and the image (its sketch pad). Times count from the command's start.

Breakdown of each run (a script run is what the browser sees: running, then notRunning):
  server       command start -> /_stcore/health answers 200 (Python and Streamlit start)
  connect      health OK -> the page's websocket is connected (HTML, Streamlit's JS, compile)
  view-conn    connected -> main view painted (script run up to the view, its JS, the paint)
  script-conn  connected -> the first script run has finished
Also: "content" (the first element of the page painted), the model loads the server logged
(the Sampling page must load the model exactly once) and the load average; the JSON has every
milestone. --baseline adds the bare one-button app's first content (Streamlit's floor), and
--variant NAME=COMMAND another server command (another checkout, an experiment), interleaved
run by run so all see the same machine load: this machine is shared, so compare medians
measured in one call. Medians go to stdout, every run as JSON to test-artifacts/.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, free_port,  # noqa: E402
                                stop_group)

MODEL_LOADED = re.compile(r"loaded pretrained model '([^']+)'")
TARGETS = {"masks": "", "sampling": "sampling", "likelihood": "likelihood", "content": ""}  # content: any app's first element
TIMEOUT_S = 90
MAKE_RUN = "make --no-print-directory run PORT={port}"
# The same command for another script, e.g. a one-button app: the floor of a first paint.
SCRIPT_RUN = ("env MALLOC_ARENA_MAX=2 .venv/bin/python -m streamlit run {script} --server.port"
              " {{port}} --server.headless true --browser.gatherUsageStats false")

# Runs in the page before any of its scripts: on every animation frame, note the first time
# (epoch ms) each milestone is seen. Looks into shadow roots (the player is a custom component).
PROBE = """(() => {
  const seen = window.__firstPaint = {};
  const at = () => performance.timeOrigin + performance.now();
  const deep = (sel, root = document) => {
    const hit = root.querySelector(sel);
    if (hit) return hit;
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) { const inner = deep(sel, el.shadowRoot); if (inner) return inner; }
    }
    return null;
  };
  const visible = (el) => !!el && el.getBoundingClientRect().width > 0
    && el.getBoundingClientRect().height > 0;
  const mark = (name, ok) => { if (ok && !(name in seen)) seen[name] = at(); };
  const frame = () => {
    const app = document.querySelector("[data-testid='stApp']");
    const state = app && app.getAttribute("data-test-script-state");
    mark("connected", app && app.getAttribute("data-test-connection-state") === "CONNECTED");
    mark("running", state === "running");
    mark("script_done", "running" in seen && state === "notRunning");
    mark("content", visible(document.querySelector(
      "[data-testid='stMain'] [data-testid='stElementContainer']")));
    mark("masks", visible(document.querySelector(".st-key-graph .js-plotly-plot .main-svg")));
    mark("graph_element", !!document.querySelector(".st-key-graph"));
    const score = document.querySelector(".st-key-lik_score");
    const pad = deep(".made-sketch canvas.pad");
    mark("likelihood", visible(score) && /nats/.test(score.textContent) && visible(pad)
      && pad.width > 0);
    const player = deep(".made-player");
    mark("player_element", !!player);
    mark("sampling", player && player.classList.contains("ready")
      && visible(player.querySelector("canvas.digit")));
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();"""


# When the Plotly bundle (Streamlit's lazily loaded chunk) and the player's files arrived.
RESOURCES = """() => Object.fromEntries(performance.getEntriesByType("resource")
  .filter((r) => /plotly|components/i.test(r.name))
  .map((r) => ["loaded " + r.name.split("/").pop().slice(0, 40),
               performance.timeOrigin + r.responseEnd]))"""


class Server:
    """`make run PORT=<port>` in a process group of its own; its output read with timestamps."""

    def __init__(self, command: str, port: int):
        self.started = time.time()
        self.process = subprocess.Popen(
            shlex.split(command.format(port=port)), cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.log: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.process.stdout:
            self.log.append((time.time(), raw.decode(errors="replace").rstrip()))

    def model_loads(self) -> int:
        return sum(bool(MODEL_LOADED.search(line)) for _, line in self.log)

    def stop(self) -> None:
        stop_group(self.process, timeout=10)
        self._reader.join(timeout=5)


def wait_health(url: str, server: Server) -> float:
    deadline = time.time() + TIMEOUT_S
    while time.time() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError("make run exited:\n" + "\n".join(l for _, l in server.log[-20:]))
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return time.time()
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"no answer from {url}/_stcore/health within {TIMEOUT_S} s")


def one_run(browser, page_name: str, settle_s: float, command: str, name: str) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.add_init_script(PROBE)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    load_before = os.getloadavg()[0]
    server = Server(command, port)
    try:
        health = wait_health(url, server)
        page.goto(f"{url}/{TARGETS[page_name]}", wait_until="commit")
        page.wait_for_function(f"() => window.__firstPaint && '{page_name}' in window.__firstPaint"
                               " && 'script_done' in window.__firstPaint",
                               timeout=TIMEOUT_S * 1000, polling=50)
        seen = page.evaluate("() => window.__firstPaint")
        seen.update(page.evaluate(RESOURCES))
        time.sleep(settle_s)  # a model load started in the background would be logged by now
        loads = server.model_loads()
        shot = ARTIFACTS / ("first-paint-" + re.sub(r"[^\w-]+", "-", name) + ".png")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(shot))
    finally:
        server.stop()
        context.close()
    t0 = server.started
    s = {name: (epoch_ms / 1000 - t0) for name, epoch_ms in seen.items()}
    health_s = health - t0
    return {"page": page_name, "view_s": s[page_name], "content_s": s.get("content"),
            "server_s": health_s, "connect_s": s["connected"] - health_s,
            "view_after_connect_s": s[page_name] - s["connected"],
            "script_after_connect_s": s["script_done"] - s["connected"],
            "model_loads": loads, "load_average": round(load_before, 2),
            "milestones_s": {name: round(t, 3) for name, t in sorted(s.items(), key=lambda x: x[1])}}


def median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r[key] is not None]
    return statistics.median(values) if values else None


COLUMNS = [("view_s", "view"), ("content_s", "content"), ("server_s", "server"),
           ("connect_s", "connect"), ("view_after_connect_s", "view-conn"),
           ("script_after_connect_s", "script-conn")]


def table(results: dict[str, list[dict]]) -> str:
    cell = lambda v: f"{v:>12.2f}" if v is not None else f"{'-':>12}"  # noqa: E731
    width = max(len(name) for name in results) + 5
    lines = ["seconds from the command's start: the median, then every run (load: 1-minute load"
             " average; loads: models loaded)",
             f"{'':<{width}}" + "".join(f"{title:>12}" for _, title in COLUMNS)
             + f"{'loads':>7}{'load':>6}"]
    for name, runs in results.items():
        lines.append(f"{name + ' med':<{width}}" + "".join(cell(median(runs, k)) for k, _ in COLUMNS))
        for r in runs:
            lines.append(f"{'':<{width}}" + "".join(cell(r[k]) for k, _ in COLUMNS)
                         + f"{r['model_loads']:>7}{r['load_average']:>6}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load.first_paint",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh servers per page")
    parser.add_argument("--page", choices=["masks", "sampling", "likelihood", "both"],
                        default="both", help="both: masks and sampling")
    parser.add_argument("--server", default=MAKE_RUN, metavar="COMMAND",
                        help="the made-viz server command in place of `make run` ({port} for"
                             " its port), e.g. the same flags without make's install step")
    parser.add_argument("--baseline", action="store_true",
                        help="also time the bare one-button app's first content, same flags")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=COMMAND",
                        help="also time another server command ({port} for its port), runs"
                             " interleaved with `make run` so both see the same machine load")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds to wait after the paint before counting model loads")
    parser.add_argument("--out", type=Path, default=ARTIFACTS / "first-paint.json")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 50:
        parser.error("--runs must be in 1..50")
    if any("=" not in v for v in args.variant):
        parser.error("--variant must be NAME=COMMAND")
    from playwright.sync_api import sync_playwright

    commands = {"make run" if args.server == MAKE_RUN else "server": args.server,
                **dict(v.split("=", 1) for v in args.variant)}
    pages = ["masks", "sampling"] if args.page == "both" else [args.page]
    cases = [(f"{page} {variant}", page, command) for variant, command in commands.items()
             for page in pages]
    if args.baseline:
        cases.append(("bare app", "content",
                      SCRIPT_RUN.format(script=ROOT / "tests/load/bare_app.py")))
    results: dict[str, list[dict]] = {name: [] for name, *_ in cases}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(args.runs):
                for name, page, command in cases:  # interleaved: all see the same machine load
                    results[name].append(one_run(browser, page, args.settle, command, name))
        finally:
            browser.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(table(results))
    print(f"\nJSON: {args.out}")
    bad = [r["model_loads"] for name, runs in results.items() if name.startswith("sampling")
           for r in runs if r["model_loads"] != 1]
    if bad:
        print(f"FAIL: the Sampling page logged {bad} model loads, not 1")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

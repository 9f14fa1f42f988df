"""The load tool against headless Chromium: is tests/load/hall.py's user a browser?

    .venv/bin/python -m tests.load.hall --check --page sampling,likelihood,masks --runs 5

One warm `make run` server on one core, Chromium (or the tool) on the other, one user at a
time, alternating: a browser with an empty cache against the tool fetching the static files,
a browser whose cache holds them against the tool without them; each loads the page, then
makes the rerun hall.py's --rerun makes (a new seed; Invert). A relay in front of the server
notes every websocket message both ways and every HTTP request: the same message counts by
type, the same widget values in the rerun, the same static files fetched, and the run's time
on the wire (the first BackMsg sent to script_finished received) within 10 % (medians).
--static of hall.py takes its list of static files from such a Chromium page load.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import threading
import time
from collections import Counter

from tests.e2e.conftest import APP_IDLE, CHROMIUM, CHROMIUM_ARGS, free_port
from tests.load.hall import RERUNS, SERVERS, Server, wait_quiet, warm
from tests.load.protocol import Static, User


class WireTap:
    """A TCP relay in front of the server that notes when each websocket message reached it,
    both ways, and which HTTP requests did: the browser and the tool are timed at the same
    point, on the wire (Chromium's own frame events come when its renderer gets to them, after
    its drawing), and neither's pace of reading delays the notes. A process of its own on the
    server's core, so neither Chromium nor the tool's Python delays them either."""

    def __init__(self, target_port: int, cpu: int):
        import multiprocessing

        self.port = free_port()
        self._pipe, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=_tap_main, args=(self.port, target_port, cpu, child), daemon=True)
        self._process.start()
        self._pipe.recv()  # listening

    def take(self) -> tuple[list[tuple[float, str, bytes]], list[str]]:
        """The messages (time, "sent"|"received", payload) and the HTTP requests' paths seen
        since the last take."""
        self._pipe.send("take")
        return self._pipe.recv()

    def close(self) -> None:
        self._process.terminate()
        self._process.join(timeout=5)


def _tap_main(port: int, target_port: int, cpu: int, pipe) -> None:
    os.sched_setaffinity(0, {cpu})
    frames: list = []
    requests: list[str] = []

    async def relay(client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        upgraded = asyncio.Event()
        await asyncio.gather(pipe_bytes(client_reader, server_writer, "sent", upgraded),
                             pipe_bytes(server_reader, client_writer, "received", upgraded),
                             return_exceptions=True)

    async def pipe_bytes(reader, writer, direction: str, upgraded: asyncio.Event) -> None:
        buffer, message = b"", b""
        try:
            while data := await reader.read(2**16):
                arrived = time.perf_counter()
                # Written on without waiting for the reader (unless 64 MB pile up): a browser
                # slow to take in what the server sends must not delay what the relay notes.
                writer.write(data)
                if writer.transport.get_write_buffer_size() > 2**26:
                    await writer.drain()
                if not upgraded.is_set():
                    if direction == "sent":
                        requests.extend(p.decode() for p in HTTP_GET.findall(data))
                        if b"GET /_stcore/stream " in data:
                            upgraded.set()  # this connection is the websocket from here on
                    continue
                if direction == "received" and not buffer and data.startswith(b"HTTP/1.1 101"):
                    data = data.split(b"\r\n\r\n", 1)[1]
                elif direction == "sent" and b"GET /_stcore/stream " in data:
                    continue
                buffer += data
                while (frame := ws_frame(buffer)) is not None:
                    fin, opcode, payload, used = frame
                    buffer = buffer[used:]
                    message += payload
                    if fin:
                        if opcode in (0, 2):
                            frames.append((arrived, direction, message))
                        message = b""
        finally:
            writer.close()

    def answer() -> None:
        pipe.recv()
        pipe.send((list(frames), list(requests)))
        frames.clear()
        requests.clear()

    async def serve() -> None:
        server = await asyncio.start_server(relay, "127.0.0.1", port)
        asyncio.get_running_loop().add_reader(pipe.fileno(), answer)
        pipe.send("ready")
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


THINK_S = 1.0  # between the page and the tool's rerun: the browser's click comes a while after
HTTP_GET = re.compile(rb"(?:^|\r\n\r\n)GET (\S+) HTTP/1\.1\r\n")


def ws_frame(data: bytes):
    """(fin, opcode, payload unmasked, bytes used) of the websocket frame data starts with, or
    None while it is incomplete (RFC 6455 section 5.2)."""
    if len(data) < 2:
        return None
    fin, opcode = data[0] >> 7, data[0] & 0x0F
    masked, length, at = data[1] >> 7, data[1] & 0x7F, 2
    if length == 126:
        if len(data) < 4:
            return None
        length, at = int.from_bytes(data[2:4], "big"), 4
    elif length == 127:
        if len(data) < 10:
            return None
        length, at = int.from_bytes(data[2:10], "big"), 10
    key = data[at:at + 4] if masked else b""
    at += len(key)
    if len(data) < at + length:
        return None
    payload = data[at:at + length]
    if masked:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return fin, opcode, payload, at + length


def decoded(frames: list[tuple[float, str, bytes]]) -> list[tuple[float, str, object]]:
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    out = []
    for at, direction, payload in frames:
        msg = BackMsg() if direction == "sent" else ForwardMsg()
        msg.ParseFromString(payload)
        out.append((at, direction, msg))
    return out


def browser_load(browser, url: str, page: str, rerun: bool, tap: WireTap | None = None,
                 context=None) -> dict:
    """One page load, optionally a rerun as a user makes it: in a fresh context (an empty
    cache) or in `context` (its cache as earlier loads left it). The requests (before and
    after the websocket opened) and, through `tap`, the messages both ways and their times on
    the wire."""
    own = context is None
    if own:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page_handle = context.new_page()
    requests: list[tuple[str, str]] = []  # (phase, path)
    socket_open = []
    page_handle.on("websocket", lambda socket: socket_open.append(True))
    page_handle.on("request", lambda request: request.url.startswith(url) and requests.append(
        ("after" if socket_open else "before", request.url[len(url):])))
    try:
        page_handle.goto(f"{url}/{page}")
        page_handle.wait_for_selector(APP_IDLE, timeout=120_000)
        page_handle.wait_for_load_state("networkidle", timeout=60_000)
        loaded, fetched = tap.take() if tap else ([], [])
        if rerun:
            browser_rerun(page_handle, page)
            page_handle.wait_for_timeout(500)
            page_handle.wait_for_selector(APP_IDLE, timeout=120_000)
            page_handle.wait_for_timeout(1000)
    finally:
        page_handle.close()
        if own:
            context.close()
    again = decoded(tap.take()[0]) if tap and rerun else []
    return {"requests": requests, "load": wire(decoded(loaded)),
            "rerun": wire(again) if rerun else None,
            "static_requests": sum(1 for path in fetched if is_static(path)),
            "rerun_message": next((m for _, d, m in again if d == "sent"), None)}


def browser_rerun(page_handle, page: str) -> None:
    """What hall.RERUNS makes the tool send, done in the page as a user does it."""
    if page == "likelihood":
        page_handle.locator(".st-key-lik_invert button").click()
    else:
        field = page_handle.locator(".st-key-seed input")
        field.fill(RERUNS[page]["seed"])
        field.press("Enter")


def wire(frames: list) -> dict:
    """Message counts by type, and seconds from the first BackMsg sent to script_finished."""
    sent = [t for t, d, _ in frames if d == "sent"]
    done = [t for t, d, m in frames if d == "received" and m.WhichOneof("type") ==
            "script_finished"]
    received = Counter(m.WhichOneof("type") for _, d, m in frames if d == "received")
    return {"sent": len(sent), "messages": dict(received),
            "wire_s": (done[-1] - sent[0]) if sent and done else None}


def is_static(path: str) -> bool:
    return path.startswith(("/static/", "/component/", "/favicon", "/media/"))


def static_of(requests: list[tuple[str, str]]) -> Static:
    """The browser's static files: its requests less the document, the probes and favicon
    order kept (the tool fetches the document and the probes itself)."""
    static = Static()
    for phase, path in requests:
        if is_static(path) and path not in getattr(static, phase):
            getattr(static, phase).append(path)
    return static


def record_static(url: str, pages: list[str]) -> dict[str, Static]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            return {page: static_of(browser_load(browser, url, page, False)["requests"])
                    for page in pages}
        finally:
            browser.close()


async def tool_load(url: str, page: str, rerun: bool, static: Static | None,
                    tap: WireTap) -> dict:
    user = User(url, page)
    try:
        load = await user.open(time.perf_counter(), static)
        frames, fetched = tap.take()
        result = {"load": {**wire(decoded(frames)), "errors": load.errors},
                  "static_requests": sum(1 for path in fetched if is_static(path))}
        if rerun:
            await asyncio.sleep(THINK_S)  # as the browser's user takes a moment to act
            again = await user.rerun(RERUNS[page], time.perf_counter())
            result["rerun"] = {**wire(decoded(tap.take()[0])), "errors": again.errors}
            result["rerun_message"] = user.last_sent
        return result
    finally:
        await user.close()


def in_thread(coroutine):
    """asyncio.run on a thread of its own: Playwright's sync API holds this thread's loop."""
    result = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(coroutine)))
    thread.start()
    thread.join()
    return result[0]


CACHES = ("empty cache", "cached")


def check(pages: list[str], runs: int) -> dict:
    """Chromium against the tool, one user at a time, alternating, on one warm server: a
    browser with an empty cache against the tool fetching the static files, a browser whose
    cache holds them against the tool without them."""
    from playwright.sync_api import sync_playwright

    # The server on one core, Chromium or the tool on the other: on a shared 2-core machine
    # the browser's own drawing would otherwise slow the server it is timing.
    server = Server("run", "taskset -c 0 " + SERVERS["run"], free_port())
    os.sched_setaffinity(0, {1})
    report = {}
    try:
        server.wait_healthy()
        asyncio.run(warm(server.url, pages, 3))
        wait_quiet(server.process.pid)
        tap = WireTap(server.port, cpu=0)
        url = f"http://127.0.0.1:{tap.port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for page in pages:
                    cached = browser.new_context(viewport={"width": 1400, "height": 1000})
                    first = browser_load(browser, url, page, False, tap, cached)  # fills it
                    static = static_of(first["requests"])
                    pairs = {kind: ([], []) for kind in CACHES}
                    for _ in range(runs):
                        for kind, context, files in (("empty cache", None, static),
                                                     ("cached", cached, None)):
                            pairs[kind][0].append(browser_load(browser, url, page, True, tap,
                                                               context))
                            pairs[kind][1].append(in_thread(tool_load(url, page, True, files,
                                                                      tap)))
                    cached.close()
                    report[page] = {kind: compare(*pairs[kind]) for kind in CACHES}
            finally:
                browser.close()
            tap.close()
    finally:
        server.stop()
    return report


def usual(values):
    """The most common of values (dicts compared whole)."""
    counted = Counter(json.dumps(v, sort_keys=True) for v in values)
    return json.loads(counted.most_common(1)[0][0])


def compare(browser_runs: list[dict], tool_runs: list[dict]) -> dict:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    out = {}
    for phase in ("load", "rerun"):
        b = [r[phase] for r in browser_runs]
        t = [r[phase] for r in tool_runs]
        b_wire = [r["wire_s"] for r in b if r["wire_s"] is not None]
        t_wire = [r["wire_s"] for r in t if r["wire_s"] is not None]
        out[phase] = {
            # Streamlit's deltas can differ by one between runs (a stale element cleared or
            # not, by timing): the usual counts of each must match.
            "messages_match": usual(r["messages"] for r in b) == usual(r["messages"] for r in t)
            and usual(r["sent"] for r in b) == usual(r["sent"] for r in t),
            "browser_messages": usual(r["messages"] for r in b),
            "tool_messages": usual(r["messages"] for r in t),
            "browser_wire_s": [round(x, 4) for x in b_wire],
            "tool_wire_s": [round(x, 4) for x in t_wire],
            "ratio": round(statistics.median(t_wire) / statistics.median(b_wire), 3)
            if b_wire and t_wire else None,
            "tool_errors": [e for r in t for e in r["errors"]]}
    out["static_requests"] = {"browser": usual(r["static_requests"] for r in browser_runs),
                              "tool": usual(r["static_requests"] for r in tool_runs)}
    tool_rerun = BackMsg()
    tool_rerun.ParseFromString(tool_runs[0]["rerun_message"])
    widgets = lambda m: sorted((w.id.rsplit("-", 1)[-1], w.WhichOneof("value"),
                                str(getattr(w, w.WhichOneof("value"))))
                               for w in m.rerun_script.widget_states.widgets)
    browser_widgets = widgets(browser_runs[0]["rerun_message"])
    out["rerun_widgets_match"] = browser_widgets == widgets(tool_rerun)
    out["rerun_widgets"] = browser_widgets
    return out


def check_table(report: dict) -> str:
    median = lambda xs: statistics.median(xs) if xs else float("nan")
    lines = ["time on the wire, first BackMsg sent to script_finished received: medians",
             f"{'page':<12}{'browser cache':<15}{'phase':<7}{'same messages':<15}"
             f"{'browser s':>10}{'tool s':>8}{'tool/browser':>13}"]
    for page, kinds in report.items():
        for kind, phases in kinds.items():
            for phase in ("load", "rerun"):
                p = phases[phase]
                lines.append(f"{page:<12}{kind:<15}{phase:<7}{p['messages_match']!s:<15}"
                             f"{median(p['browser_wire_s']):>10.3f}"
                             f"{median(p['tool_wire_s']):>8.3f}{p['ratio'] or 0:>13.2f}")
            lines.append(f"{'':<27}rerun widgets the same: {phases['rerun_widgets_match']};"
                         f" static files fetched, browser {phases['static_requests']['browser']},"
                         f" tool {phases['static_requests']['tool']}")
    return "\n".join(lines)


def check_passed(report: dict) -> bool:
    return all(p[phase]["messages_match"] and p[phase]["ratio"] is not None
               and abs(p[phase]["ratio"] - 1) <= 0.10 and p["rerun_widgets_match"]
               and p["static_requests"]["browser"] == p["static_requests"]["tool"]
               for kinds in report.values() for p in kinds.values() for phase in ("load", "rerun"))

"""`make serve` as a hall uses it: two app servers behind HAProxy (made_viz/serve.py).

Over HTTP: new browsers spread over the workers by the balancer's cookie and stay on theirs;
Streamlit's deep-link probes are answered by HAProxy; static files come from its cache,
compressed; a worker that is killed is restarted, and a request that named it goes to the
live one. In headless Chromium: two users, each on a worker of their own, Step, upload and
rerun; one worker is killed: the other user carries on untouched, the first gets a working
page back on the live worker (its next action reruns it there), with a message saying what
happened.
"""
from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, exceptions, free_port, stop_group, wait_idle
from PIL import Image
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

READY = re.compile(r"made-viz: http://localhost:\d+ .*?: (.*); Ctrl-C")
COOKIE = "made_viz_worker"
MOVED = "This page was opened again"


class Serve:
    """`python -m made_viz.serve` on a free port, as `make serve` runs it."""

    def __init__(self, workers: int = 2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "made_viz.serve", "--port", str(self.port),
             "--workers", str(workers)], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "MADE_VIZ_WARM_UP": "1", "MALLOC_ARENA_MAX": "2"})
        self.log: list[str] = []
        self.ready = threading.Event()
        self.worker_ports: dict[str, int] = {}
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(120):
            self.stop()
            raise RuntimeError("make serve did not start:\n" + "\n".join(self.log[-30:]))

    def _read(self) -> None:
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.log.append(line)
            if match := READY.search(line):
                self.worker_ports = {name: int(port) for name, port in
                                     re.findall(r"(w\d+) on port (\d+)", match.group(1))}
                self.ready.set()

    def worker_pid(self, name: str) -> int:
        """The pid of the app server the cookie value `name` stands for."""
        flag = f"--server.port\x00{self.worker_ports[name]}\x00"
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if flag in (entry / "cmdline").read_text() and \
                            "streamlit" in (entry / "cmdline").read_text():
                        return int(entry.name)
                except OSError:
                    continue
        raise LookupError(f"no process for worker {name}")

    def kill(self, name: str) -> int:
        pid = self.worker_pid(name)
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_restarted(self, name: str, old_pid: int, limit: float = 60) -> None:
        deadline = time.time() + limit
        while time.time() < deadline:
            try:
                if self.worker_pid(name) != old_pid and get(
                        f"http://127.0.0.1:{self.worker_ports[name]}/_stcore/health")[0] == 200:
                    return
            except (LookupError, OSError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"worker {name} was not restarted:\n" + "\n".join(self.log[-20:]))

    def stop(self) -> None:
        stop_group(self.process)


def get(url: str, cookie: str | None = None, encoding: str | None = None):
    """(status, headers, body) of a GET; errors are answers too."""
    request = urllib.request.Request(url, headers={
        **({"Cookie": f"{COOKIE}={cookie}"} if cookie else {}),
        **({"Accept-Encoding": encoding} if encoding else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def worker_cookie(headers) -> str | None:
    for value in headers.get_all("Set-Cookie") or []:
        if value.startswith(f"{COOKIE}="):
            return value.split(";")[0].split("=", 1)[1]
    return None


@pytest.fixture(scope="module")
def balancer():
    serve = Serve(workers=2)
    yield serve
    serve.stop()


def test_browsers_spread_by_cookie_and_stay_static_files_come_from_the_balancer(balancer):
    url = balancer.url
    # New browsers (no cookie) go to each worker in turn; the cookie keeps one there.
    assert sorted(worker_cookie(get(f"{url}/_stcore/health")[1]) for _ in range(2)) == ["w1", "w2"]
    for _ in range(4):
        status, headers, _ = get(f"{url}/_stcore/health", cookie="w2")
        assert status == 200 and worker_cookie(headers) is None  # still w2: no new cookie
    # Streamlit's probes of a deep link: answered 404 by HAProxy, as a worker would.
    assert get(f"{url}/sampling/_stcore/health")[0] == 404
    assert get(f"{url}/_stcore/script-health-check")[0] == 403
    # A static file: from a worker once, then from HAProxy's cache, compressed on request.
    page = get(f"{url}/sampling")[2].decode()
    script = re.search(r'src="\.?(/static/js/[^"]+\.js)"', page).group(1)
    first = get(url + script, encoding="gzip")
    again = get(url + script, encoding="gzip")
    assert first[0] == again[0] == 200 and "Age" in again[1]
    plain = get(url + script)
    assert again[1]["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain[1]
    assert gzip.decompress(again[2]) == gzip.decompress(first[2]) == plain[2]
    assert len(again[2]) < len(plain[2]) / 2
    assert "immutable" in again[1]["Cache-Control"]


def test_a_killed_worker_is_restarted_and_its_users_go_to_the_live_one(balancer):
    pid = balancer.kill("w1")
    status, headers, _ = get(f"{balancer.url}/_stcore/health", cookie="w1")
    assert status == 200 and worker_cookie(headers) == "w2"  # moved, and told so
    balancer.wait_restarted("w1", pid)
    assert any("worker w1" in line and "exited" in line for line in balancer.log)
    # Once HAProxy's checks see it up again (two in a row), a browser that names w1 stays.
    deadline = time.time() + 30
    while worker_cookie(get(f"{balancer.url}/_stcore/health", cookie="w1")[1]) is not None:
        assert time.time() < deadline, "HAProxy did not take the restarted worker back"
        time.sleep(0.5)


# --- two users in Chromium ------------------------------------------------------------------

def seven_png(path: Path) -> Path:
    grey = np.full((300, 240), 235, dtype=np.uint8)
    grey[40:60, 40:200] = 20
    for r in range(60, 270):
        c = int(200 - (r - 60) * 0.45)
        grey[r, c - 10:c + 10] = 20
    Image.fromarray(grey).save(path)
    return path


def worker_of(context) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == COOKIE)


def step_once(page) -> None:
    count = page.locator(".made-player .count")
    expect(count).to_be_visible(timeout=60_000)
    before = count.inner_text()
    page.get_by_role("button", name="Step", exact=True).click()
    expect(count).not_to_have_text(before, timeout=10_000)


def new_seed(page, seed: int) -> None:
    field = page.locator(".st-key-seed input")
    field.fill(str(seed))
    field.press("Enter")
    expect(page.locator("[data-testid='stCaptionContainer']").filter(
        has_text=f"seed {seed}")).to_be_visible(timeout=60_000)
    wait_idle(page, 60_000)


def upload(page, path: Path) -> None:
    page.locator(".st-key-lik_source").get_by_text("Upload", exact=True).click()
    wait_idle(page, 60_000)
    page.locator(".st-key-lik_upload input[type=file]").set_input_files(str(path))
    page.get_by_text(f"{path.name} as uploaded").wait_for(timeout=60_000)


def test_two_users_stay_on_their_workers_and_a_killed_worker_costs_only_its_own_user(
        balancer, browser, tmp_path):
    users = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        pages = []
        for context in users:
            page = context.new_page()
            page.goto(f"{balancer.url}/sampling?seed=3")
            wait_idle(page, 90_000)
            pages.append(page)
        workers = [worker_of(context) for context in users]
        assert sorted(workers) == ["w1", "w2"]  # one each
        for i, page in enumerate(pages):
            step_once(page)
            new_seed(page, 10 + i)
            step_once(page)
        # An upload goes to the worker that holds the session (a second page of each user).
        lik = [context.new_page() for context in users]
        for i, page in enumerate(lik):
            page.goto(f"{balancer.url}/likelihood")
            wait_idle(page, 90_000)
            upload(page, seven_png(tmp_path / f"seven{i}.png"))
            page.close()
        assert [worker_of(context) for context in users] == workers

        victim, survivor = pages
        balancer.kill(workers[0])
        # The other user carries on in the same session: no reload, no message.
        step_once(survivor)
        new_seed(survivor, 21)
        assert worker_of(users[1]) == workers[1]
        assert survivor.get_by_text(MOVED).count() == 0
        # The first user's browser reconnects, through the balancer, to the live worker
        # (Streamlit's page stays as it was: its next action reruns it there, with the
        # values the browser holds); that first run says what happened.
        wait_idle(victim, 90_000)
        new_seed(victim, 22)
        expect(victim.get_by_text(MOVED)).to_be_visible(timeout=30_000)
        assert worker_of(users[0]) == workers[1]
        step_once(victim)
        new_seed(victim, 23)
        for page in pages:
            assert exceptions(page) == []
    finally:
        for context in users:
            context.close()

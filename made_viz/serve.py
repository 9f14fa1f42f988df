"""`make serve`: N app servers behind HAProxy on one machine, each restarted when it dies.

    python -m made_viz.serve --port 8501 --workers 2      # what `make serve` runs
    python -m made_viz.serve --config --port 80 --worker 10.0.0.2:8501 --worker 10.0.0.3:8501

Streamlit serves every session from one Python process, whose page runs share one interpreter
lock: one process uses one core. `make serve` starts one Streamlit process (a worker) per core
on 127.0.0.1, and HAProxy (Debian's package) on the port `make run` would use, with:

- cookie affinity: a browser stays on the worker that served it first (Streamlit keeps the
  session, its uploads and its media in that process); the cookie is the balancer's own, so a
  hall of students behind one NAT address spreads over every worker;
- health checks on /_stcore/health; a worker that dies is restarted here (after 1, 2, 4 ... s
  when it keeps dying), and its users' next request goes to a live one, where the page opens
  again from its link and says so (made_viz/ui/server.moved_notice);
- the static files kept and compressed by HAProxy (made_viz/deploy/haproxy.cfg), so workers
  serve each only once.

Workers share one cookie secret (made per `make serve`), so a cookie one worker signed (the
upload form's XSRF token) is good on another after a move. Each worker is warmed once it
answers: the supervisor asks it to run the app's script once (Streamlit's script health
check), which loads the models in the background as a first visitor would.

--config prints the HAProxy configuration for workers at the given addresses (several
machines, docs/deploy.md) and starts nothing.
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).resolve().parent / "deploy" / "haproxy.cfg"
HEALTH = "/_stcore/health"
WARM = "/_stcore/script-health-check"
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STABLE_S = 60.0  # a child up this long starts its backoff again from FIRST_BACKOFF_S
POLL_S = 0.2
START_WAIT_S = 120.0
NO_HAPROXY = ("make serve needs HAProxy: install Debian's 'haproxy' package"
              " (`make serve` installs it when run as root)")


def default_workers() -> int:
    """One worker per core this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


# --- the balancer's configuration -----------------------------------------------------------

def max_connections() -> int:
    """What the file descriptor limit allows HAProxy (two a connection), at most 10,000."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 10_000 if hard == resource.RLIM_INFINITY else max(100, min(10_000, hard // 2 - 100))


def haproxy_config(bind: str, workers: list[str], *, threads: int = 1,
                   stats_socket: str | None = None, maxconn: int | None = None) -> str:
    """HAProxy's configuration: `bind` (":8501") in front of workers ("127.0.0.1:8601", ...),
    named w1, w2 ... in the affinity cookie."""
    if not workers:
        raise ValueError("at least one worker address is needed")
    for address in workers:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"worker address must be HOST:PORT, got {address!r}")
    servers = "\n".join(f"    server w{i} {address} cookie w{i}"
                        for i, address in enumerate(workers, 1))
    socket = f"    stats socket {stats_socket} mode 600 level admin" if stats_socket else ""
    return string.Template(TEMPLATE.read_text()).substitute(
        bind=bind, servers=servers, threads=max(1, threads), stats_socket=socket,
        maxconn=maxconn or max_connections())


# --- children and their restarts ------------------------------------------------------------

@dataclass
class Child:
    """A process the supervisor keeps running: started by `start`, restarted when it exits,
    after a backoff that doubles while it keeps dying soon after a start."""

    name: str
    start: Callable[[], subprocess.Popen]
    port: int | None = None  # a worker's, for its warm-up
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff_s: float = FIRST_BACKOFF_S
    restart_at: float | None = None
    restarts: int = 0
    exits: list[int] = field(default_factory=list)

    def launch(self, now: float) -> None:
        self.process = self.start()
        self.started_at, self.restart_at = now, None

    def check(self, now: float) -> str | None:
        """Restart what has exited, once its backoff has passed: a line to log, or None."""
        if self.process is not None and self.restart_at is None:
            code = self.process.poll()
            if code is None:
                return None
            self.exits.append(code)
            if now - self.started_at >= STABLE_S:
                self.backoff_s = FIRST_BACKOFF_S
            self.restart_at = now + self.backoff_s
            wait, self.backoff_s = self.backoff_s, min(MAX_BACKOFF_S, self.backoff_s * 2)
            return f"{self.name} exited (code {code}); restarting it in {wait:.0f} s"
        if self.restart_at is not None and now >= self.restart_at:
            self.launch(now)
            self.restarts += 1
            return f"{self.name} restarted (restart {self.restarts})"
        return None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Supervisor:
    """The balancer and the workers: started together, watched, restarted, stopped together."""

    def __init__(self, children: list[Child], log: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.monotonic):
        self.children, self.log, self.clock = children, log, clock
        self.restarted: Callable[[Child], None] = lambda child: None

    def start(self) -> None:
        now = self.clock()
        for child in self.children:
            child.launch(now)

    def add(self, child: Child) -> None:
        """Start one more child (the balancer, once the workers answer) and watch it too."""
        child.launch(self.clock())
        self.children.append(child)

    def check(self) -> None:
        now = self.clock()
        for child in self.children:
            was = child.process
            if line := child.check(now):
                self.log(line)
            if child.process is not was:
                self.restarted(child)

    def stop(self) -> None:
        for child in reversed(self.children):  # the balancer (started last) first
            child.stop()


# --- `make serve` ---------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def wait_until(check: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def worker_command(port: int) -> list[str]:
    """A Streamlit app server as `make run` starts one (its environment comes from make), on
    127.0.0.1 only, with the script check the supervisor warms it with."""
    return [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
            "--server.port", str(port), "--server.address", "127.0.0.1",
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--server.scriptHealthCheckEnabled", "true"]


def warm_in_background(port: int, log: Callable[[str], None]) -> None:
    threading.Thread(target=warm, args=(port, log), daemon=True).start()


def warm(port: int, log: Callable[[str], None]) -> None:
    """Once the worker answers, run the app's script in it once: its first page run starts
    the warm-up (made_viz/ui/server.page_drawn), as a first visitor's would."""
    base = f"http://127.0.0.1:{port}"
    if wait_until(lambda: answers(base + HEALTH), START_WAIT_S):
        if not answers(base + WARM, timeout=60.0):
            log(f"worker on port {port}: its warm-up run did not finish; its first visitor"
                " will load the models")


def serve(port: int, worker_count: int, log: Callable[[str], None] = print) -> int:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        log(NO_HAPROXY)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="made-viz-serve-"))
    ports = [free_port() for _ in range(worker_count)]
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(f":{port}", [f"127.0.0.1:{p}" for p in ports],
                                     threads=worker_count, stats_socket=str(folder / "haproxy.sock")))
    check = subprocess.run([haproxy, "-c", "-q", "-f", str(config)], capture_output=True,
                           text=True)
    if check.returncode != 0:
        log(f"HAProxy refused the configuration {config}:\n{check.stderr.strip()}")
        return 2
    # One secret for every worker: a cookie one signed (the XSRF token of the upload form) is
    # still good on another when a browser moves.
    env = {**os.environ, "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32)}

    def start_worker(worker_port: int) -> Callable[[], subprocess.Popen]:
        # Streamlit's banner (a URL of the worker itself) would mislead: only its log is kept.
        return lambda: subprocess.Popen(worker_command(worker_port), cwd=ROOT, env=env,
                                        stdout=subprocess.DEVNULL)

    workers = [Child(f"worker w{i} (port {p})", start_worker(p), port=p)
               for i, p in enumerate(ports, 1)]
    balancer = Child("HAProxy", lambda: subprocess.Popen(
        [haproxy, "-W", "-db", "-f", str(config)], cwd=folder))
    supervisor = Supervisor(list(workers), log)
    supervisor.restarted = lambda child: child.port and warm_in_background(child.port, log)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    supervisor.start()  # the workers first: the balancer then finds them up
    try:
        for worker in workers:
            warm_in_background(worker.port, log)
        if not wait_until(lambda: stopping.is_set() or all(
                answers(f"http://127.0.0.1:{p}{HEALTH}") for p in ports), START_WAIT_S):
            log(f"the app servers did not answer within {START_WAIT_S:.0f} s")
            return 1
        supervisor.add(balancer)
        if not wait_until(lambda: stopping.is_set() or balancer.process.poll() is not None
                          or answers(f"http://127.0.0.1:{port}{HEALTH}"), START_WAIT_S) \
                or balancer.process.poll() is not None:
            log(f"HAProxy did not start on port {port} (is the port taken?)")
            return 1
        if not stopping.is_set():
            log(f"made-viz: http://localhost:{port} ({worker_count} app servers behind HAProxy: "
                + ", ".join(f"w{i} on port {p}" for i, p in enumerate(ports, 1))
                + "; Ctrl-C stops them)")
        while not stopping.wait(POLL_S):
            supervisor.check()
    finally:
        supervisor.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m made_viz.serve",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8501, help="the port browsers open")
    parser.add_argument("--workers", type=int, default=0,
                        help="app servers on this machine (default: one per core)")
    parser.add_argument("--config", action="store_true",
                        help="print HAProxy's configuration for --worker addresses and exit")
    parser.add_argument("--worker", action="append", default=[], metavar="HOST:PORT",
                        help="with --config: an app server elsewhere (repeat for each)")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("--port must be in 1..65535")
    if args.config:
        try:
            print(haproxy_config(f":{args.port}", args.worker, threads=len(args.worker) or 1),
                  end="")
        except ValueError as error:
            parser.error(str(error))
        return 0
    if args.worker:
        parser.error("--worker goes with --config")
    workers = args.workers or default_workers()
    if not 1 <= workers <= 64:
        parser.error("--workers must be in 1..64")
    return serve(args.port, workers, lambda line: print(line, flush=True))


if __name__ == "__main__":
    sys.exit(main())

"""`make serve`'s supervisor (made_viz/serve.py): the balancer's configuration and the restarts.

The configuration is checked by HAProxy itself (`haproxy -c`); the restarts with stand-in
processes and a clock the test moves. tests/e2e/test_balancer_e2e.py runs the real thing.
"""
import shutil
import subprocess
import sys

import pytest

from made_viz import serve

HAPROXY = shutil.which("haproxy")
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="no haproxy (make test installs it)")


def server_lines(config: str) -> list[str]:
    return [line.strip() for line in config.splitlines() if line.strip().startswith("server ")]


def test_one_server_line_per_worker_each_named_in_the_affinity_cookie():
    config = serve.haproxy_config(":8501", ["127.0.0.1:8601", "10.0.0.3:8501"], threads=2)
    assert server_lines(config) == ["server w1 127.0.0.1:8601 cookie w1",
                                    "server w2 10.0.0.3:8501 cookie w2"]
    assert "bind :8501" in config and "nbthread 2" in config
    # affinity by the balancer's own cookie, never the client's address (one NAT, one hall)
    assert "cookie made_viz_worker insert" in config and "balance source" not in config
    assert "option httpchk GET /_stcore/health" in config
    assert "timeout tunnel 1h" in config  # a page's websocket lives as long as the page


@pytest.mark.parametrize("address", ["8601", "host:", ":8601", "host:port", "host:70000", ""])
def test_a_worker_address_that_is_not_host_and_port_is_refused(address):
    with pytest.raises(ValueError, match="HOST:PORT"):
        serve.haproxy_config(":8501", [address])
    with pytest.raises(ValueError, match="at least one"):
        serve.haproxy_config(":8501", [])


@needs_haproxy
@pytest.mark.parametrize("workers", [["127.0.0.1:8601"], [f"10.0.0.{i}:8501" for i in range(2, 6)]],
                         ids=["one local worker", "four on other machines"])
def test_haproxy_accepts_the_configuration(tmp_path, workers):
    config = tmp_path / "haproxy.cfg"
    config.write_text(serve.haproxy_config(":18501", workers, threads=2,
                                           stats_socket=str(tmp_path / "sock"), maxconn=500))
    check = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "WARNING" not in check.stdout + check.stderr


def test_config_prints_the_balancer_for_workers_elsewhere():
    run = subprocess.run([sys.executable, "-m", "made_viz.serve", "--config", "--port", "80",
                          "--worker", "10.0.0.2:8501", "--worker", "10.0.0.3:8501"],
                         capture_output=True, text=True, cwd=serve.ROOT)
    assert run.returncode == 0, run.stderr
    assert server_lines(run.stdout) == ["server w1 10.0.0.2:8501 cookie w1",
                                        "server w2 10.0.0.3:8501 cookie w2"]
    assert "bind :80" in run.stdout


def test_without_haproxy_make_serve_says_so_in_one_line(monkeypatch):
    monkeypatch.setattr(serve.shutil, "which", lambda name: None)
    said = []
    assert serve.serve(18501, 2, said.append) == 2
    assert said == [serve.NO_HAPROXY] and "haproxy" in said[0]


# --- restarts -----------------------------------------------------------------------------

class Process:
    """A stand-in for subprocess.Popen: running until the test ends it."""

    def __init__(self):
        self.code = None
        self.terminated = False

    def poll(self):
        return self.code

    def terminate(self):
        self.terminated, self.code = True, -15

    def wait(self, timeout=None):
        return self.code


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def supervised(n: int = 2):
    started: list[Process] = []

    def start():
        started.append(Process())
        return started[-1]

    clock, log = Clock(), []
    supervisor = serve.Supervisor([serve.Child(f"worker {i}", start) for i in range(1, n + 1)],
                                  log.append, clock)
    restarted = []
    supervisor.restarted = restarted.append
    supervisor.start()
    return supervisor, started, clock, log, restarted


def test_a_worker_that_dies_is_restarted_after_a_second_and_the_others_are_left_alone():
    supervisor, started, clock, log, restarted = supervised()
    first, second = started
    first.code = 1
    supervisor.check()
    assert log == ["worker 1 exited (code 1); restarting it in 1 s"] and len(started) == 2
    clock.now += 0.5
    supervisor.check()
    assert len(started) == 2  # not before its backoff
    clock.now += 0.5
    supervisor.check()
    assert len(started) == 3 and log[-1] == "worker 1 restarted (restart 1)"
    assert supervisor.children[0].process is started[2]
    assert supervisor.children[1].process is second and second.code is None
    assert restarted == [supervisor.children[0]]  # warmed when it comes back


def test_a_worker_that_keeps_dying_waits_longer_each_time_up_to_30_s():
    supervisor, started, clock, log, _ = supervised(1)
    waits = []
    for _ in range(8):
        started[-1].code = 1
        supervisor.check()
        waits.append(supervisor.children[0].restart_at - clock.now)
        clock.now = supervisor.children[0].restart_at
        supervisor.check()
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]
    assert supervisor.children[0].restarts == 8 and len(started) == 9


def test_a_worker_that_ran_for_a_while_starts_its_backoff_again():
    supervisor, started, clock, _, _ = supervised(1)
    for _ in range(3):  # three quick deaths: the next wait would be 8 s
        started[-1].code = 1
        supervisor.check()
        clock.now = supervisor.children[0].restart_at
        supervisor.check()
    clock.now += serve.STABLE_S
    started[-1].code = 1
    supervisor.check()
    assert supervisor.children[0].restart_at - clock.now == serve.FIRST_BACKOFF_S


def test_stopping_ends_every_child():
    supervisor, started, _, _, _ = supervised(3)
    supervisor.stop()
    assert all(p.terminated for p in started)

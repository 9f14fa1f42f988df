"""A lecture hall opening the link at once, at the protocol level: N users, one second.

    .venv/bin/python -m tests.load.hall --users 200 --page sampling
    .venv/bin/python -m tests.load.hall --users 200 --page sampling,likelihood,masks --rerun
    .venv/bin/python -m tests.load.hall --users 100 --page sampling --static
    .venv/bin/python -m tests.load.hall --users 10 --page likelihood --upload jpeg --server run
    .venv/bin/python -m tests.load.hall --check --page sampling,likelihood,masks
    .venv/bin/python -m tests.load.hall --server serve --server "old=env -C $OLD make run PORT={port}"

For each server (default: `make run`, then `make serve` with its defaults, one after the other
on free ports; NAME=COMMAND with {port} for any other), started in a process group of its
own: wait for /_stcore/health, open every page a few times one user at a time (the warm
server a lecture finds; with `make serve` enough times to reach every worker), wait for the
server to go quiet, then open the page for N users at once (tests/load/protocol.py: what
Chromium sends, no browser). With --rerun every user then changes a widget at once (Sampling
and Masks: a new seed; Likelihood: Invert); with --upload every user uploads an image at once
(Likelihood; a 40-megapixel one, each user's its own file). With --static each user first
fetches the static files an empty-cache Chromium fetches for that page (recorded from a real
Chromium on the same server before the crowd).

Reported per server and page: time to the first element of the page's main area and to the
finished page (the run's script_finished, and every static file), p50 and p95, seconds from
the moment all users start; the same for the rerun or upload ("then"); errors (HTTP errors,
dropped sockets, exceptions on the page, an upload the page did not take, timeouts, ERROR
lines in the server's log; Streamlit's two 404 probes of a deep link counted apart); the
server's CPU seconds over the crowd (every process of the server's tree: workers, balancer)
and its memory (peak of the tree's summed RSS, and the largest process's peak); this load
tool's own CPU (it shares the machine); the load average before.

--check (tests/load/hall_check.py) runs headless Chromium and the tool one user at a time
against one warm `make run` server and compares what each sent and received.

JSON with every user's times goes to test-artifacts/hall-*.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import ARTIFACTS, free_port, stop_group  # noqa: E402
from tests.load.lecture_hall import percentile  # noqa: E402
from tests.load.protocol import Load, Static, User  # noqa: E402

SERVERS = {"run": "make --no-print-directory run PORT={port}",
           "serve": "make --no-print-directory serve PORT={port}"}
PAGES = ("sampling", "likelihood", "masks", "tiny")
# What a user changes in --rerun: widget keys (protocol.Page.rerun_message) per page.
RERUNS = {"sampling": {"seed": "7"}, "masks": {"seed": "7"}, "likelihood": {"lik_invert": True},
          "tiny": {"seed": "7"}}
MAX_USERS = 1000
QUIET_CPU = 0.15  # cores: the server is quiet below this over a second
QUIET_WAIT_S = 120
HEALTH_WAIT_S = 120
CLK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# --- the server and its processes -----------------------------------------------------------

def descendants(root: int) -> list[int]:
    """root and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def process_stats(pids: list[int]) -> dict[int, tuple[float, int, int, str]]:
    """pid -> (CPU seconds, RSS bytes, peak RSS bytes, name) for the pids still alive."""
    stats = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        name = status.split("\n", 1)[0].split(":", 1)[1].strip()
        peak = next((int(line.split()[1]) * 1024 for line in status.splitlines()
                     if line.startswith("VmHWM:")), 0)
        stats[pid] = ((int(fields[11]) + int(fields[12])) / CLK, int(fields[21]) * PAGE_SIZE,
                      peak, name)
    return stats


class Watch:
    """The server tree's CPU and memory while a crowd runs: sampled every 0.2 s."""

    def __init__(self, root: int):
        self.root = root
        self.start = process_stats(descendants(root))
        self.last = dict(self.start)
        self.peak_total = sum(s[1] for s in self.start.values())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            now = process_stats(descendants(self.root))
            self.last.update(now)
            self.peak_total = max(self.peak_total, sum(s[1] for s in now.values()))

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.last.update(process_stats(descendants(self.root)))
        cpu = sum(s[0] - self.start.get(pid, (0.0,))[0] for pid, s in self.last.items())
        largest = max(self.last.values(), key=lambda s: s[2])
        return {"cpu_s": round(cpu, 2), "peak_rss_total_bytes": self.peak_total,
                "largest_process_peak_bytes": largest[2], "largest_process": largest[3],
                "processes": len(self.last)}


def tree_cpu(root: int) -> float:
    return sum(s[0] for s in process_stats(descendants(root)).values())


def wait_quiet(root: int, limit: float = QUIET_WAIT_S) -> float:
    """Wait until the server tree uses under QUIET_CPU cores over a second; seconds waited."""
    began = time.time()
    before = tree_cpu(root)
    while time.time() - began < limit:
        time.sleep(1.0)
        now = tree_cpu(root)
        if now - before < QUIET_CPU:
            break
        before = now
    return time.time() - began


class Server:
    """A server command ({port}) in a process group of its own, its output kept."""

    def __init__(self, name: str, command: str, port: int):
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            shlex.split(command.format(port=port)), cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.process.stdout:
            self.log.append(raw.decode(errors="replace").rstrip())

    def wait_healthy(self, limit: float = HEALTH_WAIT_S) -> None:
        deadline = time.time() + limit
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n" + "\n".join(self.log[-30:]))
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name}: no answer from /_stcore/health in {limit:.0f} s")

    def log_errors(self) -> list[str]:
        return [line for line in self.log if " ERROR " in line or "Traceback" in line]

    def stop(self) -> None:
        stop_group(self.process)
        self._reader.join(timeout=5)


# --- the crowd ------------------------------------------------------------------------------

async def one_user(url: str, page: str, static: Static | None = None) -> Load:
    user = User(url, page)
    try:
        return await user.open(time.perf_counter(), static)
    finally:
        await user.close()


async def warm(url: str, pages: list[str], times: int) -> list[str]:
    """Open each page `times` times, one user at a time: the errors seen."""
    errors = []
    for page in pages:
        for _ in range(times):
            errors += (await one_user(url, page)).errors
    return errors


async def crowd(url: str, page: str, users: int, static: Static | None,
                action: Action | None = None) -> tuple[list[Load], list[Load]]:
    """N users open the page at the same moment; with an action, then all act at once."""
    people = [User(url, page) for _ in range(users)]
    try:
        start = time.perf_counter()
        loads = await asyncio.gather(*(u.open(start, static) for u in people))
        second: list[Load] = []
        if action:
            ready = [u for u, load in zip(people, loads) if load.finished is not None]
            await asyncio.gather(*(action.prepare(u) for u in ready))
            start = time.perf_counter()
            second = await asyncio.gather(*(action.act(u, start) for u in ready))
        return list(loads), list(second)
    finally:
        await asyncio.gather(*(u.close() for u in people), return_exceptions=True)


class Action:
    """What every user does at once after the page has loaded: a rerun (RERUNS)."""

    name = "rerun"

    def __init__(self, page: str):
        self.changes = RERUNS[page]

    async def prepare(self, user: User) -> None:
        pass

    async def act(self, user: User, start: float) -> Load:
        return await user.rerun(self.changes, start)


class Upload(Action):
    """Likelihood: every user uploads the same image at once (switched to Upload beforehand);
    an answer is the page's note that the image is the upload."""

    name = "upload"

    def __init__(self, file: str):
        self.file_name, self.data = upload_file(file)

    async def prepare(self, user: User) -> None:
        await user.rerun({"lik_source": "Upload"}, time.perf_counter())

    async def act(self, user: User, start: float) -> Load:
        load = await user.upload("lik_upload", self.file_name, own_copy(self.data, id(user)),
                                 start)
        if not load.errors and not any(f"uploaded {self.file_name}" in t for t in load.texts):
            load.errors.append("the page did not take the upload: "
                               + next((t[:120] for t in load.texts if "upload" in t), "no note"))
        return load


def own_copy(data: bytes, tag: int) -> bytes:
    """The same picture in a file of its own (a comment added): each student uploads their
    own photo, and the server must not be able to tell two apart by their bytes."""
    import struct
    import zlib

    note = f"user {tag}".encode()
    if data.startswith(b"\x89PNG"):  # a tEXt chunk before IEND (the last 12 bytes)
        body = b"Comment\x00" + note
        chunk = (struct.pack(">I", len(body)) + b"tEXt" + body
                 + struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF))
        return data[:-12] + chunk + data[-12:]
    if data.startswith(b"\xff\xd8"):  # a JPEG comment segment after the start marker
        return data[:2] + b"\xff\xfe" + struct.pack(">H", len(note) + 2) + note + data[2:]
    return data + note  # other formats: trailing bytes most decoders ignore


def upload_file(kind: str) -> tuple[str, bytes]:
    """--upload: a file's path, or "png" / "jpeg" / "rgba-png": a 40-megapixel photo-sized
    image (7744 x 5164, the most the page reads) of a 7, dark on light, as from a phone."""
    if kind not in ("png", "jpeg", "rgba-png"):
        return Path(kind).name, Path(kind).read_bytes()
    import io

    from PIL import Image, ImageDraw

    image = Image.new("L", (7744, 5164), 235)
    draw = ImageDraw.Draw(image)
    draw.line([(2000, 800), (5600, 800)], fill=20, width=420)
    draw.line([(5600, 800), (3300, 4600)], fill=20, width=420)
    mode, form = {"png": ("RGB", "PNG"), "jpeg": ("RGB", "JPEG"),
                  "rgba-png": ("RGBA", "PNG")}[kind]
    out = io.BytesIO()
    image.convert(mode).save(out, format=form)
    return f"seven-40mp.{form.lower()}", out.getvalue()


def timing(loads: list[Load]) -> dict:
    firsts = [l.first for l in loads if l.first is not None]
    marks = {name: [getattr(l, name) for l in loads if getattr(l, name) is not None]
             for name in ("connected", "session")}
    finished = [l.finished for l in loads if l.finished is not None]
    errors = [e for l in loads for e in l.errors]
    return {"users": len(loads),
            **{f"{name}_p{q}_s": percentile(values, q) for name, values in marks.items()
               for q in (50, 95)},
            "first_p50_s": percentile(firsts, 50),
            "first_p95_s": percentile(firsts, 95), "finished_p50_s": percentile(finished, 50),
            "finished_p95_s": percentile(finished, 95),
            "finished_max_s": max(finished) if finished else None,
            "errors": len(errors) + sum(l.finished is None for l in loads if not l.errors),
            "error_kinds": dict(Counter(e[:80] for e in errors).most_common(8)),
            "known_404": sum(l.known_404 for l in loads),
            "static_requests": sum(l.static_requests for l in loads),
            "static_bytes": sum(l.static_bytes for l in loads),
            "messages": dict(sum((Counter(l.messages) for l in loads), Counter())),
            "first_s": [l.first for l in loads], "finished_s": [l.finished for l in loads]}


def measure(server: Server, page: str, users: int, static: Static | None,
            action: Action | None) -> dict:
    load_before = os.getloadavg()[0]
    log_before = len(server.log_errors())
    watch = Watch(server.process.pid)
    tool_before = time.process_time()
    began = time.time()
    loads, second = asyncio.run(crowd(server.url, page, users, static, action))
    tool_cpu = time.process_time() - tool_before
    usage = watch.stop()
    result = {"server": server.name, "page": page, "users": users, "static": static is not None,
              "load": timing(loads), "action": action and action.name,
              "then": timing(second) if action else None,
              "wall_s": round(time.time() - began, 2), "tool_cpu_s": round(tool_cpu, 2),
              "load_average_before": round(load_before, 2), **usage,
              "server_log_errors": server.log_errors()[log_before:][:20]}
    result["load"]["errors"] += len(result["server_log_errors"])
    return result


# --- the report -----------------------------------------------------------------------------

def cell(value, unit: str = "") -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def table(results: list[dict]) -> str:
    head = (f"{'server':<8}{'page':<12}{'users':>6}{'static':>7}  {'first p50/p95':>14}"
            f"  {'finished p50/p95':>17}  {'then p50/p95':>14}{'errors':>7}{'cpu s':>8}"
            f"{'peak MB':>9}{'tool cpu':>9}{'load':>6}")
    lines = ["seconds from the moment every user starts (then: from the moment all rerun or"
             " upload at once); cpu s: the server's processes over the crowd; peak MB: their"
             " summed RSS", head]
    for r in results:
        load, rerun = r["load"], r["then"]
        errors = load["errors"] + (rerun["errors"] if rerun else 0)
        lines.append(
            f"{r['server']:<8}{r['page']:<12}{r['users']:>6}{'yes' if r['static'] else 'no':>7}"
            f"  {cell(load['first_p50_s']):>6} / {cell(load['first_p95_s']):<5}"
            f"  {cell(load['finished_p50_s']):>8} / {cell(load['finished_p95_s']):<6}"
            f"  {cell(rerun and rerun['finished_p50_s']):>6} / "
            f"{cell(rerun and rerun['finished_p95_s']):<5}"
            f"{errors:>7}{r['cpu_s']:>8.1f}{r['peak_rss_total_bytes'] / 2**20:>9.0f}"
            f"{r['tool_cpu_s']:>9.1f}{r['load_average_before']:>6.1f}")
        for kind, n in {**load["error_kinds"], **(rerun["error_kinds"] if rerun else {})}.items():
            lines.append(f"{'':<14}{n} x {kind}")
    return "\n".join(lines)


def record_static(url: str, pages: list[str]) -> dict[str, Static]:
    from tests.load.hall_check import record_static as recorded

    return recorded(url, pages)


def run_servers(args) -> list[dict]:
    results = []
    for name in args.server:
        name, _, command = name.partition("=")  # NAME=COMMAND: another server, named
        server = Server(name, command or SERVERS.get(name, name), free_port())
        try:
            server.wait_healthy()
            static = record_static(server.url, args.page) if args.static else {}
            warm_errors = asyncio.run(warm(server.url, args.page, args.warm))
            if warm_errors:
                print(f"{name}: warm-up errors: {warm_errors[:5]}", file=sys.stderr)
            for page in args.page:
                wait_quiet(server.process.pid)
                action = (Upload(args.upload) if args.upload else
                          Action(page) if args.rerun else None)
                result = measure(server, page, args.users, static.get(page), action)
                results.append(result)
                print(table([result]).splitlines()[-1], flush=True)
        finally:
            server.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load.hall",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200, help="users opening at once")
    parser.add_argument("--page", default="sampling",
                        help=f"comma-separated pages: {', '.join(PAGES)}")
    parser.add_argument("--server", action="append", metavar="run|serve|NAME=COMMAND",
                        help="`make run`, `make serve` or a command with {port} (another"
                             " checkout, say); repeat to measure several one after the other"
                             " (default: run and serve)")
    parser.add_argument("--static", action="store_true",
                        help="each user also fetches the static files, as an empty cache does")
    parser.add_argument("--rerun", action="store_true",
                        help="then every user changes a widget at once")
    parser.add_argument("--upload", metavar="png|jpeg|rgba-png|FILE",
                        help="(likelihood) then every user uploads this image at once: a"
                             " 40-megapixel one of the kind named, or a file")
    parser.add_argument("--warm", type=int, default=4,
                        help="page loads of each page, one at a time, before the crowd")
    parser.add_argument("--check", action="store_true",
                        help="compare the tool with headless Chromium, one user at a time")
    parser.add_argument("--runs", type=int, default=5, help="--check: runs of each")
    parser.add_argument("--out", type=Path, help="the JSON report")
    args = parser.parse_args(argv)
    args.page = [p.strip() for p in args.page.split(",") if p.strip()]
    if unknown := [p for p in args.page if p not in PAGES]:
        parser.error(f"--page: unknown {unknown}; pages: {', '.join(PAGES)}")
    if args.upload and args.page != ["likelihood"]:
        parser.error("--upload goes with --page likelihood")
    if not 1 <= args.users <= MAX_USERS:
        parser.error(f"--users must be in 1..{MAX_USERS}")
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be in 1..20")
    ARTIFACTS.mkdir(exist_ok=True)
    if args.check:
        from tests.load import hall_check

        report = hall_check.check(args.page, args.runs)
        out = args.out or ARTIFACTS / "hall-check.json"
        out.write_text(json.dumps(report, indent=1, default=str))
        print(hall_check.check_table(report))
        print(f"\nJSON: {out}")
        return 0 if hall_check.check_passed(report) else 1
    args.server = args.server or ["run", "serve"]
    results = run_servers(args)
    out = args.out or ARTIFACTS / f"hall-{args.users}-{'-'.join(args.page)}.json"
    out.write_text(json.dumps(results, indent=1))
    print()
    print(table(results))
    print(f"\nJSON: {out}")
    return 1 if any(r["load"]["errors"] or (r["then"] and r["then"]["errors"])
                    for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

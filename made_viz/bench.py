"""`python -m made_viz.bench`: the performance figures, each against its target.

Times are medians over --repeat runs (the machine is small, shared and noisy), measured with
time.perf_counter in this process after a warm-up call, with --threads torch and OpenBLAS
threads (default 1: on two shared cores a second thread mostly waits for a core; log_prob is
also shown with torch's own default). Peak memory of the large mask build is measured in a
fresh subprocess: its peak resident set (VmHWM, reset through /proc/self/clear_refs after the
imports) and tracemalloc's peak (NumPy reports its buffers to tracemalloc) as a cross-check;
the larger is held against the target. --quick runs every measurement at small sizes to check
that the bench works; its figures are not held against the targets.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import checkpoint, data, likelihood, neighbours, network, sampling
from .blas import openblas_threads
from .masks import build_masks
from .model import MADE
from .validation import int_argument

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Sizes:
    small_masks: tuple[int, tuple[int, ...]]
    large_masks: tuple[int, tuple[int, ...]]
    batch: int
    quick: bool
    tiny_D: int = 16         # enumeration of all 2^D patterns
    tiny_runs: int = 5       # training runs (seeds 0..) timed to KL < 0.05
    tiny_cap_s: float = 30   # a run that has not got there by then counts as this


FULL = Sizes((784, (500, 500)), (4096, (8192,)), 64, quick=False)
QUICK = Sizes((64, (100, 100)), (256, (512,)), 8, quick=True, tiny_D=8, tiny_runs=1,
              tiny_cap_s=2)


@dataclass
class Result:
    name: str
    value: float
    unit: str
    target: str          # e.g. "<= 50 ms"
    passed: bool | None  # None: no target at these sizes
    note: str = ""


@dataclass
class Timing:
    median: float  # seconds
    best: float
    runs: int

    def note(self, scale: float = 1e3, unit: str = "ms") -> str:
        return f"median of {self.runs}, best {self.best * scale:.3g} {unit}"


def timed(call: Callable[[], object], repeat: int) -> Timing:
    call()  # warm-up: caches, plans, lazy imports
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return Timing(statistics.median(times), min(times), repeat)


def check(value: float, limit: float, at_most: bool, sizes: Sizes) -> bool | None:
    if sizes.quick:
        return None
    return value <= limit if at_most else value >= limit


# ru_maxrss would not do: a child inherits its parent's high-water mark across fork and exec.
_MEMORY_CHILD = r"""
import json, sys, tracemalloc
from made_viz.masks import build_masks

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))

D, hidden = json.loads(sys.argv[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak resident set to the current one
baseline = status("VmRSS:")
tracemalloc.start()
masks = build_masks(D, hidden, seed=0)
masks.connectivity()
_, traced_peak = tracemalloc.get_traced_memory()
print(json.dumps({"peak_rss": status("VmHWM:"), "baseline_rss": baseline,
                  "traced_peak": traced_peak}))
"""


def mask_build_memory(D: int, hidden: tuple[int, ...]) -> dict:
    """Peak memory of build_masks + connectivity in a fresh process, in bytes."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, json.dumps([D, list(hidden)])],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    if done.returncode:
        raise RuntimeError(f"memory measurement failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


def bench_masks(sizes: Sizes, repeat: int) -> list[Result]:
    results = []
    for (D, hidden), limit in ((sizes.small_masks, 0.050), (sizes.large_masks, 2.0)):
        t = timed(lambda: build_masks(D, hidden, seed=0).connectivity(), repeat)
        results.append(Result(f"masks + connectivity, D={D} hidden {list(hidden)}",
                              t.median * 1e3, "ms", f"<= {limit * 1e3:.0f} ms",
                              check(t.median, limit, True, sizes), t.note()))
    D, hidden = sizes.large_masks
    memory = mask_build_memory(D, hidden)
    peak = max(memory["peak_rss"], memory["traced_peak"])
    results.append(Result(
        f"  peak memory of that step (D={D})", peak / 2**20, "MiB", "<= 1024 MiB",
        check(peak, 2**30, True, sizes),
        f"fresh process: peak RSS {memory['peak_rss'] / 2**20:.0f} MiB (of which"
        f" {memory['baseline_rss'] / 2**20:.0f} MiB before the step), tracemalloc peak"
        f" {memory['traced_peak'] / 2**20:.0f} MiB"))
    return results


def load_model(sizes: Sizes) -> tuple[MADE, str]:
    if sizes.quick:
        return MADE(64, [32], seed=0).eval(), "a fresh MADE 64-32-64 (--quick)"
    if "mnist" not in checkpoint.list_pretrained():
        return (MADE(784, [500], seed=0).eval(),
                f"a freshly initialized MADE 784-500 (no bundled model in"
                f" {checkpoint.pretrained_root()})")
    # A bundled model that does not load is a broken install: main() says so and exits,
    # rather than measuring some other model.
    model, _ = checkpoint.load_pretrained("mnist")
    return model, f"bundled 'mnist' ({model.D}-{'-'.join(map(str, model.hidden_sizes))})"




def bench_sampling(model: MADE, sizes: Sizes, repeat: int) -> list[Result]:
    n = sizes.batch
    slow_repeat = max(1, repeat // 5)  # the naive sampler takes seconds per run
    start = time.perf_counter()
    network.STORE.forget(model)
    sampling.sample(model, 1, seed=0)
    plan_seconds = time.perf_counter() - start
    fast_1 = timed(lambda: sampling.sample(model, 1, seed=1), repeat * 4)
    fast_n = timed(lambda: sampling.sample(model, n, seed=1), repeat)
    naive_1 = timed(lambda: sampling.sample(model, 1, seed=1, method="naive"), slow_repeat)
    naive_n = timed(lambda: sampling.sample(model, n, seed=1, method="naive"), slow_repeat)
    # A plain loop calls model(x) once per pixel on a batch of the same size: D times one call.
    x = torch.zeros(n, model.D)
    with torch.inference_mode():
        one_call = timed(lambda: model(x), repeat * 4)
    plain_n = model.D * one_call.median
    return [
        Result("first sample call (builds and caches the plan)", plan_seconds * 1e3, "ms", "-",
               None, "once per model and mask"),
        Result("fast sampler, one full digit (n=1)", fast_1.median * 1e3, "ms", "<= 10 ms",
               check(fast_1.median, 0.010, True, sizes), fast_1.note()),
        Result(f"fast sampler, {n} digits", fast_n.median * 1e3, "ms", "<= 50 ms",
               check(fast_n.median, 0.050, True, sizes), fast_n.note()),
        Result("naive sampler, one digit (n=1)", naive_1.median * 1e3, "ms", "-", None,
               naive_1.note() + "; D full float64 forward passes"),
        Result(f"naive sampler, {n} digits", naive_n.median * 1e3, "ms", "-", None,
               naive_n.note()),
        Result("  fast / naive speed-up, n=1", naive_1.median / fast_1.median, "x", "-", None,
               "medians, same run"),
        Result(f"  fast / naive speed-up, n={n}", naive_n.median / fast_n.median, "x", ">= 10 x",
               check(naive_n.median / fast_n.median, 10, False, sizes), "medians, same run"),
        Result(f"plain torch float32 loop (model(x) per pixel), {n} digits", plain_n * 1e3, "ms",
               "-", None, f"D x the median of {one_call.runs} model(x) calls; not exact,"
                          " for comparison"),
        Result(f"  fast / plain torch loop speed-up, n={n}", plain_n / fast_n.median, "x", "-",
               None, "same run"),
    ]


def bench_log_prob(model: MADE, sizes: Sizes, repeat: int, default_threads: int) -> list[Result]:
    if sizes.quick:
        images = np.random.default_rng(0).integers(0, 2, size=(1000, model.D), dtype=np.uint8)
        source = "1000 random images"
    else:
        images = data.load_test_subset().images
        source = f"the bundled test subset ({len(images)} images)"
    x = torch.from_numpy(images.astype(np.float32))

    def score():
        with torch.inference_mode():
            return model.log_prob(x)

    def result(name: str, t: Timing, target: str, passed) -> Result:
        return Result(name, len(images) / t.median, "images/s", target, passed,
                      f"{source} in one batch; median of {t.runs},"
                      f" best {len(images) / t.best:,.0f} images/s")

    t = timed(score, repeat * 4)
    results = [result("log_prob throughput", t, ">= 20000 images/s",
                      check(len(images) / t.median, 20_000, False, sizes))]
    if default_threads != torch.get_num_threads():
        chosen = torch.get_num_threads()
        torch.set_num_threads(default_threads)
        try:
            t = timed(score, repeat * 4)
        finally:
            torch.set_num_threads(chosen)
        results.append(result(f"  the same with torch's default {default_threads} threads", t,
                              ">= 20000 images/s",
                              check(len(images) / t.median, 20_000, False, sizes)))
    return results


def bench_scoring(model: MADE, sizes: Sizes, repeat: int) -> list[Result]:
    """The Likelihood page's work per change: one image under every mask and the ensemble,
    from the weights as NumPy arrays (as the page holds them)."""
    weights = network.MADEWeights.of(model)
    if sizes.quick:
        image = np.random.default_rng(0).integers(0, 2, model.D, dtype=np.uint8)
    else:
        image = data.load_test_subset().images[0]
    start = time.perf_counter()
    likelihood.score_image(weights, image)
    build_seconds = time.perf_counter() - start
    t = timed(lambda: likelihood.score_image(weights, image), repeat * 10)
    K = model.num_masks
    return [
        Result("first score (builds the masked float32 weights)", build_seconds * 1e3, "ms", "-",
               None, "once per model"),
        Result(f"score one image: all {K} masks + ensemble", t.median * 1e3, "ms", "<= 20 ms",
               check(t.median, 0.020, True, sizes), t.note() + "; per-pixel terms included"),
    ]


def bench_neighbours(model: MADE, sizes: Sizes, repeat: int) -> list[Result]:
    """The Sampling page's 16-at-once view: each sample's nearest binarized training digit."""
    start = time.perf_counter()
    training = neighbours.load_training_set()
    load_seconds = time.perf_counter() - start
    if sizes.quick or model.D != neighbours.PIXELS:
        images = np.random.default_rng(0).integers(0, 2, (16, neighbours.PIXELS), dtype=np.uint8)
        source = "16 random images"
    else:
        images, source = sampling.sample(model, 16, seed=0), "16 samples of the model"
    t = timed(lambda: training.nearest(images, k=1), repeat * 4)
    return [
        Result("load the packed training set (checksum included)", load_seconds * 1e3, "ms", "-",
               None, f"once per server; {training.nbytes / 2**20:.1f} MiB held"),
        Result(f"nearest training digit: 16 images vs {len(training):,}", t.median * 1e3, "ms",
               "<= 50 ms", check(t.median, 0.050, True, sizes),
               t.note() + f"; {source}, Hamming distance by XOR + popcount"),
    ]


def bench_tiny(sizes: Sizes, repeat: int) -> list[Result]:
    """The Tiny world page: enumerating every pattern, and the default world's time to learn."""
    from . import tiny

    setup, D = tiny.DEFAULT_SETUP, sizes.tiny_D
    results = []
    for hidden in (setup.hidden_sizes, (64, 64, 64)):
        model = tiny.new_model([build_masks(D, hidden, seed=0, direct=True)], seed=0)
        t = timed(lambda: tiny.enumerate_log_probs(model), repeat)
        results.append(Result(f"Tiny: log p(x) of all 2^{D} = {2 ** D:,} patterns, hidden"
                              f" {list(hidden)}", t.median * 1e3, "ms", "<= 500 ms",
                              check(t.median, 0.5, True, sizes), t.note()))
    world = tiny.world_from_settings(setup)
    times = [_seconds_to_kl(world, setup, seed, sizes.tiny_cap_s)
             for seed in range(sizes.tiny_runs)]
    median = statistics.median(times)
    results.append(Result(
        f"Tiny: default world ({world.name}, hidden {list(setup.hidden_sizes)}) to KL < 0.05",
        median, "s", "<= 10 s", check(median, 10, True, sizes),
        f"median of {len(times)} seeds: " + ", ".join(f"{t:.1f}" for t in times) + " s"))
    return results


def _seconds_to_kl(world, setup, seed: int, cap: float, kl: float = 0.05) -> float:
    """Seconds of training (reports every 0.1 s included) until the exact KL is below `kl`."""
    from . import tiny

    masks = [build_masks(world.D, setup.hidden_sizes, ordering=setup.ordering, seed=seed,
                         hidden_degrees=setup.degrees, direct=setup.direct)]
    settings = tiny.TrainSettings(seconds=cap, report_every=0.1)
    for report in tiny.train_live([tiny.new_model(masks, seed)], world, seed=seed,
                                  settings=settings):
        if report.comparisons[0].kl < kl:
            return report.seconds
    return cap


def run(repeat: int = 5, quick: bool = False, threads: int = 1,
        progress: Callable[[str], None] | None = None) -> tuple[list[Result], dict]:
    """Every measurement; returns (results, context) where context says what ran where.

    Runs with `threads` torch and OpenBLAS threads and puts the previous settings back.
    """
    sizes = QUICK if quick else FULL
    say = progress or (lambda message: None)
    model, model_note = load_model(sizes)
    blas = openblas_threads()
    default_torch, default_blas = torch.get_num_threads(), blas[0]() if blas else None
    context = {
        "model": model_note, "repeat": repeat, "quick": quick, "threads": threads,
        "blas_threads": threads if blas else "not controlled (OpenBLAS not found)",
        "default_torch_threads": default_torch, "default_blas_threads": default_blas,
        "cpus": os.cpu_count(), "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    torch.set_num_threads(threads)
    if blas:
        blas[1](ctypes.c_int(threads))
    try:
        say("masks ...")
        results = bench_masks(sizes, repeat)
        say("sampling ...")
        results += bench_sampling(model, sizes, repeat)
        say("log_prob ...")
        results += bench_log_prob(model, sizes, repeat, default_torch)
        say("scoring one image ...")
        results += bench_scoring(model, sizes, repeat)
        say("nearest training digits ...")
        results += bench_neighbours(model, sizes, repeat)
        say("tiny world ...")
        results += bench_tiny(sizes, repeat)
    finally:
        torch.set_num_threads(default_torch)
        if blas:
            blas[1](ctypes.c_int(default_blas))
    context["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    return results, context


def format_table(results: list[Result], context: dict) -> str:
    def shown(r: Result) -> str:
        digits = 0 if r.value >= 100 else 1 if r.value >= 10 else 2
        return f"{r.value:,.{digits}f} {r.unit}"

    status = {True: "PASS", False: "MISS", None: "-"}
    name_width = max(len(r.name) for r in results)
    value_width = max(len(shown(r)) for r in results)
    target_width = max(len(r.target) for r in results)
    lines = [f"made-viz bench: {context['model']}; median of {context['repeat']} unless noted",
             f"{context['cpus']} CPUs, load average {context['load_average'][0]} before and"
             f" {context['load_average_after'][0]} after; torch threads {context['threads']},"
             f" OpenBLAS threads {context['blas_threads']}"]
    if context["quick"]:
        lines.append("--quick: small sizes, targets not checked")
    lines.append("")
    lines.append(f"{'measurement':<{name_width}}  {'measured':>{value_width}}  "
                 f"{'target':<{target_width}}  status  note")
    for r in results:
        lines.append(f"{r.name:<{name_width}}  {shown(r):>{value_width}}  "
                     f"{r.target:<{target_width}}  {status[r.passed]:<6}  {r.note}")
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not a usage dump
        self.exit(2, f"made_viz.bench: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m made_viz.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int_argument("--repeat", 1, 1000), default=5,
                        help="runs per measurement (median)")
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the bench")
    parser.add_argument("--threads", type=int_argument("--threads", 1, 256), default=1,
                        help="torch and OpenBLAS threads while measuring (default 1)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    progress = None if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    try:
        results, context = run(args.repeat, args.quick, args.threads, progress)
    except checkpoint.CheckpointError as error:
        print(f"made_viz.bench: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"context": context, "results": [asdict(r) for r in results]}, indent=1))
    else:
        print(format_table(results, context))
    return 0


if __name__ == "__main__":
    sys.exit(main())

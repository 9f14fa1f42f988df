"""The bench at --quick sizes: every measurement runs and the table and JSON are well formed."""
from __future__ import annotations

import json
import math

import pytest
import torch

from made_viz import bench
from made_viz.model import MADE


@pytest.fixture(scope="module")
def quick_run():
    threads = torch.get_num_threads()
    results, context = bench.run(repeat=1, quick=True, threads=1)
    assert torch.get_num_threads() == threads  # put back as it was
    return results, context


def test_quick_run_measures_everything(quick_run):
    results, context = quick_run
    names = [r.name for r in results]
    for expected in ("masks + connectivity, D=64", "masks + connectivity, D=256", "peak memory",
                     "fast sampler, one full digit", "fast sampler, 8 digits",
                     "naive sampler, one digit", "fast / naive speed-up, n=8",
                     "log_prob throughput", "score one image: all 1 masks + ensemble",
                     "Tiny: log p(x) of all 2^8 = 256 patterns", "Tiny: default world",
                     "nearest training digit: 16 images vs 50,000"):
        assert any(expected in name for name in names), expected
    for r in results:
        assert math.isfinite(r.value) and r.value > 0, r
        assert r.passed is None  # quick sizes are not held against the targets
    memory = next(r for r in results if "peak memory" in r.name)
    assert 1 < memory.value < 1024  # MiB: a real process, far below the limit
    assert context["quick"] and context["repeat"] == 1 and context["threads"] == 1


def test_table_shows_targets_and_status(quick_run):
    results, context = quick_run
    table = bench.format_table(results, context)
    assert "--quick: small sizes, targets not checked" in table
    assert all(r.name in table for r in results)
    assert "<= 10 ms" in table and ">= 10 x" in table and ">= 20000 images/s" in table
    graded = [bench.Result("fast", 12.0, "ms", "<= 10 ms", False),
              bench.Result("slow", 3.0, "ms", "<= 10 ms", True)]
    full_context = dict(context, quick=False)
    lines = bench.format_table(graded, full_context).splitlines()
    assert any(line.startswith("fast") and "MISS" in line for line in lines)
    assert any(line.startswith("slow") and "PASS" in line for line in lines)


@pytest.mark.parametrize("seconds, peak_mib, passed", [(0.001, 100, True), (60.0, 2048, False)])
def test_full_size_measurements_are_held_against_their_targets(monkeypatch, seconds, peak_mib,
                                                               passed):
    """At full sizes every measurement with a target gets PASS or MISS from its own value (here
    made up: every call takes `seconds`, so the fast / naive speed-up is 1, always a MISS)."""
    monkeypatch.setattr(bench, "timed", lambda call, repeat: bench.Timing(seconds, seconds, repeat))
    peak = peak_mib * 2**20
    monkeypatch.setattr(bench, "mask_build_memory", lambda D, hidden: {
        "peak_rss": peak, "baseline_rss": 0, "traced_peak": peak})
    model = MADE(784, [8], seed=0).eval()  # the size of the bundled test digits, small
    results = (bench.bench_masks(bench.FULL, 1) + bench.bench_sampling(model, bench.FULL, 1)
               + bench.bench_log_prob(model, bench.FULL, 1, torch.get_num_threads())
               + bench.bench_neighbours(model, bench.FULL, 1))
    graded = {r.name: r.passed for r in results if r.target != "-"}
    assert len(graded) == 8, graded
    for name, result in graded.items():
        assert result is (False if "speed-up" in name else passed), name


def test_targets_apply_only_at_full_sizes():
    assert bench.check(0.009, 0.010, True, bench.FULL) is True
    assert bench.check(0.011, 0.010, True, bench.FULL) is False
    assert bench.check(9.0, 10, False, bench.FULL) is False
    assert bench.check(0.011, 0.010, True, bench.QUICK) is None


def test_cli_json(capsys):
    assert bench.main(["--quick", "--repeat", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["context"]["quick"] is True
    assert {"name", "value", "unit", "target", "passed", "note"} <= set(report["results"][0])


@pytest.mark.parametrize("argv, message", [
    (["--repeat", "0"], "argument --repeat: must be in 1..1000, got 0"),
    (["--threads", "0"], "argument --threads: must be in 1..256, got 0"),
    (["--repeat", "x"], "argument --repeat: must be a whole number in 1..1000, got 'x'"),
])
def test_cli_bad_arguments_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1

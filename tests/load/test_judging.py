"""The load scripts' verdicts: a latency check with nothing measured fails, never drops out."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.load import lecture_hall, step_cost  # noqa: E402

STEP_CHECK = "Step shown within 1.5x of the bare app's click (median, p95)"


def load_report(app_ms: list[float], bare_ms: list[float]) -> dict:
    def side(**latencies):
        return {"errors": [], "peak_memory_bytes": 2**20, "model_loads": {"mnist": 1},
                **{k: lecture_hall.summary(v) for k, v in latencies.items()}}

    return {"app": side(step_shown=app_ms), "bare": side(step_answered=bare_ms)}


def test_a_bare_app_that_gave_no_samples_fails_the_latency_check():
    report = lecture_hall.judge(load_report([10.0, 12.0], []))
    assert report["checks"][STEP_CHECK] is False and report["step_vs_bare"] is None
    report = lecture_hall.judge(load_report([], [300.0]))
    assert report["checks"][STEP_CHECK] is False


def test_the_latency_check_holds_made_viz_to_the_bare_app():
    assert lecture_hall.judge(load_report([100.0] * 20, [100.0] * 20))["checks"][STEP_CHECK]
    slow = lecture_hall.judge(load_report([100.0] * 19 + [400.0], [100.0] * 20))
    assert slow["step_vs_bare"] == {"median": 1.0, "p95": 4.0}
    assert slow["checks"][STEP_CHECK] is False  # the p95 counts, not only the median


def step_result(static_ms, app_ms, fps):
    return {"static": {"shown_ms": static_ms, "cpu_ms": []},
            "bare": {"shown_ms": [200.0], "cpu_ms": [50.0]},
            "app": {"shown_ms": app_ms, "cpu_ms": [40.0], "play_fps": fps}}


def test_step_cost_fails_without_samples_or_frames():
    checks = step_cost.judge(step_result([], [10.0], 60.0))["checks"]
    assert checks == {"Step shown within 1.5x of the static page (median, p95)": False,
                      "Play >= 30 frames per second": True}
    checks = step_cost.judge(step_result([10.0], [10.0], None))["checks"]
    assert checks["Play >= 30 frames per second"] is False
    checks = step_cost.judge(step_result([10.0] * 4, [10.0, 10.0, 10.0, 16.0], 29.5))["checks"]
    assert list(checks.values()) == [False, False]  # p95 1.6x, 29.5 frames a second


def tour_report(view_ms: list[float], bare_ms: list[float], paints: list[float]) -> dict:
    from tests.load import tour_latency

    return tour_latency.judge({"next": {"view": lecture_hall.summary(view_ms)},
                               "bare_click": lecture_hall.summary(bare_ms),
                               "first_paints": [{"step_painted": p} for p in paints]})


def test_the_tours_checks_fail_when_nothing_was_measured():
    report = tour_report([], [100.0], [])
    assert not any(report["checks"].values()) and report["view_vs_bare_median"] is None
    assert not any(tour_report([100.0], [], [5000.0])["checks"].values())


def test_the_tours_checks_hold_the_next_step_to_the_bare_click_and_the_paint_to_4_s():
    checks = tour_report([140.0] * 5, [100.0] * 5, [3900.0, 3950.0, 4100.0])["checks"]
    assert all(checks.values())
    checks = tour_report([160.0] * 5, [100.0] * 5, [4100.0])["checks"]
    assert not any(checks.values())

"""The Tiny world page's views, drawn from explicit settings: a MADE (and a broken copy)
trained live on a small world, the exact sum of its p(x) over every image, what the masks and
the Jacobian say, and the broken masks. The Tiny world page and the tour call them.

A training run belongs to the session (one per `key`, so the page and each tour step keep
their own) and runs in the session's script thread, a report every quarter second. The Train
button and the curve and sums are a fragment, so a Train click does not resend the rest of the
page; Stop is a page button: pressing it, changing a setting or leaving the page reruns the
page, which makes Streamlit stop the run at its next report, keeping what it had learned.
`key` prefixes every widget, chart and session key of a view.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import streamlit as st

from made_viz import paper, tiny
from made_viz.figures import digits, matrices, tiny as tiny_figures
from made_viz.masks import MaskSet
from made_viz.ui.network_controls import cached_masks, jacobian
from made_viz.ui.server import server_torch

SAMPLES = 12
REPORT_EVERY_S = 0.25
DETAIL_EVERY = 4  # reports between redraws of the p(x) charts and samples while training
CURVE_PX = 420
STYLE = """<style>
.tiny-readout { font-size: 1.55rem; line-height: 1.3; padding: 0.5rem 0.8rem;
  border-radius: 0.5rem; background: #F4F6FA; }
.tiny-readout b { font-size: 2.3rem; font-variant-numeric: tabular-nums; }
.tiny-readout.ok b { color: #1B7F3B; } .tiny-readout.bad b { color: #D62728; }
.tiny-readout.big { font-size: 1.9rem; } .tiny-readout.big b { font-size: 2.9rem; }
.tiny-readout .over { font-size: 1.05rem; color: #4a5060; }
</style>"""


class Trained(NamedTuple):
    """One network of a run: its name on the page, its masks (one per mask k), its colour."""
    label: str
    masks: tuple[MaskSet, ...]
    color: str


def correct_and_broken(sets, broken) -> list[Trained]:
    """The correct MADE and, when there is one, the broken copy beside it."""
    networks = [Trained("correct MADE", tuple(sets), tiny_figures.CORRECT_COLOR)]
    if broken is not None:
        networks.append(Trained("broken", tuple(broken), tiny_figures.BROKEN_COLOR))
    return networks


@dataclass
class TinyRun:
    """One training run of every network of a view (the broken one beside the correct one)."""

    key: tuple
    models: list
    labels: list[str]
    colors: list[str]
    history: list[dict] = field(default_factory=list)
    report: tiny.Report | None = None
    state: str = "untrained"  # training, stopped, done


@dataclass(frozen=True)
class Training:
    """What a training view is drawn from: the world, the networks, the seed, the seconds."""

    world: tiny.World
    networks: tuple[Trained, ...]
    seed: int
    seconds: int
    run_key: tuple  # everything the networks' weights depend on: a new key is a new run


@dataclass(frozen=True)
class Look:
    """How a training view is laid out: `key` prefixes its keys; compact drops the per-pattern
    charts and samples (the tour's card beside it says what they would); autostart trains as
    soon as the view is shown with an untrained run; big: the sums in presenter type."""

    key: str = ""
    compact: bool = False
    autostart: bool = False
    big: bool = False
    curve_px: int = CURVE_PX
    legend_rows: int | None = None  # the curve's legend, where the view is narrower


@lru_cache(maxsize=32)
def broken_masks(net_key: tuple, how: str, flip) -> tuple[MaskSet, ...] | None:
    """The masks broken as asked: every mask for ≥ and no masks, mask 0 for a flipped entry."""
    D, hidden, ordering, degrees, seed, direct, K = net_key
    sets = [cached_masks(D, hidden, ordering, degrees, seed + k, direct)
            for k in range(K)]
    if how == "none" or (how == "flip" and flip is None):
        return None
    if how == "flip":
        layer, row, col = flip
        broken = [tiny.break_masks(sets[0], "flip", layer=layer, row=row, col=col), *sets[1:]]
    else:
        broken = [tiny.break_masks(s, how) for s in sets]
    for masks in broken:
        masks.connectivity()
    return tuple(broken)


@lru_cache(maxsize=64)
def cached_product(masks: MaskSet, height: int = 400):
    # Counts in the cells only while they fit in a half-width column at 1100 px.
    return matrices.path_count_figure(masks, generation_order=True, height=height,
                                      counts_shown=masks.D <= 9 and int(
                                          np.asarray(masks.connectivity()).max()) < 100)


def verdict(masks: MaskSet) -> None:
    """What the masks and the Jacobian say, in one line each."""
    check = jacobian(masks)
    if masks.is_autoregressive() and check["autoregressive"]:
        st.success("**Autoregressive**: no output sees its own input or a later one. The "
                   f"Jacobian agrees ({check['nonzero']} entries ≠ 0, all allowed).",
                   icon=":material/check_circle:")
    else:
        red = int(masks.forbidden_paths().sum())
        st.error(f"**Not autoregressive**: {red} forbidden input → output pairs (red). "
                 f"Jacobian check failed: in {check['forbidden_nonzero']} entries an output "
                 "moves with its own input or a later one.", icon=":material/cancel:")


# --- training, the sum, samples ---------------------------------------------------------------

def new_run(training: Training) -> TinyRun:
    """Fresh networks from the seed: a broken one starts from the correct one's very weights."""
    server_torch()
    models = [tiny.new_model(n.masks, training.seed) for n in training.networks]
    return TinyRun(training.run_key, models, [n.label for n in training.networks],
                   [n.color for n in training.networks])


def _run_key(look: Look) -> str:
    return f"{look.key}_tiny_run"


def current_run(training: Training, look: Look) -> TinyRun:
    """The session's run for these settings; a run for other settings is dropped (one per
    view: its memory stays bounded)."""
    run = st.session_state.get(_run_key(look))
    if run is None or run.key != training.run_key:
        run = new_run(training)
        st.session_state[_run_key(look)] = run
    return run


@dataclass
class Slots:
    """Where the curve and the sums draw: each report of a run redraws only these."""

    progress: object
    curve: object
    results: list  # per network: (read-out, charts and samples)
    draws: int = 0  # keyed charts redrawn within one script run need keys of their own


def training_controls(look: Look = Look(), title: str | None = "3 · Train it, live"):
    """The Train / Stop / progress row. Stop belongs to the page, not to the fragment below:
    its click reruns the page, which stops a run in progress (a click in the fragment would
    wait for it)."""
    if title:
        st.subheader(title)
    train_col, stop_col, progress_col = st.columns([1, 1, 5], vertical_alignment="center")
    stop_col.button("Stop", key=f"{look.key}stop", icon=":material/stop:", width="stretch")
    return train_col.empty(), progress_col.empty()


@st.fragment
def live_training(train_slot, progress, training: Training, look: Look = Look()) -> None:
    """The Train button, the curve and the sums: a Train click reruns only these, so the
    page's other figures are not sent again."""
    train = train_slot.button("Train", key=f"{look.key}train", type="primary",
                              icon=":material/play_arrow:", width="stretch")
    if not look.compact:
        st.caption("Adam on fresh minibatches drawn from the data, the same ones for every "
                   "network. Thin: each minibatch's NLL; thick: the exact expected NLL = H + KL,"
                   " over every image. A distribution never goes below the green line.")
    curve = st.container(key=f"{look.key}curve").empty()
    if not look.compact:
        st.subheader("4 · Does it sum to one?")
    columns = st.columns(len(training.networks), gap="large")
    results = []
    for k, column in enumerate(columns):
        readout = column.container(key=f"{look.key}result_{k}").empty()
        results.append((readout, column.empty()))
    train_or_draw(train, Slots(progress, curve, results), training, look)


def train_or_draw(train: bool, slots: Slots, training: Training, look: Look) -> None:
    """Train when asked, or at once for an autostart view that has not trained yet (the run's
    reports redraw the slots), else draw the run as it is."""
    run = current_run(training, look)
    if run.state == "training":  # its script was stopped at a report: Stop, or a rerun
        run.state = "stopped"
    if train:
        run = new_run(training)
        st.session_state[_run_key(look)] = run
    if train or (look.autostart and run.state == "untrained"):
        train_live(run, training, slots, look)  # its last report draws the end
    else:
        draw(run, training, slots, look)


def train_live(run: TinyRun, training: Training, slots: Slots, look: Look) -> None:
    run.state = "training"
    draw(run, training, slots, look)  # at once: the untrained networks, the bar at 0
    settings = tiny.TrainSettings(seconds=training.seconds, report_every=REPORT_EVERY_S)
    mask = "ensemble" if run.models[0].num_masks > 1 else None
    for report in tiny.train_live(run.models, training.world, seed=training.seed,
                                  settings=settings, mask=mask):
        run.report = report
        for k, entry in enumerate(_history(run)):
            entry["seconds"].append(round(report.seconds, 2))
            entry["train_nll"].append(report.train_nll[k])
            entry["cross_entropy"].append(report.comparisons[k].cross_entropy)
            entry["kl"].append(report.comparisons[k].kl)
        if report.done:
            run.state = "done"
        # Each draw is where Streamlit stops this script if asked: Stop, a new setting.
        draw(run, training, slots, look)


def _history(run: TinyRun) -> list[dict]:
    if not run.history:
        run.history = [dict(label=label, color=color, seconds=[], train_nll=[],
                            cross_entropy=[], kl=[])
                       for label, color in zip(run.labels, run.colors)]
    return run.history


def draw(run: TinyRun, training: Training, slots: Slots, look: Look) -> None:
    report, world = run.report, training.world
    slots.draws += 1
    words = {"untrained": "Not trained yet: press Train.",
             "training": "Training", "stopped": "Stopped", "done": "Done"}[run.state]
    if report is not None:
        words += f": {report.step:,} steps in {report.seconds:.1f} s"
    slots.progress.progress(min(1.0, report.seconds / training.seconds if report else 0.0),
                            text=words)
    slots.curve.plotly_chart(
        tiny_figures.training_curve_figure(_history(run), world.entropy, training.seconds,
                                           height=look.curve_px, legend_rows=look.legend_rows),
        theme=None, config={"displayModeBar": False})
    mask = "ensemble" if run.models[0].num_masks > 1 else None
    # The charts of every pattern and the samples: at the start, every DETAIL_EVERY-th report
    # and at the end; the curve and the sums at every report.
    detail = not look.compact and (run.state != "training" or slots.draws % DETAIL_EVERY == 1)
    for k, (model, (readout, details)) in enumerate(zip(run.models, slots.results)):
        log_q = report.log_probs[k] if report else tiny.enumerate_log_probs(model, mask)
        with readout.container():
            readout_panel(run.labels[k], world, log_q, big=look.big, compact=look.compact)
        if detail:
            with details.container():
                if k == 0 and model.num_masks > 1:
                    logit_average_panel(model, world, f"{look.key}logit_average_{slots.draws}")
                detail_panel(model, world, log_q, training.seed, run.colors[k],
                             f"{look.key}{k}_{slots.draws}", alone=len(run.models) == 1)


def readout_panel(label: str, world: tiny.World, log_q: np.ndarray, big: bool = False,
                  compact: bool = False) -> None:
    """The sum of p(x) over every pattern, big, and what it means (compact: the number under a
    one-line label and a shorter line under it, so that two fit side by side in a column)."""
    comparison = tiny.compare(world, log_q)
    total = comparison.total
    good = abs(total - 1) < 5e-7
    st.markdown(f"#### {label}")
    look = f"tiny-readout {'ok' if good else 'bad'}{' big' if big else ''}"
    below_h = "" if comparison.kl >= -1e-9 else " · **below H: not a distribution**"
    if compact:
        st.html(f"<div class='{look}'><div class='over'>Σ<sub>x</sub> p(x) over all"
                f" 2<sup>{world.D}</sup> = {2 ** world.D:,} images</div><b>{total:,.6f}</b>"
                "</div>")
        st.markdown(f"KL = **{comparison.kl:.4f}** · NLL **{comparison.cross_entropy:.3f}** vs"
                    f" H = {world.entropy:.3f}{below_h}")
        return
    st.html(f"<div class='{look}'>sum of p(x) over all 2<sup>{world.D}</sup> patterns:"
            f" <b>{total:,.6f}</b></div>")
    st.markdown(f"KL(p_true ‖ p_model) = **{comparison.kl:.4f}** nats · expected NLL "
                f"**{comparison.cross_entropy:.3f}** vs H = {world.entropy:.3f}{below_h}")


def logit_average_panel(model, world: tiny.World, key: str) -> None:
    """The same masks combined by averaging their logits, not their probabilities: its sum.
    key: the panel's container, one per draw (a run draws it again at each report)."""
    q = tiny.compare(world, tiny.logit_average_log_q(model))
    K, shared = model.num_masks, len({tuple(m.order) for m in model.mask_sets}) == 1
    with st.container(key=key):
        st.markdown("##### Averaging the masks' logits instead")
        st.html(f"<div class='tiny-readout {'ok' if abs(q.total - 1) < 5e-7 else 'bad'}'>sum of"
                f" q(x) over all 2<sup>{world.D}</sup> patterns: <b>{q.total:,.6f}</b></div>")
        st.markdown(f"its \"expected NLL\" **{q.cross_entropy:.3f}** vs H = {world.entropy:.3f}"
                    + (" · **below H: not a distribution**" if q.kl < -1e-9 else ""))
        st.caption(
            f"The ensemble above averages the {K} masks' probabilities p_k(x): a mixture, it"
            " sums to 1. q multiplies the Bernoullis of their averaged logits instead, and "
            + ("your masks share one ordering, so each averaged logit still sees only the pixels"
               " before its own and q is a distribution too (not the mixture): choose the"
               " ordering random to see it fail." if shared else
               "once orderings differ, a pixel's averaged logit mixes in masks that have seen"
               " pixels coming after it, so no chain rule holds and nothing makes q sum to 1:"
               f" averaging 10 orderings' logits is how karpathy/pytorch-made reported"
               f" {paper.PYTORCH_MADE_LOGIT_AVERAGE} nats on binarized MNIST (one mask:"
               f" {paper.PYTORCH_MADE_ONE_MASK}), a number that is not a likelihood."))



def cell_px(world: tiny.World, per_line: int, width_px: int = 300) -> int:
    return int(max(8, min(26, width_px // (per_line * (world.cols + 1)))))


def detail_panel(model, world: tiny.World, log_q: np.ndarray, seed: int, color: str,
                 key: str, alone: bool) -> None:
    """Learned against true p(x) for every pattern, and the model's samples."""
    # Side by side when the network has the page's width, one under the other beside another.
    chart, samples = (st.columns([1.3, 1], gap="small") if alone else (st.container(),) * 2)
    with chart:
        st.plotly_chart(tiny_figures.probability_figure(world.log_probs, log_q, color=color,
                                                        height=320),
                        key=f"px_{key}", theme=None, config={"displayModeBar": False})
    with samples:
        st.markdown("**Samples of the model**")
        per_line = 4 if alone else 6
        st.plotly_chart(digits.pixel_grid_figure(model_samples(model, seed), world.rows,
                                                  world.cols, per_line=per_line,
                                                  cell_px=cell_px(world, per_line, 300)),
                        key=f"samples_{key}", theme=None, config={"displayModeBar": False})


def model_samples(model, seed: int) -> np.ndarray:
    """Ancestral samples, one full pass per pixel, exactly as the model's outputs say (the
    naive sampler: a broken network's outputs are no conditionals, so no shortcut holds)."""
    from made_viz.network import MADEWeights
    from made_viz.sampling import sample

    mask = "ensemble" if model.num_masks > 1 else 0
    return sample(MADEWeights.of(model), SAMPLES, seed=seed, mask=mask, method="naive")


def data_samples_figure(world: tiny.World, seed: int, per_line: int = 6):
    """The world's own samples as a pixel grid."""
    images = world.sample(SAMPLES, np.random.default_rng(seed))
    return digits.pixel_grid_figure(images, world.rows, world.cols, per_line=per_line,
                                    cell_px=cell_px(world, per_line))

"""Tiny world page: train a small MADE live, add up its p(x) over every image, then break a mask.

The story reads top to bottom: 1 the data (its exact distribution and entropy H), 2 the network
(the Masks page's controls, same URL keys), 3 train (live curve against H), 4 does it sum to
one (the exact sum, learned against true p(x), samples), 5 break it (side by side with the
correct network, same seed, same data). Every number is computed: the sum is an enumeration of
the model's own log-probabilities.

A training run belongs to the session (st.session_state holds one run at most) and runs in the
session's own script thread, a report every quarter second. Train and sections 3-4 are a
fragment, so a Train click does not resend the page's other figures; Stop is a page button:
pressing it, changing a setting or leaving the page reruns the page, which makes Streamlit stop
the run at its next report, keeping what it had learned by then.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache, partial

import numpy as np
import streamlit as st

from made_viz import tiny
from made_viz.figures import digits, graph, matrices, tiny as tiny_figures
from made_viz.masks import MaskSet
from made_viz.validation import parse_int_list
from made_viz.ui.network_controls import cached_masks, jacobian, network_controls, remember_order
from made_viz.ui.server import server_torch
from made_viz.ui.widgets import choice, int_input, last_valid, number_slider, parsed_input

MAX_SIDE = 8
MAX_LAYERS = 3
MAX_UNITS = 64
MAX_MASKS = 8
MAX_SECONDS = 30
SAMPLES = 12
REPORT_EVERY_S = 0.25
DETAIL_EVERY = 4  # reports between redraws of the p(x) charts and samples while training
SETUP = tiny.DEFAULT_SETUP
DEFAULTS = dict(hidden=", ".join(map(str, SETUP.hidden_sizes)), ordering=SETUP.ordering,
                degrees=SETUP.degrees, seed=SETUP.seed, direct=SETUP.direct)
BREAK_CHOICES = ("none", *tiny.BREAKS)
BREAK_LABELS = {"none": "the masks as MADE builds them",
                "sees-self": "into the outputs ≥ instead of >: each output sees its own input",
                "flip": "one mask entry flipped: click a cell of a layer mask in 5",
                "unmasked": "every mask all ones: a plain autoencoder"}
STYLE = """<style>
.tiny-readout { font-size: 1.55rem; line-height: 1.3; padding: 0.5rem 0.8rem;
  border-radius: 0.5rem; background: #F4F6FA; }
.tiny-readout b { font-size: 2.3rem; font-variant-numeric: tabular-nums; }
.tiny-readout.ok b { color: #1B7F3B; } .tiny-readout.bad b { color: #D62728; }
</style>"""


@dataclass
class TinyRun:
    """One training run of the correct network (and the broken one, when there is one)."""

    key: tuple
    models: list
    labels: list[str]
    colors: list[str]
    history: list[dict] = field(default_factory=list)
    report: tiny.Report | None = None
    state: str = "untrained"  # training, stopped, done


# --- reading the controls ---------------------------------------------------------------------

def _prototype_text(prototypes) -> str:
    return ", ".join(map(str, prototypes))


def _parse_prototypes(text: str, D: int) -> tuple[int, ...]:
    return tiny.check_prototypes(parse_int_list(text, "prototypes"), D)


def read_world():
    """The world the sidebar asks for, or (None, the reason naming the field)."""
    st.header("1 · Data")
    # Options as they read in the URL (a selectbox puts its shown text there).
    data = choice("data set", "data", tiny.DATA_SETS, default=SETUP.data,
                  help="prototypes: a few images with pixel-flip noise. bars-and-stripes: every "
                       "image whose rows, or whose columns, are each all on or all off.")
    rows = int_input("rows", "rows", default=SETUP.rows, low=1, high=MAX_SIDE,
                     help=f"Image height; D = rows × columns must be in {tiny.MIN_D}.."
                          f"{tiny.MAX_D}.")
    cols = int_input("columns", "cols", default=SETUP.cols, low=1, high=MAX_SIDE)
    try:
        D = tiny.check_size(rows, cols)
    except ValueError as error:
        return None, str(error)
    if data == "bars-and-stripes":
        return tiny.bars_and_stripes(rows, cols), None
    if st.session_state.get("_tiny_size", (rows, cols)) != (rows, cols):
        st.session_state["protos"] = _prototype_text(tiny.default_prototypes(rows, cols))
    st.session_state["_tiny_size"] = (rows, cols)
    noise = number_slider("noise: pixel flip probability", "noise", low=0.0,
                          high=tiny.MAX_NOISE, step=0.01, default=SETUP.noise,
                          help="Each pixel of the chosen prototype flips with this probability.")
    prototypes = parsed_input(
        "prototypes", "protos", default=_prototype_text(tiny.default_prototypes(rows, cols)),
        parse=lambda text: _parse_prototypes(text, D),
        expected=f"1..{tiny.MAX_PROTOTYPES} pattern numbers in 0..{2 ** D - 1}",
        help="Pattern numbers: pixel d is bit d. Easier: click pixels in 1.")
    try:
        return tiny.noisy_prototypes(rows, cols, prototypes, noise), None
    except ValueError as error:
        return None, str(error)


def _parse_flip(text: str, masks: MaskSet):
    """'2, 3, 5' -> W2[3, 5], as (layer index 1, row 3, col 5); '' -> None."""
    if not text.strip():
        return None
    values = parse_int_list(text, "flipped entry")
    shapes = [m.shape for m in masks.layer_masks]
    if len(values) != 3 or not 1 <= values[0] <= len(shapes):
        raise ValueError(f"flipped entry: 'layer, row, column' with layer in 1..{len(shapes)},"
                         f" got {text.strip()[:30]!r}")
    rows, cols = shapes[values[0] - 1]
    if not (0 <= values[1] < rows and 0 <= values[2] < cols):
        raise ValueError(f"flipped entry: W{values[0]} has rows 0..{rows - 1} and columns"
                         f" 0..{cols - 1}, got ({values[1]}, {values[2]})")
    return values[0] - 1, values[1], values[2]


def read_network(D: int):
    """The correct masks (one per mask k) the controls ask for, or (None, the reason)."""
    st.header("2 · Network")
    hidden, ordering, degrees, seed, direct = network_controls(
        D, defaults=DEFAULTS, max_layers=MAX_LAYERS, max_units=MAX_UNITS)
    K = int_input("number of masks K", "K", default=SETUP.K, low=1, high=MAX_MASKS,
                  help="Connectivity-agnostic training: each minibatch uses one of K masks; "
                       "p(x) is their average.")
    seconds = int_input("training time (seconds)", "secs", default=8, low=1, high=MAX_SECONDS)
    try:
        sets = tuple(cached_masks(D, hidden, ordering, degrees, seed + k, direct)
                     for k in range(K))
    except ValueError as error:
        return None, str(error)
    remember_order(sets[0])
    return (sets, (D, hidden, ordering, degrees, seed, direct, K), seed, seconds), None


def read_break(masks: MaskSet):
    st.header("5 · Break it")
    how = choice("break the masks", "break", BREAK_CHOICES, default="none",
                 help=" · ".join(f"{name}: {words}" for name, words in BREAK_LABELS.items()))
    st.caption(BREAK_LABELS[how])
    flip = parsed_input("flipped entry", "flip", default="", keep_last=False,
                        parse=lambda text: _parse_flip(text, masks),
                        expected="'layer, row, column' of a layer mask, such as '2, 0, 3'",
                        help="Click a cell of a layer mask in 5, or type W's number, the row "
                             "and the column.")
    return how, flip


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


# --- drawing ----------------------------------------------------------------------------------

def data_section(world: tiny.World, seed: int) -> None:
    st.subheader("1 · The data: every image and its exact probability")
    editor, samples, facts = st.columns([1.5, 1.3, 1], gap="medium")
    possible = int(np.isfinite(world.log_probs).sum())
    with facts:
        st.markdown(f"**{world.name}**\n\n- D = {world.D} pixels: **{2 ** world.D:,}** possible "
                    f"images\n- {possible:,} of them can occur\n- entropy **H = "
                    f"{world.entropy:.3f} nats**: no distribution can have an expected NLL "
                    "below it")
    with samples:
        st.markdown("**Samples of the data**")
        images = world.sample(SAMPLES, np.random.default_rng(seed))
        st.plotly_chart(digits.pixel_grid_figure(images, world.rows, world.cols, per_line=6,
                                                 cell_px=_cell_px(world, 6)),
                        key="data_samples", theme=None, config={"displayModeBar": False})
    with editor:
        if st.session_state.get("data", SETUP.data) == "prototypes":
            prototype_editor(world)
        else:
            st.markdown("**Bars and stripes**: every image whose rows are each all on or all "
                        "off, or whose columns are, equally likely.")


def _cell_px(world: tiny.World, per_line: int, width_px: int = 300) -> int:
    return int(max(8, min(26, width_px // (per_line * (world.cols + 1)))))


def prototype_editor(world: tiny.World) -> None:
    prototypes = parsed_prototypes(world.D)
    st.markdown("**Prototypes**: click a pixel to flip it")
    images = tiny.all_patterns(world.D)[list(prototypes)]
    key = f"protos_grid_{st.session_state.get('_tiny_edits', 0)}"
    st.plotly_chart(
        digits.pixel_grid_figure(images, world.rows, world.cols, clickable=True,
                                 titles=[f"#{k + 1}" for k in range(len(images))],
                                 per_line=4, cell_px=_cell_px(world, 4, 340)),
        key=key, theme=None, on_select=partial(_on_prototype_click, key, prototypes),
        selection_mode="points", config={"displayModeBar": False})
    add, remove = st.columns(2)
    add.button("add", key="proto_add", icon=":material/add:",
               disabled=len(prototypes) >= tiny.MAX_PROTOTYPES, on_click=_set_prototypes,
               args=((*prototypes, 0),))
    remove.button("remove", key="proto_remove", icon=":material/remove:",
                  on_click=_set_prototypes, args=(prototypes[:-1],))


def parsed_prototypes(D: int) -> tuple[int, ...]:
    try:
        return _parse_prototypes(st.session_state.get("protos", ""), D)
    except ValueError:
        return tuple(p for p in (last_valid("protos") or ()) if p < 2 ** D)


def _set_prototypes(prototypes) -> None:
    st.session_state["protos"] = _prototype_text(prototypes)
    st.session_state["_tiny_edits"] = st.session_state.get("_tiny_edits", 0) + 1


# A chart's selection comes from the browser: a point that names no cell is ignored.
_BAD_POINT = (TypeError, ValueError, IndexError, KeyError, AttributeError)


def _on_prototype_click(key: str, prototypes: tuple[int, ...]) -> None:
    event = st.session_state.get(key)
    try:
        for point in (event["selection"]["points"] if event else []):
            data = point.get("customdata")
            if data:
                image, pixel = int(data[0]), int(data[1])
                if not (0 <= image < len(prototypes) and 0 <= pixel < tiny.MAX_D):
                    return
                changed = list(prototypes)
                changed[image] ^= 1 << pixel
                _set_prototypes(changed)
                return
    except _BAD_POINT:
        return


def network_section(sets) -> None:
    st.subheader("2 · The network and its masks")
    st.plotly_chart(cached_graph(sets[0]), key="tiny_graph", theme=None,
                    config={"displayModeBar": False})
    if len(sets) > 1:
        st.caption(f"Mask 1 of {len(sets)}; the others differ in their hidden degrees.")
    product, words = st.columns([1, 1], gap="medium")
    with product:
        st.plotly_chart(cached_product(sets[0]), key="tiny_paths", theme=None,
                        config={"displayModeBar": False})
    with words:
        verdict(sets[0])
        st.markdown("The product of the masks counts the paths from each input to each output. "
                    "In generation order it must be **strictly lower-triangular**: output *d* "
                    "may only see the inputs before *d*. Then p(x₁) p(x₂ | x₁) … is a "
                    "distribution, and its sum over every image is exactly 1.")


@lru_cache(maxsize=32)
def cached_graph(masks: MaskSet):
    return graph.connectivity_graph(masks, height=640)


@lru_cache(maxsize=64)
def cached_product(masks: MaskSet):
    # Counts in the cells only while they fit in a half-width column at 1100 px.
    return matrices.path_count_figure(masks, generation_order=True, height=400,
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

def new_run(key: tuple, sets, broken, seed: int) -> TinyRun:
    """Fresh networks from `seed`: the broken one starts from the correct one's very weights."""
    server_torch()
    models, labels, colors = [tiny.new_model(sets, seed)], ["correct MADE"], [
        tiny_figures.CORRECT_COLOR]
    if broken is not None:
        models.append(tiny.new_model(broken, seed))
        labels.append("broken")
        colors.append(tiny_figures.BROKEN_COLOR)
    return TinyRun(key, models, labels, colors)


def current_run(key: tuple, sets, broken, seed: int) -> TinyRun:
    """The session's run for these settings; a run for other settings is dropped (one per
    session: its memory stays bounded)."""
    run = st.session_state.get("_tiny_run")
    if run is None or run.key != key:
        run = new_run(key, sets, broken, seed)
        st.session_state["_tiny_run"] = run
    return run


@dataclass
class Slots:
    """Where sections 3 and 4 draw: each report of a run redraws only these."""

    progress: object
    curve: object
    results: list  # per network: (read-out, charts and samples)
    draws: int = 0  # keyed charts redrawn within one script run need keys of their own


def training_controls():
    """Section 3's row. Stop belongs to the page, not to the fragment below: its click reruns
    the page, which stops a run in progress (a click in the fragment would wait for it)."""
    st.subheader("3 · Train it, live")
    train_col, stop_col, progress_col = st.columns([1, 1, 5], vertical_alignment="center")
    stop_col.button("Stop", key="stop", icon=":material/stop:", width="stretch")
    return train_col.empty(), progress_col.empty()


@st.fragment
def live_training(train_slot, progress, key: tuple, world: tiny.World, sets, broken,
                  seed: int, seconds: int) -> None:
    """The Train button, the curve and section 4: a Train click reruns only these, so the
    page's other figures are not sent again."""
    train = train_slot.button("Train", key="train", type="primary",
                              icon=":material/play_arrow:", width="stretch")
    st.caption("Adam on fresh minibatches drawn from the data, the same ones for every network."
               " Thin: each minibatch's NLL; thick: the exact expected NLL = H + KL, over every"
               " image. A distribution never goes below the green line.")
    curve = st.container(key="curve").empty()
    st.subheader("4 · Does it sum to one?")
    columns = st.columns(2 if broken is not None else 1, gap="large")
    results = []
    for k, column in enumerate(columns):
        readout = column.container(key=f"result_{k}").empty()
        results.append((readout, column.empty()))
    train_or_draw(train, Slots(progress, curve, results), key, world, sets, broken, seed,
                  seconds)


def train_or_draw(train: bool, slots: Slots, key: tuple, world: tiny.World, sets, broken,
                  seed: int, seconds: int) -> None:
    """Train when asked (the run's reports redraw sections 3 and 4), else draw the run."""
    run = current_run(key, sets, broken, seed)
    if run.state == "training":  # its script was stopped at a report: Stop, or a rerun
        run.state = "stopped"
    if train:
        run = new_run(key, sets, broken, seed)
        st.session_state["_tiny_run"] = run
        train_live(run, world, seed, seconds, slots)  # its last report draws the end
    else:
        draw(run, world, seed, seconds, slots)


def train_live(run: TinyRun, world, seed, seconds, slots: Slots) -> None:
    run.state = "training"
    draw(run, world, seed, seconds, slots)  # at once: the untrained networks, the bar at 0
    settings = tiny.TrainSettings(seconds=seconds, report_every=REPORT_EVERY_S)
    mask = "ensemble" if run.models[0].num_masks > 1 else None
    for report in tiny.train_live(run.models, world, seed=seed, settings=settings, mask=mask):
        run.report = report
        for k, entry in enumerate(_history(run)):
            entry["seconds"].append(round(report.seconds, 2))
            entry["train_nll"].append(report.train_nll[k])
            entry["cross_entropy"].append(report.comparisons[k].cross_entropy)
            entry["kl"].append(report.comparisons[k].kl)
        if report.done:
            run.state = "done"
        # Each draw is where Streamlit stops this script if asked: Stop, a new setting.
        draw(run, world, seed, seconds, slots)


def _history(run: TinyRun) -> list[dict]:
    if not run.history:
        run.history = [dict(label=label, color=color, seconds=[], train_nll=[],
                            cross_entropy=[], kl=[])
                       for label, color in zip(run.labels, run.colors)]
    return run.history


def draw(run: TinyRun, world, seed, seconds, slots: Slots) -> None:
    report = run.report
    slots.draws += 1
    words = {"untrained": "Not trained yet: press Train.",
             "training": "Training", "stopped": "Stopped", "done": "Done"}[run.state]
    if report is not None:
        words += f": {report.step:,} steps in {report.seconds:.1f} s"
    slots.progress.progress(min(1.0, report.seconds / seconds if report else 0.0), text=words)
    slots.curve.plotly_chart(
        tiny_figures.training_curve_figure(_history(run), world.entropy, seconds),
        theme=None, config={"displayModeBar": False})
    mask = "ensemble" if run.models[0].num_masks > 1 else None
    # The charts of every pattern and the samples: at the start, every DETAIL_EVERY-th report
    # and at the end; the curve and the sums at every report.
    detail = run.state != "training" or slots.draws % DETAIL_EVERY == 1
    for k, (model, (readout, details)) in enumerate(zip(run.models, slots.results)):
        log_q = report.log_probs[k] if report else tiny.enumerate_log_probs(model, mask)
        with readout.container():
            readout_panel(run.labels[k], world, log_q)
        if detail:
            with details.container():
                detail_panel(model, world, log_q, seed, run.colors[k], f"{k}_{slots.draws}",
                             alone=len(run.models) == 1)


def readout_panel(label: str, world: tiny.World, log_q: np.ndarray) -> None:
    """The sum of p(x) over every pattern, big, and what it means."""
    comparison = tiny.compare(world, log_q)
    total = comparison.total
    good = abs(total - 1) < 5e-7
    st.markdown(f"#### {label}")
    st.html(f"<div class='tiny-readout {'ok' if good else 'bad'}'>sum of p(x) over all "
            f"2<sup>{world.D}</sup> patterns: <b>{total:,.6f}</b></div>")
    st.markdown(f"KL(p_true ‖ p_model) = **{comparison.kl:.4f}** nats · expected NLL "
                f"**{comparison.cross_entropy:.3f}** vs H = {world.entropy:.3f}"
                + ("" if comparison.kl >= -1e-9 else " · **below H: not a distribution**"))


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
                                                  cell_px=_cell_px(world, per_line, 300)),
                        key=f"samples_{key}", theme=None, config={"displayModeBar": False})


def model_samples(model, seed: int) -> np.ndarray:
    """Ancestral samples, one full pass per pixel, exactly as the model's outputs say (the
    naive sampler: a broken network's outputs are no conditionals, so no shortcut holds)."""
    from made_viz.network import MADEWeights
    from made_viz.sampling import sample

    mask = "ensemble" if model.num_masks > 1 else 0
    return sample(MADEWeights.of(model), SAMPLES, seed=seed, mask=mask, method="naive")


def break_section(sets, broken, how: str, flip) -> None:
    st.subheader("5 · Break it")
    st.markdown(
        "Pick a way to break the masks in the sidebar (or click a cell below to flip it). The "
        "broken network then trains beside the correct one, from the same weights on the same "
        "data: its loss falls **below H**, its p(x) sum to **far more than 1**, and its samples"
        " stop looking like the data.")
    shown = broken[0] if broken is not None else sets[0]
    masks_col, product_col = st.columns([1.2, 1], gap="medium")
    with masks_col:
        if shown.layer_masks:
            key = f"flip_masks_{st.session_state.get('_tiny_flips', 0)}"
            st.plotly_chart(cached_clickable_masks(shown), key=key, theme=None,
                            on_select=partial(_on_mask_click, key, flip),
                            selection_mode="points", config={"displayModeBar": False})
            st.caption("Click any cell of a layer mask to flip it (mask 1)."
                       + (f" Flipped: W{flip[0] + 1}[{flip[1]}, {flip[2]}]; click it again to"
                          " undo." if flip is not None and how == "flip" else ""))
        else:
            st.caption("No hidden layer: nothing to click. Try another break.")
    with product_col:
        if broken is None:
            st.info("Not broken: choose a way in the sidebar (5 · Break it).",
                    icon=":material/build:")
        else:
            st.plotly_chart(cached_product(broken[0]), key="broken_paths", theme=None,
                            config={"displayModeBar": False})
            verdict(broken[0])


@lru_cache(maxsize=32)
def cached_clickable_masks(masks: MaskSet):
    return matrices.layer_masks_figure(masks, height=360, clickable=True)


def _on_mask_click(key: str, flip) -> None:
    event = st.session_state.get(key)
    try:
        points = event["selection"]["points"] if event else []
        entries = [(int(p["customdata"][0]), int(p["customdata"][1]), int(p["customdata"][2]))
                   for p in points if p.get("customdata")]
    except _BAD_POINT:
        return
    if not entries:
        return
    entry = entries[0]
    undo = flip is not None and entry == tuple(flip)
    st.session_state["flip"] = "" if undo else f"{entry[0] + 1}, {entry[1]}, {entry[2]}"
    st.session_state["break"] = "none" if undo else "flip"
    st.session_state["_tiny_flips"] = st.session_state.get("_tiny_flips", 0) + 1


def render() -> None:
    st.html(STYLE)
    st.title("Tiny world: does p(x) sum to one?")
    st.caption("Small enough to list every image. A MADE multiplies its outputs into p(x); "
               "here that p(x) is added up over all 2^D images, exactly, while it learns. Then "
               "one broken mask lets it cheat.")
    with st.sidebar:
        world, problem = read_world()
        network = broken = None
        if world is not None:
            network, problem = read_network(world.D)
        if network is not None:
            how, flip = read_break(network[0][0])
            broken = broken_masks(network[1], how, flip)
    if world is None or network is None:
        st.error(f"{problem}. Change it in the sidebar.", icon=":material/error:")
        return
    sets, net_key, seed, seconds = network
    data_section(world, seed)
    network_section(sets)
    key = (world.name, hashlib.blake2b(world.log_probs.tobytes()).hexdigest(), net_key, how,
           flip, seconds)
    live_training(*training_controls(), key, world, sets, broken, seed, seconds)
    break_section(sets, broken, how, flip)

"""The Sampling page's step-by-step view, drawn from an explicit model, mask and seed: the
player (player.py) with the whole run of that seed, and the next pixel's receptive field and
sensitivity once it rests. The Sampling page and the tour call it; `key` prefixes every session
key of a view (its run, the player's state and settings), so two pages never share a run.

A run is sampled in full when its seed is chosen (SamplingRun); the player gets the whole run
and reveals it in the browser. It tells the server where it stands only where a server view
needs it (the receptive field and sensitivity, the Sampling page's Export), which reruns the
page.
"""
from __future__ import annotations

import copy
from functools import partial

import numpy as np
import streamlit as st

from made_viz import export, network, sampling
from made_viz.neighbours import TrainingSetError
from made_viz.ui import player
from made_viz.ui.models import Bundled, bundled, prepared_mask, training_digits
from made_viz.validation import SEED_MAX

DEFAULT_SPEED = 4  # pixels per tick of the player's clock (player.SPEEDS)
DIGIT_PX = {False: 448, True: 812}  # at most 16 or 29 screen pixels per MNIST pixel
SETTINGS = {"speed": player.SPEEDS, "overlay": player.OVERLAYS}
NEAREST_SHOWN = 3  # the player's finished digit: its nearest training digits
GRID_SIZE = 16


def run_of(key: str) -> sampling.SamplingRun:
    """The run a view with this key is showing (current_run made it)."""
    return st.session_state[f"{key}run"]


@st.cache_resource(max_entries=32, show_spinner=False)
def drawn_run(name: str, mask: int, seed: int) -> tuple[sampling.SamplingRun, dict]:
    """A seed's run and the player's payload for it (the finished digit's neighbours too),
    drawn once per server: a lecture hall opening one link shares them, each session
    stepping through its own copy of the run."""
    run = sampling.SamplingRun(bundled(name).model, seed=seed, mask=mask)
    for array in vars(run).values():
        if isinstance(array, np.ndarray):
            array.flags.writeable = False  # shared by every session that draws this seed
    payload = player.run_payload("", run.order, run.final_image, run.probs,
                                 run.log_likelihood_curve, run.uniforms, start=run.start,
                                 nearest=finished_digit_neighbours(run.final_image))
    return run, payload


def current_run(b: Bundled, mask: int, seed: int, *, key: str) -> sampling.SamplingRun:
    """This view's run, rebuilt when the model, mask or seed changes."""
    ss = st.session_state
    run_key = (b.name, mask, seed)
    if ss.get(f"{key}run_key") != run_key:
        shared, payload = drawn_run(b.name, mask, seed)
        run = copy.copy(shared)  # a position of its own
        serial = ss.get(f"{key}run_serial", 0) + 1
        ss[f"{key}run"], ss[f"{key}run_key"], ss[f"{key}run_serial"] = run, run_key, serial
        # The serial tells the player a new run from the same seed drawn again (7, 8, 7).
        ss[f"{key}payload"] = {**payload, "run_id": f"{serial}:{b.name}/{mask}/{seed}"}
    return ss[f"{key}run"]


def finished_digit_neighbours(image: np.ndarray) -> list[dict]:
    """The finished digit's NEAREST_SHOWN nearest training digits, for the player to show once
    every pixel is drawn; none when the bundled training digits are missing (the grid says)."""
    try:
        training = training_digits()
    except TrainingSetError:
        return []
    found = training.nearest(image, k=NEAREST_SHOWN)
    indices = found.indices[0]
    return player.nearest_payload(indices, found.distances[0], training.labels[indices],
                                  training.images(indices))


def _player_moved(key: str) -> None:
    """The player reported its position: move the server's run there, for the views that need
    it (a report about a run this view has since replaced is ignored)."""
    ss, run = st.session_state, run_of(key)
    position = player.reported_position(ss[f"{key}player"], ss[f"{key}payload"]["run_id"],
                                        run.start, len(run.order))
    if position is not None:
        run.seek(position)


def _player_setting(key: str, name: str) -> None:
    """The player's speed or overlay changed: kept for the next time it is mounted."""
    value = player.reported_setting(st.session_state[f"{key}player"], name, SETTINGS[name])
    if value is not None:
        st.session_state[f"{key}{name}"] = value


def next_pixel_views(b: Bundled, prepared: network.PreparedMask, run, *, key: str) -> dict:
    run_id = st.session_state[f"{key}payload"]["run_id"]
    return {**views_at(b.name, prepared.index, run.seed, run.position), "run": run_id}


@st.cache_resource(max_entries=256, show_spinner=False)
def views_at(name: str, mask: int, seed: int, position: int) -> dict:
    """The next pixel's views at `position` of a seed's run: once per server for each place
    users stand (a hall opening one link all stand at its start)."""
    b, prepared = bundled(name), prepared_mask(name, mask)
    run = copy.copy(drawn_run(name, mask, seed)[0])
    run.seek(position)
    if run.done:
        return player.views_payload("", run.position, None, None)
    index = run.next_index
    receptive = prepared.connectivity()[index] > 0
    gradient = sampling.logit_gradient(b.model, run.image, index, prepared.index)
    return player.views_payload("", run.position, receptive, gradient * run.drawn)


def studio(name: str, prepared: network.PreparedMask, lecture: bool, *, key: str) -> None:
    """The player, on the run current_run made for this key (with the mask `prepared`). Not a
    fragment: the player reports its position the moment the user reaches for another tab, and
    in Streamlit 1.67 a fragment rerun in flight loses a tab click that lands with it (the tab
    shows selected, its panel stays empty)."""
    ss = st.session_state
    b, run = bundled(name), run_of(key)
    player.player(ss[f"{key}payload"], position=run.position,
                  speed=ss.get(f"{key}speed", DEFAULT_SPEED),
                  overlay=ss.get(f"{key}overlay", "none"), size=DIGIT_PX[lecture],
                  lecture=lecture, views=next_pixel_views(b, prepared, run, key=key),
                  on_position=partial(_player_moved, key),
                  on_setting=partial(_player_setting, key), key=f"{key}player")


# --- many digits at once, each beside its nearest training digit ---------------------------

@st.cache_data(max_entries=64, show_spinner="Sampling 16 digits...")
def grid_samples(name: str, mask: int, seeds: tuple[int, ...]) -> np.ndarray:
    """One digit per seed, all drawn at once, each the very digit its seed draws step by step.

    sample() draws a seed's uniforms as default_rng(seed).random(D); stacking one row per
    seed makes row i the digit of seeds[i] alone.
    """
    model = bundled(name).model
    uniforms = np.stack([np.random.default_rng(s).random(model.D) for s in seeds])
    return sampling.sample(model, len(seeds), uniforms=uniforms, mask=mask)


@st.cache_data(max_entries=64, show_spinner=False)
def grid_nearest(name: str, mask: int, seeds: tuple[int, ...]):
    """Each grid digit's nearest binarized training digit: (index, distance) per digit."""
    found = training_digits().nearest(grid_samples(name, mask, seeds))
    return found.indices[:, 0], found.distances[:, 0]


def digit_png(order, image, position: int | None = None, scale: int = 5) -> bytes:
    position = len(order) if position is None else position
    return export.png_bytes(export.frame_at(order, image, position), scale=scale)


def grid_view(b: Bundled, mask: int, seed: int, *, key: str, count: int = GRID_SIZE,
              per_row: int = GRID_SIZE // 2, on_open=None, short: bool = False) -> None:
    """`count` digits of consecutive seeds from `seed`, each framed above its nearest training
    digit; on_open(seed): what a click on a digit's seed does (None: the seed is a caption);
    short: each training digit captioned with its distance alone (narrow columns)."""
    seeds = tuple((seed + i) % (SEED_MAX + 1) for i in range(count))
    images = grid_samples(b.name, mask, seeds)
    order = b.model.mask_sets[mask].order
    try:
        training = training_digits()
        nearest, distances = grid_nearest(b.name, mask, seeds)
    except TrainingSetError as error:
        training = None
        st.info(f"No nearest training digits: {error}", icon="ℹ️")
    st.caption(f"{count} digits drawn at once with the fast sampler, seeds {seeds[0]} to"
               f" {seeds[-1]}. Each one is the digit its seed draws step by step"
               + (": click a seed to watch it." if on_open else ".")
               + ("" if training is None else
                  f" Framed under each: its nearest of the {len(training):,}"
                  f" binarized training digits{'' if short else ' (its index and label)'},"
                  " and how many of the 784 pixels differ: did it just memorize the"
                  " training set?"))
    for row in range(0, count, per_row):  # a row of columns at a time: the rows line up
        for i, column in zip(range(row, min(row + per_row, count)), st.columns(per_row)):
            with column:
                st.image(digit_png(order, images[i], scale=5), width="stretch")
                if on_open is not None:
                    st.button(f"seed {seeds[i]}", key=f"{key}grid_{i}", type="tertiary",
                              on_click=on_open, args=(seeds[i],))
                else:
                    st.caption(f"seed {seeds[i]}")
                if training is not None:
                    nearest_digit(training, int(nearest[i]), int(distances[i]),
                                  f"{key}grid_nearest_{i}", short)


def nearest_digit(training, index: int, distance: int, key: str, short: bool = False) -> None:
    """A training digit framed apart from the samples, with its label and its distance."""
    with st.container(key=key, border=True):
        st.image(digit_png(np.arange(training.image(index).size), training.image(index),
                           scale=3), width="stretch",
                 caption=f"{distance} pixels differ" if short else
                 f"#{index}, a {training.labels[index]}: {distance} pixels differ")

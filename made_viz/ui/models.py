"""The bundled pretrained models, shared by every page and session: loaded once per server,
their masks prepared once, the sidebar's model picker, the bundled test digits and the packed
training digits."""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import streamlit as st
from streamlit.logger import get_logger

from made_viz import checkpoint, neighbours, network
from made_viz.data import load_test_subset
from made_viz.ui.widgets import choice

# Streamlit's own logger setup (a logging.Logger on the server's console): one line per model
# load, so a load test can prove the model is loaded once per server, not once per session.
log = get_logger(__name__)

@dataclass(frozen=True)
class Bundled:
    """A pretrained model shared by every session, read-only. Its weights as NumPy arrays
    (network.MADEWeights), not a torch model: the samplers and the sensitivity view need no
    more, and the page then never waits for torch's import (docs/performance.md)."""

    name: str
    model: network.MADEWeights
    mask_names: tuple[str, ...]
    stand_in: bool

    def orderings(self) -> list[str]:
        return list(dict.fromkeys(self.mask_names))

    def masks_with(self, ordering: str) -> list[int]:
        return [k for k, name in enumerate(self.mask_names) if name == ordering]

    def pick_mask(self, ordering: str, seed: int) -> int:
        """Masks sharing an ordering are told apart by the seed, so a link still replays."""
        candidates = self.masks_with(ordering)
        return candidates[seed % len(candidates)]


# No spinner: a spinner needs a script run, and the model may be loaded off the script thread
# (warm_up). It takes a fraction of a second; the page's running indicator says enough.
@st.cache_resource(show_spinner=False)
def bundled(name: str) -> Bundled:
    model, config = checkpoint.load_pretrained_weights(name)
    log.info("loaded pretrained model %r from %s", name, checkpoint.pretrained_root() / name)
    names = config.get("mask_names")
    if not (isinstance(names, list) and len(names) == model.num_masks
            and all(isinstance(n, str) and n for n in names)):
        names = [f"mask {k}" for k in range(model.num_masks)]
    return Bundled(name, model, tuple(names), bool(config.get("stand_in")))


# One mask is prepared at a time, server-wide (see prepared_mask).
_preparing = threading.Lock()
PAGE_PARTS = ("plan", "paths", "float32")  # what the Sampling and Likelihood pages read


@st.cache_resource(show_spinner=False)
def prepared_mask(name: str, mask: int) -> network.PreparedMask:
    """A mask of a bundled model with what the pages read built, once per server: its sampling
    plan, its path counts and its float32 masked weights for the sensitivity view, which the
    Likelihood page's scorer reuses (in the mask's network.PreparedMask; docs/performance.md
    has what a mask costs). The picked mask first, so the page
    paints without waiting for the others (render prepares them after drawing); and one mask
    at a time, server-wide, so a hall of users opening the page at once cannot build several
    at the same time, each with its temporaries, and let the server's memory creep up over the
    first digits of a lecture."""
    with _preparing:
        return network.prepare(bundled(name).model, mask, parts=PAGE_PARTS)


# Models whose every mask is prepared, held weakly (like network.STORE): a model loaded anew
# (its cache cleared) is asked about anew.
_all_prepared: weakref.WeakSet = weakref.WeakSet()


def all_masks_prepared(name: str) -> None:
    """Every mask of a model prepared (prepared_mask). A page asks on every run: after the
    first time that is one look-up, not one cached call per mask."""
    model = bundled(name).model
    if model not in _all_prepared:
        for mask in range(model.num_masks):
            prepared_mask(name, mask)
        _all_prepared.add(model)


def default_model(available: list[str]) -> str:
    return "mnist" if "mnist" in available else available[0]


def warm_up() -> None:
    """Get the default link's model and masks ready (model loaded, masks prepared) before anyone
    opens the Sampling or Likelihood page: called off the script thread once per server
    (made_viz.ui.server), so it shows nothing (no spinner) and goes through the same caches: the model
    is still loaded once. The default link's mask first, then the others one at a time (each
    also builds the float32 weights the Likelihood page scores the ensemble with)."""
    available = checkpoint.list_pretrained()
    if available:
        b = bundled(default_model(available))
        prepared_mask(b.name, b.pick_mask(b.orderings()[0], 0))
        all_masks_prepared(b.name)


@st.cache_resource(show_spinner=False)
def test_digits():
    return load_test_subset()


@st.cache_resource(show_spinner=False)
def training_digits() -> neighbours.TrainingSet:
    """The 50,000 binarized training digits packed to bits (4.7 MB), loaded and checked once
    per server and shared, read-only, by every session. neighbours.TrainingSetError when the
    bundled file is missing or altered (not cached: the next call tries again)."""
    training = neighbours.load_training_set()
    log.info("loaded the packed training digits: %d, %.1f MB", len(training),
             training.nbytes / 2**20)
    return training


def model_picker(title: str, where=None) -> Bundled | None:
    """The heading and bundled-model choice (URL `model`) in the sidebar, or in `where` (the
    page's controls area: presenter.controls_area): the model, or None after saying what is
    wrong (no models installed, or one that fails to load)."""
    available = checkpoint.list_pretrained()
    if not available:
        st.error(f"No pretrained model in {checkpoint.pretrained_root()}: run"
                 " `python -m made_viz.train` or restore the pretrained/ folder.")
        return None
    with where if where is not None else st.sidebar:
        st.subheader(title)
        name = choice("model", "model", available, default=default_model(available),
                      help="a bundled pretrained MADE")
        try:
            return bundled(name)
        except (checkpoint.CheckpointError, OSError) as error:
            st.error(f"model {name!r} could not be loaded: {error}")
            return None

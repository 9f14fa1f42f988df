"""The Likelihood page's views, drawn from an explicit image, model and mask: the score
(-log p(x) in nats and bits per pixel, and where it falls among the test digits), the image on
the sketch pad, the surprise and prediction maps, and the image under every mask of every
bundled model. The Likelihood page and the tour call them; `key` names each view's chart or
pad, so two pages never share one's state.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import streamlit as st

from made_viz import checkpoint, likelihood, network
from made_viz.figures import likelihood as lf
from made_viz.ui.models import bundled
from made_viz.ui.sketch import sketch_pad

SMALL_SCALE = 3  # screen pixels per MNIST pixel in the small maps


@st.cache_resource(show_spinner=False)
def ready(name: str) -> list[network.PreparedMask]:
    """A model's masks with their scoring weights built, once per server (else the first score
    of a model pays for them), so the time a page shows is the scoring's own."""
    model = bundled(name).model
    return [network.prepare(model, k, parts=("float32",)) for k in range(model.num_masks)]


def score(name: str, image: np.ndarray, mask) -> likelihood.ImageScore:
    """The image scored under every mask of model `name`, viewed under `mask` (read-only)."""
    return scored(name, np.asarray(image, dtype=np.uint8).tobytes(), mask)


@st.cache_resource(max_entries=256, show_spinner=False)
def scored(name: str, pixels: bytes, mask) -> likelihood.ImageScore:
    """score, once per server for each image, model and mask: a hall opening one link (or
    the tour's step) all score the same digit."""
    ready(name)
    return likelihood.score_image(bundled(name).model, np.frombuffer(pixels, dtype=np.uint8),
                                  mask)


@st.cache_resource(show_spinner=False)
def test_nlls() -> dict[str, np.ndarray]:
    return likelihood.load_test_nlls()


@st.cache_resource(show_spinner=False)
def test_histogram(name: str, row: int):
    """Counts and edges of one model's test NLLs under one mask (or the ensemble's, row -1),
    and the sorted NLLs for percentiles: once per server."""
    values = test_nlls()[name][row]
    counts, edges = lf.histogram_counts(values)
    return counts, edges, np.sort(values)


def test_placement(name: str, mask, nll: float):
    """(counts, edges, sorted test NLLs, the share of test digits this NLL beats), all None
    when the model's test NLLs are missing or do not fit it."""
    row = -1 if mask == "ensemble" else mask
    try:
        counts, edges, sorted_nlls = test_histogram(name, row)
    except (OSError, KeyError, ValueError, IndexError):  # a test-nll file of another model
        return None, None, None, None
    better_than = 1 - np.searchsorted(sorted_nlls, nll) / len(sorted_nlls)
    return counts, edges, sorted_nlls, better_than


def mask_label(b, mask) -> str:
    if mask == "ensemble":
        return f"ensemble of {b.model.num_masks} masks"
    return f"mask {mask} ({b.mask_names[mask]})"


def percentile_text(better_than: float, n_test: int) -> str:
    """Where the image falls: the share of test digits it is more likely than."""
    if better_than >= 1:
        return f"more likely than <b>every one</b> of the {n_test:,} test digits"
    if better_than <= 0:
        return f"less likely than <b>every one</b> of the {n_test:,} test digits"
    share = f"{better_than:.1%}" if min(better_than, 1 - better_than) < 0.01 else f"{better_than:.0%}"
    return f"more likely than <b>{share}</b> of the {n_test:,} test digits"


def score_panel(b, score: likelihood.ImageScore, better_than: float | None, n_test: int,
                *, caption: bool = True) -> None:
    nll = -score.log_prob
    bits = likelihood.bits_per_pixel(nll)
    among = "" if better_than is None else (
        "<div style='font-size:1.35rem;margin-top:.6rem'>"
        f"{percentile_text(better_than, n_test)}</div>")
    st.html(f"""
<div style="font-family:'Source Sans Pro',Arial,sans-serif;color:#1b1f2a">
  <div style="font-size:1.25rem;color:#4a5060">−log p(x) under {b.name}, {mask_label(b, score.mask)}</div>
  <div style="font-size:4.6rem;font-weight:700;line-height:1.05;letter-spacing:-1px">{nll:,.2f}
    <span style="font-size:2.2rem;font-weight:600">nats</span></div>
  <div style="font-size:2.4rem;font-weight:600;color:#1d3f7a;line-height:1.2">{bits:.4f}
    <span style="font-size:1.5rem">bits / pixel</span></div>
  {among}
</div>""")
    if caption:
        st.caption(f"Scoring took one forward pass per mask: {b.model.num_masks} masks and the"
                   f" ensemble in {score.seconds * 1000:.1f} ms. Drawing a sample takes"
                   f" {b.model.D} sequential steps, one per pixel.")


def generation_steps(score: likelihood.ImageScore) -> np.ndarray:
    """Each pixel's place in the scored ordering, 0-based."""
    rank = np.empty(len(score.order), dtype=np.int64)
    rank[score.order] = np.arange(len(score.order))
    return rank


def sketch_view(image: np.ndarray, score: likelihood.ImageScore, *, key: str, on_stroke,
                size: int = lf.MAP_PX) -> None:
    """The image on the sketch pad, each pixel's conditional shown on hover."""
    sketch_pad(image, size=size, on_stroke=on_stroke, key=key, p_one=score.p_one,
               cost=-score.terms, step=generation_steps(score) + 1,
               hint="hover a pixel: what the model made of it")


def maps_chart(b, score: likelihood.ImageScore, revision, *, key: str = "lik_maps",
               height: int | None = None) -> None:
    """The surprise map -log p(x_d | x_<d) beside the prediction map p(x_d = 1 | x_<d)."""
    title = mask_label(b, score.terms_of)
    if score.terms_of != score.mask:
        title += " (the masks' orderings differ: no per-pixel ensemble terms)"
    hover = lf.pixel_hover(score.image, score.p_one, -score.terms, generation_steps(score))
    extra = {} if height is None else {"height": height}
    st.plotly_chart(lf.conditional_maps_figure(-score.terms, score.p_one, hover, revision,
                                               title, **extra),
                    width="stretch", key=key, config={"displayModeBar": False})


def every_mask_view(image: np.ndarray, current: str, current_score, *,
                    title: bool = True) -> None:
    if title:
        st.subheader("The same image under every mask and every ordering")
    st.caption("Each small map is −log p(x_d | x_<d) under one mask (the surprise map's colour"
               " scale: white = 0 nats, darkest ≥ 5 nats), with that mask's NLL. The orderings"
               " disagree pixel by pixel, yet each is a proper distribution over all 2^784"
               " images; the ensemble averages their probabilities of the whole image.")
    for name, column in zip(checkpoint.list_pretrained(), st.columns(2, gap="large")):
        with column:
            try:
                b = bundled(name)
            except (checkpoint.CheckpointError, OSError) as error:
                st.error(f"model {name!r} could not be loaded: {error}")
                continue
            other = current_score if name == current else score(name, image, "ensemble")
            small_maps(b, other)


def masks_summary(mask_names) -> str:
    """How a model's masks split over orderings: "8 masks, all in natural order", "4 masks, one
    per ordering", or "8 masks: 4 natural, 4 reverse"."""
    counts = Counter(mask_names)  # in the order the orderings first appear
    if len(counts) == 1:
        return f"{len(mask_names)} masks, all in {next(iter(counts))} order"
    if len(counts) == len(mask_names):
        return f"{len(mask_names)} masks, one per ordering"
    return f"{len(mask_names)} masks: " + ", ".join(f"{n} {name}" for name, n in counts.items())


def mask_caption(mask_names, k: int) -> str:
    """A small map's name: the mask's index when all share one ordering, its ordering when each
    has its own, both when orderings repeat."""
    names = list(mask_names)
    if len(set(names)) == 1:
        return f"mask {k}"
    return names[k] if len(set(names)) == len(names) else f"#{k} {names[k]}"


def small_maps(b, score: likelihood.ImageScore) -> None:
    st.markdown(f"**{b.name}**: {masks_summary(b.mask_names)};"
                f" ensemble **{-score.ensemble:.2f}** nats")
    st.html(small_maps_html(b.name, np.asarray(score.image, dtype=np.uint8).tobytes()))


@st.cache_resource(max_entries=256, show_spinner=False)
def small_maps_html(name: str, pixels: bytes) -> str:
    """A model's small maps of an image (a PNG per mask), once per server for each image."""
    b, score = bundled(name), scored(name, pixels, "ensemble")
    maps = [(lf.surprise_png(-score.per_mask[k], SMALL_SCALE),
             f"{mask_caption(b.mask_names, k)}: {-score.totals[k]:.2f}")
            for k in range(b.model.num_masks)]
    return lf.small_maps_html(maps, SMALL_SCALE)

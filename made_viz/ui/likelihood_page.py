"""Likelihood: score any digit in one forward pass. Draw it, upload it, pick it, break it.

The current image (28x28, binary) lives in session state and in the URL as `x`
(images.encode_image), beside `model` and `mask`, so a copied link replays the image and
its scores. Every source and edit is a callback that either replaces the image or leaves it
as it was and says why; the views below are computed from the image on every run (scoring
all masks of both bundled models takes milliseconds), the test set's histogram once per
server.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import streamlit as st

from made_viz import checkpoint, images, likelihood, network, sampling
from made_viz.figures import likelihood as lf
from made_viz.data import DataError
from made_viz.validation import SEED_MAX
from made_viz.ui import server
from made_viz.ui.models import bundled, model_picker, prepared_mask, test_digits
from made_viz.ui.sketch import sketch_pad, stroke_image
from made_viz.ui.widgets import choice, defuse

SOURCES = ("Draw", "Test digit", "Model sample", "Noise", "Upload")
SMALL_SCALE = 3  # screen pixels per MNIST pixel in the small maps
IMAGE = "lik_image"


# --- the image and what happened to it ---------------------------------------------------------

def _set_image(image: np.ndarray, note: str) -> None:
    ss = st.session_state
    ss[IMAGE], ss["lik_note"], ss["lik_error"] = np.asarray(image, dtype=np.uint8), note, None


def _fail(what: str, error: Exception | str) -> None:
    """Keep the image; say what went wrong with which input."""
    st.session_state["lik_error"] = f"**{what}**: {defuse(str(error))}. Keeping the last image."


def _edit(name: str, function, *args) -> None:
    ss = st.session_state
    try:
        image = function(ss[IMAGE], *args)
    except ValueError as error:
        _fail(name, error)
        return
    _set_image(image, f"{ss.get('lik_note', '')}, {name}".lstrip(", "))


def _load_test_digit() -> None:
    ss = st.session_state
    try:
        digits = test_digits()
    except DataError as error:
        _fail("test digit", error)
        return
    matches = np.flatnonzero(digits.labels == ss["lik_label"])
    which = int(ss["lik_which"])
    if not 1 <= which <= len(matches):
        _fail("test digit", f"which must be in 1..{len(matches)}, got {which}")
        return
    index = int(matches[which - 1])
    _set_image(digits.images[index], f"test digit #{index} (a {ss['lik_label']})")


def _load_sample(name: str) -> None:
    """The digit the Sampling page draws for this model, ordering and seed: the same mask
    choice (Bundled.pick_mask) and the same sampler call (SamplingRun's)."""
    ss = st.session_state
    b, seed, ordering = bundled(name), int(ss["lik_seed"]), ss["lik_ordering"]
    if ordering not in b.orderings():
        _fail("ordering", f"{ordering!r} is not one of {', '.join(b.orderings())}")
        return
    mask = prepared_mask(name, b.pick_mask(ordering, seed)).index
    image = sampling.sample(b.model, 1, seed=seed, mask=mask)[0]
    _set_image(image, f"sample of {name}, {ordering} order, seed {seed}")


def _make_noise() -> None:
    ss = st.session_state
    p, seed = float(ss["lik_p"]), int(ss["lik_noise_seed"])
    try:
        image = images.bernoulli_noise(p, seed)
    except ValueError as error:
        _fail("noise", error)
        return
    _set_image(image, f"Bernoulli({p:g}) noise, seed {seed}")


def _uploaded() -> None:
    upload = st.session_state.get("lik_upload")
    if upload is None:
        return
    try:
        image = images.prepare_upload(upload.getvalue())
    except images.ImageError as error:
        _fail(f"upload {upload.name}", error)
        st.session_state["lik_upload_preview"] = None
        return
    # A small preview, not the file: session state is kept for the whole session.
    st.session_state["lik_upload_preview"] = (upload.name, lf.thumbnail_png(upload.getvalue()))
    _set_image(image, f"uploaded {upload.name}")


def _drawn() -> None:
    image = stroke_image((st.session_state.get("lik_sketch") or {}).get("stroke"))
    if image is None:
        _fail("drawing", "the image sent is not 784 pixels of 0 or 1")
        return
    changed = np.flatnonzero(image != st.session_state[IMAGE])
    note = st.session_state.get("lik_note", "")
    if len(changed) == 1:
        row, col = divmod(int(changed[0]), lf.SIDE)
        note = f"{note}, pixel ({row}, {col}) flipped".lstrip(", ")
    elif not image.any():
        note = "blank"
    elif note == "blank":
        note = "drawn on the pad"
    elif not note.endswith("drawn on the pad"):
        note = f"{note}, drawn on the pad"
    _set_image(image, note)


def _url_image() -> tuple[np.ndarray | None, str | None]:
    """The link's image on a session's first run: (image or None, warning or None)."""
    raw = st.query_params.get("x")
    if raw is None:
        return None, None
    try:
        return images.decode_url_image(raw), None
    except ValueError as error:
        return None, (f"**x** (the image in the link): {defuse(str(error))}."
                      " Showing a test digit instead.")


def _first_image() -> None:
    ss = st.session_state
    if IMAGE in ss:
        return
    image, warning = _url_image()
    if image is not None:
        _set_image(image, "from the link")
        return
    try:
        digits = test_digits()
        _set_image(digits.images[0], f"test digit #0 (a {digits.labels[0]})")
    except DataError:
        _set_image(np.zeros(images.D_IMAGE, dtype=np.uint8), "blank")
    ss["lik_error"] = warning


# --- the controls ------------------------------------------------------------------------------

def source_controls(name: str) -> None:
    source = st.radio("Image from", SOURCES, index=1, key="lik_source", horizontal=True)
    if source == "Draw":
        draw_controls()
    elif source == "Test digit":
        with st.container(horizontal=True, vertical_alignment="bottom"):
            st.selectbox("label", list(range(10)), key="lik_label", width=90)
            st.number_input("which one", 1, 100, 1, key="lik_which", width=130)
            st.button("Load", key="lik_load_digit", on_click=_load_test_digit, type="primary")
    elif source == "Model sample":
        b = bundled(name)
        with st.container(horizontal=True, vertical_alignment="bottom"):
            st.selectbox("ordering", b.orderings(), key="lik_ordering", width=130)
            st.number_input("seed", 0, SEED_MAX, 0, key="lik_seed", width=150)
            st.button("Sample", key="lik_sample", on_click=_load_sample, args=(name,),
                      type="primary")
        st.caption("The digit the Sampling page draws for this model, ordering and seed.")
    elif source == "Noise":
        with st.container(horizontal=True, vertical_alignment="bottom"):
            st.slider("p (ink)", 0.0, 1.0, 0.1, 0.01, key="lik_p", width=170)
            st.number_input("seed", 0, SEED_MAX, 0, key="lik_noise_seed", width=150)
            st.button("Make noise", key="lik_noise", on_click=_make_noise, type="primary")
    else:
        upload_controls()


def draw_controls() -> None:
    st.caption("Draw on the image itself (the big one): Brush and Eraser paint thick strokes,"
               " Flip flips the pixels you click or drag over, Clear empties it. Each cell is a"
               " pixel the model sees; the score updates when the pen lifts.")
    with st.container(horizontal=True):
        st.button("Blank image", key="lik_blank", on_click=_set_image,
                  args=(np.zeros(images.D_IMAGE, dtype=np.uint8), "blank"))
        st.button("Centre it as MNIST was", key="lik_centre", on_click=_edit,
                  args=("centred as MNIST", images.recentre),
                  help="crop to the ink, scale it into 20×20, centre it by mass in 28×28")


def upload_controls() -> None:
    # No type= filter: Streamlit raises inside the script run on a file whose name it
    # refuses (a crafted client can send one); the decoder names what is wrong instead.
    st.file_uploader("A PNG, JPEG or GIF of a handwritten digit (any size, either polarity)",
                     key="lik_upload", on_change=_uploaded)
    preview = st.session_state.get("lik_upload_preview")
    if preview:
        name, data = preview
        left, right = st.columns(2)
        left.image(data, caption=f"{name} as uploaded", width=140)
        right.image(lf.ink_png(st.session_state[IMAGE], 5), caption="what the model sees",
                    width=140)


def edit_controls() -> None:
    st.markdown("**Edit** (or click a pixel of the image to flip it)")
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.button("Invert", key="lik_invert", on_click=_edit,
                  args=("inverted", images.invert))
        st.button("Transpose", key="lik_transpose", on_click=_edit,
                  args=("transposed", images.transpose))
    with st.container(horizontal=True, vertical_alignment="bottom"):
        k = st.number_input("k pixels", 1, 784, 10, key="lik_k", width=110)
        seed = st.number_input("seed", 0, SEED_MAX, 0, key="lik_flip_seed", width=130)
        st.button("Flip k random", key="lik_flip", on_click=_edit,
                  args=(f"{k} random pixels flipped (seed {seed})", images.flip_random,
                        int(k), int(seed)))
    with st.container(horizontal=True, vertical_alignment="bottom"):
        dx = st.number_input("dx (right)", -28, 28, 1, key="lik_dx", width=110)
        dy = st.number_input("dy (down)", -28, 28, 0, key="lik_dy", width=110)
        st.button("Shift", key="lik_shift", on_click=_edit,
                  args=(f"shifted by ({dx}, {dy})", images.shift, int(dx), int(dy)))


# --- the views ---------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def ready(name: str) -> list[network.PreparedMask]:
    """A model's masks with their scoring weights built, once per server (else the first score
    of a model pays for them), so the time a page shows is the scoring's own."""
    model = bundled(name).model
    return [network.prepare(model, k, parts=("float32",)) for k in range(model.num_masks)]


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


def score_panel(b, score: likelihood.ImageScore, better_than: float | None, n_test: int) -> None:
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
    st.caption(f"Scoring took one forward pass per mask: {b.model.num_masks} masks and the"
               f" ensemble in {score.seconds * 1000:.1f} ms. Drawing a sample takes"
               f" {b.model.D} sequential steps, one per pixel.")


def every_mask_view(image: np.ndarray, current: str, current_score) -> None:
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
            ready(name)
            score = current_score if name == current else likelihood.score_image(b.model, image)
            small_maps(b, score)


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
    maps = [(lf.surprise_png(-score.per_mask[k], SMALL_SCALE),
             f"{mask_caption(b.mask_names, k)}: {-score.totals[k]:.2f}")
            for k in range(b.model.num_masks)]
    st.html(lf.small_maps_html(maps, SMALL_SCALE))


def render() -> None:
    st.title("Likelihood")
    server.my_turn()
    b = model_picker("Likelihood")
    if b is None:
        return
    name = b.name
    with st.sidebar:
        options = ["ensemble", *map(str, range(b.model.num_masks))]
        if st.session_state.get("mask") not in (None, *options):
            st.session_state["mask"] = "ensemble"  # the previous model had more masks
        # Options as the URL spells them (a bound selectbox writes its formatted option).
        mask_text = choice("mask", "mask", options, default="ensemble",
                           help="score under one mask (its index), or the ensemble of all")
        st.caption(mask_label(b, mask_text if mask_text == "ensemble" else int(mask_text)))
        st.caption("The address bar holds the image (x), the model and the mask: a copied link"
                   " replays this exact image and its scores.")
    mask = mask_text if mask_text == "ensemble" else int(mask_text)
    _first_image()
    ss = st.session_state
    image = ss[IMAGE]
    ready(name)
    score = likelihood.score_image(b.model, image, mask)
    encoded = images.encode_image(image)
    if st.query_params.get("x") != encoded:
        st.query_params["x"] = encoded
    st.caption("One forward pass of MADE gives all 784 conditionals p(x_d | x_<d), so the exact"
               " likelihood of any binary image costs one pass.")
    if ss.get("lik_error"):
        st.warning(ss["lik_error"], icon="⚠️")
    row = -1 if mask == "ensemble" else mask
    try:
        counts, edges, sorted_nlls = test_histogram(name, row)
    except (OSError, KeyError, ValueError, IndexError):  # a test-nll file of another model
        counts = edges = sorted_nlls = None
    nll = -score.log_prob
    better_than = (None if sorted_nlls is None else
                   1 - np.searchsorted(sorted_nlls, nll) / len(sorted_nlls))
    picture, scores = st.columns([1, 1.15], gap="large")
    with scores, st.container(key="lik_score"):
        score_panel(b, score, better_than, 0 if sorted_nlls is None else len(sorted_nlls))
    with picture:
        st.markdown("**What the model sees** (28×28): click a pixel to flip it, or draw")
        rank = np.empty(len(score.order), dtype=np.int64)
        rank[score.order] = np.arange(len(score.order))
        sketch_pad(image, size=lf.MAP_PX, on_stroke=_drawn, key="lik_sketch",
                   p_one=score.p_one, cost=-score.terms, step=rank + 1,
                   hint="hover a pixel: what the model made of it")
        st.caption(f"Image: {ss.get('lik_note', '')}. {int(image.sum())} ink pixels.")
    with st.sidebar:
        st.divider()
        source_controls(name)
        st.divider()
        edit_controls()
    views_title = mask_label(b, score.terms_of)
    if score.terms_of != score.mask:
        views_title += " (the masks' orderings differ: no per-pixel ensemble terms)"
    hover = lf.pixel_hover(image, score.p_one, -score.terms, rank)
    st.plotly_chart(lf.conditional_maps_figure(-score.terms, score.p_one, hover, (
        encoded, name, mask), views_title), width="stretch", key="lik_maps",
        config={"displayModeBar": False})
    running, histogram = st.columns(2, gap="medium")
    with running:
        st.plotly_chart(lf.running_cost_figure(-score.terms[score.order], score.order,
                                               (encoded, name, mask)),
                        width="stretch", key="lik_running", config={"displayModeBar": False})
    with histogram:
        if counts is not None:
            st.plotly_chart(lf.nll_histogram_figure(counts, edges, nll, f"this image: {nll:.1f}",
                                                    len(sorted_nlls)),
                            width="stretch", config={"displayModeBar": False},
                            key="lik_histogram")
        else:
            st.info("The test set's NLLs (pretrained/test-nll.npz) are missing: no histogram.")
    every_mask_view(image, name, score)

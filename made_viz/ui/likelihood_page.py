"""Likelihood: score any digit in one forward pass. Draw it, upload it, pick it, break it.

The current image (28x28, binary) lives in session state and in the URL as `x`
(images.encode_image), beside `model` and `mask`, so a copied link replays the image and
its scores. Every source and edit is a callback that either replaces the image or leaves it
as it was and says why; the views below are computed from the image on every run (scoring
all masks of both bundled models takes milliseconds), the test set's histogram once per
server.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from made_viz import checkpoint, images, likelihood, paper, sampling
from made_viz.figures import likelihood as lf
from made_viz.data import DataError
from made_viz.validation import SEED_MAX
from made_viz.ui import presenter, server
from made_viz.ui.likelihood_views import (every_mask_view, maps_chart, mask_label,
                                          masks_summary, score, score_panel, sketch_view,
                                          test_placement)
from made_viz.ui.models import bundled, model_picker, prepared_mask, test_digits
from made_viz.ui.sketch import stroke_image
from made_viz.ui.widgets import choice, defuse

SOURCES = ("Draw", "Test digit", "Model sample", "Noise", "Upload")
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


# --- beside the paper ---------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def masks_curve(name: str) -> likelihood.MasksCurve:
    """A bundled model's test NLL against the number of masks averaged, once per server."""
    return likelihood.load_masks_curve(name)


def paper_points() -> list[tuple[str, list[tuple[int, float]]]]:
    """The paper's MADE rows as chart series: one per depth, a model per number of masks."""
    series = {}
    for row in paper.made_rows():
        series.setdefault(row.hidden_layers, []).append((row.masks, row.nll))
    return [(f"paper, {layers} hidden layer{'s' * (layers > 1)}: a model trained with k masks",
             points) for layers, points in sorted(series.items())]


def our_rows() -> list[tuple[str, float]]:
    """Each bundled model's ensemble and its first mask alone, from the stored curves."""
    rows = []
    for name in checkpoint.list_pretrained():
        try:
            curve, model = masks_curve(name), bundled(name).model
        except (ValueError, checkpoint.CheckpointError, OSError):
            continue
        shape = "-".join(map(str, (model.D, *model.hidden_sizes, model.D)))
        rows.append((f"ours: `{name}`, {shape}, ensemble of {curve.trained_with} masks",
                     curve.test_nll[-1]))
        rows.append((f"ours: `{name}`, its first mask alone", curve.test_nll[0]))
    return rows


def nll_table() -> str:
    lines = ["| model | test NLL (nats) | binarization |", "| --- | --- | --- |"]
    lines += [f"| paper: {row.model} | {'≈ ' if row.estimate else ''}{row.nll:.2f} | fixed |"
              for row in paper.PAPER_TABLE]
    lines += [f"| {name} | **{nll:.2f}** | dynamic; our test draw |" for name, nll in our_rows()]
    return "\n".join(lines)


def paper_section(b) -> None:
    st.subheader("Beside the paper")
    chart, table = st.columns([1.1, 1], gap="large")
    with chart:
        try:
            curve = masks_curve(b.name)
        except ValueError as error:
            st.info(f"No NLL against the number of masks: {error}")
        else:
            st.plotly_chart(lf.masks_curve_figure(curve.test_nll, b.name, paper_points()),
                            width="stretch", key="lik_masks", config={"displayModeBar": False})
            st.caption(f"Ours: one model trained with {masks_summary(curve.mask_names)};"
                       " the first k of them averaged at test time (their image"
                       " probabilities). The paper's Figure 2 varies"
                       f" something else: {paper.FIGURE_2}. The diamonds are its table's models"
                       " trained with 1 and with 32 masks.")
    with table:
        st.markdown(f"**{paper.PAPER}, binarized MNIST, beside ours**")
        st.markdown(nll_table())
        st.caption(f"≈: an estimate (those models' likelihoods are intractable). Which"
                   f" binarization each number used. The paper's:"
                   f" {paper.PAPER_BINARIZATION}. Ours: {paper.OUR_BINARIZATION}: close to the"
                   " paper's test images, not the same draw.")


def render() -> None:
    side = presenter.controls_area("Likelihood")
    st.title("Likelihood")
    server.my_turn()
    b = model_picker("Likelihood", side)
    if b is None:
        return
    name = b.name
    with side:
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
    scored = score(name, image, mask)
    encoded = images.encode_image(image)
    if st.query_params.get("x") != encoded:
        st.query_params["x"] = encoded
    st.caption("One forward pass of MADE gives all 784 conditionals p(x_d | x_<d), so the exact"
               " likelihood of any binary image costs one pass.")
    if ss.get("lik_error"):
        st.warning(ss["lik_error"], icon="⚠️")
    nll = -scored.log_prob
    counts, edges, sorted_nlls, better_than = test_placement(name, mask, nll)
    picture, scores = st.columns([1, 1.15], gap="large")
    with scores, st.container(key="lik_score"):
        score_panel(b, scored, better_than, 0 if sorted_nlls is None else len(sorted_nlls))
    with picture:
        st.markdown("**What the model sees** (28×28): click a pixel to flip it, or draw")
        sketch_view(image, scored, key="lik_sketch", on_stroke=_drawn)
        st.caption(f"Image: {ss.get('lik_note', '')}. {int(image.sum())} ink pixels.")
    with side:
        st.divider()
        source_controls(name)
        st.divider()
        edit_controls()
    maps_chart(b, scored, (encoded, name, mask))
    running, histogram = st.columns(2, gap="medium")
    with running:
        st.plotly_chart(lf.running_cost_figure(-scored.terms[scored.order], scored.order,
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
    every_mask_view(image, name, scored)
    paper_section(b)

"""The Sampling studio page through Streamlit's AppTest: what it sends the player (the whole
run of the seed in the URL), seeds, URL, the other views. The player's own buttons and keys
run in the browser: tests/e2e/test_sampling_e2e.py."""

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from made_viz import checkpoint, neighbours, network, sampling
from made_viz.ui import models, sampling_page, sampling_views
from player_view import player_data

D = 784


def page_script():
    from made_viz.ui import sampling_page

    sampling_page.render()


def open_page(view: str | None = None, **query) -> AppTest:
    at = AppTest.from_function(page_script, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    if view:
        at.session_state["sampling_view"] = view
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def image_captions(at: AppTest) -> list[str]:
    return [caption for element in at.get("image") for caption in element.captions]


def shown_run(at: AppTest) -> dict:
    """The run the player got, decoded: order, final image, probabilities, position."""
    data = player_data(at)
    assert data is not None, "no player on the page"
    return {**data, "order": np.array(data["order"]),
            "final": np.array([int(c) for c in data["final"]], dtype=np.uint8)}


def test_the_player_gets_the_whole_run_of_the_seed():
    at = open_page(seed="3")
    shown = shown_run(at)
    b = models.bundled("mnist")
    # the default ordering is raster; among the masks in raster order the seed picks one
    run = sampling.SamplingRun(b.model, seed=3, mask=b.pick_mask("natural", 3))
    assert np.array_equal(shown["order"], np.arange(D))
    assert np.array_equal(shown["order"], run.order)
    assert np.array_equal(shown["final"], run.final_image)
    assert np.allclose(shown["probs"], run.probs, rtol=1e-3, atol=1e-12)
    assert np.allclose(shown["uniforms"], run.uniforms, rtol=1e-3)
    assert np.allclose(shown["loglik"], run.log_likelihood_curve, rtol=1e-5, atol=1e-9)
    assert (shown["position"], shown["start"]) == (0, 0)
    assert (shown["speed"], shown["overlay"], shown["lecture"]) == (4, "none", False)
    # the next pixel's views are for this run at that position
    views = shown["views"]
    assert (views["run"], views["position"]) == (shown["run_id"], 0)
    assert len(views["receptive"]) == D and len(views["sensitivity"]) == D


def test_the_player_is_the_only_control_of_the_step_view():
    """Step, Play, Finish, Reset, speed and history are the player's own: no Streamlit
    buttons or sliders for them on the page."""
    at = open_page(seed="3")
    assert player_data(at) is not None
    assert not [b.label for b in at.button]
    assert not at.slider and not at.select_slider and not at.radio


def test_the_same_seed_draws_the_same_digit():
    first, again, other = (shown_run(open_page(seed=s))["final"] for s in ("11", "11", "12"))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    # ...and it is the digit the library draws for that seed, with the mask the seed picks
    b = models.bundled("mnist")
    raster = b.masks_with("natural")  # with several raster masks the seed picks one
    mask = raster[11 % len(raster)]
    assert np.array_equal(first, sampling.sample(b.model, 1, seed=11, mask=mask)[0])


def test_ordering_from_the_url_sets_the_generation_order():
    at = open_page(model="mnist-orders", ordering="columns", seed="5")
    assert not at.warning
    columns = np.arange(D).reshape(28, 28).T.ravel()
    assert np.array_equal(shown_run(at)["order"], columns)
    assert shown_run(at)["run_id"].endswith("mnist-orders/" + "%d/5" % models.bundled(
        "mnist-orders").pick_mask("columns", 5))


@pytest.mark.parametrize("query, field, fallback_key", [
    ({"seed": "abc"}, "seed", ("mnist", 0, 0)),
    ({"seed": "-4"}, "seed", ("mnist", 0, 0)),
    ({"seed": "99999999999"}, "seed", ("mnist", 0, 0)),
    ({"model": "nope"}, "model", ("mnist", 0, 0)),
    ({"model": "mnist", "ordering": "columns"}, "ordering", ("mnist", 0, 0)),
])
def test_bad_url_values_warn_naming_the_field_and_fall_back(query, field, fallback_key):
    at = open_page(**query)
    warnings = " ".join(w.value for w in at.warning)
    assert field in warnings, warnings
    assert at.session_state["sampling_run_key"] == fallback_key


def test_seed_warning_names_the_allowed_range():
    at = open_page(seed="abc")
    assert "0..4294967295" in " ".join(w.value for w in at.warning)


def test_grid_digits_are_the_digits_of_their_seeds():
    at = open_page(view="16 at once", seed="40")
    assert not at.exception
    seed_buttons = {b.key: b.label for b in at.button if b.key.startswith("sampling_grid_")}
    assert seed_buttons == {f"sampling_grid_{i}": f"seed {40 + i}" for i in range(16)}
    model = models.bundled("mnist").model
    grid = sampling_views.grid_samples("mnist", 0, tuple(range(40, 56)))
    for i in (0, 7, 15):
        assert np.array_equal(grid[i], sampling.SamplingRun(model, seed=40 + i, mask=0).final_image)


def test_each_grid_digit_shows_its_nearest_training_digit():
    """Under each of the 16 digits, the training digit a brute-force search finds nearest, its
    label and the number of pixels that differ."""
    at = open_page(view="16 at once", seed="40")
    captions = [c for c in image_captions(at) if c.startswith("#")]
    assert len(captions) == 16, image_captions(at)
    training = neighbours.load_training_set()
    unpacked = training.images(np.arange(len(training)))
    grid = sampling_views.grid_samples("mnist", 0, tuple(range(40, 56)))
    for i in (0, 9, 15):
        counts = (unpacked != grid[i]).sum(axis=1)
        index = int(np.argmin(counts))
        assert captions[i] == f"#{index}, a {training.labels[index]}: {counts[index]} pixels differ"


def test_the_player_gets_the_finished_digits_three_nearest_training_digits():
    at = open_page(seed="3")
    shown = shown_run(at)
    training = neighbours.load_training_set()
    found = training.nearest(shown["final"], k=3)
    assert [n["index"] for n in shown["nearest"]] == found.indices[0].tolist()
    assert [n["distance"] for n in shown["nearest"]] == found.distances[0].tolist()
    assert [n["label"] for n in shown["nearest"]] == training.labels[found.indices[0]].tolist()
    for n in shown["nearest"]:
        assert n["image"] == "".join(map(str, training.image(n["index"])))


def test_clicking_a_grid_seed_opens_it_step_by_step():
    at = open_page(view="16 at once", seed="40")
    click(at, "sampling_grid_5")
    assert at.session_state["sampling_run_key"] == ("mnist", models.bundled("mnist").pick_mask("natural", 45), 45)
    assert at.session_state["sampling_view"] == "Step by step"


@pytest.mark.parametrize("model, hide", [("mnist", "natural"), ("mnist-orders", "columns")])
def test_completion_shows_the_test_digit_and_its_completions(model, hide):
    at = open_page(view="Completion", model=model, seed="2")
    if hide != "natural":
        at.radio(key="sampling_hide").set_value(hide).run()
    assert not at.exception and not at.error
    assert any("keeps the 392 given pixels" in c.value for c in at.caption)
    first_zero = int(np.flatnonzero(models.test_digits().labels == 0)[0])  # the default
    assert image_captions(at)[:2] == [f"test #{first_zero} (a 0)", "what MADE sees"]
    assert image_captions(at)[2:] == [f"completion {k}" for k in range(1, 7)]
    mask = models.bundled(model).pick_mask(hide, 2)
    assert any(f"Mask {mask} ({hide} order), seed 2." in c.value for c in at.caption)


@pytest.mark.parametrize("model, hide, index, seed", [
    ("mnist", "natural", 0, 2), ("mnist", "natural", 17, 9), ("mnist-orders", "columns", 3, 2),
    ("mnist-orders", "columns", 40, 123)])
def test_completions_keep_every_given_pixel(model, hide, index, seed):
    """What the Completion view draws (sampling_page.completions): the first half of the
    ordering is the test digit's, exactly; the rest differs between completions."""
    b = models.bundled(model)
    mask = b.pick_mask(hide, seed)
    original, kept, drawn = sampling_page.completions(model, mask, index, seed, 6)
    order = b.model.mask_sets[mask].order
    assert np.array_equal(np.sort(kept), np.sort(order[:D // 2]))
    assert np.array_equal(original, models.test_digits().images[index])
    assert drawn.shape == (6, D)
    assert (drawn[:, kept] == original[kept]).all()
    hidden = np.setdiff1d(np.arange(D), kept)
    assert len({row.tobytes() for row in drawn[:, hidden]}) > 1  # several different completions
    if hide == "natural":
        assert (kept < D // 2).all()  # the top half is kept, the bottom half drawn
    else:
        assert (kept % 28 < 14).all()  # the left half is kept, the right half drawn


def test_completion_by_label_picks_a_digit_with_that_label():
    at = open_page(view="Completion")
    at.selectbox(key="sampling_label").set_value(7).run()
    at.number_input(key="sampling_which").set_value(3).run()
    index = int(np.flatnonzero(models.test_digits().labels == 7)[2])
    assert f"test #{index} (a 7)" in image_captions(at)


def test_export_offers_a_gif_and_a_png():
    at = open_page(view="Export", seed="9")
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download GIF", "Download PNG"]


def test_lecture_mode_hides_the_title_and_secondary_text():
    normal, lecture = open_page(), open_page(lecture="true")
    assert normal.title and normal.title[0].value == "Sampling studio"
    assert not lecture.title
    assert len(lecture.caption) < len(normal.caption)
    assert (player_data(normal)["lecture"], player_data(lecture)["lecture"]) == (False, True)
    assert player_data(lecture)["size"] > player_data(normal)["size"]  # a bigger digit


def test_switching_model_keeps_an_ordering_the_new_model_has():
    at = open_page(model="mnist-orders", ordering="columns")
    at.selectbox(key="model").set_value("mnist").run()
    assert not at.exception and not at.warning
    assert at.selectbox(key="ordering").value == "natural"
    assert "mnist/" in player_data(at)["run_id"]


def test_sensitivity_is_the_gradient_and_stays_in_the_receptive_field():
    b = models.bundled("mnist-orders")
    mask = b.masks_with("random")[0]
    run = sampling.SamplingRun(b.model, seed=4, mask=mask)
    run.seek(300)
    index, image = run.next_index, run.image
    gradient = sampling.logit_gradient(b.model, image, index, mask)
    receptive = b.model.mask_sets[mask].connectivity()[index] > 0
    assert not gradient[~run.drawn].any()  # nothing not yet drawn can matter
    assert not gradient[~receptive].any()  # nor anything outside the receptive field
    assert receptive.sum() <= run.drawn.sum() and gradient.any()
    # a central difference through the torch model in float64 agrees
    model64 = checkpoint.load_pretrained(b.name)[0].double()
    model64.set_mask(mask)
    for pixel in np.flatnonzero(gradient)[:3]:
        x = torch.tensor(image, dtype=torch.float64)
        up, down = x.clone(), x.clone()
        up[pixel] += 1e-6
        down[pixel] -= 1e-6
        with torch.no_grad():
            numeric = (model64(up[None])[0, index] - model64(down[None])[0, index]) / 2e-6
        assert abs(float(numeric) - gradient[pixel]) < 1e-4 * max(1.0, abs(gradient[pixel]))


# --- the player's reports, as the server reads them ----------------------------------------

def open_with_view(value: str) -> AppTest:
    at = AppTest.from_function(page_script, default_timeout=60)
    at.query_params["view"] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_view_is_in_the_url_so_a_link_opens_it():
    at = open_with_view("completion")
    assert at.session_state["sampling_view"] == "Completion"
    assert at.radio(key="sampling_hide")  # the completion view is the one drawn
    assert not at.warning


def test_a_view_that_names_no_tab_is_said_and_the_first_is_shown():
    at = open_with_view("Completion<script>")
    assert at.session_state["sampling_view"] == "Step by step"
    [warning] = [w.value for w in at.warning]
    assert warning.startswith("**view**") and "allowed: step, grid, completion, export" in warning


def test_the_warm_up_prepares_every_mask_of_the_default_model():
    """`make run`'s warm-up (off the script thread) leaves the default model ready for both
    pages that use it: every mask's sampling plan, and the float32 weights the Likelihood
    page's ensemble score reads, so neither page builds them while a user waits."""
    models.warm_up()
    b = models.bundled("mnist")
    prepared = network.STORE.prepared(b.model)
    assert {k for k, p in prepared.items() if "plan" in p.built} == set(range(b.model.num_masks))
    built = {k: p.float32() for k, p in prepared.items() if "float32" in p.built}
    assert set(built) == set(range(b.model.num_masks))
    from made_viz import likelihood
    likelihood.score_image(b.model, np.zeros(b.model.D, dtype=np.uint8))
    assert all(network.prepare(b.model, k).float32() is net for k, net in built.items())

"""The Sampling studio page through Streamlit's AppTest: the run's state machine, seeds, URL."""

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from made_viz import checkpoint, sampling
from made_viz.ui import sampling_page

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


def run_of(at: AppTest) -> sampling.SamplingRun:
    return at.session_state["sampling_run"]


def history_slider(at: AppTest):
    """The history slider: its key is new with every run (sampling_page.history_key)."""
    return at.slider(key=f"sampling_history_{at.session_state['sampling_run_serial']}")


def position(at: AppTest) -> int:
    """The run's position, checked against what the history slider shows."""
    assert history_slider(at).value == run_of(at).position
    return run_of(at).position


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_step_step_row_history_finish_reset():
    at = open_page(seed="3")
    assert position(at) == 0
    click(at, "sampling_step")
    assert position(at) == 1
    click(at, "sampling_step_row")
    assert position(at) == 1 + 28
    history_slider(at).set_value(10).run()
    assert position(at) == 10
    run = run_of(at)
    assert run.drawn.sum() == 10 and np.array_equal(run.image, run.image_at(10))
    click(at, "sampling_finish")
    assert position(at) == D and run_of(at).done
    assert at.button(key="sampling_step").disabled and at.button(key="sampling_finish").disabled
    click(at, "sampling_reset")
    assert position(at) == 0
    assert not at.button(key="sampling_step").disabled


def test_step_row_stops_at_the_end():
    at = open_page(seed="3")
    history_slider(at).set_value(D - 5).run()
    click(at, "sampling_step_row")
    assert position(at) == D


def test_play_and_pause_toggle_and_lock_the_stepping_controls():
    at = open_page()
    assert at.button(key="sampling_play").label == "Play"
    click(at, "sampling_play")
    assert at.session_state["sampling_playing"]
    assert at.button(key="sampling_play").label == "Pause"
    assert at.button(key="sampling_step").disabled and history_slider(at).disabled
    click(at, "sampling_play")
    assert not at.session_state["sampling_playing"]
    assert at.button(key="sampling_play").label == "Play"


def test_play_at_the_end_starts_over():
    at = open_page()
    click(at, "sampling_finish")
    click(at, "sampling_play")
    assert position(at) == 0 and at.session_state["sampling_playing"]


def test_the_same_seed_draws_the_same_digit():
    first, again, other = open_page(seed="11"), open_page(seed="11"), open_page(seed="12")
    for at in (first, again, other):
        click(at, "sampling_finish")
    assert np.array_equal(run_of(first).image, run_of(again).image)
    assert not np.array_equal(run_of(first).image, run_of(other).image)
    # ...and it is the digit the library draws for that seed
    model = sampling_page.bundled("mnist").model
    mask = run_of(first).mask  # with several raster masks the seed picks one: 11 % K
    assert mask == 11 % model.num_masks
    assert np.array_equal(run_of(first).image, sampling.sample(model, 1, seed=11, mask=mask)[0])


def test_ordering_from_the_url_sets_the_generation_order():
    at = open_page(model="mnist-orders", ordering="columns", seed="5")
    assert not at.warning
    columns = np.arange(D).reshape(28, 28).T.ravel()
    assert np.array_equal(run_of(at).order, columns)
    names = sampling_page.bundled("mnist-orders").mask_names
    assert names[run_of(at).mask] == "columns"


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
    model = sampling_page.bundled("mnist").model
    grid = sampling_page.grid_samples("mnist", 0, tuple(range(40, 56)))
    for i in (0, 7, 15):
        assert np.array_equal(grid[i], sampling.SamplingRun(model, seed=40 + i, mask=0).final_image)


def test_clicking_a_grid_seed_opens_it_step_by_step():
    at = open_page(view="16 at once", seed="40")
    click(at, "sampling_grid_5")
    assert at.session_state["sampling_run_key"] == ("mnist", sampling_page.bundled("mnist").pick_mask("natural", 45), 45)
    assert at.session_state["sampling_view"] == "Step by step"


@pytest.mark.parametrize("model, hide", [("mnist", "natural"), ("mnist-orders", "columns")])
def test_completion_keeps_the_given_pixels(model, hide):
    at = open_page(view="Completion", model=model, seed="2")
    if hide != "natural":
        at.radio(key="sampling_hide").set_value(hide).run()
    shown = at.session_state["sampling_completion"]
    order = sampling_page.bundled(model).model.mask_sets[shown["mask"]].order
    assert np.array_equal(np.sort(shown["kept"]), np.sort(order[:D // 2]))
    kept, original, drawn = shown["kept"], shown["original"], shown["completions"]
    assert drawn.shape == (sampling_page.COMPLETIONS, D)
    assert (drawn[:, kept] == original[kept]).all()
    hidden = np.setdiff1d(np.arange(D), kept)
    assert len({row.tobytes() for row in drawn[:, hidden]}) > 1  # several different completions
    if hide == "natural":
        assert (kept < D // 2).all()  # the top half is kept, the bottom half drawn
    else:
        assert (kept % 28 < 14).all()  # the left half is kept, the right half drawn
    assert any("keeps the 392 given pixels" in c.value for c in at.caption)


def test_completion_by_label_picks_a_digit_with_that_label():
    at = open_page(view="Completion")
    at.selectbox(key="sampling_label").set_value(7).run()
    index = at.session_state["sampling_completion"]["index"]
    assert sampling_page.test_digits().labels[index] == 7


def test_export_offers_a_gif_and_a_png():
    at = open_page(view="Export", seed="9")
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download GIF", "Download PNG"]


def test_lecture_mode_hides_the_title_and_secondary_text():
    normal, lecture = open_page(), open_page(lecture="true")
    assert normal.title and normal.title[0].value == "Sampling studio"
    assert not lecture.title
    assert len(lecture.caption) < len(normal.caption)


def test_switching_model_keeps_an_ordering_the_new_model_has():
    at = open_page(model="mnist-orders", ordering="columns")
    at.selectbox(key="model").set_value("mnist").run()
    assert not at.exception and not at.warning
    assert at.selectbox(key="ordering").value == "natural"
    assert at.session_state["sampling_run_key"][0] == "mnist"


def test_sensitivity_is_the_gradient_and_stays_in_the_receptive_field():
    b = sampling_page.bundled("mnist-orders")
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

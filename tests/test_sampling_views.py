"""The Sampling page's player view, drawn from an explicit model, mask and seed: each key has
its own run and its own player, so the tour's sampling step and the Sampling page never share
one; a report counts only for its own view."""
from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from made_viz import sampling
from made_viz.ui import models

PLAYER = "made_viz_sampling_player"


def two_players():
    from made_viz.ui.models import bundled, prepared_mask
    from made_viz.ui.sampling_views import current_run

    b = bundled("mnist")
    for key, seed in (("sampling_", 3), ("tour_8_", 7)):
        mask = prepared_mask(b.name, b.pick_mask("natural", seed)).index
        current_run(b, mask, seed, key=key)


def test_each_key_has_its_own_run():
    at = AppTest.from_function(two_players, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    b = models.bundled("mnist")
    page, tour = at.session_state["sampling_run"], at.session_state["tour_8_run"]
    assert at.session_state["sampling_run_key"] == ("mnist", b.pick_mask("natural", 3), 3)
    assert at.session_state["tour_8_run_key"] == ("mnist", b.pick_mask("natural", 7), 7)
    expected = sampling.SamplingRun(b.model, seed=7, mask=b.pick_mask("natural", 7))
    assert np.array_equal(tour.final_image, expected.final_image)
    assert not np.array_equal(page.final_image, tour.final_image)
    assert at.session_state["tour_8_payload"]["run_id"].endswith("mnist/%d/7"
                                                                  % b.pick_mask("natural", 7))


def one_studio():
    from made_viz.ui.models import bundled, prepared_mask
    from made_viz.ui.sampling_views import current_run, studio

    b = bundled("mnist")
    prepared = prepared_mask(b.name, b.pick_mask("natural", 7))
    current_run(b, prepared.index, 7, key="tour_8_")
    studio(b.name, prepared, True, key="tour_8_")


def test_the_studio_mounts_its_player_under_its_own_key():
    from player_view import player_data

    at = AppTest.from_function(one_studio, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    (proto,) = [e.proto for e in at.get("bidi_component") if e.proto.component_name == PLAYER]
    assert "tour_8_player" in proto.id
    data = player_data(at)
    assert data["lecture"] is True and data["position"] == 0 and len(data["order"]) == 784

"""The Sampling player's server side (made_viz/ui/player.py): what it accepts of the reports
a browser sends (anything a crafted client sends) and the settings it refuses. The player in a
browser: tests/e2e/test_sampling_e2e.py."""
import numpy as np
import pytest

from made_viz.ui import player

D = 784

RUN = "4:mnist/0/7"


@pytest.mark.parametrize("state, expected", [
    ({"position": {"run": RUN, "position": 12}}, 12),
    ({"position": {"run": RUN, "position": 0}}, 0),
    ({"position": {"run": RUN, "position": D}}, D),
    ({"position": {"run": "3:mnist/0/7", "position": 12}}, None),  # an older run's report
    ({"position": {"run": RUN, "position": D + 1}}, None),
    ({"position": {"run": RUN, "position": -1}}, None),
    ({"position": {"run": RUN, "position": True}}, None),
    ({"position": {"run": RUN, "position": 12.0}}, None),
    ({"position": {"run": RUN, "position": "12"}}, None),
    ({"position": [RUN, 12]}, None),
    ({"speed": 4}, None),
    ({}, None),
    (None, None),
])
def test_a_reported_position_counts_only_for_this_run_and_in_range(state, expected):
    assert player.reported_position(state, RUN, 0, D) == expected


def test_a_completion_run_reports_no_position_before_its_given_pixels():
    state = {"position": {"run": RUN, "position": 100}}
    assert player.reported_position(state, RUN, 392, D) is None
    assert player.reported_position(state, RUN, 50, D) == 100


@pytest.mark.parametrize("name, value, expected", [
    ("speed", 28, 28), ("speed", 5, None), ("speed", True, None), ("speed", "4", None),
    ("overlay", "sensitivity", "sensitivity"), ("overlay", "all", None), ("overlay", 1, None),
])
def test_a_reported_setting_counts_only_when_allowed(name, value, expected):
    allowed = {"speed": player.SPEEDS, "overlay": player.OVERLAYS}[name]
    assert player.reported_setting({name: value}, name, allowed) == expected


def test_the_player_refuses_a_setting_it_does_not_have():
    payload = player.run_payload(RUN, range(4), [0, 1, 0, 1], [.5] * 4, [0.0] * 5, [.5] * 4,
                                 side=2)
    views = player.views_payload(RUN, 0, None, None)
    for bad in ({"speed": 3}, {"overlay": "all"}):
        settings = {"speed": 4, "overlay": "none", **bad}
        with pytest.raises(ValueError, match=next(iter(bad))):
            player.player(payload, position=0, size=100, lecture=False, views=views,
                          on_position=lambda: None, on_setting=lambda name: None, **settings)


def test_the_nearest_training_digits_travel_as_plain_numbers_and_pixels():
    images = np.array([[0, 1, 1, 0], [1, 1, 1, 1]], dtype=np.uint8)
    nearest = player.nearest_payload(np.array([12, 7]), np.array([3, 5]),
                                     np.array([4, 9], dtype=np.uint8), images)
    assert nearest == [{"index": 12, "label": 4, "distance": 3, "image": "0110"},
                       {"index": 7, "label": 9, "distance": 5, "image": "1111"}]
    payload = player.run_payload(RUN, range(4), [0, 1, 0, 1], [.5] * 4, [0.0] * 5, [.5] * 4,
                                 side=2, nearest=nearest)
    assert payload["nearest"] == nearest
    assert player.run_payload(RUN, range(4), [0] * 4, [.5] * 4, [0.0] * 5, [.5] * 4,
                              side=2)["nearest"] == []

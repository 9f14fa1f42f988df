"""figures/tiny.py: the Tiny world's training curve and learned against true p(x)."""
from __future__ import annotations

import math

import numpy as np

from made_viz.figures import tiny


def test_probability_figure_puts_each_pattern_at_its_two_log10_probabilities():
    true = np.array([math.log(0.5), math.log(0.25), math.log(0.25), -math.inf])
    model = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    figure = tiny.probability_figure(true, model)
    points = figure.data[0]
    assert points.type == "scatter" and list(points.customdata) == [0, 1, 2, 3]
    expected_x = [round(math.log10(p), 3) for p in (0.5, 0.25, 0.25)] + [tiny.ZERO_AT]
    assert list(points.x) == expected_x  # p = 0 in its own column left of the floor
    assert np.allclose(points.y, np.log10([0.4, 0.3, 0.2, 0.1]), atol=1e-3)
    assert tiny.ZERO_AT < tiny.LOG_P_FLOOR


def test_many_patterns_become_a_histogram_that_counts_them_all():
    n = tiny.SCATTER_MAX_PATTERNS * 2
    rng = np.random.default_rng(1)
    true = np.log(rng.dirichlet(np.ones(n)))
    figure = tiny.probability_figure(true, true + rng.normal(0, 0.1, n))
    assert figure.data[0].type == "heatmap"
    assert np.array(figure.data[0].customdata).sum() == n


def test_training_curve_draws_the_entropy_floor_and_three_lines_a_run():
    runs = [dict(label=f"net {k}", color="#123456", seconds=[0.0, 1.0, 2.0],
                 train_nll=[3.0, 2.5, 2.2], cross_entropy=[2.9, 2.4, 2.1], kl=[0.9, 0.4, 0.1])
            for k in range(2)]
    figure = tiny.training_curve_figure(runs, 2.0, 5.0)
    floor, *lines = figure.data
    assert list(floor.y) == [2.0, 2.0] and list(floor.x) == [0, 5.0]
    assert len(lines) == 3 * len(runs)
    assert [list(t.y) for t in lines[:3]] == [runs[0][k] for k in ("train_nll", "cross_entropy",
                                                                       "kl")]
    assert lines[2].yaxis == "y2"  # the KL below the NLL
    assert list(figure.layout.xaxis.range) == [0, 5.0]

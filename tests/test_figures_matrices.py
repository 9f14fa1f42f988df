"""figures/matrices.py: the layer masks and the path-count (product) matrix."""
from __future__ import annotations

import numpy as np

from made_viz.figures import matrices
from made_viz.masks import build_masks


def test_generation_order_product_is_strictly_lower_triangular_in_the_figure():
    masks = build_masks(6, (7,), ordering="random", seed=5)
    figure = matrices.path_count_figure(masks, generation_order=True)
    z = np.array(figure.data[0].z)
    assert not np.triu(z).any() and np.tril(z, -1).any()


def test_log_colour_bar_is_labelled_in_path_counts():
    """Beyond 100 paths the colours are log10(1 + paths); the colour bar still reads in paths."""
    for D, hidden in [(32, (64, 64)), (784, (500, 500)), (1024, (2048,) * 4)]:
        masks = build_masks(D, hidden, seed=1)
        peak = float(np.asarray(masks.connectivity(), dtype=np.float64).max())
        assert peak > 100
        figure = matrices.path_count_figure(masks).to_dict()
        bar = next(t.get("colorbar") or t["marker"]["colorbar"] for t in figure["data"]
                   if t.get("colorbar") or t.get("marker", {}).get("colorbar"))
        assert bar["title"]["text"] == "paths (log scale)"
        superscripts = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
        counts = [10 ** int(label[2:].translate(superscripts)) if label[2:3] in "⁰¹²³⁴⁵⁶⁷⁸⁹"
                  and label[2:] else int(label.replace(",", "")) for label in bar["ticktext"]]
        # Powers of ten, evenly spaced (0 apart), the last one within a step of the peak.
        powers = [c for c in counts if c]
        assert len({b / a for a, b in zip(powers, powers[1:])}) == 1
        assert powers[0] == 1 and powers[-1] <= peak < powers[-1] ** 2 / powers[-2]
        assert np.allclose(bar["tickvals"], np.log10(1 + np.array(counts, dtype=float)),
                           atol=1e-3)
        assert 3 <= len(counts) <= 6

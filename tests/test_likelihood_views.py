"""The Likelihood views' own logic (through a browser: tests/e2e/test_likelihood_e2e.py)."""
import pytest

from made_viz.ui.likelihood_views import mask_caption, masks_summary


@pytest.mark.parametrize("names, summary, captions", [
    (["natural"] * 3, "3 masks, all in natural order", ["mask 0", "mask 1", "mask 2"]),
    (["natural", "reverse", "columns"], "3 masks, one per ordering",
     ["natural", "reverse", "columns"]),
    (["natural", "reverse", "natural", "reverse"], "4 masks: 2 natural, 2 reverse",
     ["#0 natural", "#1 reverse", "#2 natural", "#3 reverse"]),
])
def test_every_mask_view_names_masks_by_ordering_and_index(names, summary, captions):
    """The Likelihood page's small maps: a model with several masks per ordering is not
    described as one mask per ordering, and each map says which mask it is."""
    assert masks_summary(names) == summary
    assert [mask_caption(names, k) for k in range(len(names))] == captions

"""paper.py: the numbers quoted from the MADE paper are the ones the README and docs quote."""
from pathlib import Path

from made_viz import paper

ROOT = Path(__file__).resolve().parents[1]


def test_the_made_rows_are_the_papers_one_and_thirty_two_mask_models():
    assert {(r.hidden_layers, r.masks): r.nll for r in paper.made_rows()} == {
        (1, 1): 88.40, (2, 1): 89.59, (1, 32): 88.04, (2, 32): 86.64}
    assert [r.masks for r in paper.made_rows(32)] == [32, 32]
    assert all(r.estimate for r in paper.PAPER_TABLE if r.model.startswith(("RBM", "DBN", "DARN")))


def test_the_readme_and_training_notes_quote_the_same_numbers():
    readme = (ROOT / "README.md").read_text()
    training = (ROOT / "docs" / "training.md").read_text()
    best = min(paper.made_rows(), key=lambda r: r.nll)
    one_mask = paper.made_rows(1)[0]
    for text in (readme, training):
        assert f"{best.nll:.2f}" in text and f"{one_mask.nll:.2f}" in text
    assert f"{paper.PYTORCH_MADE_LOGIT_AVERAGE}" in (ROOT / "docs" / "design.md").read_text()

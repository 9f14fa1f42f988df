"""The MADE paper's binarized-MNIST numbers (Germain, Gregor, Murray & Larochelle, ICML 2015),
and the ones others report, to set beside ours. Data only.

Test NLL in nats per image, lower is better. The paper's models (and the ones it compares
with) were trained and tested on one fixed binarization of MNIST (Salakhutdinov & Murray 2008:
each pixel drawn once, the same images every epoch). The bundled `mnist` model was trained on
a fresh draw of the training images every epoch (dynamic binarization, which keeps it from
learning one draw's noise) and is tested on our own fixed draw of the test digits (seed 1234),
not the paper's: the numbers compare closely, not exactly.

>>> [row.nll for row in PAPER_TABLE if row.model.startswith("MADE")]
[88.4, 89.59, 88.04, 86.64]
"""
from __future__ import annotations

from dataclasses import dataclass

PAPER = "Germain et al. 2015"
PAPER_BINARIZATION = ("fixed binarization: one draw of every pixel, the same images in every"
                      " epoch and at test (Salakhutdinov & Murray 2008)")
OUR_BINARIZATION = ("dynamic binarization in training (a fresh draw of the training digits"
                    " every epoch), tested on one fixed draw of the test digits of our own"
                    " (seed 1234)")


@dataclass(frozen=True)
class Row:
    model: str
    nll: float
    masks: int | None = None      # MADE rows: the number of masks the model was trained with
    hidden_layers: int | None = None
    estimate: bool = False        # the model's likelihood is intractable: an estimate


# The paper's table of binarized-MNIST test results, the rows quoted here.
PAPER_TABLE = (
    Row("RBM (500 hidden, 25 CD steps)", 86.34, estimate=True),
    Row("DBN, 2 hidden layers", 84.55, estimate=True),
    Row("DARN (500 hidden, adaptive noise)", 84.13, estimate=True),
    Row("NADE, 1 hidden layer (fixed order)", 88.33),
    Row("MADE, 1 hidden layer, 1 mask", 88.40, masks=1, hidden_layers=1),
    Row("MADE, 2 hidden layers, 1 mask", 89.59, masks=1, hidden_layers=2),
    Row("MADE, 1 hidden layer, 32 masks", 88.04, masks=32, hidden_layers=1),
    Row("MADE, 2 hidden layers, 32 masks", 86.64, masks=32, hidden_layers=2),
)

# The paper's Figure 2 plots, for one hidden layer of 500 units, the test NLL against the
# number of masks a model is trained with, 1 to 32: one model per number. Its values are
# drawn, not listed (pytorch-made reproduced its first point, one mask, at 94.5).
FIGURE_2 = ("the number of masks a model is trained with (1 to 32, one model each, one hidden"
            " layer of 500 units), plotted, not tabulated")

# karpathy/pytorch-made (500 hidden units): one mask, then 10 orderings whose logits it
# averages at test time; the second is not a likelihood (see tiny.logit_average_log_q).
PYTORCH_MADE_ONE_MASK = 94.5
PYTORCH_MADE_LOGIT_AVERAGE = 79.3


def made_rows(masks: int | None = None) -> tuple[Row, ...]:
    """The paper's MADE rows, those trained with `masks` masks when given."""
    return tuple(row for row in PAPER_TABLE if row.masks is not None
                 and (masks is None or row.masks == masks))

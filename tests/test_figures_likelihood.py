"""figures/likelihood.py: the Likelihood page's maps, running cost, histogram and PNGs."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from made_viz.figures import likelihood as lf
from tests.test_likelihood import png_bytes, synthetic_digit


def test_upload_preview_thumbnails():
    for payload in (png_bytes(synthetic_digit(900, 300, dark_ink=True)),
                    png_bytes(synthetic_digit(60, 60, dark_ink=False).astype(np.uint16) * 257),
                    png_bytes(synthetic_digit(80, 80, dark_ink=True), mode="P", format="GIF")):
        thumb = Image.open(io.BytesIO(lf.thumbnail_png(payload)))
        assert max(thumb.size) <= 140
        pixels = np.asarray(thumb.convert("L"))
        assert pixels.max() - pixels.min() > 100  # the digit still shows

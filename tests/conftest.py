"""What many test files share: opening the app in Streamlit's AppTest at one of its pages, a
random MADE whose conditionals are far from 1/2, and synthetic digit pictures as image files.
Import them with `from tests.conftest import open_app, random_made, ...`; open_app and
random_made are fixtures too."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"


def open_app(page: str | None = None, *, timeout: float = 60, **query) -> AppTest:
    """app.py run once in AppTest, at `page` (a url_path such as "sampling"; None: the Masks
    page at the root URL) with `query` as the link's parameters, as a browser opening that
    address would."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    if page:  # AppTest.switch_page() wants a page file; ours are functions, known by url_path
        at._page_hash = calc_hash(page)
    at.query_params.update(query)
    return at.run()


def random_made(D: int, hidden, *, scale: float = 3.0, seed: int = 0, **kwargs):
    """A torch MADE in eval mode with its initial weights times `scale`, so the conditionals
    are far from 1/2 and a wrong one shows."""
    import torch

    from made_viz.model import MADE

    torch.manual_seed(seed)
    model = MADE(D, hidden, seed=seed, **kwargs)
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(scale)
    return model.eval()


def synthetic_digit(height: int, width: int, *, dark_ink: bool) -> np.ndarray:
    """A grey 'seven' of any size: a bar along the top and a diagonal, off centre."""
    canvas = np.zeros((height, width))
    rows, cols = np.mgrid[0:height, 0:width]
    top, left = height // 5, width // 3
    thick = max(1, min(height, width) // 18)
    bar = (abs(rows - top) <= thick) & (cols >= left) & (cols <= left + width // 2)
    t = (rows - top) / max(1, height * 0.65)
    diagonal = (abs(cols - (left + width // 2 - t * width * 0.3)) <= thick) & (t >= 0) & (t <= 1)
    canvas[bar | diagonal] = 1.0
    grey = canvas * 230 + 10
    return (255 - grey if dark_ink else grey).astype(np.uint8)


def png_bytes(array: np.ndarray, mode: str | None = None, **save) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    image.save(buffer, format=save.pop("format", "PNG"), **save)
    return buffer.getvalue()


@pytest.fixture(name="open_app")
def open_app_fixture():
    return open_app


@pytest.fixture(name="random_made")
def random_made_fixture():
    return random_made

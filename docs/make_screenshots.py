"""Remake the README's pictures from the real app: `.venv/bin/python -m docs.make_screenshots`.

Starts `streamlit run app.py` headless, opens each page in headless Chromium at a laptop's
window size, and writes docs/img/<page>.png, reduced to a small palette so the README stays
light. Needs what `make test` installs (Playwright, Debian's chromium), and Debian's
fonts-noto-color-emoji for the pages' icons in the sidebar (without it they show as boxes).
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, start_streamlit, stop, wait_idle

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"
WIDTH, HEIGHT = 1400, 900
SHOWN_WIDTH = 1000  # pixels in the PNG; the README shows it at its column's width
SETTLE_MS = 1500  # charts finish drawing after the script run ends

# (file name, url path and query, what to click before the picture or None, the heading to
# scroll to or None)
PAGES = [
    ("masks", "masks?D=6&hidden=8,8&seed=1", None, None),
    ("sampling", "sampling?seed=7", "Finish", None),
    ("likelihood", "likelihood", None, None),
    ("tiny", "tiny?break=sees-self", "Train", "4 · Does it sum to one?"),
]
TRAINING_MS = 12_000  # the Tiny world trains for a few seconds after its click


def _small_png(png: bytes, path: Path) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((SHOWN_WIDTH, round(image.height * SHOWN_WIDTH / image.width)),
                         Image.Resampling.LANCZOS)
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="page names to remake (default: all)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = start_streamlit(ROOT / "app.py", port)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            for name, path, click, heading in PAGES:
                if args.only and name not in args.only:
                    continue
                page.goto(f"http://127.0.0.1:{port}/{path}")
                wait_idle(page, timeout=90_000)
                if click:
                    page.get_by_role("button", name=click).first.click()
                    if name == "tiny":
                        page.wait_for_timeout(TRAINING_MS)
                    wait_idle(page, timeout=90_000)
                if heading:
                    page.get_by_role("heading", name=heading).scroll_into_view_if_needed()
                page.wait_for_timeout(SETTLE_MS)
                _small_png(page.screenshot(), OUT / f"{name}.png")
                print(f"wrote {OUT / name}.png")
            browser.close()
    finally:
        stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())

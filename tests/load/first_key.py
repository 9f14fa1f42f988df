"""Is a key pressed the moment the Sampling player shows ever lost? Open it N times and see.

    .venv/bin/python -m tests.load.first_key            # 20 fresh pages, one server
    .venv/bin/python -m tests.load.first_key --pages 50 --idle

Each page opens /sampling?seed=<n>&lecture=true, waits until the player is visible (with
--idle, also until the first script run has finished) and at once presses ArrowRight, as a
presenter's clicker would; the key is taken when the player then shows "1 / 784 pixels".
The player used to show its HTML before its script listened for keys, and about one such key
in ten was lost; it now shows only once it listens (player.css). Exit status 1 if any is lost.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import (APP_IDLE, CHROMIUM, CHROMIUM_ARGS, free_port,  # noqa: E402
                                start_streamlit, stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load.first_key",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20, help="fresh page loads")
    parser.add_argument("--idle", action="store_true",
                        help="also wait for the first script run to finish (as open_app does)")
    args = parser.parse_args(argv)
    if not 1 <= args.pages <= 500:
        parser.error("--pages must be in 1..500")
    from playwright.sync_api import expect, sync_playwright

    port = free_port()
    server = start_streamlit(ROOT / "app.py", port)
    lost = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            for i in range(args.pages):
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{port}/sampling?seed={5 + i}&lecture=true")
                if args.idle:
                    page.wait_for_selector(APP_IDLE, timeout=60_000)
                count = page.locator(".made-player .count")
                expect(count).to_be_visible(timeout=60_000)
                page.keyboard.press("ArrowRight")
                try:
                    expect(count).to_have_text("1 / 784 pixels", timeout=5_000)
                except AssertionError:
                    lost.append(i)
                print(f"page {i + 1}: {'LOST' if lost and lost[-1] == i else 'taken'}",
                      flush=True)
                page.close()
            browser.close()
    finally:
        stop(server)
    print(f"{len(lost)} of {args.pages} first keys lost")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())

"""Each page has its own address: opened directly, with its state in the link, it shows that
page in that state; the app's root address leads to the Masks page and keeps the link's state."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, exceptions, open_app, wait_idle

pytestmark = pytest.mark.e2e


def assert_found(page) -> None:
    expect(page.get_by_text("Page not found")).to_have_count(0)
    assert exceptions(page) == []


def test_masks_opens_at_its_own_address_with_its_state(page, app_url):
    open_app(page, f"{app_url}/masks?D=5&direct=true&unit=o3")
    expect(page.get_by_role("heading", name="MADE masks")).to_be_visible()
    expect(page.locator("strong", has_text="D = 5, hidden 5, 5")).to_contain_text("direct on")
    expect(page.get_by_text("Highlighting o3", exact=False)).to_be_visible()
    assert urlsplit(page.url).path == "/masks"
    page.screenshot(path=str(ARTIFACTS / "pages-masks-direct.png"))
    assert_found(page)


def test_sampling_opens_at_its_own_address_with_its_state(page, app_url):
    open_app(page, f"{app_url}/sampling?seed=3")
    expect(page.get_by_role("heading", name="Sampling studio", level=1)).to_be_visible(timeout=60_000)
    expect(page.locator(".st-key-seed input")).to_have_value("3")
    assert urlsplit(page.url).path == "/sampling"
    assert_found(page)


def test_the_root_address_leads_to_masks_and_keeps_the_link(page, app_url):
    open_app(page, f"{app_url}/?D=6&seed=7")
    expect(page.locator("strong", has_text="D = 6, hidden 5, 5")).to_contain_text("seed 7 +")
    url = urlsplit(page.url)
    assert url.path == "/masks"
    assert parse_qs(url.query) == {"D": ["6"], "seed": ["7"]}
    # The menu's Masks entry is this page: following it keeps the reader where they are.
    page.get_by_role("link", name="Masks").click()
    wait_idle(page)
    expect(page.locator(".st-key-D input")).to_have_value("6")
    expect(page.locator(".st-key-seed input")).to_have_value("7")
    assert urlsplit(page.url).path == "/masks"
    assert_found(page)


def test_the_sampling_view_is_in_the_link(page, app_url):
    open_app(page, f"{app_url}/sampling?seed=3&view=export")
    expect(page.get_by_role("heading", name="Animated GIF of this run")).to_be_visible(timeout=60_000)
    page.get_by_role("tab", name="16 at once").click()
    wait_idle(page)
    expect(page).to_have_url(re.compile(r"[?&]view=grid(&|$)"))
    assert parse_qs(urlsplit(page.url).query)["seed"] == ["3"]
    assert_found(page)

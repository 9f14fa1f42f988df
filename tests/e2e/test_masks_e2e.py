"""The Masks page in real headless Chromium: load, edit, click a unit, share a link, export.

Update timings and figure payloads are measured here (not asserted: speed is for benchmarks)
and written to test-artifacts/masks-timings.json.
"""
from __future__ import annotations

import json
import os
import statistics
import time
import urllib.request

import pytest
from playwright.sync_api import expect

from conftest import (ARTIFACTS, ROOT, exceptions, free_port, open_app, start_streamlit, stop,
                      wait_idle)

pytestmark = pytest.mark.e2e

TIMINGS: dict[str, float] = {}
GRAPH = ".st-key-graph .js-plotly-plot"
# The data revision each chart has drawn (null until drawn): graph, layer masks, path counts.
REVISIONS = """["graph", "masks", "paths"].map(key => {
    const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
    return gd && gd._fullLayout ? gd._fullLayout.datarevision : null; })"""


@pytest.fixture(scope="module", autouse=True)
def write_timings():
    yield
    if TIMINGS:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "masks-timings.json").write_text(json.dumps(TIMINGS, indent=2))


def node_names(page) -> list[str]:
    """Names of the units drawn in the graph (from the Plotly figure in the page)."""
    return page.evaluate(f"""() => {{
        const gd = document.querySelector("{GRAPH}");
        return gd.data.flatMap(t => (t.customdata || []).map(c => c[2])); }}""")


def view_text(page) -> str:
    return page.locator("strong", has_text="D = ").first.inner_text()


def set_text(page, key: str, value: str) -> None:
    field = page.locator(f".st-key-{key} input")
    field.fill(value)
    field.press("Enter")


class Frames:
    """Bytes the server sends over the websocket (what a change costs on the wire)."""

    def __init__(self, page):
        self.received = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._count))

    def _count(self, payload) -> None:
        self.received += len(payload)


def timed_change(page, key: str, value: str, *view: str, frames: Frames | None = None):
    """Seconds from committing a field until the line naming the network says all of `view` and
    all three figures show new data, and the bytes sent. A figure's datarevision changes with its
    data (figures/base.py sets it so that Plotly redraws only what changed)."""
    field = page.locator(f".st-key-{key} input")
    field.fill(value)
    shown = page.evaluate(f"() => {REVISIONS}")
    before = frames.received if frames else 0
    start = time.perf_counter()
    field.press("Enter")  # the commit: a text field reruns the app on Enter
    page.wait_for_function(f"""([view, shown]) => {{
        const line = [...document.querySelectorAll("strong")]
            .find(s => s.innerText.startsWith("D = "));
        const now = {REVISIONS};
        return line && view.every(v => line.innerText.includes(v))
            && now.every((revision, i) => revision && revision !== shown[i]); }}""",
                           arg=[list(view), shown], timeout=30_000)
    elapsed = time.perf_counter() - start
    wait_idle(page)
    return elapsed, (frames.received - before) if frames else 0


def pushed_margins(page, view: str) -> dict[str, list[float]]:
    """How far Plotly had to widen each chart's margins beyond the figure's own (for a legend or
    a colour bar): any push makes it lay the whole chart out a second time. Read once the page
    names `view` and Plotly has finished laying out all three charts."""
    expect(page.locator("strong", has_text=view)).to_be_visible()
    page.wait_for_function("""() => ["graph", "masks", "paths"].every(key => {
        const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
        return gd && gd._fullLayout && !(gd._promises && gd._promises.length); })""")
    return page.evaluate("""() => Object.fromEntries(["graph", "masks", "paths"].map(key => {
        const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
        const size = gd._fullLayout._size, margin = gd._fullLayout.margin;
        return [key, ["l", "r", "t", "b"].map(side => size[side] - margin[side])]; }))""")


def click_unit(page, name: str) -> None:
    """Click the SVG point of unit `name` in the graph."""
    trace, point = page.evaluate(f"""name => {{
        const gd = document.querySelector("{GRAPH}");
        for (let t = 0; t < gd.data.length; t++) {{
            const i = (gd.data[t].customdata || []).findIndex(c => c[2] === name);
            if (i >= 0) return [t, i];
        }}
        return null; }}""", name)
    page.locator(f"{GRAPH} .scatterlayer .trace").nth(trace).locator(".point").nth(point).click(
        force=True)


def test_page_loads_with_graph_matrices_checks_and_png_export(page, app_url):
    open_app(page, app_url)
    expect(page.get_by_role("heading", name="MADE masks")).to_be_visible()
    page.wait_for_selector(f"{GRAPH} .scatterlayer .point")
    assert sorted(node_names(page)) == sorted(
        [f"x{i}" for i in range(4)] + [f"h{l}.{i}" for l in (1, 2) for i in range(5)]
        + [f"o{i}" for i in range(4)])
    assert page.locator(".js-plotly-plot").count() == 3  # graph, masks, path counts
    expect(page.get_by_text("Autoregressive", exact=False).first).to_be_visible()
    expect(page.get_by_text("Confirmed numerically", exact=False)).to_be_visible()
    expect(page.get_by_role("row", name="mismatches")).to_contain_text("0")
    assert exceptions(page) == []
    # Export: Plotly's own modebar button downloads a PNG, offline, under a telling name.
    for key, prefix in (("graph", "made-graph-D4"), ("paths", "made-paths-D4")):
        chart = page.locator(f".st-key-{key} .js-plotly-plot")
        chart.hover()
        with page.expect_download() as download:
            chart.locator(".modebar-btn[data-title='Download plot as a PNG']").click()
        name = download.value.suggested_filename
        assert name.startswith(prefix) and name.endswith(".png")
        assert download.value.path().read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_changing_D_and_hidden_sizes_updates_the_figures(page, app_url):
    frames = Frames(page)
    open_app(page, app_url)
    page.wait_for_selector(f"{GRAPH} .scatterlayer .point")
    assert pushed_margins(page, "D = 4, hidden 5, 5") == {
        key: [0, 0, 0, 0] for key in ("graph", "masks", "paths")}
    TIMINGS["D=4 h=5,5: D -> 6, all figures redrawn (s)"], TIMINGS["D=4 h=5,5: D -> 6 bytes"] = \
        timed_change(page, "D", "6", "D = 6, hidden 5, 5", frames=frames)
    assert len(node_names(page)) == 6 + 5 + 5 + 6
    timed_change(page, "hidden", "3, 3", "D = 6, hidden 3, 3")
    assert sorted(node_names(page)) == sorted(
        [f"x{i}" for i in range(6)] + [f"h{l}.{i}" for l in (1, 2) for i in range(3)]
        + [f"o{i}" for i in range(6)])
    # D up to 32 with two hidden layers of 64: drawn grouped by degree.
    timed_change(page, "hidden", "64, 64", "D = 6, hidden 64, 64")
    for D in (32, 31):
        key = f"D={D} h=64,64: D changed, all figures redrawn"
        TIMINGS[f"{key} (s)"], TIMINGS[f"{key} bytes"] = timed_change(
            page, "D", str(D), f"D = {D}, hidden 64, 64", frames=frames)
    expect(page.get_by_text("too big to draw unit by unit", exact=False)).to_be_visible()
    # Drawn in one layout pass each; the graph's lines are a few SVG paths, not one per line.
    assert pushed_margins(page, f"D = {D}, hidden 64, 64") == {
        key: [0, 0, 0, 0] for key in ("graph", "masks", "paths")}
    assert page.locator(f"{GRAPH} .scatterlayer path.js-line").count() == 0
    assert 1 <= page.locator(f"{GRAPH} .shapelayer path").count() <= 12
    assert exceptions(page) == []


def test_clicking_a_unit_lights_its_paths(page, app_url):
    open_app(page, app_url)
    page.wait_for_selector(f"{GRAPH} .scatterlayer .point")
    start = time.perf_counter()
    click_unit(page, "h1.3")
    expect(page.locator(".st-key-unit input")).to_have_value("h1.3")
    expect(page.get_by_text("Highlighting h1.3", exact=False)).to_be_visible()
    page.wait_for_function(f"""() => document.querySelector("{GRAPH}").data
        .some(t => t.name === "on a path through the selected unit")""")
    TIMINGS["click a unit -> paths lit (s)"] = time.perf_counter() - start
    wait_idle(page)
    assert "unit=h1.3" in page.url
    click_unit(page, "o2")
    expect(page.get_by_text("Highlighting o2", exact=False)).to_be_visible()
    assert exceptions(page) == []


@pytest.mark.parametrize("width", [1100, 1400])
def test_graph_text_stays_inside_and_apart_in_a_narrow_window(context, app_url, width):
    """Labels, column headers and legend fit the graph at a projector's or a laptop's width:
    nothing cut off at its edges, no two headers on top of each other."""
    page = context.new_page()
    try:
        page.set_viewport_size({"width": width, "height": 900})
        open_app(page, app_url + "/?direct=true&unit=o3")
        page.wait_for_selector(f"{GRAPH} .scatterlayer .point")
        boxes = page.evaluate(f"""() => {{
            const gd = document.querySelector("{GRAPH}");
            const svg = gd.querySelector(".main-svg").getBoundingClientRect();
            const box = el => {{ const r = el.getBoundingClientRect();
                                 return [r.left - svg.left, r.right - svg.left, r.top, r.bottom]; }};
            return {{width: svg.width,
                     text: [...gd.querySelectorAll(".textpoint text, .legendtext")].map(box),
                     headers: [...gd.querySelectorAll(".annotation-text")].map(box)}}; }}""")
        page.screenshot(path=str(ARTIFACTS / f"masks-graph-{width}px.png"))
    finally:
        page.close()
    assert len(boxes["text"]) > 8 and len(boxes["headers"]) == 4
    for left, right, _, _ in boxes["text"] + boxes["headers"]:
        assert -0.5 <= left and right <= boxes["width"] + 0.5
    headers = sorted(boxes["headers"])
    assert all(a[1] <= b[0] for a, b in zip(headers, headers[1:]))  # side by side, apart


def test_a_copied_link_reproduces_the_view(page, context, app_url):
    open_app(page, app_url + "/?seed=7")
    set_text(page, "D", "5")
    expect(page.locator("strong", has_text="D = 5")).to_be_visible()
    page.locator(".st-key-direct label").click()
    expect(page.locator("strong", has_text="direct on")).to_be_visible()
    set_text(page, "unit", "o3")
    expect(page.get_by_text("Highlighting o3", exact=False)).to_be_visible()
    wait_idle(page)
    link, view = page.url, view_text(page)
    assert "D=5" in link and "direct=true" in link and "unit=o3" in link
    names = sorted(node_names(page))
    other = context.new_page()
    try:
        open_app(other, link)
        other.wait_for_selector(f"{GRAPH} .scatterlayer .point")
        assert view_text(other) == view
        assert sorted(node_names(other)) == names
        for key, value in [("D", "5"), ("unit", "o3")]:
            expect(other.locator(f".st-key-{key} input")).to_have_value(value)
        expect(other.get_by_text("Highlighting o3", exact=False)).to_be_visible()
        assert exceptions(other) == []
    finally:
        other.close()


def test_bad_values_typed_or_linked_warn_and_keep_the_view(page, app_url):
    open_app(page, app_url + "/?ordering=bogus&K=0")
    alerts = page.locator("[data-testid='stAlert']")
    expect(alerts.filter(has_text="bogus")).to_be_visible()
    expect(alerts.filter(has_text="number of masks K")).to_contain_text("1..32")
    view = view_text(page)
    set_text(page, "D", "0")
    expect(alerts.filter(has_text="D (inputs)")).to_contain_text("1..1024")
    assert view_text(page) == view
    assert exceptions(page) == []


def test_big_network_stays_small_on_the_wire(page, app_url):
    frames = Frames(page)
    open_app(page, app_url + "/?hidden=500&ordering=random")
    page.wait_for_selector(f"{GRAPH} .scatterlayer .point")
    key = "D=784 h=500: D changed, all figures redrawn"
    TIMINGS[f"{key} (s)"], TIMINGS[f"{key} bytes"] = timed_change(
        page, "D", "784", "D = 784, hidden 500", frames=frames)
    expect(page.get_by_text("too big to draw unit by unit", exact=False)).to_be_visible()
    start = time.perf_counter()
    click_unit(page, node_names(page)[30])
    expect(page.get_by_text("Highlighting", exact=False)).to_be_visible(timeout=30_000)
    page.wait_for_function(f"""() => document.querySelector("{GRAPH}").data
        .some(t => t.name === "on a path through the selected unit")""")
    TIMINGS["D=784 h=500: click, paths lit (s)"] = time.perf_counter() - start
    wait_idle(page)
    assert TIMINGS[f"{key} bytes"] < 3 * 2**20
    assert exceptions(page) == []


def test_no_other_site_may_drive_the_app_from_a_frame(page, app_url):
    """The server lists no origin allowed to send the page commands (rerun, stop, clear the
    cache) by postMessage, and a command posted to the page is ignored: the app is not embedded
    in a hosting site. (Streamlit's default list made the page check its own messages against
    sixteen hosting sites' URL patterns on every update.)"""
    with urllib.request.urlopen(f"{app_url}/_stcore/host-config", timeout=10) as response:
        assert json.load(response)["allowedOrigins"] == []
    open_app(page, app_url + "/?D=5")
    page.wait_for_selector(f"{GRAPH} .scatterlayer .point")
    runs = page.evaluate("""() => new Promise(done => {
        const app = document.querySelector("[data-testid=stApp]"), seen = [];
        new MutationObserver(() => seen.push(app.dataset.testScriptState))
            .observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]});
        window.postMessage({stCommVersion: 1, type: "RERUN_SCRIPT"}, "*");
        setTimeout(() => done(seen), 1500); })""")
    assert "running" not in runs
    assert exceptions(page) == []


@pytest.fixture
def bare_app_url():
    """Streamlit's floor: the load tests' one-button app (tests/load/bare_app.py)."""
    process = start_streamlit(ROOT / "tests/load/bare_app.py", port := free_port())
    yield f"http://127.0.0.1:{port}"
    stop(process)


def bare_click_seconds(page, clicks: int) -> list[float]:
    """Seconds from a click on the bare app's button until its new count shows."""
    page.bring_to_front()  # a page in the background gets no animation frames
    count = page.locator(".st-key-count [data-testid=stText]")
    seconds = []
    for _ in range(clicks):
        expected = str(int(count.inner_text()) + 1)
        start = time.perf_counter()
        page.locator(".st-key-step button").click()
        page.wait_for_function("n => document.querySelector('.st-key-count [data-testid=stText]')"
                               "?.innerText === n", arg=expected, polling="raf")
        seconds.append(time.perf_counter() - start)
        wait_idle(page)
    return seconds


@pytest.mark.load
def test_update_latency_benchmark(context, app_url, bare_app_url):
    """On demand (pytest -m load): 12 updates per network size, each to a new network (a new
    seed, so no cache helps): seconds until all three figures show it, with the bytes sent; and
    a bare one-button Streamlit app clicked between them, Streamlit's floor on this machine at
    this moment."""
    bare = context.new_page()
    open_app(bare, bare_app_url)
    bare_click_seconds(bare, 2)  # warm
    TIMINGS["load average at start"] = os.getloadavg()[0]
    floor = []
    for name, query, view in [("D=4 h=5,5", "", "D = 4, hidden 5, 5"),
                              ("D=32 h=64,64", "?D=32&hidden=64,64", "D = 32, hidden 64, 64"),
                              ("D=784 h=500", "?D=784&hidden=500", "D = 784, hidden 500")]:
        page = context.new_page()
        frames = Frames(page)
        open_app(page, app_url + "/" + query)
        page.wait_for_selector(f"{GRAPH} .scatterlayer .point")
        timed_change(page, "seed", "99", view, "seed 99 +")  # warm
        seconds, sent = [], []
        for seed in range(1, 13):
            page.bring_to_front()
            elapsed, received = timed_change(page, "seed", str(seed), view, f"seed {seed} +",
                                             frames=frames)
            seconds.append(elapsed)
            sent.append(received)
            floor += bare_click_seconds(bare, 1)
        assert exceptions(page) == []
        page.close()
        TIMINGS[f"benchmark {name}: new seed, min (s)"] = min(seconds)
        TIMINGS[f"benchmark {name}: new seed, median (s)"] = statistics.median(seconds)
        TIMINGS[f"benchmark {name}: new seed, median bytes"] = statistics.median(sent)
    TIMINGS["benchmark bare one-button app: click, median (s)"] = statistics.median(floor)
    TIMINGS["load average at end"] = os.getloadavg()[0]
    bare.close()

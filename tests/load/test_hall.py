"""The lecture-hall load tool (tests/load/hall.py) speaks Streamlit's protocol as a browser does.

The messages it builds, read back as the server reads them; its websocket frame reader; and a
handful of its users against a real `streamlit run` server: every page finishes, each user
getting the same messages, and a rerun with a new seed is the server's new seed. The 200-user runs are on demand: `-m load`, test_hall_load.py.
"""
import asyncio
import concurrent.futures
import sys
import time
from pathlib import Path

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import app_url  # noqa: E402,F401 (the browser tests' server fixture)
from tests.load import hall, hall_check, protocol  # noqa: E402

# One of each per page load, as Chromium gets them (hall_check.py compares the counts).
ONCE = ("new_session", "page_config_changed", "navigation", "script_finished")


def forward(**fields) -> ForwardMsg:
    msg = ForwardMsg()
    for path, value in fields.items():
        target = msg
        *parents, last = path.split("__")
        for part in parents:
            target = getattr(target, part)
        setattr(target, last, value)
    return msg


def test_a_page_load_message_is_what_the_browser_sends():
    msg = BackMsg()
    msg.ParseFromString(protocol.page_load_message("sampling", "seed=3",
                                                   "http://127.0.0.1:8501/sampling"))
    rerun = msg.rerun_script
    assert (rerun.page_name, rerun.query_string) == ("sampling", "seed=3")
    assert len(rerun.widget_states.widgets) == 0 and not rerun.page_script_hash
    assert rerun.context_info.url == "http://127.0.0.1:8501/sampling"
    assert (rerun.context_info.timezone, rerun.context_info.locale) == ("UTC", "en-US")


def test_a_rerun_sends_every_widget_one_changed_and_the_messages_held():
    page = protocol.Page()
    page.note(forward(navigation__page_script_hash="abc123"))
    seed = forward(delta__new_element__text_input__id="$$ID-1-seed")
    seed.delta.new_element.text_input.default = "0"
    lecture = forward(delta__new_element__checkbox__id="$$ID-2-lecture")
    model = forward(delta__new_element__selectbox__id="$$ID-3-model")
    model.delta.new_element.selectbox.options.extend(["mnist", "mnist-orders"])
    model.delta.new_element.selectbox.default = 0
    invert = forward(delta__new_element__button__id="$$ID-4-lik_invert")
    big = forward(delta__new_element__markdown__body="x" * 10, hash="h1",
                  metadata__cacheable=True)
    for msg in (seed, lecture, model, invert, big):
        page.note(msg)
    msg = BackMsg()
    msg.ParseFromString(page.rerun_message({"seed": "7", "lik_invert": True}, "seed=3", "u"))
    states = {w.id: (w.WhichOneof("value"), getattr(w, w.WhichOneof("value")))
              for w in msg.rerun_script.widget_states.widgets}
    assert states == {"$$ID-1-seed": ("string_value", "7"),
                      "$$ID-2-lecture": ("bool_value", False),
                      "$$ID-3-model": ("string_value", "mnist"),
                      "$$ID-4-lik_invert": ("trigger_value", True)}
    assert msg.rerun_script.page_script_hash == "abc123"
    assert list(msg.rerun_script.cached_message_hashes) == ["h1"]
    assert msg.rerun_script.query_string == "seed=3"


@pytest.mark.parametrize("size", [5, 300, 70_000])
def test_websocket_frames_are_read_masked_or_not(size):
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    key = b"\x01\x02\x03\x04"
    length = (bytes([size]) if size < 126 else bytes([126]) + size.to_bytes(2, "big")
              if size < 2**16 else bytes([127]) + size.to_bytes(8, "big"))
    masked = bytes([0x82, 0x80 | length[0]]) + length[1:] + key + bytes(
        b ^ key[i % 4] for i, b in enumerate(payload))
    plain = bytes([0x82]) + length + payload
    for frame in (masked, plain):
        assert hall_check.ws_frame(frame[:-1]) is None  # not all there yet
        fin, opcode, body, used = hall_check.ws_frame(frame + b"next")
        assert (fin, opcode, body, used) == (1, 2, payload, len(frame))


def run_in_own_thread(coroutine):
    """asyncio.run on a thread of its own: where a browser test ran first in this process,
    Playwright's sync API keeps an event loop running on the main thread, and asyncio.run
    refuses to start a second one there."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_a_handful_of_users_load_the_page_and_rerun_it_as_chromium_does(app_url):
    async def hall_of(n: int):
        users = [protocol.User(app_url, "sampling") for _ in range(n)]
        try:
            start = time.perf_counter()
            loads = await asyncio.gather(*(u.open(start) for u in users))
            start = time.perf_counter()
            reruns = await asyncio.gather(*(u.rerun({"seed": "7"}, start) for u in users))
            return users, loads, reruns
        finally:
            await asyncio.gather(*(u.close() for u in users))

    users, loads, reruns = run_in_own_thread(hall_of(4))
    assert all(load.messages == loads[0].messages for load in loads)  # one page, one story
    assert all(loads[0].messages[kind] == 1 for kind in ONCE)
    assert loads[0].messages["session_status_changed"] == 2 and loads[0].messages["delta"] > 10
    for load in loads:
        assert load.errors == []
        assert 0 < load.connected <= load.session <= load.first <= load.finished
        assert load.known_404 == 2  # Streamlit's probes of a deep link
    for user, rerun in zip(users, reruns):
        assert rerun.errors == [] and rerun.messages["script_finished"] == 1
        assert any("seed **7**" in text for text in rerun.texts)  # the server's new seed
        assert user.query == "seed=7"  # and the link, as the browser writes it
    summary = hall.timing(loads)
    assert summary["users"] == 4 and summary["errors"] == 0
    assert summary["first_p95_s"] <= summary["finished_p95_s"]

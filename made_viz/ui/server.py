"""The server's set-up, once per process: one BLAS and torch thread, the garbage collector kept
off long-lived objects, the warm-up that loads the default model after the first page, and the
turns a crowd's page runs take."""
from __future__ import annotations

import gc
import os
import sys
import threading
import time
from contextlib import contextmanager

import streamlit as st

WARM_UP_DELAY_S = 2.0  # after the first page's script run: its browser fetches and paints first
_warm_up_started = False
_warm_up_lock = threading.Lock()
_frozen_at = 0  # len(sys.modules) at the last gc.freeze()
_freeze_lock = threading.Lock()
_freeze_timer: threading.Timer | None = None
_freeze_timer_lock = threading.Lock()
_blas_set = False
NEW_MODULES_TO_FREEZE = 20
FREEZE_DELAY_S = 1.5
# Page runs past their header, at once, in one server process (see my_turn).
RUNS_AT_ONCE = 1
TURN_WAIT_S = 60.0  # a run waits this long at most, then goes ahead anyway
_turns = threading.Semaphore(RUNS_AT_ONCE)
_holder = threading.local()


def server_torch():
    """torch, set up for a server: imported on first use, so the Masks page paints before it.

    The server's torch work is small tensors from many sessions at once: intra-op threads only
    fight over the cores (docs/performance.md has what a second thread cost).
    """
    import torch

    torch.set_num_threads(1)
    return torch


def server_blas() -> None:
    """One OpenBLAS thread for the server's NumPy, for the reason server_torch gives: its
    matrix work is one image at a time from many sessions (the Likelihood page's scoring is a
    few matrix-vector products per mask), and on a busy 2-core machine a second thread mostly
    waits for a core (docs/performance.md). Once per server (app.py runs on every rerun)."""
    global _blas_set
    if not _blas_set:
        from made_viz.blas import set_openblas_threads

        set_openblas_threads(1)
        _blas_set = True


def freeze_new_modules() -> None:
    """Once a page has imported new modules, take everything alive out of the cyclic garbage
    collector's reach (gc.freeze).

    Streamlit collects garbage after every script run (runner.postScriptGC), and a full
    collection walks every object the collector tracks, hundreds of thousands once Streamlit,
    torch and Plotly are imported: a large part of the server's CPU on every click and every
    position report (tests/load/step_cost.py measures it; docs/performance.md). Those objects
    are modules, classes and functions, alive as long as the server, so freezing them loses
    nothing; the collection after a run then walks only what was made since, and still frees a
    session's garbage. Objects frozen are still freed by reference counting.
    """
    global _frozen_at
    with _freeze_lock:
        if len(sys.modules) >= _frozen_at + NEW_MODULES_TO_FREEZE:
            gc.collect()  # garbage first: frozen, it would never be collected
            gc.freeze()
            _frozen_at = len(sys.modules)


def _freeze_soon() -> None:
    """freeze_new_modules in FREEZE_DELAY_S, off the script thread: its one full collection
    (holding the GIL) must not slow the page being painted."""
    global _freeze_timer
    if len(sys.modules) < _frozen_at + NEW_MODULES_TO_FREEZE:
        return
    with _freeze_timer_lock:
        if _freeze_timer is None or not _freeze_timer.is_alive():
            _freeze_timer = threading.Timer(FREEZE_DELAY_S, freeze_new_modules)
            _freeze_timer.daemon = True
            _freeze_timer.start()


def page_drawn() -> None:
    """Called after every page run (page_run): it freezes new modules soon (see
    freeze_new_modules), and with MADE_VIZ_WARM_UP=1 (`make run` sets it) the first call starts
    the warm-up: a daemon thread that waits WARM_UP_DELAY_S, then loads the default model and
    prepares its masks (models.warm_up), so a user who opens the Sampling or Likelihood
    page next finds them ready, and imports torch for the Masks page's Jacobian check.

    Only after the first page: on 2 busy cores this work (torch's import alone takes seconds
    of a core and of the GIL) slows whatever runs beside it, and the first page must paint first.
    The model goes through the page's own cache (st.cache_resource), so it is still loaded once
    per server; a page that needs it sooner computes it itself and the warm-up finds it cached.
    Off by default, so test processes (AppTest) never have a thread loading models behind
    their backs.
    """
    _freeze_soon()
    global _warm_up_started
    if _warm_up_started or os.environ.get("MADE_VIZ_WARM_UP") != "1":
        return
    with _warm_up_lock:
        if _warm_up_started:
            return
        _warm_up_started = True
    threading.Thread(target=_warm_up, name="made-viz warm-up", daemon=True).start()


def _warm_up() -> None:
    from streamlit.logger import get_logger

    time.sleep(WARM_UP_DELAY_S)
    try:
        from made_viz.ui import models

        models.warm_up()
        server_torch()  # for the Masks page's Jacobian check; the Sampling page needs none
        freeze_new_modules()
    except Exception as error:  # the Sampling page loads again and names the problem
        get_logger(__name__).warning("warm-up stopped; the Sampling page will load the model"
                                     " itself: %s", error)


@contextmanager
def page_run():
    """app.py runs the page inside this. However the run ends (drawn, an exception, a rerun or
    a page switch), the turn the page took (my_turn) is given back, and page_drawn follows."""
    _holder.in_page_run = True
    try:
        yield
    finally:
        _holder.in_page_run = False
        if getattr(_holder, "turn", False):
            _holder.turn = False
            _turns.release()
        page_drawn()


def my_turn() -> None:
    """A page calls this once its header (the title) is drawn: the rest of its run waits
    until fewer than RUNS_AT_ONCE runs of this process are past their header, first come
    first served.

    Streamlit runs every session's script on a thread of its own, and all of them share one
    interpreter lock with the event loop that sends their messages. When a lecture hall opens
    the page at once, a hundred runs each get a hundredth of the process, and the event loop,
    which starts each run's thread and waits for it to start, falls behind: every user saw the
    whole page arrive at the very end, the first element with the last. Waiting on a lock
    costs nothing, so with the turns each user's header goes out at once, the runs finish one
    after another, and the event loop keeps sending.

    Outside page_run (a test rendering a page by itself) there are no turns to take.
    """
    if getattr(_holder, "in_page_run", False) and not getattr(_holder, "turn", False):
        _holder.turn = _turns.acquire(timeout=TURN_WAIT_S)


MOVED = ("This page was opened again: the app server that held it stopped, and another one took"
         " over. What the address bar holds (model, seed, image, view) is kept; an upload or the"
         " player's position starts over.")
_MOVED_CHECKED = "_server_moved_checked"


def moved_notice() -> None:
    """On a session's first run, if the browser came back for a session this process never had,
    say so once (a toast). That is a browser whose server stopped: a worker of `make serve`
    that died (the balancer sends it to a live one) or a restarted server. Streamlit's
    browser names its last session, when it has one, as the third websocket subprotocol
    (after "streamlit" and its XSRF token); on a reconnect to the same server the session is
    found again and this is not its first run."""
    ss = st.session_state
    if _MOVED_CHECKED in ss:
        return
    ss[_MOVED_CHECKED] = True
    offered = [entry.strip() for entry in
               st.context.headers.get("Sec-Websocket-Protocol", "").split(",")]
    if len(offered) >= 3 and offered[2]:
        st.toast(MOVED, icon="🔁", duration="long")

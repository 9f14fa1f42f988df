"""One user opening a made-viz page, at the protocol level: what Chromium sends, without Chromium.

A page load as headless Chromium does it (tests/load/hall.py --check compares the two):

  1. GET the page's document (/sampling?seed=3): Streamlit sets its XSRF cookie, a balancer
     its affinity cookie; every later request carries both.
  2. With an empty cache, the static files the document names (scripts, styles, fonts), six
     at a time over keep-alive connections, as a browser does for one host.
  3. GET <page>/_stcore/health and <page>/_stcore/host-config (404 by design,
     streamlit/streamlit#7074), then /_stcore/health and /_stcore/host-config.
  4. Open the websocket /_stcore/stream with the subprotocols "streamlit, <XSRF token>" and
     send one BackMsg: rerun_script with the page's name, the link's query string and the
     browser's context (time zone, locale, URL).
  5. Read ForwardMsgs until script_finished; meanwhile fetch the static files the page's
     elements pull in (a chart library, a widget's code), if the cache is empty.

A rerun (`rerun`) sends what the browser sends when the user changes a widget: every widget's
value, one of them new, the page's script hash and the hashes of the large messages it holds
(Streamlit then sends a reference in their place).

Times are seconds from `start` (every user of a crowd shares it): `first` when the first
element of the page's main area arrived, `finished` when the run's script_finished did and
every static file (if fetched) is in.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import FileUploaderState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
              " HeadlessChrome/156.0.0.0 Safari/537.36")
BROWSER_HEADERS = {"User-Agent": USER_AGENT, "Accept-Language": "en-US,en;q=0.9",
                   "Accept-Encoding": "gzip, deflate, br, zstd"}
XSRF_COOKIE = "_streamlit_xsrf"
CONNECTIONS_PER_HOST = 6  # Chromium's HTTP/1.1 limit per host
MAX_MESSAGE = 64 * 2**20
FINISHED = ForwardMsg.FINISHED_SUCCESSFULLY
MAIN = 0  # delta_path[0] of the page's main area (1: the sidebar)
UNSEEN = ("html", "empty")  # elements that show nothing (a page's <style>): not the first


class ProtocolError(Exception):
    """Something a user would see go wrong: an HTTP error, a dropped socket, an exception."""


# --- HTTP/1.1, just enough of it: keep-alive, Content-Length and chunked bodies ---------------

class Connection:
    """One keep-alive HTTP/1.1 connection to host:port."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, headers: dict[str, str], method: str = "GET",
                      body: bytes = b"") -> tuple[int, list, int]:
        """A request: (status, [(header, value)], body bytes as sent, still encoded). A
        keep-alive connection the server closed while idle is opened again and the request
        sent again, as a browser does."""
        reused = self.writer is not None and not self.writer.is_closing()
        try:
            return await self._request(path, headers, method, body)
        except (ProtocolError, ConnectionError) as error:
            closed = isinstance(error, ConnectionError) or "connection closed" in str(error)
            if not (reused and closed):
                raise
            self.close()
            return await self._request(path, headers, method, body)

    async def _request(self, path: str, headers: dict[str, str], method: str,
                       body: bytes) -> tuple[int, list, int]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port,
                                                                     limit=2**20)
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                "Connection: keep-alive", *(f"{k}: {v}" for k, v in headers.items()),
                *([f"Content-Length: {len(body)}"] if body or method != "GET" else [])]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            self.close()
            raise ProtocolError(f"{method} {path}: connection closed")
        status = int(status_line.split()[1])
        response_headers = []
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            response_headers.append((name.strip().lower(), value.strip()))
        fields = dict(response_headers)
        size = 0
        if fields.get("transfer-encoding", "").lower() == "chunked":
            while (chunk := int((await self.reader.readline()).split(b";")[0], 16)) > 0:
                size += len(await self.reader.readexactly(chunk + 2)) - 2
            while await self.reader.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
        elif "content-length" in fields:
            size = len(await self.reader.readexactly(int(fields["content-length"])))
        elif status not in (204, 304):
            size = len(await self.reader.read())  # read to close
            self.close()
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, response_headers, size

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


# --- the messages ---------------------------------------------------------------------------

def context_info(msg, url: str) -> None:
    """What Chromium tells the server about itself (headless, UTC, en-US, light theme)."""
    info = msg.rerun_script.context_info
    info.timezone, info.timezone_offset, info.locale = "UTC", 0, "en-US"
    info.url, info.is_embedded, info.color_scheme = url, False, "light"


def page_load_message(page: str, query: str, url: str) -> bytes:
    """The BackMsg a browser sends when it opens /page?query: no widgets yet."""
    msg = BackMsg()
    msg.rerun_script.SetInParent()
    msg.rerun_script.widget_states.SetInParent()
    if query:
        msg.rerun_script.query_string = query
    msg.rerun_script.page_name = page
    context_info(msg, url)
    return msg.SerializeToString()


# The value a widget of each type holds before the user touches it, as the browser sends it.
def _widget_value(element) -> tuple[str, object] | None:
    kind = element.WhichOneof("type")
    w = getattr(element, kind)
    if kind == "text_input":
        return "string_value", w.value if w.set_value else w.default
    if kind == "checkbox":
        return "bool_value", w.value if w.set_value else w.default
    if kind in ("selectbox", "radio"):
        if w.set_value:
            return "string_value", w.raw_value
        index = w.default if isinstance(w.default, int) else next(iter(w.default), None)
        return "string_value", (w.options[index] if index is not None and 0 <= index <
                                len(w.options) else None)
    if kind == "number_input":
        number = w.value if w.set_value else w.default
        return ("int_value", int(number)) if w.data_type == w.INT else ("double_value", number)
    return None


@dataclass
class Page:
    """What a user holds of a page after a run: its widgets and cached large messages."""

    script_hash: str = ""
    widgets: dict[str, tuple[str, object]] = field(default_factory=dict)  # id -> (field, value)
    buttons: dict[str, str] = field(default_factory=dict)  # key -> id
    bound: dict[str, str] = field(default_factory=dict)  # key -> its URL parameter
    uploaders: dict[str, str] = field(default_factory=dict)  # key -> id
    chosen: dict[str, object] = field(default_factory=dict)  # key -> value the user set
    session_id: str = ""
    cached: list[str] = field(default_factory=list)

    def note(self, msg: ForwardMsg) -> None:
        if msg.metadata.cacheable and msg.hash:
            self.cached.append(msg.hash)
        if msg.WhichOneof("type") == "navigation":  # the page being shown
            self.script_hash = msg.navigation.page_script_hash
        elif msg.WhichOneof("type") == "new_session":
            self.session_id = msg.new_session.initialize.session_id
        elif msg.WhichOneof("type") == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            kind = element.WhichOneof("type")
            widget = getattr(element, kind, None) if kind else None
            widget_id = getattr(widget, "id", "") if widget is not None else ""
            if getattr(widget, "query_param_key", ""):
                self.bound[widget_id.rsplit("-", 1)[-1]] = widget.query_param_key
            if widget_id and kind == "button":
                self.buttons[widget_id.rsplit("-", 1)[-1]] = widget_id
            elif widget_id and kind == "file_uploader":
                self.uploaders[widget_id.rsplit("-", 1)[-1]] = widget_id
            elif widget_id and (value := _widget_value(element)) is not None and \
                    value[1] is not None:
                self.widgets[widget_id] = value

    def bound_query(self, changes: dict[str, object], query: str) -> str:
        """The link after the change: a widget bound to the URL writes its new value there,
        in the browser (bind="query-params")."""
        params = dict(parse_qsl(query, keep_blank_values=True))
        for key, value in changes.items():
            if key in self.bound:
                params[self.bound[key]] = (str(value).lower() if isinstance(value, bool)
                                           else str(value))
        return urlencode(params)

    def rerun_message(self, changes: dict[str, object], query: str, url: str) -> bytes:
        """The BackMsg of a widget change: changes maps a widget's key (the end of its id,
        "seed" for "$$ID-...-seed") to its new value, a button's key to True (a click), or
        a file uploader's to its FileUploaderState; the other widgets keep their values. `query` is the link after the change
        (bound_query)."""
        msg = BackMsg()
        msg.rerun_script.SetInParent()
        if query:
            msg.rerun_script.query_string = query
        states = msg.rerun_script.widget_states
        states.SetInParent()
        for widget_id, (kind, value) in self.widgets.items():
            key = widget_id.rsplit("-", 1)[-1]
            if key in changes:
                self.chosen[key] = changes[key]  # the browser holds it from now on
            state = states.widgets.add()
            state.id = widget_id
            setattr(state, kind, self.chosen.get(key, value))
        for key, widget_id in self.buttons.items():
            if changes.get(key) is True:
                state = states.widgets.add()
                state.id, state.trigger_value = widget_id, True
        for key, widget_id in self.uploaders.items():
            if key in changes:  # a FileUploaderState
                state = states.widgets.add()
                state.id = widget_id
                state.file_uploader_state_value.CopyFrom(changes[key])
        msg.rerun_script.page_script_hash = self.script_hash
        msg.rerun_script.cached_message_hashes.extend(dict.fromkeys(self.cached))
        context_info(msg, url)
        return msg.SerializeToString()


# --- one user -------------------------------------------------------------------------------

@dataclass
class Load:
    """One page load or rerun, timed from `start`."""

    connected: float | None = None  # the websocket is open
    session: float | None = None  # the first message of the run (new_session) arrived
    first: float | None = None  # the first element of the page's main area
    script_done: float | None = None  # script_finished arrived
    finished: float | None = None  # and every static file
    messages: dict[str, int] = field(default_factory=dict)  # ForwardMsg type -> count
    sent: int = 0  # BackMsgs
    texts: list[str] = field(default_factory=list)  # the run's markdown and alerts
    static_bytes: int = 0
    static_requests: int = 0
    errors: list[str] = field(default_factory=list)
    known_404: int = 0


@dataclass
class Static:
    """The static files of a page load: before the websocket (the document's) and after."""

    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)


class User:
    """One browser: its cookies, its connections, its websocket, the page it holds."""

    def __init__(self, base_url: str, page: str, query: str = ""):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.base_url = base_url.rstrip("/")
        self.page_name, self.query = page, query
        self.url = f"{self.base_url}/{page}"
        self.cookies: dict[str, str] = {}
        self.connections = [Connection(self.host, self.port) for _ in range(CONNECTIONS_PER_HOST)]
        self.page = Page()
        self.socket = None
        self.sent_at: float | None = None  # seconds from start: the page load's BackMsg
        self.last_sent = b""

    def headers(self) -> dict[str, str]:
        headers = dict(BROWSER_HEADERS)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    async def get(self, path: str, load: Load, connection: int = 0, *,
                  known_404: bool = False) -> int:
        status, headers, size = await self.connections[connection].request(path, self.headers())
        for name, value in headers:
            if name == "set-cookie":
                cookie_name, _, rest = value.partition("=")
                self.cookies[cookie_name.strip()] = rest.split(";", 1)[0]
        if status == 404 and known_404:
            load.known_404 += 1
        elif status >= 400:
            load.errors.append(f"GET {path}: HTTP {status}")
        return size

    async def get_all(self, paths: list[str], load: Load) -> None:
        """Fetch paths over this user's connections, six at a time, as a browser does."""
        queue = list(reversed(paths))

        async def worker(connection: int) -> None:
            while queue:
                path = queue.pop()
                load.static_bytes += await self.get(path, load, connection)
                load.static_requests += 1

        await asyncio.gather(*(worker(i) for i in range(min(len(paths), len(self.connections)))))

    async def open(self, start: float, static: Static | None = None,
                   timeout: float = 120.0) -> Load:
        """Load the page as a browser does (see the module's docstring)."""
        load = Load()
        try:
            await asyncio.wait_for(self._open(load, start, static), timeout)
        except TimeoutError:
            load.errors.append(f"no finished page within {timeout:.0f} s")
        except (OSError, ProtocolError, Exception) as error:  # a user sees any of these
            load.errors.append(f"{type(error).__name__}: {error}")
        return load

    async def _open(self, load: Load, start: float, static: Static | None) -> None:
        path = f"/{self.page_name}" + (f"?{self.query}" if self.query else "")
        await self.get(path, load)
        if static:
            await self.get_all(static.before, load)
        for prefix in (f"/{self.page_name}", ""):  # each pair at once, as the browser asks
            await asyncio.gather(*(self.get(f"{prefix}/_stcore/{probe}", load, i,
                                            known_404=bool(prefix))
                                   for i, probe in enumerate(("health", "host-config"))))
        ws_url = f"ws://{self.host}:{self.port}/_stcore/stream"
        self.socket = await connect(
            ws_url, subprotocols=["streamlit", self.cookies.get(XSRF_COOKIE, "PLACEHOLDER_AUTH_TOKEN")],
            origin=self.base_url, additional_headers=self.headers(), compression=None,
            max_size=MAX_MESSAGE, open_timeout=None, ping_interval=None, user_agent_header=None)
        load.connected = time.perf_counter() - start
        self.last_sent = page_load_message(self.page_name, self.query, self.url)
        await self.socket.send(self.last_sent)
        self.sent_at = time.perf_counter() - start
        load.sent += 1
        if static and static.after:  # the elements' code, asked for as the elements arrive
            arrived = asyncio.Event()
            await asyncio.gather(self._read_run(load, start, arrived),
                                 self._after(arrived, static.after, load))
            load.finished = time.perf_counter() - start
        else:
            await self._read_run(load, start)

    async def _after(self, arrived: asyncio.Event, paths: list[str], load: Load) -> None:
        await arrived.wait()
        await self.get_all(paths, load)

    async def rerun(self, changes: dict[str, object], start: float,
                    timeout: float = 120.0) -> Load:
        """Change widgets (by key) as a user does, and read the run to its end."""
        load = Load()
        try:
            self.query = self.page.bound_query(changes, self.query)
            self.last_sent = self.page.rerun_message(changes, self.query, self.url)
            await self.socket.send(self.last_sent)
            load.sent += 1
            await asyncio.wait_for(self._read_run(load, start), timeout)
        except TimeoutError:
            load.errors.append(f"no finished rerun within {timeout:.0f} s")
        except Exception as error:  # noqa: BLE001 - a user sees any of these
            load.errors.append(f"{type(error).__name__}: {error}")
        return load

    async def upload(self, uploader: str, name: str, data: bytes, start: float,
                     timeout: float = 120.0) -> Load:
        """Upload a file with the file uploader `uploader` (its key) as the browser does: ask
        for its address (file_urls_request), PUT it there (multipart, with the XSRF token),
        then rerun with the uploader holding it, and read the run to its end."""
        load = Load()
        try:
            await asyncio.wait_for(self._upload(load, uploader, name, data, start), timeout)
        except asyncio.TimeoutError:
            load.errors.append(f"no finished upload within {timeout:.0f} s")
        except Exception as error:  # noqa: BLE001 - a user sees any of these
            load.errors.append(f"{type(error).__name__}: {error}")
        return load

    async def _upload(self, load: Load, uploader: str, name: str, data: bytes,
                      start: float) -> None:
        ask = BackMsg()
        ask.file_urls_request.request_id = f"{id(self)}-{time.perf_counter_ns()}"
        ask.file_urls_request.file_names.append(name)
        ask.file_urls_request.session_id = self.page.session_id
        await self.socket.send(ask.SerializeToString())
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await self.socket.recv())
            if msg.WhichOneof("type") == "file_urls_response":
                break
        answer = msg.file_urls_response
        if answer.error_msg or not answer.file_urls:
            raise ProtocolError(f"no upload address: {answer.error_msg}")
        urls = answer.file_urls[0]
        boundary = f"----madeviz{time.perf_counter_ns()}"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\";"
                f" filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
        headers = {**self.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}",
                   "X-Xsrftoken": self.cookies.get(XSRF_COOKIE, "")}
        path = urlsplit(urls.upload_url).path
        status, _, _ = await self.connections[0].request(path, headers, "PUT", body)
        if status >= 400:
            raise ProtocolError(f"PUT {path}: HTTP {status}")
        held = FileUploaderState()
        info = held.uploaded_file_info.add()
        info.name, info.size, info.file_id = name, len(data), urls.file_id
        info.file_urls.CopyFrom(urls)
        self.last_sent = self.page.rerun_message({uploader: held}, self.query, self.url)
        await self.socket.send(self.last_sent)
        load.sent += 2
        await self._read_run(load, start)

    async def _read_run(self, load: Load, start: float,
                        arrived: asyncio.Event | None = None) -> None:
        """Read to the run's end: script_finished, then the status saying nothing runs;
        `arrived` is set when the first element does."""
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await self.socket.recv())
            kind = msg.WhichOneof("type")
            load.messages[kind] = load.messages.get(kind, 0) + 1
            self.page.note(msg)
            if load.session is None:
                load.session = time.perf_counter() - start
            if kind == "delta":
                if arrived is not None:
                    arrived.set()
                element = msg.delta.new_element
                if load.first is None and msg.delta.WhichOneof("type") == "new_element" and \
                        msg.metadata.delta_path[:1] == [MAIN] and \
                        element.WhichOneof("type") not in UNSEEN:
                    load.first = time.perf_counter() - start
                if element.WhichOneof("type") in ("markdown", "alert"):
                    load.texts.append(getattr(element, element.WhichOneof("type")).body)
                elif element.WhichOneof("type") == "exception":
                    load.errors.append(f"exception on the page: {element.exception.message[:200]}")
            elif kind == "page_info_changed":
                self.query = msg.page_info_changed.query_string  # the browser's address bar
            elif kind == "page_not_found":
                load.errors.append(f"page not found: {msg.page_not_found.page_name}")
            elif kind == "script_finished":
                if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    raise ProtocolError("the script did not compile")
                if msg.script_finished == FINISHED:
                    load.script_done = load.finished = time.perf_counter() - start
            elif kind == "session_status_changed" and load.finished is not None and \
                    not msg.session_status_changed.script_is_running:
                return

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        for connection in self.connections:
            connection.close()

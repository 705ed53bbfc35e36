"""Support for sandboxes: stateful emulators of vendor APIs served over real HTTP on loopback.

A vendor plugin subclasses :class:`Sandbox`, implements :meth:`Sandbox.handle` (one request in, one
:class:`Response` out, against its in-memory state) plus :meth:`~Sandbox.sample`, :meth:`~Sandbox.load`,
:meth:`~Sandbox.dump` and :meth:`~Sandbox.systems`, and registers the class through
``hostsync_register_sandboxes``. The base class supplies the HTTP server, call counting, fault
injection and a small control surface, reachable in-process and over HTTP under ``/_sandbox/``:

=======================  =====================================================================
``GET  /_sandbox/dump``   the emulator's state as JSON
``POST /_sandbox/load``   replace the state with the JSON body (same shape as ``dump``)
``GET  /_sandbox/calls``  ``{"calls": {operation: count}, "log": [...]}``
``POST /_sandbox/faults`` add a :class:`Fault` (JSON object with its fields)
``DELETE /_sandbox/faults``  clear faults
``POST /_sandbox/edit``   change a record as a user of the vendor would (:meth:`Sandbox.edit`):
                          ``{"kind": "client", "id": "3", "fields": {"city": "Leipzig"}}``
``POST /_sandbox/delay``  answer every API request ``{"seconds": 0.02}`` later (:attr:`Sandbox.delay`)
=======================  =====================================================================
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Iterable, Mapping
from urllib.parse import parse_qs, parse_qsl, urlsplit

FAULT_KINDS = ("error", "rate_limit", "timeout", "lost_reply", "applied_late", "applied_error", "drip", "oversized",
               "echo")


@dataclass
class Request:
    """One HTTP request as a sandbox sees it."""

    method: str
    path: str
    raw_query: str
    headers: Mapping[str, str]
    body: bytes
    client: str

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.raw_query, keep_blank_values=True)

    def query_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.raw_query, keep_blank_values=True)

    def form_pairs(self) -> list[tuple[str, str]]:
        """The body as ``application/x-www-form-urlencoded`` pairs, in order, blanks kept."""
        return parse_qsl(self.body.decode("utf-8"), keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """What a sandbox answers. ``body`` may be bytes, text or (with :meth:`json`) an encoded object."""

    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Set by a handler to drop the connection without answering (a vendor crashing mid-request).
    drop: bool = False

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> "Response":
        body = json.dumps(obj, ensure_ascii=False)
        return cls(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/html; charset=utf-8") -> "Response":
        return cls(status, text, {"Content-Type": content_type})


@dataclass
class Fault:
    """A failure to inject into the calls matching ``match`` (an operation name; ``None``: any call).

    :param kind: what the vendor does instead of answering normally:

        * ``error``: answers ``status``/``body`` without applying the call;
        * ``rate_limit``: answers 429 with ``Retry-After``, not applied;
        * ``timeout``: applies the call when ``applied``, then gives no answer for ``delay`` seconds;
        * ``lost_reply``: applies the call, then drops the connection unanswered;
        * ``applied_late``: gives no answer, and applies the call ``delay`` seconds later (after a
          client with a shorter timeout gave up), then drops the connection;
        * ``applied_error``: applies the call, then answers ``status``/``body`` (a 5xx after applying);
        * ``drip``: applies the call and answers it one byte every ``delay`` seconds;
        * ``oversized``: answers 200 with ``size`` bytes of filler, streamed, without a length;
        * ``echo``: like ``error``, with ``{request}`` in ``body`` replaced by the request as a
          careless vendor echoes it: query, body, its form fields decoded and the credential
          headers (:attr:`Sandbox.echoed_headers`), escaped for a JSON or XML ``content_type``.
    :param about: only calls whose query string or body holds this text (``"clientid=3"``: the
        calls about one record).
    :param times: how many matching calls fail (``None``: every one).
    :param probability: the fraction of matching calls that fail (seeded, reproducible).
    """

    kind: str
    match: str | None = None
    about: str | None = None
    times: int | None = 1
    probability: float = 1.0
    status: int = 500
    body: str = ""
    content_type: str = "text/html; charset=utf-8"
    retry_after: float | None = 1
    delay: float = 5.0
    applied: bool = True
    size: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (known: {', '.join(FAULT_KINDS)})")


class Sandbox:
    """Base class of vendor emulators. Thread-safe: requests are handled one at a time under a lock."""

    #: Vendor name for ``hostsync sandbox NAME``.
    name: ClassVar[str]
    #: The connector names this emulator serves (the WHMCS sandbox also serves wbTeamPro).
    plugins: ClassVar[tuple[str, ...]] = ()
    #: One line for ``hostsync sandbox --help`` and ``hostsync plugins``.
    description: ClassVar[str] = ""
    #: Scale of the vendor latencies a sandbox models (0: answer at once, as tests and the demo
    #: want; 1: as slow as measured on real systems, for realistic concurrency choices).
    latency: float = 0.0
    #: The request headers an ``echo`` fault echoes: those the vendor's API takes credentials in.
    echoed_headers: ClassVar[tuple[str, ...]] = ("Authorization",)
    #: Seconds added to the answer of every API request (not the controls), like the round trip to a
    #: vendor across a network. Waited outside :attr:`lock`, so concurrent requests overlap as they
    #: would on the wire: ``calls x delay / concurrency`` is the least time a client can take.
    delay: float = 0.0

    def __init__(self, seed: int | None = None) -> None:
        """:param seed: fill with :meth:`sample` data from this seed; ``None`` starts empty."""
        self.lock = threading.RLock()
        self.faults: list[Fault] = []
        self.calls: Counter[str] = Counter()
        self.log: list[dict[str, Any]] = []
        self._rng = random.Random(seed or 0)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()
        if seed is not None:
            self.load(self.sample(seed))

    # -- to implement -------------------------------------------------------------------------

    def reset(self) -> None:
        """Empty the state: the vendor as freshly installed and configured, without customer data."""
        raise NotImplementedError

    def sample(self, seed: int) -> dict[str, Any]:
        """Realistic sample data (the shape :meth:`load` takes), deterministic for ``seed``."""
        raise NotImplementedError

    def load(self, data: Mapping[str, Any]) -> None:
        """Replace the state with ``data``."""
        raise NotImplementedError

    def dump(self) -> dict[str, Any]:
        """The state, JSON-serialisable."""
        raise NotImplementedError

    def operation(self, request: Request) -> str:
        """The vendor operation a request calls (for call counts and fault matching)."""
        return f"{request.method} {request.path}"

    def handle(self, request: Request) -> Response:
        """Answer one request against the state (called under :attr:`lock`)."""
        raise NotImplementedError

    def systems(self) -> dict[str, dict[str, Any]]:
        """``[systems.NAME]`` tables that point hostsync at this running sandbox."""
        raise NotImplementedError

    def edit(self, kind: str, id: str, **fields: Any) -> None:
        """Change record ``id`` of canonical ``kind`` as a user of the vendor would in its own
        screens: ``fields`` are canonical names and values; the change is logged and stamped as
        the vendor does, and is not an API call. Raises ``LookupError`` for an unknown record and
        ``ValueError`` for a kind or field this sandbox cannot edit."""
        raise ValueError(f"sandbox {self.name} cannot edit records")

    def editable(self, kind: str, id: str, fields: Mapping[str, Any], rows: Mapping[int, Any],
                 allowed: Mapping[str, Iterable[str]]) -> Any:
        """For :meth:`edit`: row ``id`` of ``rows``, once ``allowed[kind]`` holds every field;
        else the ``ValueError`` or ``LookupError`` that :meth:`edit` documents."""
        if kind not in allowed:
            raise ValueError(f"sandbox {self.name} cannot edit {kind} records (it edits {', '.join(allowed)})")
        unknown = sorted(set(fields) - set(allowed[kind]))
        if unknown:
            raise ValueError(f"sandbox {self.name} cannot edit {kind} field(s) {', '.join(unknown)} "
                             f"(editable: {', '.join(allowed[kind])})")
        row = rows.get(int(id)) if str(id).isdigit() else None
        if row is None:
            raise LookupError(f"sandbox {self.name} has no {kind} {id}")
        return row

    # -- control ------------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()
            self.log.clear()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError(f"sandbox {self.name} is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> "Sandbox":
        """Serve on ``host:port`` (a free port when 0) in a background thread."""
        handler = type("Handler", (_Handler,), {"sandbox": self})
        self._server = _Server((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"sandbox-{self.name}",
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "Sandbox":
        return self if self._server else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- dispatch -----------------------------------------------------------------------------

    def _pick_fault(self, operation: str, request: Request) -> Fault | None:
        for fault in self.faults:
            if fault.match not in (None, operation):
                continue
            if fault.about is not None and fault.about not in request.raw_query and \
                    fault.about not in request.body.decode("utf-8", "replace"):
                continue
            if fault.times is not None and fault.times <= 0:
                continue
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            if fault.times is not None:
                fault.times -= 1
            return fault
        return None

    def _control(self, request: Request) -> Response | None:
        action = request.path.rstrip("/").rsplit("/_sandbox/", 1)[-1]
        with self.lock:
            if action == "dump" and request.method == "GET":
                return Response.json(self.dump())
            if action == "load" and request.method == "POST":
                self.load(request.json())
                return Response.json({"ok": True})
            if action == "calls" and request.method == "GET":
                return Response.json({"calls": dict(self.calls), "log": self.log})
            if action == "faults" and request.method == "POST":
                self.faults.append(Fault(**request.json()))
                return Response.json({"ok": True})
            if action == "faults" and request.method == "DELETE":
                self.faults.clear()
                return Response.json({"ok": True})
            if action == "faults" and request.method == "GET":
                return Response.json([asdict(f) for f in self.faults])
            if action == "edit" and request.method == "POST":
                return self._edit_control(request)
            if action == "delay" and request.method in ("GET", "POST"):
                return self._delay_control(request)
        return Response.json({"error": f"unknown control {request.method} {action}"}, 404)

    def _edit_control(self, request: Request) -> Response:
        try:
            body = request.json()
            kind, ident, fields = body["kind"], body["id"], body.get("fields") or {}
            if not isinstance(fields, dict):
                raise ValueError("fields must be an object of canonical field names and values")
            self.edit(str(kind), str(ident), **fields)
        except (LookupError, ValueError, TypeError, AttributeError) as exc:
            message = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            return Response.json({"error": message or type(exc).__name__}, 400)
        return Response.json({"ok": True})

    def _delay_control(self, request: Request) -> Response:
        if request.method == "POST":
            body = request.json()
            seconds = body.get("seconds") if isinstance(body, dict) else None
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 60:
                return Response.json({"error": "seconds must be a number from 0 to 60"}, 400)
            self.delay = float(seconds)
        return Response.json({"seconds": self.delay})

    def dispatch(self, request: Request) -> tuple[Response | None, Fault | None]:
        """Handle a request with faults applied. ``None`` as response: drop the connection (after
        the fault's delay; an ``applied_late`` call is applied then, see :meth:`apply_late`)."""
        if "/_sandbox/" in request.path:
            return self._control(request), None
        with self.lock:
            operation = self.operation(request)
            self.calls[operation] += 1
            fault = self._pick_fault(operation, request)
            entry: dict[str, Any] = {"operation": operation, "fault": fault.kind if fault else None}
            self.log.append(entry)
            if fault and fault.kind == "echo":
                entry["status"], entry["echoed"] = fault.status, _request_text(request, self.echoed_headers)
                return Response(fault.status, _echo(entry["echoed"], fault), {"Content-Type": fault.content_type}), fault
            if fault and fault.kind == "error":
                entry["status"] = fault.status
                return Response(fault.status, fault.body, {"Content-Type": fault.content_type}), fault
            if fault and fault.kind == "rate_limit":
                entry["status"] = 429
                headers = {"Content-Type": fault.content_type}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(int(fault.retry_after) if fault.retry_after == int(fault.retry_after)
                                                 else fault.retry_after)
                return Response(429, fault.body, headers), fault
            if fault and fault.kind == "oversized":
                entry["status"] = 200
                return Response(200, b"", {"Content-Type": fault.content_type}), fault
            if fault and (fault.kind == "applied_late" or not fault.applied):
                entry["status"] = None
                return None, fault
            response = self.handle(request)
            if fault and fault.kind == "applied_error":
                entry["status"] = fault.status
                return Response(fault.status, fault.body, {"Content-Type": fault.content_type}), fault
            if fault and fault.kind == "drip" and not response.drop:
                entry["status"] = response.status
                return response, fault
            entry["status"] = None if (fault or response.drop) else response.status
            if response.drop:
                return None, fault
            return (None if fault else response), fault

    def apply_late(self, request: Request) -> None:
        """Apply a call an ``applied_late`` fault held back (its client has given up by now)."""
        with self.lock:
            self.handle(request)


def _request_text(request: Request, headers: Iterable[str]) -> str:
    """What a request carried, as a careless vendor echoes it (secrets included)."""
    body = request.body.decode("utf-8", errors="replace")
    try:
        fields = "; ".join(f"{k}={v}" for k, v in request.form_pairs())
    except UnicodeDecodeError:
        fields = ""
    shown = "".join(f" | {name}: {request.headers.get(name, '')}" for name in headers)
    return f"{request.method} {request.path}?{request.raw_query}{shown} | {body} | fields: {fields}"


def _echo(text: str, fault: Fault) -> str:
    """``fault.body`` with ``{request}`` replaced by ``text``, escaped for the fault's content type."""
    if "json" in fault.content_type:
        text = json.dumps(text)[1:-1]
    elif "xml" in fault.content_type:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return fault.body.replace("{request}", text)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    sandbox: ClassVar[Sandbox]
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes; without TCP_NODELAY each reply waits ~40 ms for
    # the client's delayed ACK
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: tests and the demo print what matters themselves."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parts.query, self.headers, body, self.client_address[0])
        try:
            response, fault = self.sandbox.dispatch(request)
        except Exception as exc:  # a bug in an emulator must show, not hang the client
            response, fault = Response.text(f"sandbox error: {type(exc).__name__}: {exc}", 500), None
        if self.sandbox.delay and "/_sandbox/" not in parts.path:
            time.sleep(self.sandbox.delay)  # the network's round trip, outside the lock
        if response is None:
            if fault is not None and fault.kind in ("timeout", "applied_late"):
                time.sleep(fault.delay)
            if fault is not None and fault.kind == "applied_late":
                self.sandbox.apply_late(request)
            self._hang_up()
            return
        payload = response.body.encode("utf-8") if isinstance(response.body, str) else response.body
        if fault is not None and fault.kind == "oversized":
            self._stream_filler(fault.size)
            return
        writer = self.wfile
        if fault is not None and fault.kind == "drip":
            self.wfile = _Drip(writer, fault.delay)  # type: ignore[assignment]
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except OSError:  # the client gave up on a dripped reply
            self.close_connection = True
        finally:
            self.wfile = writer

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _stream_filler(self, size: int) -> None:
        """A 200 reply of ``size`` filler bytes, with no length: the client reads until the close."""
        self.close_connection = True
        block = b" " * 65536
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
            while size > 0:
                self.wfile.write(block[:size])
                size -= len(block)
        except OSError:  # refused by the client, as it should be
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class _Drip:
    """A writer that sends one byte at a time, ``delay`` seconds apart (a reply dripped in)."""

    def __init__(self, writer: Any, delay: float) -> None:
        self.writer = writer
        self.delay = delay

    def write(self, data: bytes) -> int:
        for i in range(len(data)):
            self.writer.write(data[i:i + 1])
            self.writer.flush()
            time.sleep(self.delay)
        return len(data)

    def flush(self) -> None:
        self.writer.flush()

"""The probe's HTTP server: ``/metrics`` to scrape, ``/probe?target=URL`` to ask, and a
probe that stops when the client who asked hangs up.

``serve(ctx, listener, app)`` answers HTTP/1.1 on a listening socket until ``ctx`` is
cancelled, a handler per connection: ``GET /metrics`` is the Prometheus text of the
scan's gauges, ``GET /probe?target=URL`` probes that one target there and then and
answers with its :class:`~patterns.probe.ProbeResult` as JSON. The probe runs under a
context that two things cancel: its timeout, and the client going away. Go counterpart:
``http.Server`` with a handler that probes under ``r.Context()``, which ``net/http``
cancels "when the client's connection closes": a hanging host the probe was talking to
sees its connection closed as soon as the client has left.

This package is the runtime-neutral half, which does no I/O of its own:

- :class:`ServerExchange`: one request and its response on ``h11``'s server side,
  sans-IO, the server half of :class:`~patterns.probe.http.HttpExchange` (bytes in, a
  request out; a response in, bytes out);
- :class:`App`: the routes, deciding what a request gets (a :class:`Response` now, or
  a :class:`~patterns.probe.Target` to probe first);
- :class:`ClientGone`: the cause a probe's context is cancelled with when its client
  hangs up.

``on_threads``, ``on_asyncio`` and ``on_trio`` each do the I/O and define ``serve`` and
``run_until_hangup(ctx, client, fn)``, the handler's heart: run ``fn(work)`` under a
context ``work`` that is cancelled when the client's socket reaches end of file. How a
runtime sees the hang-up *while* the probe runs is the lesson of those three files:
asyncio and trio watch the client's socket in a second task beside the probe; a thread
cannot wait on two things, so threads watch it from a second thread.

Choices, the same in every runtime: one request per connection (every response says
``Connection: close``; a probe's client asks once), at most :data:`CONNECTIONS`
connections handled at once (an errgroup's ``limit``: past it the kernel's accept queue
holds the rest), a request head within :data:`READ_TIMEOUT_S` and a response written
within :data:`WRITE_TIMEOUT_S`, so a client that trickles or never reads holds a
handler for a bounded time. Bytes a client sends after its request are read and
dropped: only the end of the stream (or a reset) is a hang-up.
"""

from __future__ import annotations

import http
import json
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qs

import h11
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from patterns.probe import ProbeResult, Target, TargetError, parse_targets
from patterns.probe.cli.formats import record
from patterns.probe.http import HEADER_CAP
from patterns.probe.tls import TlsConfig
from patterns.runtimes import runtime_modules

__all__ = ["CONNECTIONS", "READ_TIMEOUT_S", "SERVER", "WRITE_TIMEOUT_S", "App", "ClientGone",
           "Request", "Response", "ServerExchange"]

CONNECTIONS = 64
"""Connections handled at once; the next ones wait in the kernel's accept queue."""
READ_TIMEOUT_S = 10.0
"""Seconds a client has to send its whole request head (Go's ``ReadHeaderTimeout``)."""
WRITE_TIMEOUT_S = 10.0
"""Seconds a response has to be written (Go's ``WriteTimeout``, for the write alone)."""
SERVER = "patterns.probe/0.1 (h11)"

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


class ClientGone(Exception):
    """The client closed its connection (or reset it) before it had its answer: the
    cause a handler's context is cancelled with, so ``ctx.cause`` says why the work
    stopped. Go counterpart: the cancellation of ``http.Request.Context()``."""


class Request(NamedTuple):
    """What a handler needs of a request: its ``method`` and its ``target`` (the path
    and the query, as sent: ``/probe?target=tcp://127.0.0.1:22``)."""

    method: str
    target: str


@dataclass(frozen=True, slots=True)
class Response:
    """A whole response: ``status``, ``body`` bytes, their ``content_type``, and any
    ``headers`` more (``Allow`` for a 405)."""

    status: int
    body: bytes
    content_type: str = TEXT
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def text(cls, status: int, message: str, *,
             headers: tuple[tuple[str, str], ...] = ()) -> Response:
        """A one-line plain-text response: ``message`` and a newline."""
        return cls(status, f"{message}\n".encode(), TEXT, headers)


class ServerExchange:
    """One HTTP/1.1 request and its response on ``h11``'s server side, sans-IO.

    The handler's loop, in any runtime::

        exchange = ServerExchange()
        while not exchange.receive(recv(65536)):  # b"" when the client closed
            pass
        asked = exchange.asked()  # a Request, a Response (a 400 to send), or None
        ...
        send_all(exchange.respond(response))

    Only the request's head is waited for; a body (no ``GET`` has one) is never read.
    ``header_cap`` bounds the head, as for the client (a bigger one is a 431). Go
    counterpart: the parsing half of ``net/http``'s server.
    """

    def __init__(self, *, header_cap: int = HEADER_CAP) -> None:
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=header_cap)
        self._asked: Request | Response | None = None
        self._decided = False

    def receive(self, data: bytes) -> bool:
        """Feed the bytes that arrived (``b""``: the client closed the connection).
        Returns ``True`` once :meth:`asked` is known; more bytes change nothing."""
        if self._decided:
            return True
        try:
            self._h11.receive_data(data)
            event = self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            # h11 knows the status a bad head deserves: 400, or 431 for one too big. A
            # head cut short by the close is no request: there is nobody to tell.
            if data:
                self._asked = Response.text(exc.error_status_hint, f"bad request: {exc}")
            self._decided = True
            return True
        if isinstance(event, h11.Request):
            self._asked = Request(event.method.decode("ascii"), event.target.decode("latin-1"))
            self._decided = True
        elif event is not h11.NEED_DATA:
            self._decided = True  # the client closed before a whole request: nobody to answer
        return self._decided

    def asked(self) -> Request | Response | None:
        """The :class:`Request`; or a :class:`Response` to send for a bad one; or
        ``None`` if the client closed before it had asked anything."""
        if not self._decided:
            raise RuntimeError("the request is not in yet: feed the exchange more bytes")
        return self._asked

    def respond(self, response: Response) -> bytes:
        """The bytes of ``response``, whole, ending with ``Connection: close``."""
        headers = [("Content-Type", response.content_type),
                   ("Content-Length", str(len(response.body))),
                   ("Server", SERVER),
                   *response.headers,
                   ("Connection", "close")]
        reason = http.HTTPStatus(response.status).phrase
        head = h11.Response(status_code=response.status, headers=headers, reason=reason)
        return b"".join(self._h11.send(event) or b""
                        for event in (head, h11.Data(data=response.body), h11.EndOfMessage()))


class App:
    """The routes: what each request gets. Go counterpart: an ``http.ServeMux`` with
    two patterns, ``GET /metrics`` and ``GET /probe``.

    ``registry`` is what ``/metrics`` renders (``prometheus_client.generate_latest``),
    ``timeout`` the seconds a ``/probe`` may take, ``tls`` what an ``https`` probe
    trusts (``None``: the system's store). A runtime's handler calls
    :meth:`route`; if it gives a :class:`~patterns.probe.Target`, the handler probes it
    and sends :meth:`result` of what it found.

    >>> app = App(CollectorRegistry(), timeout=2.0)
    >>> print(app.route(Request("GET", "/probe?target=tcp://127.0.0.1:22")))
    tcp://127.0.0.1:22
    >>> print(app.route(Request("GET", "/probe?target=tcp://127.0.0.1")).body.decode())
    bad target 'tcp://127.0.0.1': tcp target needs a port: tcp://127.0.0.1:PORT
    <BLANKLINE>
    >>> [app.route(Request(method, path)).status
    ...  for method, path in [("POST", "/metrics"), ("GET", "/healthz")]]
    [405, 404]
    """

    def __init__(self, registry: CollectorRegistry, *, timeout: float,
                 tls: TlsConfig | None = None) -> None:
        self.registry = registry
        self.timeout = timeout
        self.tls = tls

    def route(self, request: Request) -> Response | Target:
        """A :class:`Response` to send, or the target that ``/probe`` asks about."""
        path, _, query = request.target.partition("?")
        if path not in ("/metrics", "/probe"):
            return Response.text(404, f"not found: {path} (try /metrics or /probe?target=URL)")
        if request.method != "GET":
            return Response.text(405, f"{request.method} is not allowed here: use GET",
                                 headers=(("Allow", "GET"),))
        if path == "/metrics":
            return Response(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)
        return _target_of(query)

    def result(self, result: ProbeResult) -> Response:
        """``/probe``'s answer: the result as the JSON object ``scan --format json``
        writes for each target (:func:`~patterns.probe.cli.formats.record`). A probe
        that found the target unhealthy was still answered: 200."""
        return Response(200, (json.dumps(record(result)) + "\n").encode(), JSON)


def _target_of(query: str) -> Response | Target:
    values = parse_qs(query).get("target", [])
    if len(values) != 1:
        return Response.text(400, "/probe needs one target=URL, such as "
                                  "/probe?target=http://127.0.0.1:8080/healthz")
    try:
        targets = parse_targets(values[0])
    except TargetError as exc:
        return Response.text(400, f"bad target {values[0]!r}: {exc.reason}")
    if len(targets) != 1:
        return Response.text(400, f"expected one target, not {values[0]!r}")
    return targets[0]


__getattr__ = runtime_modules(__name__)

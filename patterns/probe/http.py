"""The HTTP probe as a protocol core without I/O: bytes in, bytes out, then a verdict.

:class:`HttpExchange` is one ``GET`` on ``h11``: ``request()`` gives the bytes to send,
``receive(data)`` takes the bytes that arrived (``b""`` when the peer closed) and says
when the answer is decided, and ``verdict()`` says how. It never touches a socket or a
clock, so the three drivers (threads, asyncio, trio) share every line of HTTP and
differ only in how they move bytes and keep the deadline; and a test feeds it bytes
one at a time. Go counterpart: the parsing half of ``net/http``'s client, which Go
does not expose separately; "sans-IO" is the Python community's name for the split.

The answer is decided as soon as it can be, and the driver then stops reading:

1. a response head that is not HTTP, or over ``header_cap`` bytes: ``protocol_error``;
2. a status other than the target's ``expect``: ``bad_status``, without the body;
3. a body past ``body_cap`` bytes (announced by ``Content-Length``, or counted as it
   arrives): ``too_large``, at the byte that passes the cap;
4. the end of the body: ``content_mismatch`` if it lacks the target's ``contains``
   text (searched as UTF-8 bytes), else ``ok``;
5. the peer closing before any of these: ``protocol_error``, saying what was missing.

Socket errors (refused, reset, timeouts) never reach the exchange: the driver maps them
with :func:`patterns.probe.outcome_for`.
"""

from __future__ import annotations

import functools

import h11

from patterns.probe import BODY_CAP, Outcome, Verdict
from patterns.probe.targets import DEFAULT_PORTS, Target

__all__ = ["HEADER_CAP", "USER_AGENT", "HttpExchange"]

HEADER_CAP = 16 * 1024
"""Bytes of response head (status line and headers) an exchange accepts: h11's default."""

USER_AGENT = "patterns.probe/0.1 (h11)"


class HttpExchange:
    """One HTTP/1.1 ``GET`` of an ``http`` or ``https`` :class:`~patterns.probe.Target`,
    sans-IO. For ``https`` a :class:`~patterns.probe.tls.TlsSession` carries it, and
    the exchange is the same, which is the point of keeping it free of I/O.

    The driver's loop, in any runtime::

        exchange = HttpExchange(target)
        send_all(exchange.request())
        while not exchange.receive(recv(65536)):  # recv gives b"" when the peer closed
            pass
        outcome, status, error = exchange.verdict()

    ``body_cap`` and ``header_cap`` bound what is read (``BODY_CAP``, ``HEADER_CAP``).
    Go counterpart: ``http.Client.Get`` with ``io.LimitReader`` on the body.
    """

    def __init__(self, target: Target, *, body_cap: int = BODY_CAP,
                 header_cap: int = HEADER_CAP) -> None:
        if not target.speaks_http:
            raise ValueError(f"HttpExchange needs an http or https target, not {target}")
        self.target = target
        self.body_cap = body_cap
        self.header_cap = header_cap
        # h11 refuses an unfinished head once it buffers more than header_cap bytes;
        # a whole head that arrives in one read is measured in _on_head instead.
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=header_cap)
        self._received = 0  # bytes fed so far, to measure the head
        self._status: int | None = None
        self._body_size = 0
        # Only a body that will be searched is kept; a size check needs just a count.
        self._body: bytearray | None = bytearray() if target.contains is not None else None
        self._verdict: Verdict | None = None

    def request(self) -> bytes:
        """The bytes of the request: ``GET path`` with ``Host``, ``User-Agent`` and
        ``Connection: close`` (one request per connection; the server may close after)."""
        request = _request(self.target.host, self.target.port, self.target.path or "/",
                           DEFAULT_PORTS[self.target.kind])
        return (self._h11.send(request) or b"") + (self._h11.send(h11.EndOfMessage()) or b"")

    def data_to_send(self) -> bytes:
        """Bytes to send after :meth:`receive`: none, ever (one request, then only
        reading). It is there so that a driver's loop is the same for an exchange
        carried over TLS (:class:`~patterns.probe.tls.TlsSession`), whose handshake
        talks back."""
        return b""

    @property
    def decided(self) -> bool:
        """``True`` once the verdict is known; more bytes change nothing."""
        return self._verdict is not None

    def receive(self, data: bytes) -> bool:
        """Feed the bytes that arrived (``b""``: the peer closed the connection).

        Returns ``True`` when the exchange is decided: the driver stops reading, closes
        the connection and asks :meth:`verdict`. Never raises for anything the peer
        sends: whatever is wrong with the answer becomes the verdict.
        """
        if self._verdict is not None:
            return True
        self._received += len(data)
        try:
            self._h11.receive_data(data)
            while self._verdict is None:
                event = self._h11.next_event()
                if event is h11.NEED_DATA:
                    break
                self._on_event(event)
        except h11.RemoteProtocolError as exc:
            self._decide("protocol_error", self._explain(exc, closed=not data))
        if not data and self._verdict is None:
            # h11 always ends or fails an answer at EOF; this line only keeps the promise
            # that a closed connection is decided, whatever a future h11 does.
            self._decide("protocol_error", "connection closed before the response ended")
        return self._verdict is not None

    def verdict(self) -> Verdict:
        """``(outcome, status, error)``: how the exchange ended. ``RuntimeError`` if it is
        not decided yet (a driver whose deadline passed reports ``timeout`` instead)."""
        if self._verdict is None:
            raise RuntimeError("the HTTP exchange is not decided yet: feed it more bytes")
        return self._verdict

    def _decide(self, outcome: Outcome, error: str | None) -> None:
        self._verdict = Verdict(outcome, self._status, error)

    def _on_event(self, event: object) -> None:
        if isinstance(event, h11.InformationalResponse):
            return  # a 1xx ("100 Continue") comes before the real answer: skip it
        if isinstance(event, h11.Response):
            self._on_head(event)
        elif isinstance(event, h11.Data):
            self._body_size += len(event.data)
            if self._body_size > self.body_cap:
                self._decide("too_large", f"body exceeds {self.body_cap} bytes")
            elif self._body is not None:
                self._body += event.data
        elif isinstance(event, h11.EndOfMessage):
            self._on_end()
        else:
            # Nothing else can come before EndOfMessage; if h11 ever differs, say so.
            self._decide("protocol_error", f"unexpected HTTP event {type(event).__name__}")

    def _on_head(self, response: h11.Response) -> None:
        self._status = response.status_code
        # What h11 still holds after the head is body; the rest of what came was head
        # (1xx heads included).
        head_size = self._received - len(self._h11.trailing_data[0])
        if head_size > self.header_cap:
            self._decide("protocol_error", f"response head is {head_size} bytes, "
                                           f"more than the cap of {self.header_cap}")
        elif response.status_code != self.target.expect:
            self._decide("bad_status",
                         f"status {response.status_code}, expected {self.target.expect}")
        else:
            length = _content_length(response)
            if length is not None and length > self.body_cap:
                self._decide("too_large", f"Content-Length {length} exceeds "
                                          f"{self.body_cap} bytes")

    def _on_end(self) -> None:
        contains = self.target.contains
        if self._body is not None and contains is not None \
                and contains.encode("utf-8") not in self._body:
            self._decide("content_mismatch", f"body of {self._body_size} bytes does not "
                                             f"contain {contains!r}")
        else:
            self._decide("ok", None)

    def _explain(self, exc: h11.RemoteProtocolError, *, closed: bool) -> str:
        """h11's words for what went wrong, except where they would puzzle a reader."""
        if self._status is None:
            if exc.error_status_hint == 431:
                return f"response head exceeds {self.header_cap} bytes"
            if closed:
                return "connection closed before a complete response head"
        return str(exc) or type(exc).__name__


@functools.lru_cache(maxsize=1024)
def _request(host: str, port: int | None, path: str, default_port: int) -> h11.Request:
    """The ``GET`` for a target, built (and its headers checked by h11) once: a target is
    probed again and again, and the event never changes."""
    if ":" in host:
        host = f"[{host}]"
    if port != default_port:  # Host names the port only where the scheme does not imply it
        host += f":{port}"
    return h11.Request(method="GET", target=path, headers=[
        ("Host", host),
        ("User-Agent", USER_AGENT),
        ("Accept", "*/*"),
        ("Connection", "close"),
    ])


def _content_length(response: h11.Response) -> int | None:
    for name, value in response.headers:
        if name == b"content-length":
            return int(value)  # h11 has checked that it is a number
    return None

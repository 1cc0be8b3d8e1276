"""The simulated fleet's server: the child process behind :class:`patterns.probe.fleet.Fleet`.

``Fleet`` runs it as ``python -m patterns.probe.fleet.server``; nobody else should. It
reads its plan (one JSON line, a :class:`Plan`) from stdin, binds every host, writes one
line to stdout once *every* listener is bound (``{"ready": [[address, port], ...]}``,
one pair per host in plan order, or ``{"error": "..."}``), answers each host's
connections the way its role says, and exits when stdin reaches end of file. The parent
holds the other end of that pipe, and when the parent dies the kernel closes it, so the
fleet never outlives its parent. Go counterpart: the ``Serve`` loop of ``httptest.Server``.

The parent decides everything (roles, delays, bodies, certificates) from its seed;
this process only serves the plan, so there is one source of truth. It is
infrastructure, not one of the runtimes under test, and it must be fast: it uses
asyncio's event loop as a bare reactor (``add_reader``, ``add_writer``, ``call_later``)
over non-blocking sockets, which costs about half the CPU per connection of asyncio's
transports and protocols (those create a task per accepted connection).

A TLS host's connection is the same connection with :class:`ServerTls` between the
socket and the HTTP: ``ssl``'s ``SSLObject`` over two memory buffers (the server's side
of what the probe's ``TlsSession`` does), so the reactor stays one reactor and a TLS
host answers with the same bytes, encrypted. A ``tls_stall`` host is no TLS host: it
reads the ClientHello and whatever follows, and never says a word.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import json
import os
import resource
import signal
import socket
import ssl
import struct
import sys
import tempfile
from http import HTTPStatus

from patterns.probe.fleet.wire import GARBAGE, HostPlan, Plan

__all__ = ["main", "response_head"]

DRIP_INTERVAL_S = 0.1
"""A slow-drip host sends one byte per this interval, forever: often enough that a
timeout per ``recv`` never fires, which is why a probe needs one deadline for the whole."""

RESET_LENGTH = 4096  # the body a reset host announces ...
RESET_AFTER = 100  # ... and how much of it it sends before the reset

LISTEN_BACKLOG = 1024
REQUEST_HEAD_CAP = 16 * 1024  # a request head longer than this is no probe's GET
BIND_ATTEMPTS = 20  # another process may hold the port on one of our addresses: retry
FILL_TIMEOUT_S = 1.0


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a code the standard does not name
        return "Unknown"


def response_head(status: int, *, length: int | None) -> bytes:
    """An HTTP/1.1 response head without its final blank line; ``length=None`` leaves
    the body delimited by the end of the connection."""
    lines = [f"HTTP/1.1 {status} {_reason(status)}",
             "Server: patterns-fleet", "Content-Type: text/plain; charset=utf-8"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


class ServerTls:
    """The server's end of TLS on one connection, over memory buffers: what came off
    the socket goes in and plaintext comes out (:meth:`receive`), plaintext goes in and
    what goes on the socket comes out (:meth:`encrypt`). The handshake happens inside
    ``receive``; its replies wait in :meth:`to_send`."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)

    def receive(self, data: bytes) -> bytes:
        """The plaintext in ``data`` with what came before it (``b""`` while the
        handshake goes on); ``ssl.SSLError`` if the client gave up on the handshake (its
        alert about our certificate) or speaks no TLS."""
        self.incoming.write(data)
        plaintext = b""
        while True:
            try:
                chunk = self.tls.read(65536)  # shakes hands first, as far as it can
            except ssl.SSLWantReadError:
                return plaintext
            if not chunk:  # the client's close_notify
                return plaintext
            plaintext += chunk

    def to_send(self) -> bytes:
        return self.outgoing.read()

    def encrypt(self, data: bytes) -> bytes:
        self.tls.write(data)
        return self.outgoing.read()


def server_context(pem: str) -> ssl.SSLContext:
    """A server context holding a host's key and certificate chain (``pem``).
    ``load_cert_chain`` reads files only, so the PEM passes through a temporary one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as file:
        file.write(pem)
        file.flush()
        context.load_cert_chain(file.name)
    return context


class Listener:
    """A planned host's listening socket, and the bytes the host answers with (built
    once, shared by its connections), and for a TLS host its server context."""

    def __init__(self, plan: HostPlan, sock: socket.socket) -> None:
        self.plan = plan
        self.sock = sock
        self.tls = server_context(plan["pem"]) if plan["pem"] else None
        body = plan["body"].encode("utf-8")
        self.page = response_head(plan["status"], length=len(body)) + b"\r\n" + body
        missing = b"not found\n"
        self.not_found = response_head(404, length=len(missing)) + b"\r\n" + missing
        self.oversized = _padding(plan["size"])

    def on_acceptable(self, connections: set[Connection]) -> None:
        """Accept every connection waiting on the listener."""
        while True:
            try:
                sock, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # out of file descriptors, say: the next readiness retries
            if self.plan["kind"] == "tcp":
                sock.close()  # a TCP probe only checks that the connection is accepted
            else:
                Connection(self, sock, connections)


class Connection:
    """One accepted HTTP connection: read the request head, then act out the host's role.

    The whole request is read before any answer (a GET has no body), so closing after
    the answer sends a FIN: closing with unread bytes would send a reset, which only the
    ``reset`` host may do. Reading goes on after the head, to see the client hang up.
    On a TLS host, every byte in and out passes through the connection's
    :class:`ServerTls`.
    """

    def __init__(self, listener: Listener, sock: socket.socket,
                 connections: set[Connection]) -> None:
        self.listener = listener
        self.sock = sock
        self.fd = sock.fileno()
        self.connections = connections
        self.loop = asyncio.get_running_loop()
        self.head = bytearray()
        self.path: str | None = None  # set once the request head is in
        self.timer: asyncio.TimerHandle | None = None
        self.outbox = memoryview(b"")  # bytes still to send
        self.close_when_sent = False
        self.drip = b""  # the head a slow_drip host has yet to drip
        self.tls = ServerTls(listener.tls) if listener.tls is not None else None
        sock.setblocking(False)
        connections.add(self)
        self.loop.add_reader(self.fd, self.on_readable)

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # reset by the client: as gone as a client that closed
        if not data:
            self.close()
            return
        if self.tls is not None:
            try:
                data = self.tls.receive(data)
            except ssl.SSLError:
                self.close()  # the client did not like our certificate, or spoke no TLS
                return
            self.transmit(self.tls.to_send())  # the handshake's next flight, if any
            if not data:
                return
        if self.path is not None or self.listener.plan["role"] == "tls_stall":
            return  # past the request head (nothing a GET sends matters any more), or
            # a stalling TLS host, which took a ClientHello and will never answer it
        self.head += data
        if b"\r\n\r\n" not in self.head:
            if len(self.head) > REQUEST_HEAD_CAP:
                self.close()
            return
        words = bytes(self.head[:self.head.find(b"\r\n")]).split()
        self.path = words[1].decode("latin-1") if len(words) == 3 else ""
        plan = self.listener.plan
        if plan["role"] == "slow_drip":
            self.start_drip()
        elif plan["delay"] is not None:
            self.timer = self.loop.call_later(plan["delay"], self.answer)
        # else: a hanging host, which holds the connection and never says a word

    def answer(self) -> None:
        self.timer = None
        listener, plan = self.listener, self.listener.plan
        role = plan["role"]
        if role == "garbage":
            self.send(GARBAGE[plan["variant"]])
        elif role == "oversized":
            length = plan["size"] if plan["variant"] == "length" else None
            self.send(response_head(plan["status"], length=length) + b"\r\n")
            self.send(listener.oversized)
        elif role == "reset":
            self.send(response_head(plan["status"], length=RESET_LENGTH) + b"\r\n"
                      + b"x" * RESET_AFTER)
            if self.sock.fileno() != -1:  # the client may have gone already
                # SO_LINGER with a zero timeout makes close() drop the connection with
                # a RST instead of a FIN: the client's next read fails with ECONNRESET.
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
            self.close()
            return
        elif self.path == plan["path"]:
            self.send(listener.page)
        else:
            self.send(listener.not_found)
        self.close_when_sent = True
        if not self.outbox:
            self.close()

    def start_drip(self) -> None:
        head = response_head(self.listener.plan["status"], length=None)
        if self.listener.plan["variant"] == "head":
            self.drip = head + b"X-Drip: "  # then the header line grows a byte a tick
        else:
            self.send(head + b"\r\n")  # the head at once, then a body that never ends
        self.tick()

    def tick(self) -> None:
        byte, self.drip = (self.drip[:1], self.drip[1:]) if self.drip else (b".", b"")
        self.send(byte)
        if self.sock.fileno() != -1:
            self.timer = self.loop.call_later(DRIP_INTERVAL_S, self.tick)

    def send(self, data: bytes) -> None:
        """Send ``data`` (encrypted on a TLS host) after whatever is waiting."""
        self.transmit(data if self.tls is None else self.tls.encrypt(data))

    def transmit(self, data: bytes) -> None:
        """Put ``data`` on the socket after whatever is waiting; the kernel takes what it
        has room for at once, and ``on_writable`` the rest when it has room again."""
        if not data or self.sock.fileno() == -1:
            return
        if self.outbox:
            self.outbox = memoryview(bytes(self.outbox) + data)
            return
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.close()  # the client is gone
            return
        if sent < len(data):
            self.outbox = memoryview(data)[sent:]
            self.loop.add_writer(self.fd, self.on_writable)

    def on_writable(self) -> None:
        try:
            sent = self.sock.send(self.outbox)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        self.outbox = self.outbox[sent:]
        if not self.outbox:
            self.loop.remove_writer(self.fd)
            if self.close_when_sent:
                self.close()

    def close(self) -> None:
        if self.sock.fileno() == -1:
            return
        if self.timer is not None:
            self.timer.cancel()
        self.loop.remove_reader(self.fd)
        self.loop.remove_writer(self.fd)
        self.sock.close()
        self.connections.discard(self)


@functools.cache
def _padding(size: int) -> bytes:
    """``size`` bytes of body, one copy for all the oversized hosts."""
    return b"x" * size


def bind(plan: Plan) -> list[socket.socket]:
    """One non-blocking socket per host, bound to the host's address and listening
    (unless the host refuses); ``OSError`` if no port is free after ``BIND_ATTEMPTS``.

    A refused host's socket is bound but never listens: nobody listens there, so the
    kernel refuses a connection, and holding the port keeps anyone else from listening
    there while the fleet runs.
    """
    for attempt in range(BIND_ATTEMPTS):
        port = plan["port"] if attempt == 0 else 0
        socks: list[socket.socket] = []
        try:
            for host in plan["hosts"]:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.setblocking(False)
                if host["role"] != "refused":
                    # Rebind a port whose last connections still linger in TIME_WAIT:
                    # the same seed can then serve on the same port again at once.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host["address"], port if plan["shared_port"] else 0))
                port = sock.getsockname()[1]  # the first host's port is everyone's
                if host["role"] == "full_backlog":
                    sock.listen(0)  # room for one connection, which fill() takes
                elif host["role"] != "refused":
                    sock.listen(LISTEN_BACKLOG)
        except OSError as exc:
            for sock in socks:
                sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        return socks
    raise OSError(errno.EADDRINUSE, f"no port free on all the fleet's addresses "
                                    f"after {BIND_ATTEMPTS} tries")


async def fill(listener: socket.socket) -> socket.socket:
    """Fill ``listener``'s accept queue with a connection of our own that is never
    accepted; from then on the kernel drops every SYN, so a probe's connect hangs."""
    loop = asyncio.get_running_loop()
    address = listener.getsockname()
    filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    filler.setblocking(False)
    filler.bind((address[0], 0))  # from the host's own address: we bind nothing else
    # On a kernel that counts the backlog from zero, the queue is full already and this
    # connect hangs like a probe's: just as good.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(loop.sock_connect(filler, address), FILL_TIMEOUT_S)
    return filler


async def serve(plan: Plan) -> None:
    """Serve ``plan`` until stdin reaches end of file."""
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.fileno()
    eof = asyncio.Event()

    def on_stdin() -> None:
        if not os.read(stdin, 4096):
            eof.set()

    loop.add_reader(stdin, on_stdin)
    try:
        socks = bind(plan)
    except OSError as exc:
        _say({"error": f"cannot bind the fleet: {exc}"})
        raise SystemExit(1) from None
    connections: set[Connection] = set()
    fillers: list[socket.socket] = []
    listeners: list[int] = []
    try:
        for host_plan, sock in zip(plan["hosts"], socks, strict=True):
            role = host_plan["role"]
            if role == "full_backlog":
                fillers.append(await fill(sock))
            elif role != "refused":
                listener = Listener(host_plan, sock)
                loop.add_reader(sock.fileno(), listener.on_acceptable, connections)
                listeners.append(sock.fileno())
        _say({"ready": [sock.getsockname()[:2] for sock in socks]})
        await eof.wait()
    finally:
        loop.remove_reader(stdin)
        for fd in listeners:
            loop.remove_reader(fd)
        for connection in list(connections):
            connection.close()
        for sock in socks + fillers:
            sock.close()


def _say(message: object) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    """Read the plan from stdin and serve it."""
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when the
    # fleet stops (by closing stdin), so the fleet ignores it rather than print a trace.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A server holds a socket per client: take every file descriptor we are allowed.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    plan: Plan = json.loads(sys.stdin.buffer.readline())
    asyncio.run(serve(plan))


if __name__ == "__main__":
    main()

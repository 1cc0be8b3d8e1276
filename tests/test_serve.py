"""Behavioural suite for the probe's HTTP server (``patterns.probe.serve``), in three
runtimes.

The contract is the one the docstrings of :mod:`patterns.probe.serve` and its runtime
modules state: ``serve(ctx, listener, app)`` answers ``GET /metrics`` with the
registry's Prometheus text, ``GET /probe?target=URL`` with the probe's result as JSON
(a bad target is a 400 with one line, another path a 404, another method a 405), until
``ctx`` is cancelled; and a ``/probe`` runs under a context that the client's hang-up
cancels, so a hanging host the probe was talking to sees its connection closed within
:data:`HANGUP_BOUND_S` of the client leaving.

Each server runs in-process on a loopback port, on a thread of its own (with its own
event loop for asyncio and trio), and the test is its client, with blocking sockets; so
the leak check sees every thread and socket the server made. The hanging host is the
test's own listening socket, whose accepted connection the test watches for end of
file. Nothing here sleeps: the client hangs up once the hanging host has the probe's
request in hand.
"""

from __future__ import annotations

import asyncio
import http.client
import importlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from patterns.probe import ProbeResult, Target
from patterns.probe.cli.formats import Metrics
from patterns.probe.serve import App, Request, Response, ServerExchange
from patterns.runtimes import RUNTIMES

HANGUP_BOUND_S = 0.5  # the contract: from the client's close to the host's end of file
NEVER_S = 3600.0  # a probe timeout no test waits for: only a hang-up ends such a probe
SHORT_S = 0.2  # a probe timeout a test does wait for, once
FAIL_SAFE_S = 10.0  # a wait that should end long before; a hang becomes a failure
STOP_WITHIN_S = 2.0  # from cancelling the server's ctx to serve() returning


# -- the harness: a runtime's server on a thread, a hanging host, a raw client -----------


class Serving:
    """``serve(ctx, listener, app)`` of one runtime on a thread of its own, for the
    block's length; on the way out its ``ctx`` is cancelled (from the event loop's own
    thread: asyncio's and trio's contexts are not thread-safe) and the thread joined."""

    def __init__(self, runtime: str, app: App) -> None:
        self.runtime, self.app = runtime, app
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.cancel: Callable[[], object] = lambda: None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"serve on {runtime}")

    def _run(self) -> None:
        serve = importlib.import_module(f"patterns.probe.serve.on_{self.runtime}").serve
        context = importlib.import_module(f"patterns.context.on_{self.runtime}")
        try:
            if self.runtime == "threads":
                ctx = context.background().with_cancel()
                self.cancel = ctx.cancel
                self._ready.set()
                serve(ctx, self.listener, self.app)
            elif self.runtime == "asyncio":
                async def main_asyncio() -> None:
                    ctx = context.background().with_cancel()
                    loop = asyncio.get_running_loop()
                    self.cancel = lambda: loop.call_soon_threadsafe(ctx.cancel)
                    self._ready.set()
                    await serve(ctx, self.listener, self.app)

                asyncio.run(main_asyncio())
            else:
                async def main_trio() -> None:
                    ctx = context.background().with_cancel()
                    token = trio.lowlevel.current_trio_token()
                    self.cancel = lambda: token.run_sync_soon(ctx.cancel)
                    self._ready.set()
                    await serve(ctx, self.listener, self.app)

                trio.run(main_trio)
        except BaseException as exc:  # handed to the test in stop()
            self.error = exc
            self._ready.set()

    def __enter__(self) -> Serving:
        self._thread.start()
        assert self._ready.wait(FAIL_SAFE_S), "the server never started"
        return self

    def stop(self) -> float:
        """Cancel the server's ctx; the seconds ``serve`` took to return."""
        cancelled = time.monotonic()
        self.cancel()
        self._thread.join(FAIL_SAFE_S)
        took = time.monotonic() - cancelled
        assert not self._thread.is_alive(), f"{self.runtime}: serve() ignored its ctx"
        if self.error is not None:
            raise self.error
        return took

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._thread.is_alive():
                self.stop()
        finally:
            self.listener.close()

    def get(self, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        """One request with http.client (which never asks a proxy): status, headers,
        body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=FAIL_SAFE_S)
        try:
            connection.request(method, path)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


class HangingHost:
    """An HTTP host on 127.0.0.1 that reads a request and never answers: the fleet's
    ``hanging`` role, in the test's own hands, so the test sees when the probe's
    connection closes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(FAIL_SAFE_S)
        self.target = Target.http("127.0.0.1", self.listener.getsockname()[1], "/hang")

    def accept_request(self) -> socket.socket:
        """The probe's connection, once its whole request has arrived."""
        conn, _ = self.listener.accept()
        conn.settimeout(FAIL_SAFE_S)
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            assert chunk, f"the probe hung up before its request was whole: {request!r}"
            request += chunk
        assert request.startswith(b"GET /hang "), request
        return conn

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def hanging_host() -> Iterator[HangingHost]:
    host = HangingHost()
    try:
        yield host
    finally:
        host.close()


def until_closed(conn: socket.socket) -> None:
    """Return once the peer has closed ``conn`` (end of file, or a reset); fail if it
    sends anything, or not within the fail-safe."""
    try:
        data = conn.recv(4096)
    except ConnectionResetError:
        return
    except TimeoutError:
        raise AssertionError(f"the connection was still open after {FAIL_SAFE_S} s") from None
    assert data == b"", f"the hanging host got more bytes: {data!r}"


def probe_request(target: Target) -> bytes:
    return (f"GET /probe?target={target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode()


# -- the routes ------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_metrics_is_the_registrys_prometheus_text(runtime: str) -> None:
    metrics = Metrics()
    up, down = Target.tcp("127.0.0.1", 22), Target.http("127.0.0.1", 8080, "/healthz")
    metrics.update([ProbeResult(up, "ok", None, 0.002, None, runtime),
                    ProbeResult(down, "bad_status", 503, 0.1, "status 503", runtime)])
    with Serving(runtime, App(metrics.registry, timeout=SHORT_S)) as server:
        status, headers, body = server.get("/metrics")
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE_LATEST
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    gauges = {s.labels["target"]: s.value for s in families["probe_up"].samples}
    assert gauges == {str(up): 1.0, str(down): 0.0}
    outcomes = [s for s in families["probe_outcome"].samples if s.value == 1.0]
    assert {(s.labels["target"], s.labels["outcome"]) for s in outcomes} == {
        (str(up), "ok"), (str(down), "bad_status")}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_probe_answers_with_the_result_as_json(runtime: str) -> None:
    # A listening socket accepts TCP connections without accept() (the kernel does it):
    # a healthy tcp:// host. A port bound but not listened on refuses.
    with socket.create_server(("127.0.0.1", 0)) as listening, \
            socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        healthy = Target.tcp("127.0.0.1", listening.getsockname()[1])
        refused = Target.tcp("127.0.0.1", closed.getsockname()[1])
        with Serving(runtime, App(CollectorRegistry(), timeout=FAIL_SAFE_S)) as server:
            answers = {target: server.get(f"/probe?target={target}")
                       for target in (healthy, refused)}
    for target, outcome in ((healthy, "ok"), (refused, "refused")):
        status, headers, body = answers[target]
        assert (status, headers["Content-Type"]) == (200, "application/json"), body
        record = json.loads(body)
        assert set(record) == {"target", "outcome", "status", "latency", "error", "runtime",
                               "cert_expires"}
        assert (record["target"], record["outcome"], record["runtime"]) == (
            str(target), outcome, runtime)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bad_requests_get_4xx_with_one_line(runtime: str) -> None:
    cases = {  # (method, path) -> (status, text the line holds)
        ("GET", "/probe?target=tcp://127.0.0.1"): (400, "needs a port"),
        ("GET", "/probe?target=gopher://127.0.0.1:70"): (400, "bad target"),
        ("GET", "/probe"): (400, "needs one target=URL"),
        ("GET", "/probe?target=tcp://127.0.0.1:1&target=tcp://127.0.0.1:2"): (400, "one target"),
        ("GET", "/"): (404, "not found: /"),
        ("POST", "/metrics"): (405, "POST is not allowed"),
        ("DELETE", "/probe?target=tcp://127.0.0.1:1"): (405, "DELETE is not allowed"),
    }
    with Serving(runtime, App(CollectorRegistry(), timeout=SHORT_S)) as server:
        got = {case: server.get(case[1], case[0]) for case in cases}
    for case, (status, text) in cases.items():
        got_status, headers, body = got[case]
        lines = body.decode().splitlines()
        assert got_status == status and len(lines) == 1 and text in lines[0], (case, body)
        if status == 405:
            assert headers["Allow"] == "GET"


# -- the hang-up -------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_client_that_hangs_up_closes_the_probes_connection(
        runtime: str, hanging_host: HangingHost) -> None:
    with Serving(runtime, App(CollectorRegistry(), timeout=NEVER_S)) as server:
        client = socket.create_connection(("127.0.0.1", server.port))
        with client:
            client.sendall(probe_request(hanging_host.target))
            conn = hanging_host.accept_request()  # the probe now waits for an answer
        closed = time.monotonic()  # the client has hung up
        with conn:
            until_closed(conn)
            took = time.monotonic() - closed
        # The server goes on: the handler ended, and the next request is answered.
        status, _, _ = server.get("/metrics")
    assert took <= HANGUP_BOUND_S, (
        f"{runtime}: the hanging host saw its connection close {took:.3f} s after the "
        f"client hung up; the bound is {HANGUP_BOUND_S} s")
    assert status == 200


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bytes_after_the_request_are_no_hangup(
        runtime: str, hanging_host: HangingHost) -> None:
    """A client that sends more (a pipelined request) and stays gets its answer: here the
    probe's own timeout, since the host never answers."""
    with Serving(runtime, App(CollectorRegistry(), timeout=SHORT_S)) as server, \
            socket.create_connection(("127.0.0.1", server.port)) as client:
        client.settimeout(FAIL_SAFE_S)
        client.sendall(probe_request(hanging_host.target))
        with hanging_host.accept_request() as conn:
            client.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
            until_closed(conn)  # the probe's timeout closed it
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), answer
    assert json.loads(body)["outcome"] == "timeout"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_cancelling_ctx_stops_the_server_and_its_probes(
        runtime: str, hanging_host: HangingHost) -> None:
    """A probe in flight and a client that never sends a byte do not hold the server:
    cancelling its ctx closes both, and serve() returns."""
    with Serving(runtime, App(CollectorRegistry(), timeout=NEVER_S)) as server, \
            socket.create_connection(("127.0.0.1", server.port)) as silent, \
            socket.create_connection(("127.0.0.1", server.port)) as client:
        client.sendall(probe_request(hanging_host.target))
        with hanging_host.accept_request() as conn:
            took = server.stop()
            until_closed(conn)
        silent.settimeout(FAIL_SAFE_S)
        assert silent.recv(1) == b"", "the silent client's connection stays open"
    assert took <= STOP_WITHIN_S


# -- the sans-IO exchange --------------------------------------------------------------------


REQUEST = b"GET /probe?target=tcp://127.0.0.1:22 HTTP/1.1\r\nHost: a\r\n\r\n"


def fed(exchange: ServerExchange, data: bytes, cuts: list[int]) -> bool:
    """Feed ``data`` in pieces cut at ``cuts``; whether the exchange decided."""
    edges = [0, *sorted(set(cuts)), len(data)]
    return any([exchange.receive(data[a:b]) for a, b in itertools.pairwise(edges)
                if b > a])


@given(st.lists(st.integers(1, len(REQUEST) - 1), max_size=8))
def test_a_request_in_any_pieces_is_the_same_request(cuts: list[int]) -> None:
    exchange = ServerExchange()
    assert fed(exchange, REQUEST, cuts)
    assert exchange.asked() == Request("GET", "/probe?target=tcp://127.0.0.1:22")


@pytest.mark.parametrize(("data", "status"), [
    (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"y" * 20_000, 431),
])
def test_a_bad_head_is_answered_by_its_status(data: bytes, status: int) -> None:
    exchange = ServerExchange()
    assert exchange.receive(data)
    asked = exchange.asked()
    assert isinstance(asked, Response) and asked.status == status, asked
    assert exchange.respond(asked).startswith(f"HTTP/1.1 {status} ".encode())


def test_a_client_that_closes_before_asking_gets_nothing() -> None:
    exchange = ServerExchange()
    assert not exchange.receive(REQUEST[:10])
    with pytest.raises(RuntimeError):
        exchange.asked()
    assert exchange.receive(b"")
    assert exchange.asked() is None


def test_a_response_says_its_length_and_close() -> None:
    exchange = ServerExchange()
    exchange.receive(REQUEST)
    raw = exchange.respond(Response.text(404, "not found: /x"))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"\r\nContent-Length: 14\r\n" in head + b"\r\n" and body == b"not found: /x\n"
    assert head.lower().endswith(b"connection: close")


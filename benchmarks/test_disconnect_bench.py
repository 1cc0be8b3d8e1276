"""From a client's hang-up to the probe's host seeing its connection close, per runtime.

``serve``'s ``/probe?target=URL`` probes under a context that the client's hang-up
cancels (:mod:`patterns.probe.serve`); the contract bounds the time from the client's
close to the hanging host's end of file at 0.5 s. What is timed is that time, for real:
``python -m patterns.probe serve --runtime R`` runs as a child process, the benchmark is
its client and the hanging host (a listening socket of its own on 127.0.0.1, which reads
the probe's request and never answers). Each round, untimed, connects, asks
``/probe?target=`` of the hanging host and waits until the host has the probe's whole
request; then, timed, closes the client's socket and reads the host's end of the probe's
connection until end of file (or a reset). Every round is checked against the bound.

The path each runtime takes (the module docstrings of ``patterns.probe.serve.on_*``):
threads, a watcher thread blocked in ``recv`` on the client's socket cancels the probe's
context, whose cancel hook shuts the probe's socket down; asyncio and trio, a watcher
task does the same, and the probe's scope interrupts its ``recv`` and closes the socket.
One group, ``serve-disconnect``, µs per hang-up, no baseline (``report.py`` prints it
alone)::

    python -m pytest benchmarks/test_disconnect_bench.py --benchmark-json=disconnect.json
    python benchmarks/report.py disconnect.json
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patterns.runtimes import RUNTIMES

BOUND_S = 0.5  # the contract: from the client's close to the host's end of file
ROUNDS = 200  # hang-ups per runtime, after a few warm-up ones
START_S = 20.0  # the child says it serves within this
FAIL_SAFE_S = 10.0  # any wait here ends long before


class HangingHost:
    """A listening socket that reads a request and never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.listener.settimeout(FAIL_SAFE_S)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hang"

    def accept_request(self) -> socket.socket:
        conn, _ = self.listener.accept()
        conn.settimeout(FAIL_SAFE_S)
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            assert chunk, "the probe hung up before its request was whole"
            request += chunk
        return conn


def serving_port(process: subprocess.Popen[bytes]) -> int:
    """The port of the ``serving http://127.0.0.1:PORT/metrics ...`` line on stderr."""
    assert process.stderr is not None
    fd, said, deadline = process.stderr.fileno(), b"", time.monotonic() + START_S
    while b"/metrics" not in said:
        left = deadline - time.monotonic()
        assert left > 0 and select.select([fd], [], [], left)[0], f"no start: {said!r}"
        chunk = os.read(fd, 4096)
        assert chunk, f"serve ended: {said!r}"
        said += chunk
    return int(said.split(b"http://127.0.0.1:", 1)[1].split(b"/", 1)[0])


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    """``serve --runtime R`` in a child process; its port. Its scan loop probes one
    refused port, once (the interval is an hour), so it stays out of the way."""
    runtime = request.node.callspec.params["case"].split("-")[0]
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listened on: refused
        hosts = tmp_path / "hosts.txt"
        hosts.write_text(f"tcp://127.0.0.1:{closed.getsockname()[1]}\n", encoding="utf-8")
        process = subprocess.Popen(
            [sys.executable, "-m", "patterns.probe", "serve", "--port", "0", "--targets",
             str(hosts), "--interval", "3600", "--timeout", "3600", "--runtime", runtime],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            yield serving_port(process)
        finally:
            process.terminate()
            process.wait(FAIL_SAFE_S)
            assert process.stderr is not None
            process.stderr.close()


@pytest.mark.parametrize("case", [f"{runtime}-patterns" for runtime in RUNTIMES])
def test_disconnect_to_downstream_closed(benchmark: Any, server: int, case: str) -> None:
    benchmark.group = "serve-disconnect"
    benchmark.extra_info.update(op="hang-up", bound_s=BOUND_S)
    host = HangingHost()

    def asked() -> tuple[tuple[socket.socket, socket.socket], dict[str, Any]]:
        client = socket.create_connection(("127.0.0.1", server))
        client.sendall(f"GET /probe?target={host.url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                       .encode())
        return (client, host.accept_request()), {}  # the probe now waits for an answer

    def hang_up(client: socket.socket, downstream: socket.socket) -> None:
        started = time.monotonic()
        client.close()
        try:
            data = downstream.recv(4096)
        except ConnectionResetError:
            data = b""
        took = time.monotonic() - started
        downstream.close()
        assert data == b"" and took <= BOUND_S, f"{case}: {data!r} after {took:.3f} s"

    try:
        benchmark.pedantic(hang_up, setup=asked, rounds=ROUNDS, warmup_rounds=5)
    finally:
        host.listener.close()

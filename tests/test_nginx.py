"""The probe against a web server nobody here wrote: Debian's nginx, on loopback.

The simulated fleet answers as this project thinks servers answer; nginx answers as
servers do. Each location below is a target whose outcome the contract of
:mod:`patterns.probe.http` decides, and each is probed in all three runtimes, alone
(``probe``) and in one ``scan``:

- a status other than ``expect`` is ``bad_status``, whatever it is: a missing file's
  404, ``return 503``, the 502 of a proxy whose upstream nobody listens on, and a
  redirect's 301. The probe follows no redirect (no probe does a second ``GET``): a
  301 is healthy only for a target that says ``expect=301``;
- a body is checked as a whole, chunked or not: ``contains`` is searched in the
  de-chunked bytes, and one byte past ``BODY_CAP`` is ``too_large``, announced by
  ``Content-Length`` or counted as the chunks arrive;
- a drip (``limit_rate``) ends at the probe's one deadline as ``timeout``, although a
  piece of body arrives many times within it.

nginx starts once for the module (:mod:`nginx_server`), from a configuration written
into a temporary folder; the tests skip, saying so, where there is no nginx
(``apt-get install nginx-light``), and fail instead where ``PATTERNS_REQUIRED_PROGRAMS``
names it (:mod:`programs`). trio runs on the real clock here, as the sockets are
real (see ``tests/test_probe_drivers.py``).
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nginx_server import Location, Nginx, Server
from programs import program
from runtimes import Runtime, background

from patterns.probe import BODY_CAP, ProbeResult, Target

ANSWER_S = 2.0  # the deadline of a probe of a location that answers at once
DRIP_S = 0.5  # the deadline of a probe of the drip
SCAN_TIMEOUT_S = 1.0  # the per-probe timeout of the scan
WORKERS = 4
LATE = 3  # a probe ends within LATE times its deadline: a bound, not a measurement

# The drip: DRIP_PIECE bytes at a time, DRIP_RATE bytes a second (nginx waits
# piece/rate seconds after each piece), so a piece every 62.5 ms and the whole body
# only after 8 s: a timeout per read would never fire, and the probe would wait for all.
DRIP_RATE = 2048
DRIP_PIECE = 128
DRIP_BYTES = 16 * 1024

OK_BODY = "nginx says ok\n"
CHUNKED_BODY = "a chunked hello from nginx\n"
# sub_filter may change a body's length, so nginx drops Content-Length from what it
# filters, and an HTTP/1.1 answer without a length goes chunked. The text it looks for
# is in none of the files: the bytes are served as they are.
CHUNKED = ("sub_filter_types *", "sub_filter '<not in any file>' ''")


@dataclass(frozen=True)
class Case:
    """A location, the target that probes it, and how that probe must end."""

    name: str
    path: str
    outcome: str
    status: int | None  # the HTTP status the result carries (None: no head was decided)
    expect: int = 200
    contains: str | None = None

    def target(self, port: int) -> Target:
        return Target.http("127.0.0.1", port, self.path, expect=self.expect,
                           contains=self.contains)


CASES = [
    Case("ok", "/ok", "ok", 200),
    Case("ok, contains matches", "/ok", "ok", 200, contains="says ok"),
    Case("ok, contains does not", "/ok", "content_mismatch", 200, contains="says no"),
    Case("missing", "/missing", "bad_status", 404),
    Case("missing, expect=404", "/missing", "ok", 404, expect=404),
    Case("return 503", "/unavailable", "bad_status", 503),
    Case("redirect, not followed", "/moved", "bad_status", 301),
    Case("redirect, expect=301", "/moved", "ok", 301, expect=301),
    Case("dead upstream", "/dead-upstream", "bad_status", 502),
    Case("chunked", "/chunked", "ok", 200, contains="chunked hello"),
    Case("at the cap", "/at-cap", "ok", 200),
    Case("at the cap, chunked", "/at-cap-chunked", "ok", 200),
    Case("over the cap", "/over-cap", "too_large", 200),
    Case("over the cap, chunked", "/over-cap-chunked", "too_large", 200),
    Case("drip", "/drip", "timeout", None),
]
CASE_IDS = [case.name for case in CASES]


def locations(www: Path, dead_port: int) -> tuple[Location, ...]:
    """What nginx serves: ``www`` holds the files, ``dead_port`` is where no one listens."""
    return (
        Location("= /ok", (f'return 200 "{OK_BODY.strip()}\\n"',)),
        Location("/", (f"root {www}",)),  # /missing: no such file, 404
        Location("= /unavailable", ("return 503",)),
        Location("= /moved", ("return 301 /ok",)),
        Location("= /dead-upstream", (f"proxy_pass http://127.0.0.1:{dead_port}",)),
        Location("= /chunked", (f"alias {www}/chunked.txt", *CHUNKED)),
        Location("= /at-cap", (f"alias {www}/at-cap.bin",)),
        Location("= /at-cap-chunked", (f"alias {www}/at-cap.bin", *CHUNKED)),
        Location("= /over-cap", (f"alias {www}/over-cap.bin",)),
        Location("= /over-cap-chunked", (f"alias {www}/over-cap.bin", *CHUNKED)),
        # sendfile_max_chunk also caps what one write of a rate-limited answer sends.
        Location("= /drip", (f"alias {www}/drip.txt", f"limit_rate {DRIP_RATE}",
                             f"sendfile_max_chunk {DRIP_PIECE}")),
    )


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """nginx serving :func:`locations` on ``127.0.0.1:port``, for the whole module.

    Module-scoped, so nginx and the dead upstream's socket exist before the leak check
    counts each test's file descriptors. The dead upstream is a socket bound to a port
    and never listening: nobody else can take that port while it is held, and a connect
    to it is refused.
    """
    nginx_binary = program("nginx")  # else skip (fail where CI requires it)
    prefix = tmp_path_factory.mktemp("nginx")
    www = prefix / "www"
    www.mkdir()
    (www / "chunked.txt").write_text(CHUNKED_BODY)
    (www / "at-cap.bin").write_bytes(b"c" * BODY_CAP)
    (www / "over-cap.bin").write_bytes(b"o" * (2 * BODY_CAP))
    (www / "drip.txt").write_bytes(b"d" * DRIP_BYTES)
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        servers = (Server(locations(www, dead.getsockname()[1])),)
        with Nginx(nginx_binary, prefix, servers) as nginx:
            yield nginx.ports[0]


def run(rt: Runtime, scenario: Any, *args: Any) -> Any:
    """``rt.run``, trio on the real clock: real sockets and a mock clock do not mix."""
    return rt.run(scenario, *args, mock_clock=False)


def assert_ended_as_stated(result: ProbeResult, case: Case, deadline: float) -> None:
    assert (result.outcome, result.status) == (case.outcome, case.status), result
    assert (result.error is None) == (case.outcome == "ok"), result
    assert result.latency is not None and result.latency < LATE * deadline, result


# -- nginx says what the cases assume -------------------------------------------------------


def get(port: int, path: str) -> tuple[http.client.HTTPResponse, bytes]:
    """The answer to the probe's request (HTTP/1.1, ``Connection: close``), de-chunked."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_S)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(("path", "chunked", "size"), [
    ("/chunked", True, len(CHUNKED_BODY)),
    ("/at-cap", False, BODY_CAP),
    ("/at-cap-chunked", True, BODY_CAP),
    ("/over-cap", False, 2 * BODY_CAP),
    ("/over-cap-chunked", True, 2 * BODY_CAP),
])
def test_the_bodies_come_as_the_cases_assume(port: int, path: str, chunked: bool,
                                              size: int) -> None:
    response, body = get(port, path)
    assert response.status == 200
    assert response.chunked == chunked
    if chunked:
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert response.getheader("Content-Length") is None
    else:
        assert response.getheader("Content-Length") == str(size)
    assert len(body) == size


def test_the_redirect_points_to_a_healthy_location(port: int) -> None:
    response, _ = get(port, "/moved")
    assert response.status == 301
    assert response.getheader("Location") == f"http://127.0.0.1:{port}/ok"
    response, body = get(port, "/ok")
    assert (response.status, body) == (200, OK_BODY.encode())


def test_the_drip_keeps_a_timeout_per_read_waiting(port: int) -> None:
    # What a probe with a timeout per recv would do: each read gets DRIP_S, and each
    # read is answered within it, so at LATE times DRIP_S it is still reading.
    with socket.create_connection(("127.0.0.1", port), timeout=DRIP_S) as sock:
        sock.sendall(b"GET /drip HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        received = b""
        pieces = 0
        stop = time.monotonic() + LATE * DRIP_S
        while time.monotonic() < stop:
            piece = sock.recv(65536)  # a socket.timeout here: nginx held back a piece
            assert piece, "nginx ended the drip early"
            received += piece
            pieces += 1
    assert received.startswith(b"HTTP/1.1 200 ")
    assert pieces > LATE  # more than one piece per DRIP_S, on average
    assert len(received) < DRIP_BYTES  # and the body is far from over


# -- the probe, in every runtime ------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_a_probe_ends_as_the_location_deserves(rt: Runtime, port: int, case: Case) -> None:
    target = case.target(port)
    deadline = DRIP_S if case.outcome == "timeout" else ANSWER_S

    async def scenario(rt: Runtime) -> ProbeResult:
        with background(rt).with_timeout(deadline) as ctx:
            result: ProbeResult = await rt.call(rt.module("probe").probe, ctx, target)
            return result

    result = run(rt, scenario)
    assert (result.target, result.runtime) == (target, rt.name)
    assert_ended_as_stated(result, case, deadline)


def test_a_scan_of_every_location(rt: Runtime, port: int) -> None:
    targets = [case.target(port) for case in CASES]

    async def scenario(rt: Runtime) -> list[ProbeResult]:
        results: list[ProbeResult] = await rt.call(
            rt.module("probe").scan, targets, workers=WORKERS, timeout=SCAN_TIMEOUT_S)
        return results

    results = run(rt, scenario)
    assert [r.target for r in results] == targets  # each exactly once, in input order
    assert {r.runtime for r in results} == {rt.name}
    for result, case in zip(results, CASES, strict=True):
        assert_ended_as_stated(result, case, SCAN_TIMEOUT_S)

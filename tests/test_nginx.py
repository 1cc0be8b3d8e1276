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

The same nginx speaks TLS on more ports (:mod:`patterns.probe.tls`), with certificates
``trustme`` makes for the module from a CA of its own:

- the ``https`` server has every location above and a certificate for ``127.0.0.1``:
  trusting the CA (``TlsConfig(ca_pem=...)``), a few of the cases above end over TLS
  exactly as over plain HTTP (the same h11 core reads the decrypted bytes), and each
  result carries the certificate's ``notAfter`` as ``cert_expires``, whatever the
  outcome, once the handshake is done: the 404's and the drip's too;
- a certificate that does not verify is ``tls_error``, with OpenSSL's one line, and no
  ``cert_expires`` (the handshake never completed): a CA the probe does not trust
  (``TlsConfig()``, the system's store only), a certificate for another name (the
  ``other-name`` server's, for ``other.example``), an expired one (the ``expired``
  server's). ``TlsConfig(insecure=True)`` takes each of them: ``ok``, and its
  ``notAfter`` all the same, the expired one's in the past;
- the wrong protocol on a port: plain HTTP to the https port gets nginx's answer to
  it, a ``400`` (``bad_status``); TLS to the plain port reads nginx's 400 (to a
  ClientHello taken for a request) as a TLS record and fails the handshake
  (``tls_error``, "wrong version number").

One ``scan`` asks every target that trusts the module's CA (a scan has one
``TlsConfig``), plain and https together. Its https drip ends as ``timeout`` with the
certificate's ``cert_expires``, as the lone probe's does: each probe keeps its own
deadline, so the result of a probe that timed out is the probe's own.

nginx starts once for the module (:mod:`nginx_server`), from a configuration written
into a temporary folder; the tests skip, saying so, where there is no nginx
(``apt-get install nginx-light``), and fail instead where ``PATTERNS_REQUIRED_PROGRAMS``
names it (:mod:`programs`). trio runs on the real clock here, as the sockets are
real (see ``tests/test_probe_drivers.py``).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from nginx_server import Location, Nginx, Server, TlsFiles
from programs import program
from runtimes import Runtime, background

from patterns.probe import BODY_CAP, ProbeResult, Target
from patterns.probe.tls import TlsConfig

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

# The server blocks with a certificate, and whom each certificate is for.
CERTIFIED = {"https": "127.0.0.1", "other-name": "other.example", "expired": "127.0.0.1"}
EXPIRED = datetime(2020, 1, 1, tzinfo=UTC)  # the notAfter of the expired one
# Why each certificate that does not verify fails, in OpenSSL's words.
UNKNOWN_CA = "certificate verify failed: unable to get local issuer certificate"
WRONG_NAME = ("certificate verify failed: IP address mismatch, certificate is not valid "
              "for '127.0.0.1'")
HAS_EXPIRED = "certificate verify failed: certificate has expired"
PLAIN_TO_TLS = "The plain HTTP request was sent to HTTPS port"  # nginx's 400 page says


@dataclass(frozen=True)
class Site:
    """The module's nginx: the port of each server block (``http`` and those of
    :data:`CERTIFIED`), the CA that signed the certificates, and each certificate as
    made (DER), by server block."""

    ports: dict[str, int]
    ca_pem: str
    certificates: dict[str, bytes]

    def expires(self, server: str) -> float:
        """The ``notAfter`` of ``server``'s certificate in seconds since the epoch, read
        from the certificate here rather than trusted to the probe's reading of it."""
        certificate = x509.load_der_x509_certificate(self.certificates[server])
        return certificate.not_valid_after_utc.timestamp()


@dataclass(frozen=True)
class Case:
    """A location, the target that probes it, and how that probe must end."""

    name: str
    path: str
    outcome: str
    status: int | None  # the HTTP status the result carries (None: no head was decided)
    expect: int = 200
    contains: str | None = None
    kind: str = "http"  # what the probe speaks: http, or https
    server: str = "http"  # the server block it speaks to (a key of Site.ports)
    trust: str = "ca"  # what an https probe trusts: "ca" (the module's), "system", "insecure"
    error: str | None = None  # the one line a failed probe gives, where the case is about it

    def target(self, site: Site) -> Target:
        make = Target.https if self.kind == "https" else Target.http
        return make("127.0.0.1", site.ports[self.server], self.path, expect=self.expect,
                    contains=self.contains)

    def tls(self, site: Site) -> TlsConfig:
        """The configuration the probe is given (an http probe has no use for it)."""
        if self.trust == "system":
            return TlsConfig()
        if self.trust == "insecure":
            return TlsConfig(insecure=True)
        return TlsConfig(ca_pem=site.ca_pem)

    @property
    def deadline(self) -> float:
        return DRIP_S if self.outcome == "timeout" else ANSWER_S

    def cert_expires(self, site: Site) -> float | None:
        """What the result says of the certificate: its ``notAfter`` once the handshake
        is done, however the probe then ends (no case here has a deadline fall
        mid-handshake), and nothing when the handshake failed or there was none."""
        if self.kind == "https" and self.outcome != "tls_error":
            return site.expires(self.server)
        return None


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


def over_tls(case: Case) -> Case:
    """``case``, asked of the https server, which has the same locations."""
    return replace(case, name=f"https {case.name}", kind="https", server="https")


TLS_CASES = [
    *(over_tls(case) for case in CASES if case.name in (
        "ok", "missing", "chunked", "over the cap", "over the cap, chunked", "drip")),
    Case("https, CA not trusted", "/ok", "tls_error", None, kind="https", server="https",
         trust="system", error=UNKNOWN_CA),
    Case("https, CA not trusted, insecure", "/ok", "ok", 200, kind="https", server="https",
         trust="insecure"),
    Case("https, another name", "/ok", "tls_error", None, kind="https", server="other-name",
         error=WRONG_NAME),
    Case("https, another name, insecure", "/ok", "ok", 200, kind="https", server="other-name",
         trust="insecure"),
    Case("https, expired", "/ok", "tls_error", None, kind="https", server="expired",
         error=HAS_EXPIRED),
    Case("https, expired, insecure", "/ok", "ok", 200, kind="https", server="expired",
         trust="insecure"),
    Case("http to the https port", "/ok", "bad_status", 400, server="https"),
    Case("https to the http port", "/ok", "tls_error", None, kind="https", server="http",
         error="wrong version number"),
]
ALL_CASES = CASES + TLS_CASES
CASE_IDS = [case.name for case in ALL_CASES]


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


def certify(ca: trustme.CA, folder: Path) -> dict[str, trustme.LeafCert]:
    """A certificate for each server block of :data:`CERTIFIED`, its PEM files written
    into ``folder`` as ``NAME.crt`` (the chain) and ``NAME.key``."""
    leaves = {server: ca.issue_cert(name, not_after=EXPIRED if server == "expired" else None)
              for server, name in CERTIFIED.items()}
    for server, leaf in leaves.items():
        (folder / f"{server}.crt").write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(folder / f"{server}.key"))
    return leaves


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """nginx serving :func:`locations` on a plain port and on each TLS port, for the
    whole module.

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
    ca = trustme.CA()
    leaves = certify(ca, prefix)
    names = ["http", *CERTIFIED]
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        served = locations(www, dead.getsockname()[1])
        servers = tuple(
            Server(served, None if name == "http" else
                   TlsFiles(prefix / f"{name}.crt", prefix / f"{name}.key"))
            for name in names)
        with Nginx(nginx_binary, prefix, servers) as nginx:
            yield Site(dict(zip(names, nginx.ports, strict=True)),
                       ca.cert_pem.bytes().decode(),
                       {server: ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
                        for server, leaf in leaves.items()})


@pytest.fixture(scope="module")
def port(site: Site) -> int:
    """The plain HTTP port."""
    return site.ports["http"]


def run(rt: Runtime, scenario: Any, *args: Any) -> Any:
    """``rt.run``, trio on the real clock: real sockets and a mock clock do not mix."""
    return rt.run(scenario, *args, mock_clock=False)


def assert_ended_as_stated(result: ProbeResult, case: Case, deadline: float,
                           cert_expires: float | None) -> None:
    assert (result.outcome, result.status) == (case.outcome, case.status), result
    assert (result.error is None) == (case.outcome == "ok"), result
    if case.error is not None:
        assert result.error == case.error, result
    assert result.cert_expires == cert_expires, result
    assert result.latency is not None and result.latency < LATE * deadline, result


# -- nginx says what the cases assume -------------------------------------------------------


def get(port: int, path: str, trusting: str | None = None,
        ) -> tuple[http.client.HTTPResponse, bytes]:
    """The answer to the probe's request (HTTP/1.1, ``Connection: close``), de-chunked;
    over TLS if ``trusting`` is a CA (PEM) to verify the server's certificate with."""
    connection = (http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_S)
                  if trusting is None else
                  http.client.HTTPSConnection("127.0.0.1", port, timeout=ANSWER_S,
                                              context=ssl.create_default_context(
                                                  cadata=trusting)))
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("server", ["http", "https"])
@pytest.mark.parametrize(("path", "chunked", "size"), [
    ("/chunked", True, len(CHUNKED_BODY)),
    ("/at-cap", False, BODY_CAP),
    ("/at-cap-chunked", True, BODY_CAP),
    ("/over-cap", False, 2 * BODY_CAP),
    ("/over-cap-chunked", True, 2 * BODY_CAP),
])
def test_the_bodies_come_as_the_cases_assume(site: Site, server: str, path: str,
                                              chunked: bool, size: int) -> None:
    trusting = site.ca_pem if server == "https" else None
    response, body = get(site.ports[server], path, trusting)
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


@pytest.mark.parametrize("server", list(CERTIFIED))
def test_each_tls_port_presents_the_certificate_made_for_it(site: Site, server: str) -> None:
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE  # the expired one and the misnamed one too
    with (socket.create_connection(("127.0.0.1", site.ports[server]), timeout=ANSWER_S) as raw,
          unverified.wrap_socket(raw) as sock):
        assert sock.getpeercert(binary_form=True) == site.certificates[server]
    # Expired as the case says, or not: so the one failure of each is its name or its CA.
    assert (site.expires(server) < time.time()) == (server == "expired")
    if server == "expired":
        assert site.expires(server) == EXPIRED.timestamp()


def test_plain_http_to_the_https_port_is_answered_with_a_400(site: Site) -> None:
    response, body = get(site.ports["https"], "/ok")
    assert response.status == 400
    assert PLAIN_TO_TLS.encode() in body


# -- the probe, in every runtime ------------------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_a_probe_ends_as_the_location_deserves(rt: Runtime, site: Site, case: Case) -> None:
    target = case.target(site)
    tls = case.tls(site)

    async def scenario(rt: Runtime) -> ProbeResult:
        with background(rt).with_timeout(case.deadline) as ctx:
            result: ProbeResult = await rt.call(rt.module("probe").probe, ctx, target,
                                                tls=tls)
            return result

    result = run(rt, scenario)
    assert (result.target, result.runtime) == (target, rt.name)
    assert_ended_as_stated(result, case, case.deadline, case.cert_expires(site))


# A scan has one TlsConfig for all its targets: the one that trusts the module's CA.
SCANNED = [case for case in ALL_CASES if case.trust == "ca"]


def test_a_scan_of_every_location(rt: Runtime, site: Site) -> None:
    targets = [case.target(site) for case in SCANNED]
    tls = TlsConfig(ca_pem=site.ca_pem)

    async def scenario(rt: Runtime) -> list[ProbeResult]:
        results: list[ProbeResult] = await rt.call(
            rt.module("probe").scan, targets, workers=WORKERS, timeout=SCAN_TIMEOUT_S,
            tls=tls)
        return results

    results = run(rt, scenario)
    assert [r.target for r in results] == targets  # each exactly once, in input order
    assert {r.runtime for r in results} == {rt.name}
    for result, case in zip(results, SCANNED, strict=True):
        assert_ended_as_stated(result, case, SCAN_TIMEOUT_S, case.cert_expires(site))


def test_a_scan_keeps_the_expiry_of_a_probe_that_timed_out(rt: Runtime, site: Site) -> None:
    # ProbeResult's promise: an expiry seen in the handshake is kept however the probe
    # then ends. A lone probe keeps it (https drip, above); so must a scan.
    drip = over_tls(next(case for case in CASES if case.outcome == "timeout"))
    target = drip.target(site)
    tls = TlsConfig(ca_pem=site.ca_pem)

    async def scenario(rt: Runtime) -> list[ProbeResult]:
        results: list[ProbeResult] = await rt.call(
            rt.module("probe").scan, [target], workers=1, timeout=DRIP_S, tls=tls)
        return results

    [result] = run(rt, scenario)
    assert result.outcome == "timeout", result
    assert result.cert_expires == drip.cert_expires(site), result

"""The runtime-neutral core of ``patterns.probe``: targets, the sans-IO exchanges, the
mapping from errors to outcomes, and the two yardsticks of a scan.

The contract is the one the docstrings of :mod:`patterns.probe` and its modules
(``targets``, ``http``, ``icmp``, ``schedule``) state. Nothing here needs a runtime, so
there is no ``rt`` fixture: the HTTP exchange is fed byte streams (whole, split at
drawn points, byte by byte), the ICMP exchange is fed packets built here, and the only
network traffic is one ICMP echo to 127.0.0.1, where this machine allows it.
"""

from __future__ import annotations

import doctest
import errno
import itertools
import socket
import struct
import subprocess
import sys
import time
import typing
from dataclasses import FrozenInstanceError
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import patterns.probe
from patterns.context import DeadlineExceeded
from patterns.probe import (
    BODY_CAP,
    HEALTHY,
    OUTCOMES,
    Outcome,
    ProbeResult,
    Target,
    TargetError,
    Verdict,
    ideal_makespan,
    lower_bound,
    outcome_for,
    parse_targets,
    schedule,
    targets,
)
from patterns.probe.http import HEADER_CAP, HttpExchange
from patterns.probe.icmp import EchoExchange, IcmpNotPermitted, checksum, icmp_socket

# --- the package ------------------------------------------------------------------------


def test_import_is_light() -> None:
    # A fresh interpreter: this one has imported trio and asyncio for other suites.
    code = ("import sys, patterns.probe; "
            "print(sorted({'trio', 'asyncio', 'anyio', 'h11'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_outcomes_are_the_contracts_eleven() -> None:
    assert set(OUTCOMES) == {"ok", "refused", "timeout", "reset", "bad_status",
                             "content_mismatch", "too_large", "protocol_error", "dns_error",
                             "unreachable", "tls_error"}
    assert len(OUTCOMES) == 11
    assert typing.get_args(Outcome) == OUTCOMES
    assert OUTCOMES[0] == HEALTHY == "ok"
    assert BODY_CAP == 1 << 20


def test_runtime_modules_are_lazy_attributes() -> None:
    with pytest.raises(AttributeError, match="on_fortran"):
        _ = patterns.probe.on_fortran


def test_probe_result() -> None:
    t = Target.tcp("localhost", 22)
    ok = ProbeResult(t, "ok", None, 0.01, None, "threads")
    assert ok.healthy
    bad = ProbeResult(t, "refused", None, 0.001, "Connection refused", "trio")
    assert not bad.healthy
    with pytest.raises(ValueError, match="'fine' is not one of"):
        ProbeResult(t, "fine", None, None, None, "asyncio")  # type: ignore[arg-type]
    with pytest.raises(FrozenInstanceError):
        ok.outcome = "reset"  # type: ignore[misc]
    assert ok == ProbeResult(t, "ok", None, 0.01, None, "threads")
    assert len({ok, bad}) == 2


# --- targets ----------------------------------------------------------------------------

hostnames = st.from_regex(r"[A-Za-z0-9._-]{1,24}", fullmatch=True)
hosts = hostnames | st.ip_addresses(v=4).map(str) | st.ip_addresses(v=6).map(str)
ports = st.integers(1, 65535)
paths = st.from_regex(r"/[\x21-\x22\x24-\x7e]{0,24}", fullmatch=True)
tricky_text = st.text(alphabet=' "#=\\\'\t\n\r\x00\x85\u2028\xa0é€😀aZ', max_size=12)
contains_texts = st.none() | st.text(max_size=24) | tricky_text

target_strategy = st.one_of(
    st.builds(Target.tcp, hosts, ports),
    st.builds(Target.icmp, hosts),
    st.builds(Target.http, hosts, ports, paths, expect=st.integers(100, 599),
              contains=contains_texts),
    st.builds(Target.https, hosts, ports, paths, expect=st.integers(100, 599),
              contains=contains_texts),
)


@given(target_strategy)
def test_a_target_is_its_own_hosts_file_line(t: Target) -> None:
    line = str(t)
    assert "\n" not in line
    assert parse_targets(line) == [t]
    assert parse_targets(f"  {line}   # a comment\n") == [t]
    assert hash(parse_targets(line)[0]) == hash(t)


@given(st.lists(target_strategy, max_size=8))
def test_a_hosts_file_round_trips(ts: list[Target]) -> None:
    text = "# generated\n\n" + "\n".join(str(t) for t in ts) + "\n"
    assert parse_targets(text) == ts


def test_the_hosts_file_syntax() -> None:
    text = """\
# the web tier
http://10.0.0.7:8080/healthz expect=204
HTTP://[::1]:8080 contains="Welcome, friend"   # trailing comments too

\ttcp://db.internal:5432\r
icmp://10.0.0.1
http://example.com contains=a=b#c
http://h/q?x=1&y=2 contains="# \\"quoted\\" \\\\ \\x41\\u00e9\\U0001F600\\n" expect=301
"""
    assert parse_targets(text) == [
        Target("http", "10.0.0.7", 8080, "/healthz", 204),
        Target("http", "::1", 8080, "/", 200, "Welcome, friend"),
        Target("tcp", "db.internal", 5432),
        Target("icmp", "10.0.0.1"),
        Target("http", "example.com", 80, "/", 200, "a=b"),
        Target.http("h", 80, "/q?x=1&y=2", expect=301, contains='# "quoted" \\ Aé😀\n'),
    ]
    assert parse_targets("") == []
    assert parse_targets("\n  \n# only comments\n") == []


def test_defaults_and_rendering() -> None:
    assert Target.http("h") == Target("http", "h", 80, "/", 200, None)
    assert str(Target.http("h")) == "http://h:80/"
    assert str(Target.http("::1", 8080, "/x", expect=204)) == "http://[::1]:8080/x expect=204"
    assert str(Target.tcp("fe80::1%eth0", 22)) == "tcp://[fe80::1%eth0]:22"
    assert str(Target.icmp("10.0.0.1")) == "icmp://10.0.0.1"
    assert Target.https("h") == Target("https", "h", 443, "/", 200, None)
    assert parse_targets("HTTPS://h") == [Target.https("h")]
    assert str(Target.https("h", 8443, "/x")) == "https://h:8443/x"
    assert Target.https("h").speaks_http and Target.https("h").tls
    assert Target.http("h").speaks_http and not Target.http("h").tls
    # The quoting rule: a plain word as is, anything else quoted with escapes.
    assert str(Target.http("h", contains="Welcome")).endswith(" contains=Welcome")
    assert str(Target.http("h", contains="")).endswith(' contains=""')
    assert str(Target.http("h", contains='a "b"\\#\t\x00é')).endswith(
        ' contains="a \\"b\\"\\\\#\\t\\x00é"')
    assert str(Target.http("h", contains="\u2028\U000e0001")).endswith(
        ' contains="\\u2028\\U000e0001"')


@pytest.mark.parametrize(("line", "reason"), [
    ("tcp://h:70000", "port 70000 is out of range (1-65535)"),
    ("tcp://h:0", "port 0 is out of range (1-65535)"),
    ("tcp://h:ssh", "port 'ssh' is not a number"),
    ("tcp://h", "tcp target needs a port: tcp://h:PORT"),
    ("tcp://h:", "port '' is not a number"),
    ("ftp://h:21", "unknown scheme 'ftp://' (use tcp://, http://, https:// or icmp://)"),
    ("example.com", "expected a target like tcp://host:port"),
    ("\x01http://h", "unknown scheme '\\x01http://'"),  # urlsplit would drop the \x01
    ("icmp://h:7", "icmp targets have no port: icmp://h"),
    ("icmp://h/x", "icmp targets have no path"),
    ("tcp://h:80/", "tcp targets have no path: tcp://h:80"),
    ("http://h expect=700", "expect=700 is not an HTTP status (100-599)"),
    ("http://h expect=99", "expect=99 is not an HTTP status (100-599)"),
    ("http://h expect=ok", "expect='ok' is not a number"),
    ("tcp://h:1 expect=200", "expect= applies only to http and https targets, not tcp"),
    ("icmp://h contains=x", "contains= applies only to http and https targets, not icmp"),
    ("http://h timeout=3", "unknown option 'timeout' (options are expect= and contains=)"),
    ("http://h expect=200 expect=201", "duplicate option expect="),
    ("http://h contains=a contains=b", "duplicate option contains="),
    ("http://h stray", "expected NAME=VALUE after the URL, not 'stray'"),
    ("http://h =x", "option '=x' has no name"),
    ("tcp://:80", "empty host"),
    ("http://[]:80", "empty host"),
    ("tcp://user@h:80", "host 'user@h' may hold only A-Z a-z 0-9 . - _"),
    ("tcp://bücher.de:80", "write an international name in its xn-- form"),
    ("tcp://::1:80", "an IPv6 address goes in brackets, as in tcp://[::1]:8080"),
    ("tcp://[::1:80", "missing ']' after the IPv6 address"),
    ("tcp://a]b:80", "host 'a]b' may hold only A-Z a-z 0-9 . - _"),
    ("tcp://[::1]80", "unexpected '80' after [::1]"),
    ("tcp://[nope]:80", "'nope' is not an IPv6 address"),
    ("tcp://[fe80::1%a/b]:80", "missing ']' after the IPv6 address in '[fe80::1%a'"),
    ("http://h/a b", "expected NAME=VALUE after the URL, not 'b'"),
    ("http://h/é", "path '/é' must start with '/' and hold only visible ASCII"),
    ('http://h contains="open', 'contains="...: missing the closing quote'),
    ('http://h contains="a\\q"', "unknown escape \\q in contains="),
    ('http://h contains="\\x4"', "bad escape \\x4\" in contains=: needs 2 hex digits"),
    ('http://h contains="\\U00110000"', "not a Unicode character"),
    ('http://h contains="\\ud800"', "is not valid Unicode text"),
    ('http://h contains=a"b"', "a quote inside contains=a\"b\": quote the whole value"),
    ('http://h contains="a"b', "unexpected 'b' after the closing quote of contains="),
])
def test_a_bad_line_names_its_number_and_its_fault(line: str, reason: str) -> None:
    text = f"# hosts\ntcp://ok:1\n{line}\ntcp://also.ok:2\n"
    with pytest.raises(TargetError) as info:
        parse_targets(text)
    assert info.value.line == 3
    assert str(info.value).startswith("line 3: ")
    assert reason in info.value.reason
    assert "\n" not in str(info.value)
    with pytest.raises(TargetError) as named:
        parse_targets(text, source="hosts.txt")
    assert str(named.value) == f"hosts.txt:3: {info.value.reason}"
    assert named.value.source == "hosts.txt"


@pytest.mark.parametrize(("fields", "reason"), [
    (("udp", "h", 53), "unknown kind 'udp'"),
    (("tcp", "h"), "tcp target needs a port"),
    (("tcp", "h", True), "port True is not a number"),
    (("tcp", "h", 80, "/"), "path applies only to http and https targets, not tcp"),
    (("icmp", "h", 7), "icmp targets have no port"),
    (("http", "", 80), "empty host"),
    (("http", "[::1]", 80), "'[::1]' is not an IPv6 address"),
    (("http", "h", 80, "x"), "path 'x' must start with '/'"),
    (("http", "h", 80, "/", 1000), "expect=1000 is not an HTTP status"),
    (("http", "h", 80, "/", 200, b"x"), "contains=b'x' is not text"),
])
def test_a_bad_target_cannot_be_built(fields: tuple[Any, ...], reason: str) -> None:
    with pytest.raises(TargetError) as info:
        Target(*fields)
    assert info.value.line is None
    assert str(info.value) == info.value.reason
    assert reason in info.value.reason


def test_targets_are_hashable_values() -> None:
    a = Target.http("h", 8080, "/x", contains="y")
    assert a == Target("http", "h", 8080, "/x", 200, "y")
    assert len({a, Target("http", "h", 8080, "/x", 200, "y"), Target.tcp("h", 8080)}) == 2
    with pytest.raises(FrozenInstanceError):
        a.port = 1  # type: ignore[misc]


# --- the HTTP exchange ------------------------------------------------------------------

SITE = Target.http("web.test", 8080, "/health", contains="healthy")


def response(status: int = 200, body: bytes = b"all healthy here", *,
             chunked: bool = False, length: bool = True, extra: bytes = b"") -> bytes:
    head = f"HTTP/1.1 {status} Whatever\r\n".encode() + extra
    if chunked:
        head += b"Transfer-Encoding: chunked\r\n\r\n"
        pieces = [body[i:i + 7] for i in range(0, len(body), 7)]
        return head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    if length:
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"\r\n" + body


def run(exchange: HttpExchange, *chunks: bytes) -> tuple[Verdict, int]:
    """Feed ``chunks`` until decided; the verdict and how many chunks were needed."""
    exchange.request()
    for fed, chunk in enumerate(chunks, start=1):
        if exchange.receive(chunk):
            return exchange.verdict(), fed
    raise AssertionError("the exchange is still undecided")


def test_the_request() -> None:
    raw = HttpExchange(Target.http("::1", 8080, "/healthz?full=1")).request()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"GET /healthz?full=1 HTTP/1.1"
    headers = {k.lower(): v for k, v in (line.split(b": ", 1) for line in lines[1:])}
    assert headers[b"host"] == b"[::1]:8080"
    assert headers[b"connection"] == b"close"
    assert headers[b"user-agent"].startswith(b"patterns.probe/")
    assert body == b""
    assert b"Host: example.com\r\n" in HttpExchange(Target.http("example.com")).request()
    # The Host header names the port only where the scheme does not imply it.
    assert b"Host: example.com\r\n" in HttpExchange(Target.https("example.com")).request()
    assert b"Host: example.com:80\r\n" in HttpExchange(Target.https("example.com", 80)).request()


def test_a_healthy_answer_is_decided_without_waiting_for_the_close() -> None:
    assert run(HttpExchange(SITE), response(), b"") == (Verdict("ok", 200, None), 1)
    assert run(HttpExchange(Target.http("h", expect=204)), response(204, b"")) == (
        Verdict("ok", 204, None), 1)


def test_a_body_read_until_the_close() -> None:
    verdict, fed = run(HttpExchange(SITE), response(length=False), b"")
    assert verdict == Verdict("ok", 200, None)
    assert fed == 2


def test_a_wrong_status_is_decided_at_the_head() -> None:
    head = response(503, b"down for maintenance" * 1000).split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    verdict, fed = run(HttpExchange(SITE), head, b"never read")
    assert verdict == Verdict("bad_status", 503, "status 503, expected 200")
    assert fed == 1


def test_wrong_content() -> None:
    verdict, _ = run(HttpExchange(SITE), response(200, b"all sick here"))
    assert verdict.outcome == "content_mismatch"
    assert verdict.status == 200
    assert verdict.error == "body of 13 bytes does not contain 'healthy'"


def test_a_chunked_body_split_byte_by_byte() -> None:
    stream = response(200, b"x" * 50 + b"healthy" + b"y" * 50, chunked=True)
    verdict, fed = run(HttpExchange(SITE), *(stream[i:i + 1] for i in range(len(stream))))
    assert verdict == Verdict("ok", 200, None)
    assert fed == len(stream)  # decided on the last byte of the terminating chunk


def test_contains_is_matched_as_utf8() -> None:
    t = Target.http("h", contains="grüße 😀")
    assert run(HttpExchange(t), response(body="viele grüße 😀!".encode()))[0].outcome == "ok"


@given(st.sampled_from([
    (response(), "ok"),
    (response(chunked=True), "ok"),
    (response(length=False), "ok"),
    (response(404), "bad_status"),
    (response(body=b"nope", chunked=True), "content_mismatch"),
    (response(body=b"healthy" * 100), "too_large"),
    (response(extra=b"not a header\r\n"), "protocol_error"),
    (response()[:-2], "protocol_error"),
]), st.lists(st.integers(0, 800), max_size=10))
def test_the_verdict_does_not_depend_on_how_bytes_arrive(
        case: tuple[bytes, str], cuts: list[int]) -> None:
    stream, outcome = case
    points = sorted({min(cut, len(stream)) for cut in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(points)] + [b""]
    whole = run(HttpExchange(SITE, body_cap=500), stream, b"")[0]
    assert whole.outcome == outcome
    assert run(HttpExchange(SITE, body_cap=500), *chunks)[0] == whole


def test_informational_responses_are_skipped() -> None:
    stream = b"HTTP/1.1 100 Continue\r\n\r\n" + response()
    assert run(HttpExchange(SITE), stream)[0] == Verdict("ok", 200, None)


def test_a_body_past_the_cap_is_decided_as_it_passes() -> None:
    t = Target.http("h")
    chunk = 64 * 1024
    stream = response(body=b"z" * (2 * BODY_CAP), length=False)
    verdict, fed = run(HttpExchange(t), *(stream[i:i + chunk]
                                          for i in range(0, len(stream), chunk)))
    assert verdict == Verdict("too_large", 200, f"body exceeds {BODY_CAP} bytes")
    assert fed == BODY_CAP // chunk + 1  # the chunk that passes the cap, not one more
    # Exactly the cap is fine; a Content-Length past it is decided at the head.
    assert run(HttpExchange(t, body_cap=10), response(body=b"z" * 10))[0].outcome == "ok"
    head = response(body=b"z" * 11).split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert run(HttpExchange(t, body_cap=10), head)[0] == Verdict(
        "too_large", 200, "Content-Length 11 exceeds 10 bytes")


def test_a_wrong_status_wins_over_a_large_body() -> None:
    stream = response(500, b"z" * 100)
    assert run(HttpExchange(SITE, body_cap=10), stream)[0].outcome == "bad_status"


def test_garbage_is_a_protocol_error() -> None:
    verdict, _ = run(HttpExchange(SITE), b"\x00\xff\x13 not http\r\n\r\n")
    assert verdict.outcome == "protocol_error"
    assert verdict.status is None
    assert verdict.error is not None and "illegal status line" in verdict.error
    verdict, _ = run(HttpExchange(SITE), b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
    assert verdict.outcome == "protocol_error"


def test_an_early_close_is_a_protocol_error() -> None:
    assert run(HttpExchange(SITE), b"")[0] == Verdict(
        "protocol_error", None, "connection closed before a complete response head")
    assert run(HttpExchange(SITE), b"HTTP/1.1 200 OK\r\nConte", b"")[0] == Verdict(
        "protocol_error", None, "connection closed before a complete response head")
    verdict, _ = run(HttpExchange(SITE), response()[:-3], b"")
    assert verdict.outcome == "protocol_error"
    assert verdict.status == 200
    assert verdict.error is not None and "without sending complete message body" in verdict.error
    verdict, _ = run(HttpExchange(SITE), response(chunked=True)[:-5], b"")
    assert verdict.outcome == "protocol_error"


def test_headers_past_the_cap() -> None:
    big = b"X-Padding: " + b"p" * 2 * HEADER_CAP + b"\r\n"
    # Dripped in: h11 gives up once the unfinished head passes the cap.
    stream = response(extra=big)
    verdict, fed = run(HttpExchange(SITE), *(stream[i:i + 1000]
                                             for i in range(0, len(stream), 1000)))
    assert verdict == Verdict("protocol_error", None,
                              f"response head exceeds {HEADER_CAP} bytes")
    assert fed == HEADER_CAP // 1000 + 1
    # In one piece: measured once it is parsed (the status line was read by then).
    verdict, _ = run(HttpExchange(SITE), stream)
    assert verdict.outcome == "protocol_error"
    assert verdict.status == 200
    assert verdict.error is not None
    assert f"more than the cap of {HEADER_CAP}" in verdict.error
    # Just under the cap is fine.
    fits = b"X-Padding: " + b"p" * (HEADER_CAP - 200) + b"\r\n"
    assert run(HttpExchange(SITE), response(extra=fits))[0].outcome == "ok"


def test_a_decided_exchange_ignores_the_rest() -> None:
    exchange = HttpExchange(SITE)
    exchange.request()
    assert not exchange.decided
    with pytest.raises(RuntimeError, match="not decided"):
        exchange.verdict()
    assert exchange.receive(response(418))
    assert exchange.receive(b"\x00 more garbage")
    assert exchange.receive(b"")
    assert exchange.verdict() == Verdict("bad_status", 418, "status 418, expected 200")


def test_only_http_targets() -> None:
    with pytest.raises(ValueError, match="needs an http or https target"):
        HttpExchange(Target.tcp("h", 80))


# --- errors to outcomes -----------------------------------------------------------------


class NotAnOSError(Exception):
    pass


@pytest.mark.parametrize(("exc", "expected"), [
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
     ("refused", "Connection refused")),
    (OSError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 9)"),
     ("refused", "Connect call failed ('127.0.0.1', 9)")),
    (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
     ("reset", "Connection reset by peer")),
    (BrokenPipeError(errno.EPIPE, "Broken pipe"), ("reset", "Broken pipe")),
    (ConnectionAbortedError(errno.ECONNABORTED, "aborted"), ("reset", "aborted")),
    (TimeoutError(), ("timeout", "no answer before the deadline")),
    (TimeoutError("timed out"), ("timeout", "timed out")),  # also socket.timeout's class
    (DeadlineExceeded("context deadline exceeded"), ("timeout", "context deadline exceeded")),
    (OSError(errno.ETIMEDOUT, "Connection timed out"), ("timeout", "Connection timed out")),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
     ("dns_error", "Name or service not known")),
    (OSError(errno.ENETUNREACH, "Network is unreachable"),
     ("unreachable", "Network is unreachable")),
    (OSError(errno.EHOSTUNREACH, "No route to host"), ("unreachable", "No route to host")),
    (IcmpNotPermitted("ICMP not permitted here: because"),
     ("protocol_error", "ICMP not permitted here: because")),
    (OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"),
     ("protocol_error", "Cannot assign requested address")),
    (NotAnOSError("surprise"), ("protocol_error", "NotAnOSError: surprise")),
    (KeyError("k"), ("protocol_error", "KeyError: 'k'")),
    (ValueError(), ("protocol_error", "ValueError")),
    (ExceptionGroup("one", [ConnectionResetError(errno.ECONNRESET, "reset")]),
     ("reset", "reset")),
    (ExceptionGroup("two", [ValueError("a"), ValueError("b")]),
     ("protocol_error", "ExceptionGroup: two (2 sub-exceptions)")),
])
def test_outcome_for(exc: BaseException, expected: tuple[str, str]) -> None:
    assert outcome_for(exc) == expected


def test_a_real_refused_connection() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]  # bound, never listening: connecting is refused
        with socket.socket() as client, pytest.raises(OSError) as info:
            client.connect(("127.0.0.1", port))
    assert outcome_for(info.value) == ("refused", "Connection refused")


# --- ICMP -------------------------------------------------------------------------------

IP_HEADER = bytes([0x45]) + bytes(19)  # IPv4, 20-byte header; we never read the rest


def icmp_packet(kind: int, ident: int, seq: int, payload: bytes, code: int = 0) -> bytes:
    unsummed = struct.pack("!BBHHH", kind, code, 0, ident, seq) + payload
    return struct.pack("!BBHHH", kind, code, checksum(unsummed), ident, seq) + payload


def test_checksum() -> None:
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D  # RFC 1071's example
    assert checksum(b"\x01") == ~0x0100 & 0xFFFF  # an odd length is padded with a zero
    request = EchoExchange(raw=True, ident=0x1234, seq=7, payload=b"abc").request()
    assert request[:2] == b"\x08\x00"
    assert struct.unpack("!HH", request[4:8]) == (0x1234, 7)
    assert request[8:] == b"abc"
    assert checksum(request) == 0


def test_a_raw_socket_picks_our_reply_out() -> None:
    exchange = EchoExchange(raw=True, ident=77, seq=3, payload=b"p")
    others = [
        IP_HEADER + exchange.request(),  # our own request, looped back to a raw socket
        IP_HEADER + icmp_packet(0, 78, 3, b"p"),  # another program's reply
        IP_HEADER + icmp_packet(0, 77, 4, b"p"),  # another sequence number
        IP_HEADER + icmp_packet(0, 77, 3, b"q"),  # another payload
        IP_HEADER + icmp_packet(0, 77, 3, b"p")[:-1] + b"x",  # corrupt
        IP_HEADER + b"\x00\x00",  # truncated
        b"",
    ]
    for packet in others:
        assert not exchange.receive(packet)
    with pytest.raises(RuntimeError, match="not decided"):
        exchange.verdict()
    assert exchange.receive(IP_HEADER + icmp_packet(0, 77, 3, b"p"))
    assert exchange.verdict() == Verdict("ok", None, None)


def test_a_ping_socket_reply_has_no_ip_header_and_the_kernels_ident() -> None:
    exchange = EchoExchange(raw=False, ident=1, seq=9, payload=b"p")
    assert exchange.receive(icmp_packet(0, 4242, 9, b"p"))
    assert exchange.verdict().outcome == "ok"


def test_an_icmp_error_about_our_request_is_unreachable() -> None:
    exchange = EchoExchange(raw=True, ident=5, seq=1, payload=b"p")
    someone_elses = IP_HEADER + icmp_packet(8, 6, 1, b"p")
    assert not exchange.receive(IP_HEADER + icmp_packet(3, 0, 0, someone_elses, code=1))
    ours = IP_HEADER + exchange.request()
    assert exchange.receive(IP_HEADER + icmp_packet(3, 0, 0, ours, code=1))
    assert exchange.verdict() == Verdict(
        "unreachable", None, "ICMP destination unreachable (code 1)")


def test_icmpv6() -> None:
    exchange = EchoExchange(socket.AF_INET6, raw=True, ident=5, seq=2, payload=b"p")
    assert exchange.request()[0] == 128
    assert not exchange.receive(icmp_packet(128, 5, 2, b"p"))  # our request
    assert exchange.receive(icmp_packet(129, 5, 2, b"p"))
    assert exchange.verdict().outcome == "ok"
    failed = EchoExchange(socket.AF_INET6, raw=True, ident=5, seq=2, payload=b"p")
    quoted = bytes(40) + failed.request()
    assert failed.receive(icmp_packet(3, 0, 0, quoted))
    assert failed.verdict() == Verdict("unreachable", None, "ICMP time exceeded (code 0)")


def test_default_idents_and_payloads_differ() -> None:
    a, b = EchoExchange(raw=True), EchoExchange(raw=True)
    assert (a.ident, a.payload) != (b.ident, b.payload)
    with pytest.raises(ValueError, match="AF_INET or AF_INET6"):
        EchoExchange(socket.AF_UNIX, raw=True)


def test_icmp_socket_prefers_a_ping_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    opened = []

    def fake_socket(family: int, kind: int, proto: int) -> object:
        opened.append(kind)
        return "socket"

    monkeypatch.setattr(socket, "socket", fake_socket)
    assert icmp_socket() == "socket"  # type: ignore[comparison-overlap]
    assert opened == [socket.SOCK_DGRAM]


def test_icmp_not_permitted_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(family: int, kind: int, proto: int) -> object:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(socket, "socket", denied)
    with pytest.raises(IcmpNotPermitted) as info:
        icmp_socket()
    assert str(info.value).startswith("ICMP not permitted here: net.ipv4.ping_group_range "
                                      "excludes this group")
    assert str(info.value).endswith("and raw sockets need CAP_NET_RAW")
    outcome, text = outcome_for(info.value)
    assert (outcome, text) == ("protocol_error", str(info.value))


def test_a_real_echo_to_loopback() -> None:
    try:
        sock = icmp_socket()
    except IcmpNotPermitted as exc:
        pytest.skip(str(exc))
    with sock:
        sock.settimeout(2.0)
        exchange = EchoExchange.for_socket(sock)
        sock.sendto(exchange.request(), ("127.0.0.1", 0))
        deadline = time.monotonic() + 2.0
        while not exchange.receive(sock.recv(4096)):
            assert time.monotonic() < deadline, "no echo reply from 127.0.0.1"
    assert exchange.verdict() == Verdict("ok", None, None)


# --- the yardsticks ---------------------------------------------------------------------

# Multiples of 1/64 s: sums are exact in binary floating point, so no tolerance is needed.
costs_strategy = st.lists(st.integers(0, 64 * 30).map(lambda n: n / 64), max_size=40)


@given(costs_strategy, st.integers(1, 50))
def test_the_yardsticks_bracket_each_other(costs: list[float], workers: int) -> None:
    ideal = ideal_makespan(costs, workers)
    assert lower_bound(costs, workers) <= ideal <= sum(costs)
    if workers >= len(costs):
        assert ideal == max(costs, default=0.0)
    assert ideal_makespan(costs, 1) == sum(costs)


def test_fifo_order_costs_a_timeout() -> None:
    assert ideal_makespan([1, 1, 1, 1, 5], 2) == 7.0
    assert ideal_makespan([5, 1, 1, 1, 1], 2) == 5.0
    assert lower_bound([1, 1, 1, 1, 5], 2) == 5.0
    assert lower_bound([1, 1, 1, 1], 2) == 2.0
    assert ideal_makespan([], 3) == lower_bound([], 3) == 0.0


@pytest.mark.parametrize("fn", [ideal_makespan, lower_bound])
def test_the_yardsticks_refuse_nonsense(fn: Any) -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        fn([1.0], 0)
    with pytest.raises(ValueError, match="0 or more"):
        fn([1.0, -1.0], 2)
    with pytest.raises(ValueError, match="0 or more"):
        fn([float("nan")], 2)


@pytest.mark.parametrize("module", [targets, schedule])
def test_the_docstring_examples(module: Any) -> None:
    failed, tried = doctest.testmod(module)
    assert tried > 0
    assert failed == 0

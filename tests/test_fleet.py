"""Tests for ``patterns.probe.fleet``: the simulated fleet the probe workload runs against.

The fleet is runtime-neutral infrastructure, so these are plain pytest tests, probing it
with blocking sockets. The contract is the one the docstring of
:mod:`patterns.probe.fleet` states: ``Fleet(hosts, profile, seed)`` serves every host
from a separate process on loopback (on Linux each on an address of its own), exposes
``targets``, ``truth`` and ``latency``, gives the same fleet for the same seed, and
never outlives its parent. Each host must do what its truth says to a probe whose
timeout is at least 1 s; every test closes what it opens (the autouse fixture in
``conftest.py`` fails a test that leaks a socket or a thread).
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from patterns.probe import BODY_CAP, OUTCOMES, Target, cli, outcome_for
from patterns.probe.fleet import (
    BAD_CERTIFICATE,
    CERT_VALID_S,
    DELAYS_S,
    IDEAL_DELAY_S,
    PROFILES,
    ROLES,
    Fleet,
    measure_capacity,
    plan,
    scan_demand,
)
from patterns.probe.http import HttpExchange

LINUX = sys.platform.startswith("linux")
PROBE_TIMEOUT_S = 1.0  # the least timeout the fleet's truth holds for
GONE_WITHIN_S = 3.0  # how soon a fleet's process must exit once its parent is gone


def probe(target: Target, timeout: float = PROBE_TIMEOUT_S, *,
          ca_pem: str | None = None) -> str:
    """A probe on blocking sockets: one deadline for the whole exchange. An https
    target gets ``ssl``'s own socket, trusting ``ca_pem``: not the library's TLS, so
    that the fleet is checked against something else than the probe under test."""
    deadline = time.monotonic() + timeout
    try:
        with contextlib.ExitStack() as stack:
            sock = stack.enter_context(
                socket.create_connection((target.host, target.port), timeout=timeout))
            if target.kind == "tcp":
                return "ok"
            if target.kind == "https":  # the handshake gets the socket's timeout: a stall is one
                context = ssl.create_default_context(cadata=ca_pem)
                sock = stack.enter_context(
                    context.wrap_socket(sock, server_hostname=target.host))
            exchange = HttpExchange(target)
            sock.sendall(exchange.request())
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "timeout"
                sock.settimeout(remaining)
                if exchange.receive(sock.recv(65536)):
                    return exchange.verdict().outcome
    except OSError as exc:  # ssl.SSLError included: tls_error
        return outcome_for(exc)[0]


def probe_all(targets: list[Target], *, ca_pem: str | None = None) -> dict[Target, str]:
    """Probe every target at once, so the hanging ones cost one timeout in all."""
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        outcomes = pool.map(lambda target: probe(target, ca_pem=ca_pem), targets)
        return dict(zip(targets, outcomes, strict=True))


# -- the plan ---------------------------------------------------------------------------


def test_same_seed_same_plan_and_a_different_seed_a_different_one() -> None:
    for profile in PROFILES:
        assert plan(100, profile, seed=7) == plan(100, profile, seed=7)
        assert plan(100, profile, seed=7) != plan(100, profile, seed=8)
    roles = [[h.role for h in plan(100, "hostile", seed)] for seed in range(3)]
    assert roles[0] != roles[1] != roles[2]  # the unhealthy hosts move around


@pytest.mark.parametrize(("profile", "expected"), [
    ("ideal", {"healthy": 100}),
    ("standard", {"healthy": 75, "refused": 5, "server_error": 10, "hanging": 5,
                  "wrong_content": 5}),
    ("hostile", {"healthy": 50, "slow_drip": 10, "oversized": 10, "garbage": 10,
                 "reset": 10, "full_backlog": 10}),
    ("tls", {"healthy": 70, "tls_ok": 10, "tls_unknown_ca": 5, "tls_expired": 5,
             "tls_wrong_name": 5, "tls_stall": 5}),
])
def test_profile_composition(profile: str, expected: dict[str, int]) -> None:
    hosts = plan(100, profile, seed=0)
    assert Counter(h.role for h in hosts) == expected
    truths: Counter[str] = Counter()
    for role, n in expected.items():
        truths[ROLES[role]] += n  # hostile: three roles end in a timeout
    assert Counter(h.truth for h in hosts) == truths
    assert all(h.truth in OUTCOMES for h in hosts)
    assert [h.index for h in hosts] == list(range(100))
    # Only healthy and refused hosts are TCP hosts: every misbehaving host speaks HTTP.
    tcp = [h for h in hosts if h.kind == "tcp"]
    assert {h.role for h in tcp} <= {"healthy", "refused"}
    assert len([h for h in tcp if h.role == "healthy"]) == (
        0 if profile == "ideal" else expected["healthy"] // 4)
    # The TLS hosts, and only they, are https hosts.
    assert {h.role for h in hosts if h.kind == "https"} == {
        role for role in expected if role.startswith("tls_")}
    assert all(h.kind == "https" for h in hosts if h.role.startswith("tls_"))
    for h in hosts:
        if h.role in ("hanging", "slow_drip", "full_backlog", "tls_stall"):
            assert h.delay == math.inf
        elif h.kind == "tcp" or h.role in ("refused", *BAD_CERTIFICATE):
            assert h.delay == 0.0  # refused, accepted, or failed at the handshake at once
        elif profile == "ideal":
            assert h.delay == IDEAL_DELAY_S
        else:
            assert DELAYS_S[0] <= h.delay <= DELAYS_S[1]
        if h.role == "wrong_content":
            assert h.contains is not None and h.contains not in h.body
        if h.role == "healthy" and h.contains is not None:
            assert h.contains in h.body


def test_every_size_has_every_role_and_at_least_half_healthy() -> None:
    for profile, shares in PROFILES.items():
        for hosts in range(max(1, 2 * len(shares)), 201):
            roles = Counter(h.role for h in plan(hosts, profile, seed=hosts))
            assert set(roles) == {"healthy", *shares}
            assert roles["healthy"] >= hosts / 2


def test_standard_delays_spread_and_stay_under_a_second() -> None:
    delays = [h.delay for h in plan(100, "standard", 0) if h.kind == "http"
              and not math.isinf(h.delay)]
    assert max(delays) < 1.0  # truth holds for any timeout of at least 1 s
    assert max(delays) > 10 * min(delays)


def test_variants_take_turns() -> None:
    hosts = plan(100, "hostile", 0)
    assert {h.variant for h in hosts if h.role == "slow_drip"} == {"head", "body"}
    assert {h.variant for h in hosts if h.role == "oversized"} == {"length", "close"}
    assert len({h.variant for h in hosts if h.role == "garbage"}) == 5


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown fleet profile 'calm'"):
        Fleet(profile="calm")
    with pytest.raises(ValueError, match="the standard profile needs 8 to"):
        Fleet(hosts=7, profile="standard")
    with pytest.raises(ValueError, match="the hostile profile needs 10 to"):
        Fleet(hosts=9, profile="hostile")
    with pytest.raises(ValueError, match="the ideal profile needs 1 to"):
        Fleet(hosts=0, profile="ideal")


# -- the running fleet ------------------------------------------------------------------


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_host_does_what_its_truth_says(profile: str) -> None:
    with Fleet(hosts=100, profile=profile, seed=0) as fleet:
        outcomes = probe_all(fleet.targets, ca_pem=fleet.ca_pem)
        wrong = {f"{t} ({fleet.roles[t]})": (outcomes[t], fleet.truth[t])
                 for t in fleet.targets if outcomes[t] != fleet.truth[t]}
        assert not wrong, f"probe outcome vs truth: {wrong}"
        kinds = {"ideal": {"http"}, "tls": {"tcp", "http", "https"}}
        assert {t.kind for t in fleet.targets} == kinds.get(profile, {"tcp", "http"})
        assert (fleet.ca_pem is not None) == (profile == "tls")
        if LINUX:  # every host on an address of its own, all on one port
            assert len({t.host for t in fleet.targets}) == 100
            assert len({t.port for t in fleet.targets}) == 1
        else:
            assert len({t.port for t in fleet.targets}) == 100


def _certificate(target: Target) -> x509.Certificate:
    """The certificate an https host presents, whatever it is (nothing verified)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((target.host, target.port), timeout=PROBE_TIMEOUT_S) as raw, \
            context.wrap_socket(raw) as sock:
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_each_tls_host_presents_the_certificate_its_role_asks_for() -> None:
    started = time.time()
    with Fleet(hosts=10, profile="tls", seed=0) as fleet:
        assert fleet.ca_pem is not None
        ca = x509.load_pem_x509_certificate(fleet.ca_pem.encode())
        https = [t for t in fleet.targets if t.kind == "https"]
        roles = {fleet.roles[t] for t in https}
        assert roles == {"tls_ok", "tls_unknown_ca", "tls_expired", "tls_wrong_name",
                         "tls_stall"}
        # Every host whose handshake can complete has its notAfter known; the stall's never does.
        assert set(fleet.cert_expires) == {t for t in https if fleet.roles[t] != "tls_stall"}
        for target, expires in fleet.cert_expires.items():
            role = fleet.roles[target]
            cert = _certificate(target)
            assert cert.not_valid_after_utc == datetime.fromtimestamp(expires, UTC), role
            names = cert.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value
            signed_by_fleet = cert.issuer == ca.subject
            assert signed_by_fleet == (role != "tls_unknown_ca"), role
            if role == "tls_wrong_name":
                assert names.get_values_for_type(x509.DNSName) == ["elsewhere.fleet.test"]
                assert not names.get_values_for_type(x509.IPAddress)
            else:
                assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == [
                    target.host], role
            if role == "tls_expired":
                assert expires < started
            else:
                assert started + CERT_VALID_S - 1 <= expires <= time.time() + CERT_VALID_S


def test_the_bad_certificates_are_fine_but_for_the_certificate() -> None:
    # Without verification the three roles whose certificate is spoiled answer like a
    # tls_ok host: the certificate is the only thing wrong with them.
    with Fleet(hosts=10, profile="tls", seed=1) as fleet:
        for target in fleet.targets:
            if fleet.roles[target] in BAD_CERTIFICATE:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                with socket.create_connection((target.host, target.port),
                                              timeout=PROBE_TIMEOUT_S) as raw, \
                        context.wrap_socket(raw) as sock:
                    exchange = HttpExchange(target)
                    sock.sendall(exchange.request())
                    while not exchange.receive(sock.recv(65536)):
                        pass
                assert exchange.verdict().outcome == "ok", fleet.roles[target]


def test_slow_drip_defeats_a_timeout_per_read() -> None:
    with Fleet(hosts=10, profile="hostile", seed=0) as fleet:
        (target,) = [t for t in fleet.targets if fleet.roles[t] == "slow_drip"]
        gaps = []
        received = 0
        with socket.create_connection((target.host, target.port), timeout=0.5) as sock:
            sock.sendall(HttpExchange(target).request())
            last = time.monotonic()
            end = last + 0.6
            while last < end:
                chunk = sock.recv(65536)  # a timeout per read (0.5 s) never fires
                assert chunk, "the slow-drip host closed the connection"
                received += len(chunk)
                now = time.monotonic()
                gaps.append(now - last)
                last = now
        assert 0 < received < 100  # not even the head, after 0.6 s
        assert max(gaps) < 0.5


def test_oversized_bodies_are_at_least_twice_the_cap() -> None:
    with Fleet(hosts=10, profile="hostile", seed=0) as fleet:
        (target,) = [t for t in fleet.targets if fleet.roles[t] == "oversized"]
        data = b""
        with socket.create_connection((target.host, target.port), timeout=2.0) as sock:
            sock.sendall(HttpExchange(target).request())
            while chunk := sock.recv(1 << 20):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert len(body) >= 2 * BODY_CAP


@pytest.mark.parametrize("profile", ["hostile", "tls"])
def test_same_seed_same_fleet(profile: str) -> None:
    # (A TLS fleet makes new keys every time: the same hosts, not the same secrets.)
    with Fleet(hosts=20, profile=profile, seed=3) as fleet:
        first = (fleet.targets, fleet.truth, fleet.latency, fleet.roles)
    with Fleet(hosts=20, profile=profile, seed=3) as fleet:
        again = (fleet.targets, fleet.truth, fleet.latency, fleet.roles)
    assert first == again
    with Fleet(hosts=20, profile=profile, seed=4) as fleet:
        other = (fleet.targets, fleet.truth, fleet.latency, fleet.roles)
    assert [first[1][t] for t in first[0]] != [other[1][t] for t in other[0]]


def test_two_fleets_at_once_do_not_meet() -> None:
    with Fleet(hosts=8, profile="standard", seed=5) as a, \
            Fleet(hosts=8, profile="standard", seed=5) as b:
        assert not set(a.targets) & set(b.targets)
        assert probe_all(a.targets + b.targets) == a.truth | b.truth


def test_fleet_is_used_while_running_and_runs_once() -> None:
    fleet = Fleet(hosts=3, profile="ideal")
    with pytest.raises(RuntimeError, match="not running"):
        _ = fleet.targets
    with fleet:
        assert len(fleet.targets) == 3
        assert all(fleet.latency[t] == IDEAL_DELAY_S for t in fleet.targets)
        assert "running" in repr(fleet)
    with pytest.raises(RuntimeError, match="not running"):
        _ = fleet.truth
    with pytest.raises(RuntimeError, match="runs once"):
        fleet.start()
    fleet.close()  # idempotent


def test_a_fleet_that_cannot_start_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: binding it fails at once.
    monkeypatch.setattr("patterns.probe.fleet._address", lambda index: "192.0.2.1")
    fleet = Fleet(hosts=3, profile="ideal")
    with pytest.raises(RuntimeError, match=r"cannot bind the fleet: .*assign"):
        fleet.start()
    assert fleet.pid is None


def test_the_command_line_lists_the_fleet(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fleet", "--list", "--hosts", "8", "--profile", "standard",
                     "--seed", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 8
    assert {line.split()[-2] for line in lines if "never" in line} == {"timeout"}
    assert any(line.startswith("tcp://127.77.0.") for line in lines) or not LINUX


def test_the_command_line_measures_the_ideal_fleet(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fleet", "--measure", "--hosts", "10", "--seconds", "0.2",
                     "--concurrency", "20"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("sustained ") and "0 failed" in first
    assert "the 2,000/s that a 100-host scan at 100 workers asks" in first


def test_the_command_line_says_in_one_line_that_the_fleet_cannot_start(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("patterns.probe.fleet._address", lambda index: "192.0.2.1")
    assert cli.main(["fleet", "--list", "--hosts", "3", "--profile", "ideal"]) == 1
    out, err = capsys.readouterr()
    assert not out
    assert len(err.splitlines()) == 1 and "the fleet did not start" in err


# -- the process ------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped by its new parent) does not."""
    if LINUX:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int) -> bool:
    """Wait for ``pid`` (not our child, so no ``waitpid``) to exit, at most GONE_WITHIN_S.

    On Linux a pidfd is an event: it turns readable when the process exits. Elsewhere
    the only way is to look again, yielding between looks."""
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return True
        try:
            return bool(select.select([fd], [], [], GONE_WITHIN_S)[0]) or not _alive(pid)
        finally:
            os.close(fd)
    limit = time.monotonic() + GONE_WITHIN_S
    while _alive(pid):
        if time.monotonic() > limit:
            return False
        time.sleep(0)
    return True


def test_the_process_ends_with_the_block() -> None:
    with Fleet(hosts=3, profile="ideal") as fleet:
        pid = fleet.pid
        assert pid is not None and _alive(pid)
    assert fleet.pid is None
    assert not _alive(pid)  # close() waited for it


HELPER = """
import sys
from patterns.probe.fleet import Fleet
fleet = Fleet(hosts=3, profile="ideal", seed=11)
fleet.start()
print(fleet.pid, flush=True)
sys.stdin.read()  # until the test kills this process
"""


def test_the_process_ends_when_its_parent_is_killed() -> None:
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [root, os.environ.get("PYTHONPATH")])))
    parent = subprocess.Popen([sys.executable, "-c", HELPER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=env)
    assert parent.stdin is not None and parent.stdout is not None
    try:
        line = parent.stdout.readline()
        assert line, "the helper parent failed to start its fleet"
        pid = int(line)
        assert _alive(pid)
    finally:
        parent.send_signal(signal.SIGKILL)  # no chance to clean up
        parent.wait()
        parent.stdin.close()
        parent.stdout.close()
    assert _wait_gone(pid), f"fleet process {pid} outlived its killed parent"


def _inet_sockets(pid: int) -> dict[str, list[tuple[str, int, str]]]:
    """The process's internet sockets, per /proc/net table: (address, port, state)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        link = os.readlink(f"/proc/{pid}/fd/{fd}")
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    tables: dict[str, list[tuple[str, int, str]]] = {}
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        with open(f"/proc/{pid}/net/{table}") as rows:
            next(rows)  # the header
            for row in rows:
                fields = row.split()
                if fields[9] not in inodes:
                    continue
                address, port = fields[1].split(":")
                if len(address) == 8:  # IPv4, little-endian hex
                    address = socket.inet_ntoa(bytes.fromhex(address)[::-1])
                tables.setdefault(table, []).append((address, int(port, 16), fields[3]))
    return tables


@pytest.mark.skipif(not LINUX, reason="reads /proc; other systems share 127.0.0.1")
@pytest.mark.parametrize("profile", ["standard", "hostile"])
def test_the_fleet_binds_only_its_own_addresses(profile: str) -> None:
    with Fleet(hosts=20, profile=profile, seed=0) as fleet:
        assert fleet.pid is not None
        tables = _inet_sockets(fleet.pid)
        assert set(tables) == {"tcp"}  # no IPv6, no UDP, no raw sockets
        assert all(t.host.startswith("127.77.") for t in fleet.targets)
        # Listeners and the fillers of full backlogs, each on a host's own address.
        assert {address for address, _, _ in tables["tcp"]} <= {t.host for t in fleet.targets}
        listening = {(address, port) for address, port, state in tables["tcp"]
                     if state == "0A"}  # TCP_LISTEN
        assert listening == {(t.host, t.port) for t in fleet.targets
                             if fleet.roles[t] != "refused"}
        # A refused host's port is bound but not listening (so /proc does not list it):
        # nobody else can take it while the fleet runs.
        for target in fleet.targets:
            if fleet.roles[target] == "refused":
                with socket.socket() as sock, pytest.raises(OSError, match="in use"):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((target.host, target.port))


def test_capacity_is_measured_and_every_request_is_served() -> None:
    """How many times a scan's demand the fleet can serve is a measurement, not a test:
    ``patterns-probe fleet --measure`` prints it, and docs/measurements.md keeps one run
    (under load from other processes the CPU ceiling moves, so no ratio is asserted)."""
    with Fleet(hosts=100, profile="ideal", seed=0) as fleet:
        capacity = measure_capacity(fleet, seconds=0.5, concurrency=200)
    assert capacity.failures == 0
    assert capacity.requests > 0
    assert scan_demand(100, IDEAL_DELAY_S) == 2000
    if capacity.ceiling is not None:
        assert capacity.ceiling > 0, capacity

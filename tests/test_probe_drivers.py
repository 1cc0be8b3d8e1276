"""Behavioural suite for the probe drivers (``patterns.probe.on_*``), in three runtimes.

The contract is the one the docstrings of :mod:`patterns.probe` and of the drivers
(``patterns.probe.on_<runtime>``) state: ``probe(ctx, target)`` ends as a
``ProbeResult`` whose outcome is what the host deserves, under one deadline for the
whole probe (a host that drips a byte at a time cannot stretch it), and
``scan(targets, *, workers, timeout)`` gives every target its result in input order
through the runtime's ``WorkerPool``. Cancellation is no outcome: a cancelled ``ctx``
raises ``Canceled`` from ``probe``, a native cancellation passes through, and a
cancelled scan returns the results that finished.

These tests talk to real sockets on loopback, mostly a simulated ``Fleet`` whose
``truth`` says how each probe must end. trio's ``MockClock`` (what ``rt.run`` uses)
jumps to the next deadline whenever every task waits, and a task waiting on a socket
waits: so trio runs here on the real clock (:func:`run`). The only name lookups are of
names under ``.invalid`` and are answered by a stub: the system resolver here would ask
a DNS server off this machine.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Literal, Self

import anyio
import pytest
import trio
from runtimes import Runtime, background

from patterns.context import Canceled
from patterns.probe import ProbeResult, Target
from patterns.probe.fleet import BAD_CERTIFICATE, Fleet
from patterns.probe.icmp import IcmpNotPermitted, icmp_socket
from patterns.probe.tls import TlsConfig

TIMEOUT_S = 1.0  # a scan's per-probe timeout: the least one the fleet's truth holds for
SLACK_S = 0.5  # how far past its deadline a probe may end (scheduling, closing)
SHORT_S = 0.25  # the deadline of a single probe of a host that never answers
ANSWER_S = 2.0  # the deadline of a single probe of a host that answers (within 0.3 s)
NEVER_S = 3600.0  # a deadline no test waits for: only a cancel ends such a probe
CANCEL_WITHIN_S = 5.0  # a cancelled scan returns long before this
FAIL_SAFE_S = 10.0  # a helper's wait that should end long before; a hang becomes a failure
NO_NATIVE_CANCEL = "threads: nothing cancels a thread from outside; its ctx is the only way in"
HTTP_STATUS = ("ok", "bad_status", "content_mismatch", "too_large")  # decided after the head


# -- helpers -----------------------------------------------------------------------------------


def run(rt: Runtime, scenario: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
    """``rt.run(scenario, *args)``, with trio on the real clock: real sockets and
    ``MockClock(autojump_threshold=0)`` do not mix (the clock jumps while a task waits
    for bytes, and every deadline passes at once). The task-leak check stays."""
    return rt.run(scenario, *args, mock_clock=False)



async def probe(rt: Runtime, ctx: Any, target: Target, **kwargs: Any) -> ProbeResult:
    result: ProbeResult = await rt.call(rt.module("probe").probe, ctx, target, **kwargs)
    return result


async def scan(rt: Runtime, targets: list[Target], **kwargs: Any) -> list[ProbeResult]:
    results: list[ProbeResult] = await rt.call(rt.module("probe").scan, targets, **kwargs)
    return results


def wrong_outcomes(fleet: Fleet, results: list[ProbeResult]) -> dict[str, tuple[str, str]]:
    """Target (and role) -> (outcome, truth), for every result that is not the truth."""
    return {f"{r.target} ({fleet.roles[r.target]})": (r.outcome, fleet.truth[r.target])
            for r in results if r.outcome != fleet.truth[r.target]}


def late(results: list[ProbeResult], timeout: float) -> dict[str, float | None]:
    """Target -> latency, for every result that ended past its deadline and the slack."""
    return {str(r.target): r.latency for r in results
            if r.latency is None or r.latency > timeout + SLACK_S}


def silent(fleet: Fleet, target: Target) -> bool:
    """Whether the host never answers (it hangs, drips or never accepts)."""
    return math.isinf(fleet.latency[target])


@pytest.fixture(scope="module")
def fleets() -> Iterator[dict[str, Fleet]]:
    """One 100-host fleet per profile these tests use, for the whole module."""
    with Fleet(hosts=100, profile="standard", seed=0) as standard, \
            Fleet(hosts=100, profile="hostile", seed=0) as hostile:
        yield {"standard": standard, "hostile": hostile}


class OneConnectionHost:
    """A host on 127.0.0.1 that takes one connection and talks to it (:meth:`converse`)
    from a thread of its own; leaving the block wakes an accept no probe came to."""

    def __init__(self, kind: Literal["http", "https"]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.target = Target(kind, "127.0.0.1", self.listener.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, name=type(self).__name__)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):  # wakes an accept() that no probe came to
            self.listener.shutdown(socket.SHUT_RDWR)
        self._thread.join()
        self.listener.close()

    def _serve(self) -> None:
        self.listener.settimeout(FAIL_SAFE_S)
        with contextlib.suppress(OSError):
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(FAIL_SAFE_S)
                self.converse(conn)

    def converse(self, conn: socket.socket) -> None:
        raise NotImplementedError


class SilentHost(OneConnectionHost):
    """An HTTP host that reads one request and never answers; ``heard`` is set once the
    request has arrived, so the probe is waiting for its answer."""

    def __init__(self) -> None:
        super().__init__("http")
        self.heard = threading.Event()

    def converse(self, conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request and (chunk := conn.recv(4096)):
            request += chunk
        self.heard.set()
        while conn.recv(4096):  # until the probe hangs up
            pass


@pytest.fixture
def silent_host() -> Iterator[SilentHost]:
    with SilentHost() as host:
        yield host


# -- the fault matrix ------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["standard", "hostile"])
def test_a_scan_finds_every_host_as_it_is(rt: Runtime, fleets: dict[str, Fleet],
                                          profile: str) -> None:
    fleet = fleets[profile]
    reported: list[ProbeResult] = []

    async def scenario(rt: Runtime) -> list[ProbeResult]:
        return await scan(rt, fleet.targets, workers=100, timeout=TIMEOUT_S,
                          on_result=reported.append)

    results = run(rt, scenario)
    assert [r.target for r in results] == fleet.targets  # input order, every target
    assert not wrong_outcomes(fleet, results), "outcome vs truth"
    # One deadline per probe: the slow drips and full backlogs end with it too.
    assert not late(results, TIMEOUT_S), "probes that ended past their deadline"
    assert {r.runtime for r in results} == {rt.name}
    assert all((r.error is None) == r.healthy for r in results)
    # on_result saw each result once, as it came (completion order, not input order).
    position = {t: i for i, t in enumerate(fleet.targets)}
    assert sorted(reported, key=lambda r: position[r.target]) == results


def test_a_scan_with_fewer_workers_than_targets(rt: Runtime,
                                                fleets: dict[str, Fleet]) -> None:
    fleet = fleets["standard"]
    targets = fleet.targets[:40]
    assert any(silent(fleet, t) for t in targets)  # a hanging host holds one worker a while

    async def scenario(rt: Runtime) -> list[ProbeResult]:
        return await scan(rt, targets, workers=5, timeout=TIMEOUT_S)

    results = run(rt, scenario)
    assert [r.target for r in results] == targets
    assert not wrong_outcomes(fleet, results)
    assert not late(results, TIMEOUT_S)


# -- single probes ---------------------------------------------------------------------------

ROLES = {"standard": ["healthy", "refused", "server_error", "wrong_content", "hanging"],
         "hostile": ["oversized", "garbage", "reset", "slow_drip", "full_backlog"]}


@pytest.mark.parametrize(("profile", "role"),
                         [(p, role) for p, roles in ROLES.items() for role in roles])
def test_a_single_probe_ends_as_its_host_deserves(rt: Runtime, fleets: dict[str, Fleet],
                                                  profile: str, role: str) -> None:
    fleet = fleets[profile]
    # One host of the role per kind (tcp, http) and variant (which garbage, which drip).
    hosts = {(h.kind, h.variant): (t, h) for t, h in zip(fleet.targets, fleet.plan,
                                                          strict=True) if h.role == role}
    deadline = SHORT_S if role in ("hanging", "slow_drip", "full_backlog") else ANSWER_S

    async def scenario(rt: Runtime) -> list[ProbeResult]:
        results = []
        for target, _ in hosts.values():
            with background(rt).with_timeout(deadline) as ctx:
                results.append(await probe(rt, ctx, target))
        return results

    results = run(rt, scenario)
    for result, (target, host) in zip(results, hosts.values(), strict=True):
        assert result.target == target
        assert result.outcome == fleet.truth[target], (host, result)
        assert result.runtime == rt.name
        assert result.latency is not None and result.latency <= deadline + SLACK_S, result
        assert (result.error is None) == (result.outcome == "ok"), result
        expected_status = host.status if (target.kind == "http"
                                          and result.outcome in HTTP_STATUS) else None
        assert result.status == expected_status, result


def test_a_name_that_does_not_resolve_is_a_dns_error(rt: Runtime,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _no_invalid_names(socket.getaddrinfo))
    targets = [Target.tcp("nowhere.invalid", 80), Target.http("nowhere.invalid"),
               Target.icmp("nowhere.invalid")]

    async def scenario(rt: Runtime) -> list[ProbeResult]:
        if rt.name == "trio":  # trio asks its own resolver, in a thread, unless told
            trio.socket.set_custom_hostname_resolver(_NoInvalidNames())
        with background(rt).with_timeout(ANSWER_S) as ctx:
            return [await probe(rt, ctx, target) for target in targets]

    results = run(rt, scenario)
    assert [(r.target, r.outcome) for r in results] == [(t, "dns_error") for t in targets]
    assert all(r.error for r in results)


_NXDOMAIN = "Name or service not known"


def _under_invalid(host: object) -> bool:
    name = host.decode() if isinstance(host, bytes) else str(host)
    return name.rstrip(".").endswith(".invalid")


def _no_invalid_names(real: Callable[..., Any]) -> Callable[..., Any]:
    """``socket.getaddrinfo`` that answers names under ``.invalid`` (RFC 6761: they never
    resolve) itself, as a resolver that knows the rule would, without asking DNS."""

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if _under_invalid(host):
            raise socket.gaierror(socket.EAI_NONAME, _NXDOMAIN)
        return real(host, *args, **kwargs)

    return getaddrinfo


class _NoInvalidNames(trio.abc.HostnameResolver):
    """trio's side of the stub: it only ever sees names, never addresses."""

    async def getaddrinfo(self, host: bytes | None, port: bytes | str | int | None,
                          family: int = 0, type: int = 0, proto: int = 0,
                          flags: int = 0) -> Any:
        assert _under_invalid(host), f"this test resolves no other name: {host!r}"
        raise socket.gaierror(socket.EAI_NONAME, _NXDOMAIN)

    async def getnameinfo(self, sockaddr: Any, flags: int) -> tuple[str, str]:
        raise NotImplementedError


def test_a_ping_to_loopback(rt: Runtime) -> None:
    try:
        icmp_socket().close()
        refusal = None
    except IcmpNotPermitted as exc:
        refusal = str(exc)

    async def scenario(rt: Runtime) -> ProbeResult:
        with background(rt).with_timeout(ANSWER_S) as ctx:
            return await probe(rt, ctx, Target.icmp("127.0.0.1"))

    result = run(rt, scenario)
    if refusal is None:
        assert (result.outcome, result.error) == ("ok", None), result
    else:
        assert (result.outcome, result.error) == ("protocol_error", refusal), result


def test_icmp_not_permitted_is_a_protocol_error_never_unreachable(
        rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    refusal = "ICMP not permitted here: net.ipv4.ping_group_range excludes this group"

    def not_permitted(family: int = socket.AF_INET) -> socket.socket:
        raise IcmpNotPermitted(refusal)

    monkeypatch.setattr(rt.module("probe"), "icmp_socket", not_permitted)

    async def scenario(rt: Runtime) -> ProbeResult:
        with background(rt).with_timeout(ANSWER_S) as ctx:
            return await probe(rt, ctx, Target.icmp("127.0.0.1"))

    result = run(rt, scenario)
    assert (result.outcome, result.status, result.error) == ("protocol_error", None, refusal)


def test_a_job_that_fails_in_the_pool_is_still_a_result(
        rt: Runtime, fleets: dict[str, Fleet], monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = fleets["standard"]
    targets = [t for t in fleet.targets if t.kind == "tcp" and fleet.truth[t] == "ok"][:5]
    module = rt.module("probe")
    real = module.probe

    def buggy(ctx: Any, target: Target, **kwargs: Any) -> Any:
        if target == targets[2]:
            raise RuntimeError("a bug in the driver")
        # A result in threads, a coroutine for the pool to await.
        return real(ctx, target, **kwargs)

    monkeypatch.setattr(module, "probe", buggy)

    async def scenario(rt: Runtime) -> list[ProbeResult]:
        return await scan(rt, targets, workers=2, timeout=TIMEOUT_S)

    results = run(rt, scenario)
    assert [r.target for r in results] == targets
    assert [r.outcome for r in results] == ["ok", "ok", "protocol_error", "ok", "ok"]
    assert results[2].error == "RuntimeError: a bug in the driver"
    assert results[2].latency is not None and results[2].runtime == rt.name


# -- https: the TLS fault matrix -------------------------------------------------------------

TLS_ROLES = ("tls_ok", "tls_unknown_ca", "tls_expired", "tls_wrong_name", "tls_stall")
UNVERIFIED = {  # why each bad certificate fails, in OpenSSL's words
    "tls_unknown_ca": "certificate verify failed: unable to get local issuer certificate",
    "tls_expired": "certificate verify failed: certificate has expired",
    "tls_wrong_name": "certificate verify failed: IP address mismatch, certificate is "
                      "not valid for '{host}'",
}


@pytest.fixture(scope="module")
def tls_fleet() -> Iterator[Fleet]:
    """A fleet of 20 with every TLS role (and plain hosts beside), for the whole module."""
    with Fleet(hosts=20, profile="tls", seed=0) as fleet:
        yield fleet


def tls_truth(fleet: Fleet, target: Target, *, insecure: bool) -> str:
    """How a probe of ``target`` ends, trusting the fleet's CA, or nothing (``insecure``)."""
    if insecure and fleet.roles[target] in BAD_CERTIFICATE:
        return "ok"  # the certificate was all that was wrong with the host
    return fleet.truth[target]


@pytest.mark.parametrize("insecure", [False, True], ids=["verified", "insecure"])
def test_each_tls_host_ends_as_it_deserves(rt: Runtime, tls_fleet: Fleet,
                                           insecure: bool) -> None:
    fleet = tls_fleet
    config = TlsConfig(ca_pem=fleet.ca_pem, insecure=insecure)
    hosts = {fleet.roles[t]: t for t in fleet.targets if t.kind == "https"}  # one per role
    assert set(hosts) == set(TLS_ROLES)

    async def scenario(rt: Runtime) -> dict[str, ProbeResult]:
        results = {}
        for role, target in hosts.items():
            # The stall ends at its deadline: a short one, as for every silent host.
            deadline = SHORT_S if role == "tls_stall" else ANSWER_S
            with background(rt).with_timeout(deadline) as ctx:
                results[role] = await probe(rt, ctx, target, tls=config)
        return results

    results = run(rt, scenario)
    for role, result in results.items():
        target = hosts[role]
        expected = tls_truth(fleet, target, insecure=insecure)
        assert (result.target, result.outcome) == (target, expected), result
        assert result.runtime == rt.name
        if expected == "ok":
            assert (result.status, result.error) == (200, None), result
            # notAfter, as the certificate says it: the expired one's too, unverified.
            assert result.cert_expires == fleet.cert_expires[target], result
        elif expected == "tls_error":
            assert result.error == UNVERIFIED[role].format(host=target.host), result
            assert (result.status, result.cert_expires) == (None, None), result
        else:  # the stall: no hello came back before the deadline
            assert (result.outcome, result.status, result.cert_expires) == (
                "timeout", None, None), result
            assert result.latency is not None and result.latency <= SHORT_S + SLACK_S


def test_a_scan_of_the_tls_fleet_finds_every_host_as_it_is(rt: Runtime,
                                                           tls_fleet: Fleet) -> None:
    fleet = tls_fleet

    async def scenario(rt: Runtime) -> list[ProbeResult]:
        return await scan(rt, fleet.targets, workers=len(fleet.targets), timeout=TIMEOUT_S,
                          tls=TlsConfig(ca_pem=fleet.ca_pem))

    results = run(rt, scenario)
    assert [r.target for r in results] == fleet.targets
    assert not wrong_outcomes(fleet, results), "outcome vs truth"
    assert not late(results, TIMEOUT_S), "probes that ended past their deadline"
    # An expiry for every https host that got through its handshake, and only for them.
    assert {r.target: r.cert_expires for r in results if r.cert_expires is not None} == {
        t: fleet.cert_expires[t] for t in fleet.targets if fleet.roles[t] == "tls_ok"}


def test_an_expiry_seen_is_kept_when_the_probe_then_fails(rt: Runtime,
                                                          tls_fleet: Fleet) -> None:
    fleet = tls_fleet
    healthy = next(t for t in fleet.targets if fleet.roles[t] == "tls_ok")
    missing = Target.https(healthy.host, healthy.port, "/nowhere")  # the host's 404

    async def scenario(rt: Runtime) -> ProbeResult:
        with background(rt).with_timeout(ANSWER_S) as ctx:
            return await probe(rt, ctx, missing, tls=TlsConfig(ca_pem=fleet.ca_pem))

    result = run(rt, scenario)
    assert (result.outcome, result.status) == ("bad_status", 404), result
    assert result.cert_expires == fleet.cert_expires[healthy]


class HangUpHost(OneConnectionHost):
    """A host that reads one TLS record (a probe's ClientHello) and closes the
    connection."""

    def __init__(self) -> None:
        super().__init__("https")

    def converse(self, conn: socket.socket) -> None:
        record = b""
        # A record's length is in bytes 3 and 4 of its 5-byte header: read it whole, so
        # that the close is a FIN and not a reset.
        while len(record) < 5 or len(record) < 5 + int.from_bytes(record[3:5]):
            chunk = conn.recv(4096)
            if not chunk:
                break
            record += chunk


def test_a_host_that_hangs_up_mid_handshake_is_a_tls_error(rt: Runtime) -> None:
    # The probe had got no further than TLS: the outcome names that phase.
    with HangUpHost() as host:
        async def scenario(rt: Runtime) -> ProbeResult:
            with background(rt).with_timeout(ANSWER_S) as ctx:
                return await probe(rt, ctx, host.target)

        result = run(rt, scenario)
    assert (result.outcome, result.error) == (
        "tls_error", "connection closed during the TLS handshake"), result
    assert result.cert_expires is None


# -- cancellation ----------------------------------------------------------------------------


def surely_finished(fleet: Fleet, workers: int) -> int:
    """How many answering hosts a FIFO pool of ``workers`` finishes when no probe ever
    times out: those ahead of the silent host that takes its last free worker."""
    answering = silent_seen = 0
    for target in fleet.targets:
        if silent(fleet, target):
            silent_seen += 1
            if silent_seen == workers:
                break
        else:
            answering += 1
    return answering


@pytest.mark.parametrize(("profile", "workers"), [("standard", 100), ("hostile", 10)])
def test_cancelling_a_scan_stops_it_and_keeps_the_finished_results(
        rt: Runtime, fleets: dict[str, Fleet], profile: str, workers: int) -> None:
    # No probe here ends by its deadline: only the cancel can end the scan. It comes once
    # the hosts ahead of the silent ones have answered, so silent hosts are in flight
    # (and, with 10 workers, others queued or not yet submitted).
    fleet = fleets[profile]
    cancel_after = surely_finished(fleet, workers)
    reported: list[ProbeResult] = []

    async def scenario(rt: Runtime) -> tuple[list[ProbeResult], Any]:
        ctx = background(rt).with_cancel()

        def on_result(result: ProbeResult) -> None:
            reported.append(result)
            if len(reported) == cancel_after:
                ctx.cancel()  # Ctrl-C, say

        results = await scan(rt, fleet.targets, workers=workers, timeout=NEVER_S, ctx=ctx,
                             on_result=on_result)
        return results, ctx.err

    start = time.monotonic()
    results, err = run(rt, scenario)
    assert time.monotonic() - start < CANCEL_WITHIN_S, "the cancel left probes running"
    assert isinstance(err, Canceled)
    assert cancel_after <= len(results) < len(fleet.targets)
    assert not any(silent(fleet, r.target) for r in results)  # cut short: no result
    assert not wrong_outcomes(fleet, results)  # and what finished is true
    position = {t: i for i, t in enumerate(fleet.targets)}
    assert [position[r.target] for r in results] == sorted(position[r.target] for r in results)
    assert sorted(reported, key=lambda r: position[r.target]) == results


def test_a_scan_cancelled_before_it_starts_probes_nothing(
        rt: Runtime, fleets: dict[str, Fleet]) -> None:
    fleet = fleets["standard"]

    async def scenario(rt: Runtime) -> list[ProbeResult]:
        ctx = background(rt).with_cancel()
        ctx.cancel()
        return await scan(rt, fleet.targets, workers=10, timeout=NEVER_S, ctx=ctx)

    assert run(rt, scenario) == []


def test_cancelling_a_probe_raises_canceled(rt: Runtime, silent_host: SilentHost) -> None:
    async def scenario(rt: Runtime) -> list[object]:
        ended: list[object] = []
        ctx = background(rt).with_timeout(NEVER_S)

        async def probing() -> None:
            try:
                ended.append(await probe(rt, ctx, silent_host.target))
            except Canceled as exc:
                ended.append(exc)

        async with rt.task_group() as tg:
            tg.start_soon(probing)
            await rt.until(silent_host.heard.is_set)  # the probe waits for an answer
            ctx.cancel()
        return ended

    (ended,) = run(rt, scenario)
    assert isinstance(ended, Canceled), f"a cancelled probe is no result: {ended}"


def test_a_native_cancellation_passes_through(rt: Runtime, silent_host: SilentHost) -> None:
    if not rt.is_async:
        pytest.skip(NO_NATIVE_CANCEL)

    async def scenario(rt: Runtime) -> list[object]:
        ended: list[object] = []
        with background(rt).with_timeout(NEVER_S) as ctx:
            async def probing() -> None:
                try:
                    ended.append(await probe(rt, ctx, silent_host.target))
                except anyio.get_cancelled_exc_class():
                    ended.append("cancelled")
                    raise

            async with anyio.create_task_group() as tg:
                tg.start_soon(probing)
                await rt.until(silent_host.heard.is_set)
                tg.cancel_scope.cancel()  # task.cancel() in asyncio, a cancel scope in trio
        return ended

    assert run(rt, scenario) == ["cancelled"]


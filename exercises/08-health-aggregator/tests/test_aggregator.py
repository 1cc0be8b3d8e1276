"""Chapter 08's grading: the health aggregator, against a real fleet and a real scrape.

``scan(targets, *, workers, timeout)`` probes a simulated :class:`~patterns.probe.fleet.Fleet`
(a separate process serving 16 hosts on loopback, started once for this module): every
target gets exactly one result, in input order, with the outcome the fleet's ``truth``
says, and never more than ``workers`` probes run at once. ``Metrics`` is served on
loopback (``prometheus_client.make_wsgi_app`` on a WSGI server) and scraped over HTTP: each
target's gauges say what its last probe found, and only that.

Everything is real sockets on loopback, so trio runs on the real clock
(``mock_clock=False``: the mock clock would jump while a probe waits for bytes). Each
module under test scans the fleet once (it costs one timeout, for the hanging host), and
tasks 1 and 2 grade that one scan. The gauges are fed results from the library's own
scan, so tasks 3 and 4 grade ``Metrics`` alone. The library's ``patterns.probe`` (with
``patterns.probe.cli.formats.Metrics``) passes every test here.
"""

from __future__ import annotations

import http.client
import math
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from prometheus_client import make_wsgi_app
from prometheus_client.parser import text_string_to_metric_families

from patterns.probe import HEALTHY, ProbeResult, Target
from patterns.probe.fleet import Fleet
from patterns.probe.on_threads import scan as library_scan

FLEET = {"hosts": 16, "profile": "standard", "seed": 1}
"""12 healthy hosts (3 of them TCP), one each refused, server error, wrong content and
hanging. Seed 1 puts the hanging host first, so completion order is never input order,
and its slowest answering host takes 0.27 s."""

WORKERS = 4
TIMEOUT_S = 0.5  # each probe's deadline: the hanging host costs one, on one worker
SLOWEST_ANSWER_S = TIMEOUT_S / 1.5  # the slowest answering host must leave this margin
SCAN_LIMIT_S = 5.0  # a scan of this fleet ends in about TIMEOUT_S; past this it never will
GAUGES = ("probe_success", "probe_duration_seconds", "probe_outcome")


# -- the fleet, and the library's scans of it -----------------------------------------------


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    """The fleet every scan here probes, for the whole module."""
    with Fleet(**FLEET) as fleet:
        answering = [s for s in fleet.latency.values() if not math.isinf(s)]
        # The fleet's truth holds for a timeout of 1 s; this one is shorter, to keep the
        # hanging host cheap, and holds because every answering host is quicker still.
        assert max(answering) <= SLOWEST_ANSWER_S, (
            f"fleet {FLEET} has a host that takes {max(answering)} s: pick another seed")
        assert math.isinf(fleet.latency[fleet.targets[0]]), (
            f"fleet {FLEET} no longer has its hanging host first: pick another seed")
        yield fleet


@pytest.fixture(scope="module")
def probed(fleet: Fleet) -> list[ProbeResult]:
    """The library's scan of the fleet: the results task 3 feeds the learner's gauges."""
    results = library_scan(fleet.targets, workers=WORKERS, timeout=TIMEOUT_S)
    wrong = [r for r in results if r.outcome != fleet.truth[r.target]]
    assert not wrong, f"the library's own scan is wrong about {wrong[0]}: the fleet is broken"
    return results


@dataclass(frozen=True)
class Rounds:
    """Two rounds of the library's scan of the same targets: ``healthy``, while their
    fleet ran, and ``down``, once it had stopped and nobody listened there any more."""

    healthy: list[ProbeResult]
    down: list[ProbeResult]


@pytest.fixture(scope="module")
def rounds() -> Rounds:
    """A host that went down, for real: a small fleet scanned, stopped, scanned again."""
    # A seed of this chapter's own: a fleet's port comes from its hosts, profile and
    # seed, and another process's fleet on this port would answer the second round.
    with Fleet(hosts=4, profile="ideal", seed=808, ideal_delay=0.01) as small:
        targets = small.targets
        healthy = library_scan(targets, workers=WORKERS, timeout=TIMEOUT_S)
    down = library_scan(targets, workers=WORKERS, timeout=TIMEOUT_S)
    assert [r.outcome for r in healthy] == ["ok"] * len(targets), (
        f"the library's own scan of a healthy fleet found {healthy}: the fleet is broken")
    assert [r.outcome for r in down] == ["refused"] * len(targets), (
        f"the hosts of a stopped fleet still answer ({down}): another process listens "
        "on their port")
    return Rounds(healthy, down)


# -- the learner's scan, once per module under test -----------------------------------------


class InFlight:
    """The probes in flight, seen from their sockets: a probe holds a socket to its host
    from ``connect()`` to ``close()``, so the sockets open to the fleet's hosts at once
    are the probes running at once. Every runtime's probe connects and closes a
    ``socket.socket`` underneath (a blocking one, asyncio's ``sock_connect``, trio's
    socket), so wrapping those two methods counts them all, however the scan is built."""

    def __init__(self, targets: list[Target]) -> None:
        self.hosts = {(t.host, t.port) for t in targets}
        self.open: set[socket.socket] = set()
        self.peak = 0
        self._lock = threading.Lock()

    def watch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        connect, close = socket.socket.connect, socket.socket.close

        def counted_connect(sock: socket.socket, address: Any) -> Any:
            if tuple(address[:2]) in self.hosts:
                with self._lock:
                    self.open.add(sock)
                    self.peak = max(self.peak, len(self.open))
            return connect(sock, address)

        def counted_close(sock: socket.socket) -> None:
            with self._lock:
                self.open.discard(sock)
            close(sock)

        monkeypatch.setattr(socket.socket, "connect", counted_connect)
        monkeypatch.setattr(socket.socket, "close", counted_close)


@dataclass
class Scan:
    """One module's scan of the fleet: its results (or what it raised instead), and the
    most probes it had in flight at once."""

    results: list[ProbeResult] | None = None
    error: BaseException | None = None
    peak: int = 0
    targets: list[Target] = field(default_factory=list)

    def outcome(self) -> list[ProbeResult]:
        """The results; what the scan raised, raised again in every test that asks."""
        if self.error is not None:
            raise self.error
        assert self.results is not None
        return self.results


@pytest.fixture(scope="module")
def scans() -> dict[str, Scan]:
    return {}


@pytest.fixture
def scanned(impl: Any, rt: Any, exercise_target: Any, fleet: Fleet, scans: dict[str, Scan],
            monkeypatch: pytest.MonkeyPatch) -> Scan:
    """The module's scan of the fleet, made by the first test that asks for it."""
    label = str(exercise_target)
    if label not in scans:
        targets = fleet.targets
        in_flight = InFlight(targets)
        in_flight.watch(monkeypatch)

        async def scenario(rt: Any) -> list[ProbeResult]:
            return list(await rt.call(impl.scan, targets, workers=WORKERS, timeout=TIMEOUT_S))

        scan = Scan(targets=targets)
        try:
            scan.results = rt.run(
                scenario, mock_clock=False, timeout=SCAN_LIMIT_S,
                waiting_for=f"scan() of {len(targets)} targets to return (it should take "
                f"about {TIMEOUT_S:g} s: does every probe get its timeout? one host never "
                "answers)")
        except Exception as exc:
            scan.error = exc
        scan.peak = in_flight.peak
        scans[label] = scan
    return scans[label]


# -- task 1: every target, once, in input order, as the host deserves -------------------------


@pytest.mark.task(1)
def test_every_target_gets_one_result_in_input_order_as_its_host_deserves(
        scanned: Scan, fleet: Fleet) -> None:
    results = scanned.outcome()
    targets = scanned.targets
    odd = [r for r in results if not isinstance(r, ProbeResult)]
    assert not odd, f"scan() returned a {type(odd[0]).__name__}; it should return ProbeResults"
    got = [r.target for r in results]
    for target in targets:
        assert got.count(target) <= 1, (
            f"{target} has {got.count(target)} results; every target is probed once")
        assert target in got, (
            f"{target} has no result: scan() returned {len(results)} results for "
            f"{len(targets)} targets")
    assert len(results) == len(targets), (
        f"scan() returned {len(results)} results for {len(targets)} targets")
    for index, (result, target) in enumerate(zip(results, targets, strict=True)):
        assert result.target == target, (
            f"result {index} is for {result.target}, but target {index} is {target}: "
            "results come in the order of targets, not in the order the probes finished")
    for result in results:
        truth = fleet.truth[result.target]
        assert result.outcome == truth, (
            f"{result.target} should be {truth}; your scan said {result.outcome}"
            + (f" ({result.error})" if result.error else ""))


# -- task 2: through the pool -------------------------------------------------------------------


@pytest.mark.task(2)
def test_never_more_than_workers_probes_at_once(scanned: Scan) -> None:
    scanned.outcome()
    assert scanned.peak <= WORKERS, (
        f"{scanned.peak} probes were in flight at once; the scan has {WORKERS} workers: "
        "every probe should go through the pool")
    assert scanned.peak > 1, (
        f"the probes ran one at a time; with {WORKERS} workers up to {WORKERS} should run "
        "at once")


# -- scraping -------------------------------------------------------------------------------


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the grader's output is the learner's to read: no access log in it


@contextmanager
def served(registry: Any) -> Iterator[int]:
    """``registry`` served on a free loopback port (the port is yielded), as a
    Prometheus server would find it: ``make_wsgi_app``, what ``start_http_server`` runs,
    on a WSGI server this test starts, stops and joins (``start_http_server``'s own
    thread polls for its stop every 0.5 s, and each scrape would wait that long)."""
    server = make_server("127.0.0.1", 0, make_wsgi_app(registry), handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                              name="metrics server")
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@dataclass
class Scrape:
    """What ``GET /metrics`` said: each metric's type, and its samples' values by labels."""

    types: dict[str, str]
    values: dict[str, dict[tuple[tuple[str, str], ...], float]]

    def value(self, name: str, **labels: str) -> float | None:
        return self.values.get(name, {}).get(tuple(sorted(labels.items())))

    def outcomes_at_one(self, target: str) -> list[str]:
        return sorted(dict(key)["outcome"]
                      for key, value in self.values.get("probe_outcome", {}).items()
                      if dict(key).get("target") == target and value == 1)

    def outcome_values(self, target: str) -> set[float]:
        return {value for key, value in self.values.get("probe_outcome", {}).items()
                if dict(key).get("target") == target}


def scrape(metrics: Any) -> Scrape:
    """Serve ``metrics.registry``, fetch ``/metrics`` over HTTP and parse it."""
    with served(metrics.registry) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            body = response.read().decode("utf-8")
        finally:
            connection.close()
    assert response.status == 200, f"GET /metrics answered {response.status}"
    types: dict[str, str] = {}
    values: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(body):
        types[family.name] = family.type
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            values.setdefault(sample.name, {})[labels] = sample.value
    return Scrape(types, values)


def check_gauges_exist(found: Scrape) -> None:
    for name in GAUGES:
        assert name in found.types, (
            f"the scrape has no {name}: Metrics needs a Gauge named {name} on self.registry")
        assert found.types[name] == "gauge", (
            f"{name} is exported as a {found.types[name]}; it should be a Gauge (it must "
            "go down as well as up)")


def check_target(found: Scrape, result: ProbeResult) -> None:
    """The gauges of ``result``'s target say what ``result`` found, and only that."""
    target = str(result.target)
    up = found.value("probe_success", target=target)
    assert up is not None, (
        f'the scrape has no probe_success{{target="{target}"}}: update() should set the gauges '
        "of every result's target, labelled str(result.target)")
    healthy = result.outcome == HEALTHY
    assert up == (1 if healthy else 0), (
        f'probe_success{{target="{target}"}} is {up:g} after a probe that ended {result.outcome}: '
        f"it should be {1 if healthy else 0} (1 exactly when the outcome is ok)")
    at_one = found.outcomes_at_one(target)
    assert at_one, (
        f'no probe_outcome{{target="{target}"}} is 1; the probe ended {result.outcome}')
    assert len(at_one) == 1, (
        f"probe_outcome for {target} is 1 for {' and '.join(at_one)}: only the last "
        f"probe's outcome ({result.outcome}) should be 1, every other 0")
    assert at_one == [result.outcome], (
        f'probe_outcome{{target="{target}", outcome="{at_one[0]}"}} is 1, but the probe '
        f"ended {result.outcome}")
    assert found.outcome_values(target) <= {0, 1}, (
        f"probe_outcome for {target} has values {sorted(found.outcome_values(target))}: "
        "each outcome is 1 or 0")
    latency = found.value("probe_duration_seconds", target=target)
    assert latency is not None, f'the scrape has no probe_duration_seconds{{target="{target}"}}'
    assert result.latency is not None and math.isclose(latency, result.latency), (
        f'probe_duration_seconds{{target="{target}"}} is {latency:g}; the last probe took '
        f"{result.latency:g} s")


# -- task 3: a scrape shows each target's last probe -------------------------------------------


@pytest.mark.task(3)
def test_a_scrape_shows_each_targets_gauges(impl: Any, probed: list[ProbeResult]) -> None:
    metrics = impl.Metrics()
    metrics.update(probed)
    found = scrape(metrics)
    check_gauges_exist(found)
    for result in probed:
        check_target(found, result)


# -- task 4: the gauges follow the latest round -------------------------------------------------


@pytest.mark.task(4)
def test_the_gauges_follow_a_host_that_went_down(impl: Any, rounds: Rounds) -> None:
    metrics = impl.Metrics()
    metrics.update(rounds.healthy)
    metrics.update(rounds.down)
    found = scrape(metrics)
    check_gauges_exist(found)
    for result in rounds.down:
        up = found.value("probe_success", target=str(result.target))
        assert up != 1, (
            f'probe_success{{target="{result.target}"}} is still 1 after the host went down (its '
            "last probe ended refused): every round sets it, to 0 as well as to 1")
        check_target(found, result)

"""The probe's metrics put to Prometheus's own tools: ``promtool`` and a real server.

``promtool check metrics`` lints exposition text as Prometheus's maintainers would
(names, units, types, help); it must find nothing to say about a scrape of ``serve``'s
``/metrics`` in each runtime, about ``scan --format prom``, or about every family
:class:`~patterns.probe.cli.formats.Metrics` can export. Then a real Prometheus server,
on loopback with its storage in the test's temporary folder, scrapes every second three
``serve`` processes (one a runtime) of one simulated fleet, and its query API must count
what the fleet's truth says, for each runtime: ``count(probe_success)`` the targets,
``sum(probe_success)`` the healthy ones.

Each needs the Debian packages ``prometheus`` (with ``promtool``); a test skips, with
the reason, where its tool is missing (and fails where CI requires it). Every process
is started by the test and stopped in a ``finally``; only loopback addresses are used,
and the HTTP clients are ``http.client`` on 127.0.0.1, which no proxy setting can send elsewhere.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from children import read_until, stop
from programs import program
from prometheus_client.parser import text_string_to_metric_families

from patterns.probe import ProbeResult, Target
from patterns.probe.cli.formats import Metrics
from patterns.probe.fleet import Fleet
from patterns.runtimes import RUNTIMES

# Each test asks for its program first (tests/programs.py): it skips, saying which
# package brings it, where the program is missing, and fails where CI requires it.
needs_promtool = pytest.mark.usefixtures("promtool")
needs_prometheus = pytest.mark.usefixtures("prometheus")


@pytest.fixture(scope="session")
def promtool() -> str:
    return program("promtool")


@pytest.fixture(scope="session")
def prometheus() -> str:
    return program("prometheus")

POLL_S = 0.1  # between two questions to Prometheus's API
RUN_TIMEOUT_S = 20.0  # no process here should take more than a few seconds
ANSWER_WITHIN_S = 12.0  # from Prometheus's start to its query answering what it scraped
PROBE_TIMEOUT = "1s"  # the least probe timeout the fleet's truth holds for


# -- the processes ----------------------------------------------------------------------


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([program("promtool"), "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    """A standard fleet of 20: healthy hosts and refused, 5xx, hanging, wrong content."""
    with Fleet(hosts=20, profile="standard") as running:
        yield running


@pytest.fixture
def hosts(fleet: Fleet, tmp_path: Path) -> Path:
    path = tmp_path / "hosts.txt"
    path.write_text("".join(f"{target}\n" for target in fleet.targets), encoding="utf-8")
    return path


class Serve:
    """``python -m patterns.probe serve`` on a free loopback port, for the block's
    length; ``port`` once it listens. ``round_done()`` waits until its first round has
    ended (every target has its gauges by then)."""

    def __init__(self, hosts: Path, runtime: str, interval: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "patterns.probe", "serve", "--port", "0",
             "--targets", str(hosts), "--runtime", runtime, "--interval", interval,
             "--timeout", PROBE_TIMEOUT],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.said = b""

    def __enter__(self) -> Serve:
        try:
            self.said = read_until(self.process, b"/metrics", RUN_TIMEOUT_S)
        except BaseException:
            stop(self.process, grace=RUN_TIMEOUT_S)
            raise
        address = self.said.decode().split("http://", 1)[1].split("/metrics", 1)[0]
        self.port = int(address.rsplit(":", 1)[1])
        return self

    def round_done(self) -> None:
        if b"round 1:" not in self.said:
            read_until(self.process, b"round 1:", RUN_TIMEOUT_S)

    def __exit__(self, *exc_info: object) -> None:
        stop(self.process, grace=RUN_TIMEOUT_S)


def get(port: int, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        connection.close()


def free_port() -> int:
    """A loopback port nobody listens on now (Prometheus cannot be given a port 0 and
    asked which it chose; another process could take this one first, but only here)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- the blackbox exporter's names ------------------------------------------------------


def samples_of(metrics: Metrics) -> dict[str, dict[str, float]]:
    """Each family's values by target (``probe_outcome``: only the outcome at 1)."""
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(metrics.text()):
        values = found.setdefault(family.name, {})
        for sample in family.samples:
            if family.name != "probe_outcome" or sample.value == 1:
                values[sample.labels["target"]] = sample.value
    return found


def test_each_gauge_says_what_the_last_probe_found() -> None:
    site = Target.https("127.0.0.1", 8443, "/healthz")
    metrics = Metrics()
    metrics.update([ProbeResult(site, "ok", 200, 0.05, None, "trio",
                                cert_expires=1_900_000_000.0)])
    assert samples_of(metrics) == {
        "probe_success": {str(site): 1.0},
        "probe_duration_seconds": {str(site): 0.05},
        "probe_http_status_code": {str(site): 200.0},
        "probe_ssl_earliest_cert_expiry": {str(site): 1_900_000_000.0},
        "probe_outcome": {str(site): 1.0},
    }
    # The host goes away: no response (status 0, as the blackbox exporter says it), no
    # certificate, and a probe that never started has no duration: nothing of the
    # earlier round is left standing.
    metrics.update([ProbeResult(site, "refused", None, None, "refused", "trio")])
    found = samples_of(metrics)
    assert found["probe_success"] == {str(site): 0.0}
    assert found["probe_http_status_code"] == {str(site): 0.0}
    assert found["probe_ssl_earliest_cert_expiry"] == {}
    assert found["probe_duration_seconds"] == {}


def test_a_tcp_target_has_no_http_status() -> None:
    metrics = Metrics()
    ssh = Target.tcp("127.0.0.1", 22)
    metrics.update([ProbeResult(ssh, "ok", None, 0.001, None, "threads")])
    found = samples_of(metrics)
    assert found["probe_success"] == {str(ssh): 1.0}
    assert found["probe_http_status_code"] == {}


# -- promtool check metrics -------------------------------------------------------------


@needs_promtool
def test_promtool_passes_every_family_metrics_exports() -> None:
    # One of each: a healthy tcp target (no status), an http one that got a 503, one
    # that got nothing (status 0), an https one with a certificate.
    metrics = Metrics()
    metrics.update([
        ProbeResult(Target.tcp("127.0.0.1", 22), "ok", None, 0.002, None, "threads"),
        ProbeResult(Target.http("127.0.0.1", 8080, "/healthz"), "bad_status", 503, 0.1,
                    "status 503", "asyncio"),
        ProbeResult(Target.http("127.0.0.1", 8081, "/"), "timeout", None, 1.0, "timed out",
                    "trio"),
        ProbeResult(Target.https("127.0.0.1", 8443), "ok", 200, 0.05, None, "trio",
                    cert_expires=1_900_000_000.0),
        # A label value with quotes and a backslash in it, which the text must escape.
        ProbeResult(Target.http("127.0.0.1", 8082, contains='say "hi" \\o/'),
                    "content_mismatch", 200, 0.01, "no match", "threads"),
    ])
    text = metrics.text()
    families = {family.name for family in text_string_to_metric_families(text)}
    assert families == {"probe_success", "probe_duration_seconds", "probe_http_status_code",
                        "probe_ssl_earliest_cert_expiry", "probe_outcome"}
    done = promtool_check(text)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), text


@needs_promtool
def test_promtool_passes_scan_format_prom(hosts: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "patterns.probe", "scan", "--targets",
                           str(hosts), "--timeout", PROBE_TIMEOUT, "--format", "prom"],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode == 1, done.stderr  # the standard fleet has unhealthy hosts
    assert "probe_success{" in done.stdout
    checked = promtool_check(done.stdout)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


@needs_promtool
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_promtool_passes_a_scrape_of_serve(hosts: Path, fleet: Fleet, runtime: str) -> None:
    with Serve(hosts, runtime, interval="1m") as serve:
        serve.round_done()
        status, text = get(serve.port, "/metrics")
    assert status == 200
    assert text.count("probe_success{") == len(fleet.targets)
    checked = promtool_check(text)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", ""), text


# -- a real Prometheus server -----------------------------------------------------------


class PrometheusServer:
    """``prometheus`` on 127.0.0.1 for the block's length, its data and log in
    ``folder``, scraping every second each address of ``runtimes`` (runtime -> the
    ``host:port`` of its ``serve``), every series labelled with that ``runtime``."""

    def __init__(self, folder: Path, runtimes: dict[str, str]) -> None:
        self.folder = folder
        self.port = free_port()
        config = folder / "prometheus.yml"
        # JSON is YAML: the config, written without a YAML library.
        config.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [{
                "job_name": "patterns-probe",
                "static_configs": [{"targets": [address], "labels": {"runtime": runtime}}
                                   for runtime, address in runtimes.items()],
            }],
        }), encoding="utf-8")
        self.log = (folder / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [program("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            stop(self.process, grace=RUN_TIMEOUT_S)
        finally:
            self.log.close()

    def by_runtime(self, promql: str) -> dict[str, float]:
        """The instant query's values by their ``runtime`` label (``{}`` while the
        server is not up yet, or has nothing yet)."""
        try:
            status, body = get(self.port, f"/api/v1/query?{urlencode({'query': promql})}")
        except OSError:  # not listening yet
            return {}
        if status != 200:
            return {}
        answer = json.loads(body)
        assert answer["status"] == "success", answer
        return {series["metric"]["runtime"]: float(series["value"][1])
                for series in answer["data"]["result"]}

    def await_answer(self, promql: str, expected: dict[str, float]) -> dict[str, float]:
        """Poll ``promql`` until it answers ``expected`` or the deadline passes; the last
        answer. (Prometheus hands its first targets to the scrapers after about five
        seconds, its service discovery's fixed pace.)"""
        deadline = time.monotonic() + ANSWER_WITHIN_S
        answer = self.by_runtime(promql)
        while answer != expected and time.monotonic() < deadline:
            # Between two polls, wait for Prometheus to exit: a server that died fails
            # the test at once, with its log, and one that runs is asked again.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(POLL_S)
            assert self.process.poll() is None, self.log_text()
            answer = self.by_runtime(promql)
        return answer

    def log_text(self) -> str:
        self.log.flush()
        return (self.folder / "prometheus.log").read_text(encoding="utf-8", errors="replace")


@needs_prometheus
def test_prometheus_scrapes_serve_and_counts_the_healthy(
        hosts: Path, fleet: Fleet, tmp_path: Path) -> None:
    healthy = sum(outcome == "ok" for outcome in fleet.truth.values())
    assert 0 < healthy < len(fleet.targets)  # so that sum and count tell different things
    with contextlib.ExitStack() as stack:
        serves = {runtime: stack.enter_context(Serve(hosts, runtime, interval="1s"))
                  for runtime in RUNTIMES}
        prometheus = stack.enter_context(PrometheusServer(
            tmp_path, {runtime: f"127.0.0.1:{serve.port}" for runtime, serve in serves.items()}))
        # Every target has a series once a scrape came after each had its first result;
        # a gauge is set once per result, and each result says what the truth says.
        count = prometheus.await_answer("count by (runtime) (probe_success)",
                                        dict.fromkeys(RUNTIMES, len(fleet.targets)))
        assert count == dict.fromkeys(RUNTIMES, len(fleet.targets)), prometheus.log_text()
        assert prometheus.by_runtime("sum by (runtime) (probe_success)") == dict.fromkeys(
            RUNTIMES, healthy)
        # Each scrape itself succeeded (Prometheus's own "up" for each serve).
        assert prometheus.by_runtime('up{job="patterns-probe"}') == dict.fromkeys(RUNTIMES, 1)

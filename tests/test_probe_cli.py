"""Tests for ``python -m patterns.probe``: the command line, run as a real process.

The contract is the one the docstring of :mod:`patterns.probe.cli` states: every
``--format`` says what the fleet's truth says; exit 0 all healthy, 1 some unhealthy, 2
bad usage or input with one line on stderr and never a traceback, 130 / 143 when
SIGINT / SIGTERM stop a scan, which still prints the results that finished. Every
process gets a timeout and is killed in a ``finally``; only loopback addresses are
ever probed.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from children import read_until, stop
from prometheus_client.parser import text_string_to_metric_families

from patterns.probe import OUTCOMES, parse_targets
from patterns.probe.fleet import Fleet
from patterns.runtimes import RUNTIMES

RUN_TIMEOUT_S = 20.0  # no command here should take more than a few seconds
SCAN_TIMEOUT = "1"  # the least probe timeout the fleet's truth holds for
STOP_WITHIN_S = 2.0  # from a signal to the process's exit


def probe_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI to the end, with its output captured."""
    return subprocess.run([sys.executable, "-m", "patterns.probe", *args], capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S, check=False)


def start_cli(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "patterns.probe", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def hosts_file(fleet: Fleet, path: Path) -> Path:
    path.write_text("".join(f"{target}\n" for target in fleet.targets), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def standard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    """A standard fleet of 20 (some refused, 5xx, hanging, wrong content) and its file."""
    with Fleet(hosts=20, profile="standard") as fleet:
        yield fleet, hosts_file(fleet, tmp_path_factory.mktemp("standard") / "hosts.txt")


@pytest.fixture(scope="module")
def ideal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    with Fleet(hosts=10, profile="ideal") as fleet:
        yield fleet, hosts_file(fleet, tmp_path_factory.mktemp("ideal") / "hosts.txt")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path, Path]]:
    """A TLS fleet of 10 (every TLS role, plain hosts beside), its file and its CA."""
    directory = tmp_path_factory.mktemp("tls")
    with Fleet(hosts=10, profile="tls") as fleet:
        assert fleet.ca_pem is not None
        ca = directory / "ca.pem"
        ca.write_text(fleet.ca_pem, encoding="utf-8")
        yield fleet, hosts_file(fleet, directory / "hosts.txt"), ca


def truth_of(fleet: Fleet) -> dict[str, str]:
    return {str(target): outcome for target, outcome in fleet.truth.items()}


# -- scan: the formats and the exit codes ------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_scan_json_matches_the_fleets_truth_and_exits_1(
        standard: tuple[Fleet, Path], runtime: str) -> None:
    fleet, path = standard
    done = probe_cli("scan", "--targets", str(path), "--runtime", runtime,
                     "--timeout", SCAN_TIMEOUT, "--format", "json")
    assert done.returncode == 1, done.stderr  # the standard fleet has unhealthy hosts
    assert done.stderr.splitlines()[0].startswith("scanning 20 targets")
    records = json.loads(done.stdout)
    assert [r["target"] for r in records] == [str(t) for t in fleet.targets]  # input order
    assert {r["target"]: r["outcome"] for r in records} == truth_of(fleet)
    assert {r["runtime"] for r in records} == {runtime}
    for r in records:
        assert set(r) == {"target", "outcome", "status", "latency", "error", "runtime",
                          "cert_expires"}
        assert (r["error"] is None) == (r["outcome"] == "ok")


def test_scan_yaml_is_the_same_list(standard: tuple[Fleet, Path]) -> None:
    fleet, path = standard
    done = probe_cli("scan", "--targets", str(path), "--timeout", SCAN_TIMEOUT,
                     "--format", "yaml")
    assert done.returncode == 1, done.stderr
    records = yaml.safe_load(done.stdout)
    assert {r["target"]: r["outcome"] for r in records} == truth_of(fleet)
    # Every target string reads back as the fleet's target.
    assert [parse_targets(r["target"])[0] for r in records] == fleet.targets


def test_scan_prom_has_a_gauge_per_target(standard: tuple[Fleet, Path]) -> None:
    fleet, path = standard
    done = probe_cli("scan", "--targets", str(path), "--timeout", SCAN_TIMEOUT,
                     "--format", "prom")
    assert done.returncode == 1, done.stderr
    check_metrics(done.stdout, fleet)


def check_metrics(text: str, fleet: Fleet) -> None:
    """``text`` is Prometheus exposition, in the blackbox exporter's names, whose gauges
    say what ``fleet``'s truth says."""
    truth = truth_of(fleet)
    samples = {family.name: family.samples for family in text_string_to_metric_families(text)}
    success = {s.labels["target"]: s.value for s in samples["probe_success"]}
    assert success == {t: float(outcome == "ok") for t, outcome in truth.items()}
    duration = {s.labels["target"]: s.value for s in samples["probe_duration_seconds"]}
    assert set(duration) == set(truth)
    assert all(0 <= value < 5 for value in duration.values())
    # A status for every http target (the fleet's are tcp and http): 0 where none came.
    status = {s.labels["target"]: s.value for s in samples["probe_http_status_code"]}
    assert set(status) == {str(t) for t in fleet.targets if t.speaks_http}
    for target, value in status.items():
        if truth[target] in ("ok", "content_mismatch"):
            assert 200 <= value < 300, (target, value)
        elif truth[target] == "bad_status":
            assert value >= 400, (target, value)
        elif truth[target] in ("refused", "timeout"):
            assert value == 0, (target, value)
    # No https host in the fleet: no certificate, so no expiry.
    assert samples["probe_ssl_earliest_cert_expiry"] == []
    current = {(s.labels["target"], s.labels["outcome"]) for s in samples["probe_outcome"]
               if s.value == 1}
    assert current == set(truth.items())
    assert len(samples["probe_outcome"]) == len(truth) * len(OUTCOMES)


def test_scan_table_puts_the_unhealthy_first(standard: tuple[Fleet, Path]) -> None:
    fleet, path = standard
    done = probe_cli("scan", "--targets", str(path), "--timeout", SCAN_TIMEOUT)
    assert done.returncode == 1, done.stderr
    header, *rows, summary = done.stdout.splitlines()
    assert header.split() == ["TARGET", "OUTCOME", "STATUS", "LATENCY", "ERROR"]
    truth = truth_of(fleet)
    assert len(rows) == len(truth)
    # The columns are aligned: OUTCOME starts at the same place in every row.
    column = header.index("OUTCOME")
    assert all(row[column - 2:column] == "  " and row[column] != " " for row in rows)
    found = {row[:column].rstrip(): row[column:].split()[0] for row in rows}
    assert found == truth
    healthy = [row[column:].split()[0] == "ok" for row in rows]
    assert healthy == sorted(healthy)  # every unhealthy row before every healthy one
    assert summary.startswith(f"{len(truth)} results: {sum(healthy)} healthy")


def test_scan_of_an_ideal_fleet_exits_0(ideal: tuple[Fleet, Path]) -> None:
    _, path = ideal
    done = probe_cli("scan", "--targets", str(path), "--runtime", "trio", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert {r["outcome"] for r in json.loads(done.stdout)} == {"ok"}


def test_no_progress_bar_when_stderr_is_piped(ideal: tuple[Fleet, Path]) -> None:
    _, path = ideal
    done = probe_cli("scan", "--targets", str(path), "--format", "json")
    assert done.stderr.splitlines() == [
        "scanning 10 targets with threads, 20 workers, timeout 2 s"]


# -- bad usage and bad input: exit 2, one line, no traceback ----------------------------


def bad_input_cases(tmp: Path, hosts: Path) -> dict[str, tuple[list[str], str]]:
    """Name -> (arguments, text the one line on stderr must hold)."""
    bad_line = tmp / "bad.txt"
    bad_line.write_text("tcp://127.0.0.1:9\n\ntcp://127.0.0.1:70000\n", encoding="utf-8")
    not_utf8 = tmp / "latin1.txt"
    not_utf8.write_bytes(b"tcp://127.0.0.1:9\n# caf\xe9\n")
    empty = tmp / "empty.txt"
    empty.write_text("# nothing here\n", encoding="utf-8")
    missing = tmp / "missing.txt"
    not_pem = tmp / "ca.txt"
    not_pem.write_text("trust me\n", encoding="utf-8")
    scan = ["scan", "--timeout", SCAN_TIMEOUT, "--targets"]
    return {
        "missing file": ([*scan, str(missing)], f"{missing}: cannot read"),
        "a directory": ([*scan, str(tmp)], f"{tmp}: cannot read"),
        "not UTF-8": ([*scan, str(not_utf8)], f"{not_utf8}:2: not UTF-8"),
        "bad line": ([*scan, str(bad_line)], f"{bad_line}:3: port 70000 is out of range"),
        "no targets": ([*scan, str(empty)], f"{empty}: no targets"),
        "workers 0": ([*scan, str(hosts), "--workers", "0"], "--workers: 0 is not at least 1"),
        "timeout nan": ([*scan, str(hosts), "--timeout", "nan"], "--timeout"),
        # Every flag that takes seconds reads a Go duration, and names itself and the text.
        "timeout 5x": ([*scan, str(hosts), "--timeout", "5x"],
                       "argument --timeout: '5x' is not a duration"),
        "check timeout 1d": (["check", "tcp://127.0.0.1:9", "--timeout", "1d"],
                             "argument --timeout: '1d' is not a duration"),
        "timeout 0s": ([*scan, str(hosts), "--timeout", "0s"],
                       "argument --timeout: '0s' is not a positive duration"),
        "serve interval": (["serve", "--targets", str(hosts), "--interval", "1m 30s"],
                           "argument --interval: '1m 30s' is not a duration"),
        "serve interval -1s": (["serve", "--targets", str(hosts), "--interval=-1s"],
                               "argument --interval: '-1s' is not a positive duration"),
        "fleet seconds": (["fleet", "--measure", "--seconds", "2 s"],
                          "argument --seconds: '2 s' is not a duration"),
        "compare timeout": (["compare", "--timeout", "1sec"],
                            "argument --timeout: '1sec' is not a duration"),
        "unknown runtime": ([*scan, str(hosts), "--runtime", "go"], "invalid choice: 'go'"),
        "unknown format": ([*scan, str(hosts), "--format", "xml"], "invalid choice: 'xml'"),
        "no command": ([], "required: COMMAND"),
        "bad check target": (["check", "tcp://127.0.0.1"], "needs a port"),
        "bad fleet profile": (["fleet", "--profile", "calm", "--targets-out", str(missing)],
                              "invalid choice: 'calm'"),
        "serve, bad file": (["serve", "--port", "0", "--targets", str(missing)],
                            f"{missing}: cannot read"),
        "scan, no --ca file": ([*scan, str(hosts), "--ca", str(missing)],
                               f"--ca {missing}: cannot read"),
        "check, --ca not PEM": (["check", "https://127.0.0.1:9/", "--ca", str(not_pem)],
                                f"--ca {not_pem}: no PEM certificate in it"),
        "serve, --ca not PEM": (["serve", "--port", "0", "--targets", str(hosts), "--ca",
                                 str(not_pem)], f"--ca {not_pem}: no PEM certificate in it"),
        "fleet --ca-out, no TLS": (["fleet", "--hosts", "3", "--profile", "ideal",
                                    "--targets-out", str(tmp / "fleet.txt"),
                                    "--ca-out", str(tmp / "fleet-ca.pem")],
                                   "--ca-out: the ideal fleet has no TLS hosts"),
    }


def test_bad_usage_and_input_exit_2_with_one_line(
        tmp_path: Path, ideal: tuple[Fleet, Path]) -> None:
    failures = []
    for name, (args, expected) in bad_input_cases(tmp_path, ideal[1]).items():
        done = probe_cli(*args)
        lines = done.stderr.splitlines()
        if (done.returncode != 2 or len(lines) != 1 or expected not in lines[0]
                or "Traceback" in done.stderr or done.stdout):
            failures.append(f"{name}: exit {done.returncode}, stderr {done.stderr!r}")
    assert not failures, "\n".join(failures)


# -- signals: cancel through the context, keep what finished ----------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_signal_stops_the_scan_and_keeps_the_finished_results(
        standard: tuple[Fleet, Path], runtime: str, signum: int) -> None:
    fleet, path = standard
    hanging = {str(t) for t, latency in fleet.latency.items() if latency == float("inf")}
    assert hanging  # without a host that never answers, the scan could end by itself
    process = start_cli("scan", "--targets", str(path), "--runtime", runtime,
                        "--timeout", "30", "--format", "json", "--verbose")
    try:
        # --verbose writes a line per finished probe: wait until every host but the
        # hanging ones has answered, so the signal lands while only those are in flight.
        answered = len(fleet.targets) - len(hanging)
        read_until(process, b"scanning 20 targets", RUN_TIMEOUT_S, lines=1 + answered)
        process.send_signal(signum)
        sent = time.monotonic()
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
        took = time.monotonic() - sent
    finally:
        stop(process)
    assert process.returncode == 128 + signum, stderr
    assert took < STOP_WITHIN_S
    assert b"Traceback" not in stderr
    records = json.loads(stdout)
    truth = truth_of(fleet)
    assert len(records) == answered, "the results that finished are printed"
    assert {r["target"]: r["outcome"] for r in records}.items() <= truth.items()
    assert not {r["target"] for r in records} & hanging  # a stopped probe has no result


# -- check ------------------------------------------------------------------------------


def test_check_takes_a_go_duration(standard: tuple[Fleet, Path]) -> None:
    fleet, _ = standard
    healthy = next(t for t in fleet.targets if fleet.truth[t] == "ok")
    done = probe_cli("check", str(healthy), "--timeout", "5s")
    assert done.returncode == 0, done.stderr
    assert " ok " in done.stdout
    done = probe_cli("check", str(healthy), "--timeout", "5x")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "patterns-probe check: error: argument --timeout: '5x' is not a duration: write 5s, "
        "250ms, 1m30s or a number of seconds (see --help)"]
    assert not done.stdout


def test_check_prints_one_line(standard: tuple[Fleet, Path]) -> None:
    fleet, _ = standard
    healthy = next(t for t in fleet.targets if fleet.truth[t] == "ok")
    refused = next(t for t in fleet.targets if fleet.truth[t] == "refused")
    done = probe_cli("check", str(healthy), "--timeout", SCAN_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split()[:1] == [str(healthy).split()[0]]
    assert len(done.stdout.splitlines()) == 1 and " ok " in done.stdout
    done = probe_cli("check", str(refused), "--timeout", SCAN_TIMEOUT, "--runtime", "asyncio")
    assert done.returncode == 1, done.stderr
    assert len(done.stdout.splitlines()) == 1 and " refused " in done.stdout


# -- https: --ca and --insecure ---------------------------------------------------------


def test_check_https_trusts_the_ca_it_is_given(tls: tuple[Fleet, Path, Path]) -> None:
    fleet, _, ca = tls
    healthy = next(t for t in fleet.targets if fleet.roles[t] == "tls_ok")
    unknown = next(t for t in fleet.targets if fleet.roles[t] == "tls_unknown_ca")
    done = probe_cli("check", str(healthy), "--ca", str(ca), "--timeout", SCAN_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 and " ok " in done.stdout
    # The system's store alone does not know the fleet's CA.
    done = probe_cli("check", str(healthy), "--timeout", SCAN_TIMEOUT, "--runtime", "trio")
    assert done.returncode == 1, done.stderr
    assert " tls_error " in done.stdout and "unable to get local issuer" in done.stdout
    # --insecure takes any certificate: a stranger's too.
    done = probe_cli("check", str(unknown), "--insecure", "--timeout", SCAN_TIMEOUT,
                     "--runtime", "asyncio")
    assert done.returncode == 0, done.stderr
    assert " ok " in done.stdout


def test_pulses_lines_as_an_operator_types_them(tls: tuple[Fleet, Path, Path],
                                                 tmp_path: Path) -> None:
    # pulse's own lines: `scan --targets hosts.txt --workers 50` (hosts.txt is also
    # what scan reads when --targets names nothing) and `check https://... --timeout 5s`.
    fleet, hosts, ca = tls
    (tmp_path / "hosts.txt").write_text(hosts.read_text())
    (tmp_path / "ca.pem").write_text(ca.read_text())

    def operator(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "patterns.probe", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                              check=False)

    for line in (["scan", "--targets", "hosts.txt", "--workers", "50"],
                 ["scan", "--workers", "50"]):
        done = operator(*line, "--ca", "ca.pem", "--format", "json")
        assert done.returncode == 1, done.stderr  # the tls fleet has bad certificates
        assert {r["target"]: r["outcome"] for r in json.loads(done.stdout)} == truth_of(fleet)
    healthy = next(t for t in fleet.targets if fleet.roles[t] == "tls_ok")
    url = str(healthy).split()[0]
    assert url.startswith("https://")
    done = operator("check", url, "--timeout", "5s", "--ca", "ca.pem")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(url) and " ok " in done.stdout
    (tmp_path / "hosts.txt").unlink()
    done = operator("scan", "--workers", "50")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        "patterns-probe: error: hosts.txt: cannot read: No such file or directory"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_scan_with_ca_matches_the_tls_fleets_truth(tls: tuple[Fleet, Path, Path],
                                                   runtime: str) -> None:
    fleet, path, ca = tls
    done = probe_cli("scan", "--targets", str(path), "--runtime", runtime, "--ca", str(ca),
                     "--timeout", SCAN_TIMEOUT, "--format", "json")
    assert done.returncode == 1, done.stderr  # bad certificates and a stall
    records = json.loads(done.stdout)
    assert {r["target"]: r["outcome"] for r in records} == truth_of(fleet)
    assert {r["target"]: r["cert_expires"] for r in records
            if r["cert_expires"] is not None} == {
        str(t): fleet.cert_expires[t] for t in fleet.targets if fleet.roles[t] == "tls_ok"}


def test_scan_insecure_finds_the_bad_certificates_ok(tls: tuple[Fleet, Path, Path]) -> None:
    fleet, path, _ = tls
    done = probe_cli("scan", "--targets", str(path), "--insecure", "--timeout", SCAN_TIMEOUT,
                     "--format", "json")
    assert done.returncode == 1, done.stderr  # the stall is still a timeout
    records = {r["target"]: r for r in json.loads(done.stdout)}
    for target in fleet.targets:
        record = records[str(target)]
        if fleet.roles[target] == "tls_stall":
            assert record["outcome"] == "timeout"
        else:
            assert record["outcome"] == "ok", record
        # Every certificate a handshake got, spoiled or not, has its expiry reported.
        assert record["cert_expires"] == fleet.cert_expires.get(target), record


def test_serve_probes_https_with_its_ca(tls: tuple[Fleet, Path, Path]) -> None:
    fleet, path, ca = tls
    healthy = next(t for t in fleet.targets if fleet.roles[t] == "tls_ok")
    process = start_cli("serve", "--port", "0", "--targets", str(path), "--interval", "60",
                        "--timeout", SCAN_TIMEOUT, "--ca", str(ca))
    try:
        said = read_until(process, b"/metrics", RUN_TIMEOUT_S).decode()
        port = int(said.split("http://", 1)[1].split("/metrics", 1)[0].rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", f"/probe?target={healthy}")
            record = json.loads(connection.getresponse().read())
        finally:
            connection.close()
        assert (record["outcome"], record["status"]) == ("ok", 200), record
        assert record["cert_expires"] == fleet.cert_expires[healthy]
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        stop(process)
    assert process.returncode == 128 + signal.SIGTERM


def test_fleet_writes_its_ca_for_scan_ca(tmp_path: Path) -> None:
    out, ca = tmp_path / "fleet.txt", tmp_path / "ca.pem"
    process = start_cli("fleet", "--hosts", "10", "--profile", "tls", "--targets-out", str(out),
                        "--ca-out", str(ca))
    try:
        read_until(process, b"Ctrl-C to stop", RUN_TIMEOUT_S)
        assert "https://" in out.read_text(encoding="utf-8")
        assert ca.read_text(encoding="utf-8").startswith("-----BEGIN CERTIFICATE-----")
        # The CA it wrote is the one its TLS hosts' certificates chain to.
        done = probe_cli("scan", "--targets", str(out), "--ca", str(ca), "--timeout",
                         SCAN_TIMEOUT, "--format", "json")
        outcomes = {r["outcome"] for r in json.loads(done.stdout)
                    if r["target"].startswith("https://")}
        assert outcomes == {"ok", "tls_error", "timeout"}, done.stdout
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        stop(process)


# -- fleet ------------------------------------------------------------------------------


def test_fleet_writes_its_hosts_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "fleet.txt"
    process = start_cli("fleet", "--hosts", "10", "--profile", "ideal", "--seed", "3",
                        "--targets-out", str(out))
    try:
        read_until(process, b"Ctrl-C to stop", RUN_TIMEOUT_S)
        targets = parse_targets(out.read_text(encoding="utf-8"))
        assert len(targets) == 10
        assert all(t.host.startswith("127.") for t in targets)
        # The hosts answer: scan them while the fleet runs.
        done = probe_cli("scan", "--targets", str(out), "--format", "json")
        assert done.returncode == 0, done.stderr
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        stop(process)
    assert process.returncode == 128 + signal.SIGTERM  # stopped by a signal: 143


# -- serve ------------------------------------------------------------------------------


def scrape(port: int) -> str:
    """GET /metrics from 127.0.0.1 (http.client: no proxy settings can send it anywhere
    else)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        assert response.status == 200
        return response.read().decode("utf-8")
    finally:
        connection.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_serve_exports_the_gauges_over_http(standard: tuple[Fleet, Path], runtime: str) -> None:
    fleet, path = standard
    process = start_cli("serve", "--port", "0", "--targets", str(path), "--interval", "200ms",
                        "--timeout", f"{SCAN_TIMEOUT}s", "--runtime", runtime)
    try:
        said = read_until(process, b"/metrics", RUN_TIMEOUT_S).decode()
        url = said.split("http://", 1)[1].split("/metrics", 1)[0]
        host, port = url.rsplit(":", 1)
        assert host == "127.0.0.1"  # bound to loopback by default
        # serve says on stderr when a round ends: by then every target has its gauges.
        if b"round 1:" not in said.encode():
            read_until(process, b"round 1:", RUN_TIMEOUT_S)
        text = scrape(int(port))
        assert text.count("probe_success{") == len(fleet.targets), text
        check_metrics(text, fleet)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        stop(process)
    assert process.returncode == 128 + signal.SIGTERM, stderr  # stopped by a signal: 143
    assert b"Traceback" not in stderr

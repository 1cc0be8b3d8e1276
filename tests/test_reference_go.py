"""Tests for ``reference/go``, the probe and pool in Go, and its build for ``compare``.

The contract is :mod:`patterns.probe.compare.go`'s: :func:`round_command` builds the
binary once per version of the sources, offline, and its ``round`` speaks the protocol
of :mod:`patterns.probe.compare.round`, every outcome the fleet's truth. The Go side's
own tests (``go test -race``: every outcome against ``httptest`` servers, the three
pools, the hosts file) run here too, with ``gofmt`` and ``go vet``. Everything that
needs ``go`` skips, with the reason, where there is none; a source that does not build
fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from programs import program, required

from patterns.probe import OUTCOMES, Target, parse_targets
from patterns.probe.compare import go
from patterns.probe.fleet import Fleet

GO_LIMIT_S = 540.0  # a first `go test -race` compiles the standard library for the race detector
RUN_TIMEOUT_S = 30.0  # a round at a 1 s timeout, and the binary's start

# Each test asks for Go first (tests/programs.py): it skips, saying how to get it, where
# there is none, and fails where CI requires it.
needs_go = pytest.mark.usefixtures("go_toolchain")


@pytest.fixture(scope="module")
def go_toolchain() -> str:
    return program("go")


@pytest.fixture(scope="module")
def command() -> list[str]:
    """The round's command line, built (or found in the cache); skips where Go lacks a
    package (x/sync), fails where the sources do not build."""
    try:
        return go.round_command()
    except go.GoBuildFailed:
        raise
    except go.GoUnavailable as exc:
        if required("go"):
            pytest.fail(f"PATTERNS_REQUIRED_PROGRAMS names go, but {exc}", pytrace=False)
        pytest.skip(str(exc))


def run_go(*args: str, timeout: float = GO_LIMIT_S) -> subprocess.CompletedProcess[str]:
    argv, env = go.go_command(*args)
    return subprocess.run(argv, cwd=go.SOURCE, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def round_request(fleet: Fleet, pool: str) -> str:
    """What ``compare`` sends a round, plus the Go binary's own ``pool`` key."""
    return json.dumps({"runtime": "go", "workers": 20, "timeout": 1.0,
                       "targets": [str(t) for t in fleet.targets], "ca_pem": fleet.ca_pem,
                       "pool": pool})


# -- the Go side's own checks ---------------------------------------------------------


@needs_go
@pytest.mark.timeout(GO_LIMIT_S + 30)
def test_go_tests_pass_under_the_race_detector(command: list[str]) -> None:
    done = run_go("test", "-race", "-count=1", "./...")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok" in done.stdout


@needs_go
@pytest.mark.timeout(GO_LIMIT_S + 30)
def test_go_sources_are_gofmt_clean_and_vetted(command: list[str]) -> None:
    goroot = subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True,
                            timeout=60, check=True).stdout.strip()
    gofmt = shutil.which("gofmt") or str(Path(goroot) / "bin" / "gofmt")
    unformatted = subprocess.run([gofmt, "-l", "."], cwd=go.SOURCE, capture_output=True,
                                 text=True, timeout=60, check=True)
    assert unformatted.stdout == "", f"not gofmt-clean: {unformatted.stdout}"
    vet = run_go("vet", "./...")
    assert vet.returncode == 0, vet.stderr


# -- the round against a fleet --------------------------------------------------------


@needs_go
@pytest.mark.parametrize(("profile", "pool"), [("standard", "channels"),
                                               ("hostile", "errgroup"),
                                               ("tls", "semaphore")])
def test_a_go_round_finds_the_fleets_truth(command: list[str], profile: str,
                                           pool: str) -> None:
    with Fleet(hosts=20, profile=profile) as fleet:
        done = subprocess.run(command, input=round_request(fleet, pool), capture_output=True,
                              text=True, timeout=RUN_TIMEOUT_S, check=False)
        truth = [fleet.truth[t] for t in fleet.targets]
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    report = json.loads(lines[0])
    assert set(report) == {"wall_s", "cpu_s", "peak_memory_bytes", "outcomes"}
    assert report["outcomes"] == truth
    # The fleet's hanging hosts hold a probe for its whole 1 s timeout.
    assert profile == "tls" or report["wall_s"] >= 1.0
    assert 0 < report["cpu_s"] < report["wall_s"] * 2  # two cores at most
    assert report["peak_memory_bytes"] > 1 << 20


@needs_go
def test_a_bad_request_is_one_line_and_exit_2(command: list[str]) -> None:
    request = json.dumps({"runtime": "go", "workers": 2, "timeout": 1.0,
                          "targets": ["tcp://127.0.0.1:1", "ftp://127.0.0.1/"],
                          "ca_pem": None})
    done = subprocess.run(command, input=request, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "probe: targets:2: unknown scheme \"ftp://\" (use tcp://, http:// or https://)"]


@pytest.fixture(scope="module")
def tls_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path, Path]]:
    directory = tmp_path_factory.mktemp("go-tls")
    with Fleet(hosts=10, profile="tls") as fleet:
        assert fleet.ca_pem is not None
        hosts, ca = directory / "hosts.txt", directory / "ca.pem"
        hosts.write_text("".join(f"{t}\n" for t in fleet.targets), encoding="utf-8")
        ca.write_text(fleet.ca_pem, encoding="utf-8")
        yield fleet, hosts, ca


@needs_go
def test_go_scan_prints_the_records_of_the_python_cli(
        command: list[str], tls_fleet: tuple[Fleet, Path, Path]) -> None:
    fleet, hosts, ca = tls_fleet
    done = subprocess.run([command[0], "scan", "--targets", str(hosts), "--workers", "10",
                           "--timeout", "1s", "--ca", str(ca)], capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode == 1, done.stderr  # the tls fleet has hosts that fail
    records = json.loads(done.stdout)
    # The Go binary writes each target as Python's str(target): the same line.
    assert [r["target"] for r in records] == [str(t) for t in fleet.targets]
    assert [r["outcome"] for r in records] == [fleet.truth[t] for t in fleet.targets]
    for record, target in zip(records, fleet.targets, strict=True):
        assert list(record) == ["target", "outcome", "status", "latency", "error",
                                "runtime", "cert_expires"]
        assert record["runtime"] == "go"
        assert record["outcome"] in OUTCOMES
        assert (record["error"] is None) == (record["outcome"] == "ok")
        if target in fleet.cert_expires and record["outcome"] == "ok":
            assert record["cert_expires"] == fleet.cert_expires[target]


@needs_go
def test_spawn_reports_a_goroutines_cost(command: list[str]) -> None:
    done = subprocess.run([command[0], "spawn", "1000"], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, check=True)
    report = json.loads(done.stdout)
    assert report["goroutines"] == 1000
    assert report["ns_per_goroutine"] > 0
    # Its whole life (started, parked, released, ended) holds its start.
    assert report["lifetime_ns_per_goroutine"] > report["ns_per_goroutine"]
    # A goroutine starts with a stack of a few KiB; its cost is that, not an OS thread's MiB.
    assert 1000 < report["stack_bytes_per_goroutine"] < 64 * 1024


# -- the hosts file: Go reads it as Python does ---------------------------------------

hosts = (st.from_regex(r"[A-Za-z0-9._-]{1,24}", fullmatch=True)
         | st.ip_addresses(v=4).map(str) | st.ip_addresses(v=6).map(str))
ports = st.integers(1, 65535)
paths = st.from_regex(r"/[\x21-\x22\x24-\x7e]{0,24}", fullmatch=True)
texts = st.none() | st.text(max_size=24) | st.text(
    alphabet=' "#=\\\'\t\n\r\x00\x85\u2028\xa0é€😀aZ', max_size=12)
go_targets = st.one_of(  # every kind but icmp, which the Go reference does not probe
    st.builds(Target.tcp, hosts, ports),
    st.builds(Target.http, hosts, ports, paths, expect=st.integers(100, 599),
              contains=texts),
    st.builds(Target.https, hosts, ports, paths, expect=st.integers(100, 599),
              contains=texts))


@needs_go
@given(st.lists(go_targets, min_size=1, max_size=12))
def test_go_reads_every_hosts_file_line_as_python_does(command: list[str],
                                                       targets: list[Target]) -> None:
    # Python writes the file; Go reads it and writes each target back in its own words
    # (its quoting may differ where the two Unicode tables do), and Python reads those.
    done = subprocess.run([command[0], "targets", "/dev/stdin"],
                          input="".join(f"{t}  # comment\n\n" for t in targets),
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    assert parse_targets(done.stdout) == targets


# -- the build: once per version of the sources, and GoUnavailable otherwise ----------


@needs_go
@pytest.mark.timeout(GO_LIMIT_S + 30)
def test_the_build_is_cached_and_redone_when_a_source_changes(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "go"
    shutil.copytree(go.SOURCE, source)
    monkeypatch.setattr(go, "SOURCE", source)
    # Go's own build cache lives under XDG_CACHE_HOME too: keep it where it is, so only
    # our package is compiled again, not the standard library.
    go_cache = subprocess.run(["go", "env", "GOCACHE"], capture_output=True, text=True,
                              timeout=60, check=True).stdout.strip()
    monkeypatch.setenv("GOCACHE", go_cache)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = go.round_command()
    assert Path(first[0]).is_relative_to(tmp_path / "cache")
    assert go.round_command() == first  # the cache, not a second build
    (source / "main_test.go").write_text("package main\n", encoding="utf-8")
    assert go.round_command() == first  # a test file is not in the binary
    with (source / "main.go").open("a", encoding="utf-8") as main:
        main.write("\n// a change\n")
    second = go.round_command()
    assert second != first
    assert Path(second[0]).is_file()
    with (source / "main.go").open("a", encoding="utf-8") as main:
        main.write("\nthis is not Go\n")
    with pytest.raises(go.GoBuildFailed) as failed:
        go.round_command()
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("reference/go does not build: ") and "main.go" in message


def test_without_go_the_message_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder with no go in it
    with pytest.raises(go.GoUnavailable) as unavailable:
        go.round_command()
    assert str(unavailable.value) == (
        "no Go toolchain: apt-get install golang-go golang-golang-x-sync-dev")
    assert not isinstance(unavailable.value, go.GoBuildFailed)


def test_without_the_sources_go_is_unavailable(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setattr(go, "SOURCE", tmp_path / "reference" / "go")  # as in a wheel
    with pytest.raises(go.GoUnavailable) as unavailable:
        go.round_command()
    assert "\n" not in str(unavailable.value)
    assert "run from a clone" in str(unavailable.value)

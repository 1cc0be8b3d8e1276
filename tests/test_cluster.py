"""Tests for ``scan --cluster`` (:mod:`patterns.probe.cluster`): a scan in shards on a
Dask distributed cluster.

The contract is the one the docstring of :mod:`patterns.probe.cluster` states: the
results come back in input order, exactly one per target, each what the fleet's truth
says, in every runtime; cancelling the scan keeps the shards that finished and stops the
ones that run; a shard whose Dask worker dies runs again, and its targets still get one
result each. The cluster is a ``LocalCluster`` of two worker processes on 127.0.0.1,
started once for the module in a process of its own (``cluster_child.py`` says why);
each test connects its own client to it, over ``tcp://``, and closes it. ``--cluster
local``, where the CLI starts a cluster of its own, runs once, through the CLI.
"""

from __future__ import annotations

import json
import math
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from runtimes import POLL_LIMIT_S

import patterns
from patterns.context.on_threads import background
from patterns.probe import ProbeResult, Target, parse_targets
from patterns.probe.cluster import (
    KEY_PREFIX,
    SHARDS_PER_SLOT,
    ClusterError,
    connect,
    parse_address,
    scan,
    shard_ranges,
)
from patterns.probe.fleet import Fleet
from patterns.probe.tls import TlsConfig
from patterns.runtimes import RUNTIMES

pytest.importorskip("distributed", reason="scan --cluster needs Dask's distributed: "
                                          "pip install 'patterns[cluster]'")

CHILD = Path(__file__).with_name("cluster_child.py")
SLOTS = 2  # the child's cluster: two worker processes of one thread each
WORKERS = 4  # per shard: 20 targets make 5 shards of 4
TIMEOUT = 1.0  # the least probe timeout the fleet's truth holds for
NEVER = 60.0  # a probe timeout no test waits out: a probe still running was stopped
RUN_TIMEOUT_S = 30.0  # a CLI run, a cluster's start or stop


def environment() -> dict[str, str]:
    """This environment, where a child and its Dask workers import the ``patterns`` that
    the tests import (a worker runs a shard by importing ``patterns.probe.cluster``)."""
    root = str(Path(patterns.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [root, os.environ.get("PYTHONPATH")]))}


def read_line(stream: Any, timeout: float) -> str:
    """One line of ``stream`` (a child's stdout), within ``timeout`` seconds."""
    fd = stream.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no line within {timeout} s: {data!r}")
        chunk = os.read(fd, 1)
        if not chunk:
            raise AssertionError(f"the stream ended first: {data!r}")
        data += chunk
    return data.decode().strip()


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The address of a two-worker ``LocalCluster`` in a child process, for the module.

    Dask keeps a few things for the life of a process once a client has needed them
    (the first client opens libuuid's clock file, and keeps it); the fixture connects
    once, so that no test counts them as its own leak.
    """
    child = subprocess.Popen([sys.executable, str(CHILD)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=environment())
    assert child.stdin is not None and child.stdout is not None
    try:
        address = read_line(child.stdout, RUN_TIMEOUT_S)
        with connect(address):
            pass
        yield address
    finally:
        child.stdin.close()  # its signal to stop the cluster
        try:
            child.wait(RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    """A standard fleet of 20: refused, 5xx, wrong content and one hanging host."""
    with Fleet(hosts=20, profile="standard") as fleet:
        yield fleet


def hanging(fleet: Fleet) -> set[Target]:
    return {target for target, latency in fleet.latency.items() if math.isinf(latency)}


def check(results: list[ProbeResult], targets: list[Target], fleet: Fleet) -> None:
    """Exactly one result per target, in input order, each as the fleet's truth says."""
    assert [result.target for result in results] == targets
    wrong = {str(r.target): (r.outcome, fleet.truth[r.target]) for r in results
             if r.target in fleet.truth and r.outcome != fleet.truth[r.target]}
    assert not wrong, f"outcome vs truth: {wrong}"


# -- shards and addresses ---------------------------------------------------------------


@given(count=st.integers(0, 5000), slots=st.integers(1, 64), workers=st.integers(1, 500))
def test_shards_cover_the_targets_in_order_a_few_per_slot(
        count: int, slots: int, workers: int) -> None:
    ranges = shard_ranges(count, slots=slots, workers=workers)
    assert [i for r in ranges for i in r] == list(range(count))  # each once, in order
    assert len(ranges) <= max(1, SHARDS_PER_SLOT * slots)
    if ranges:
        sizes = [len(r) for r in ranges]
        assert max(sizes) - min(sizes) <= 1  # as even as can be
        assert min(sizes) >= min(workers, count)  # a shard fills its pool


@pytest.mark.parametrize("text", ["127.0.0.1:8786", "tcp://127.0.0.1", "tcp://:8786",
                                  "tcp://127.0.0.1:0", "tcp://127.0.0.1:65536",
                                  "tcp://127.0.0.1:port", "tls://127.0.0.1:8786",
                                  "tcp://127.0.0.1:8786/path", "LOCAL", ""])
def test_a_bad_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a cluster address"):
        parse_address(text)


def test_no_scheduler_at_the_address_is_a_cluster_error() -> None:
    # A port bound and not listened on: the kernel refuses every connection to it.
    with socket.socket() as nobody:
        nobody.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{nobody.getsockname()[1]}"
        refused = f"no Dask scheduler answered at {address}: Connection refused"
        with pytest.raises(ClusterError, match=refused), connect(address, timeout=0.5):
            pass


# -- the scan ---------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_results_come_back_in_input_order_one_per_target(
        cluster: str, fleet: Fleet, runtime: str) -> None:
    targets = fleet.targets
    assert len(shard_ranges(len(targets), slots=SLOTS, workers=WORKERS)) > SLOTS
    seen: Counter[Target] = Counter()
    with connect(cluster) as client:
        assert sum(client.nthreads().values()) == SLOTS
        results = scan(targets, client=client, runtime=runtime,  # type: ignore[arg-type]
                       workers=WORKERS, timeout=TIMEOUT,
                       on_result=lambda result: seen.update([result.target]))
    check(results, targets, fleet)
    assert {result.runtime for result in results} == {runtime}
    assert seen == Counter(targets)  # on_result: once per target too


def test_https_shards_trust_what_the_scan_trusts(cluster: str) -> None:
    # TlsConfig travels to each shard as data: the tls fleet's CA verifies its good hosts
    # on the workers, and its bad certificates are tls_error there too.
    with Fleet(hosts=20, profile="tls") as tls_fleet, connect(cluster) as client:
        targets = tls_fleet.targets
        results = scan(targets, client=client, runtime="threads", workers=WORKERS,
                       timeout=TIMEOUT, tls=TlsConfig(ca_pem=tls_fleet.ca_pem))
        check(results, targets, tls_fleet)
        assert {r.outcome for r in results} >= {"ok", "tls_error"}
        assert any(r.cert_expires for r in results if r.target.tls and r.healthy)


def executing(client: Any) -> dict[str, list[Any]]:
    """Each Dask worker's address -> the keys of the tasks it is running."""
    result: dict[str, list[Any]] = client.run(
        lambda dask_worker: [task.key for task in dask_worker.state.executing])
    return result


def wait_for(condition: Any, what: str) -> Any:
    """Poll ``condition()`` until it is true, for at most ``POLL_LIMIT_S``."""
    deadline = time.monotonic() + POLL_LIMIT_S
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {POLL_LIMIT_S} s: {what}"
    return value


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_cancelling_keeps_the_finished_shards_and_stops_the_running_one(
        cluster: str, fleet: Fleet, runtime: str) -> None:
    # The hanging host last: its shard, which never finishes, is the last to start, so
    # no shard waits behind it, whatever the scheduler hands out ahead of time.
    targets = sorted(fleet.targets, key=lambda target: target in hanging(fleet))
    ranges = shard_ranges(len(targets), slots=SLOTS, workers=WORKERS)
    stuck = [r for r in ranges if any(targets[i] in hanging(fleet) for i in r)]
    assert stuck == ranges[-1:]
    expected = [targets[i] for r in ranges[:-1] for i in r]
    ctx = background().with_cancel()

    def on_result(result: ProbeResult) -> None:
        on_result.count += 1  # type: ignore[attr-defined]
        if on_result.count == len(expected):  # type: ignore[attr-defined]
            ctx.cancel()  # every other shard is done: only the stuck one runs

    on_result.count = 0  # type: ignore[attr-defined]
    with connect(cluster) as client:
        results = scan(targets, client=client, runtime=runtime,  # type: ignore[arg-type]
                       workers=WORKERS, timeout=NEVER, ctx=ctx, on_result=on_result)
        # The stuck shard's probe of the hanging host would wait NEVER seconds: its
        # task ends this soon only if the cancel reached the probe on the worker.
        wait_for(lambda: not any(executing(client).values()),
                 "the cancelled shard stops on its worker")
    assert [result.target for result in results] == expected
    check(results, expected, fleet)
    assert ctx.err is not None  # the list is short, and the context says so


def test_a_shard_whose_worker_dies_runs_again(cluster: str, fleet: Fleet) -> None:
    """A gate host of the test's own holds one probe, so its shard surely runs; the
    worker running it is killed; the gate then refuses, so a result can only come from
    the shard's second run: its outcome is ``refused``, never the first run's."""
    answering = [target for target in fleet.targets if target not in hanging(fleet)]
    with socket.create_server(("127.0.0.1", 0)) as gate:
        gate.settimeout(POLL_LIMIT_S)
        gate_target = parse_targets(f"http://127.0.0.1:{gate.getsockname()[1]}/")[0]
        targets = [*answering[:9], gate_target, *answering[9:]]
        ranges = shard_ranges(len(targets), slots=SLOTS, workers=WORKERS)
        gate_shard = next(n for n, r in enumerate(ranges) if 9 in r)
        outcome: list[Any] = []
        with connect(cluster) as client:
            pids: dict[str, int] = client.run(os.getpid)

            def run_scan() -> None:
                try:
                    outcome.append(scan(targets, client=client, runtime="asyncio",
                                        workers=WORKERS, timeout=NEVER))
                except BaseException as exc:  # re-raised in the test's thread
                    outcome.append(exc)

            scanning = threading.Thread(target=run_scan)
            scanning.start()
            try:
                held, _ = gate.accept()  # the gate shard's probe is in flight
                with held:
                    gate.close()  # from now on the gate refuses

                    def gate_worker() -> str | None:
                        return next((worker for worker, keys in executing(client).items()
                                     for key in keys if isinstance(key, tuple)
                                     and key[0].startswith(KEY_PREFIX)
                                     and key[1] == gate_shard), None)

                    worker = wait_for(gate_worker, "a worker runs the gate's shard")
                    os.kill(pids[worker], signal.SIGKILL)
                    # RUN_TIMEOUT_S, not POLL_LIMIT_S: a shard that had finished on the
                    # killed worker, its result not yet fetched, is computed again
                    # ("Couldn't gather keys, rescheduling"), and once in about 40 runs of
                    # the suite on a busy machine that took more than 10 s.
                    scanning.join(RUN_TIMEOUT_S)
                    assert not scanning.is_alive(), "the scan did not end"
            finally:
                scanning.join()
            # The cluster's nanny starts a new worker process: later tests have two.
            client.wait_for_workers(SLOTS, timeout=POLL_LIMIT_S)
    [results] = outcome
    assert not isinstance(results, BaseException), results
    check(results, targets, fleet)
    assert results[9].outcome == "refused"  # the second run's


# -- the command line -------------------------------------------------------------------


def probe_cli(*args: str, python: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(python or [sys.executable, "-m", "patterns.probe"]), *args],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                          check=False, env=environment())


def test_scan_cluster_local_prints_what_scan_prints(fleet: Fleet, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("".join(f"{target}\n" for target in fleet.targets), encoding="utf-8")
    done = probe_cli("scan", "--targets", str(hosts), "--cluster", "local", "--runtime",
                     "trio", "--workers", str(WORKERS), "--timeout", "1", "--format", "json")
    assert done.returncode == 1, done.stderr  # the standard fleet has unhealthy hosts
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scanning 20 targets"), done.stderr
    records = json.loads(done.stdout)
    assert [r["target"] for r in records] == [str(t) for t in fleet.targets]
    assert {r["target"]: r["outcome"] for r in records} == {
        str(target): outcome for target, outcome in fleet.truth.items()}
    assert {r["runtime"] for r in records} == {"trio"}
    alone = probe_cli("scan", "--targets", str(hosts), "--runtime", "trio",
                      "--workers", str(WORKERS), "--timeout", "1", "--format", "json")
    assert [set(r) for r in records] == [set(r) for r in json.loads(alone.stdout)]


def test_bad_cluster_input_exits_2_with_one_line(fleet: Fleet, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("".join(f"{target}\n" for target in fleet.targets), encoding="utf-8")
    scan_args = ["scan", "--targets", str(hosts), "--timeout", "1", "--cluster"]
    # Without distributed, as after `pip install patterns` with no extra.
    without = [sys.executable, "-c", "import sys; sys.modules['distributed'] = None; "
               "from patterns.probe.cli import main; sys.exit(main())"]
    with socket.socket() as nobody:  # bound, not listening: the kernel refuses
        nobody.bind(("127.0.0.1", 0))
        refused = f"tcp://127.0.0.1:{nobody.getsockname()[1]}"
        cases = {
            "no scheme": (probe_cli(*scan_args, "127.0.0.1:8786"), "is not a cluster address"),
            "no port": (probe_cli(*scan_args, "tcp://127.0.0.1"), "is not a cluster address"),
            "nobody there": (probe_cli(*scan_args, refused),
                             f"no Dask scheduler answered at {refused}: Connection refused"),
            "no distributed": (probe_cli(*scan_args, "local", python=without),
                               "pip install 'patterns[cluster]'"),
        }
    failures = [f"{name}: exit {done.returncode}, stderr {done.stderr!r}"
                for name, (done, expected) in cases.items()
                if done.returncode != 2 or len(done.stderr.splitlines()) != 1
                or expected not in done.stderr or done.stdout]
    assert not failures, "\n".join(failures)

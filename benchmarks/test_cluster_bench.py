"""A scan beyond one process: 10,000 hosts, asyncio, on one process and on ``--cluster local``.

What is timed: one whole scan per round of every host of a 10,000-host ``ideal``
:class:`~patterns.probe.fleet.Fleet` (each host answers ``GET`` after 50 ms), in
asyncio, each probe within ``TIMEOUT_S``, every result gathered and checked: 10,000
results in target order, each ``ok``. Three lines, one group (``cluster-scan-ideal``):

- ``asyncio-patterns``, the baseline: ``on_asyncio.scan(targets, workers=100)`` in this
  process. 100 probes in flight; 5.0 s for a perfect pool (``ideal_s``).
- ``asyncio-cluster``: the same scan with ``--cluster local``
  (:func:`patterns.probe.cluster.scan` on ``connect("local", local_workers=2)``): two
  Dask worker processes of one thread each, 8 shards of 1,250 hosts, each shard an
  ``on_asyncio.scan(..., workers=100)`` of its own: 200 probes in flight; 2.5 s for a
  perfect pool of 200. The cluster is started once for the module, outside the rounds
  (its start, about a second, is ``cluster_start_s`` in ``extra_info``), as a cluster
  that serves many scans would be.
- ``asyncio-wide``: one process again, at 200 workers, as many probes in flight as the
  cluster has: what ``--workers`` alone gives on the same machine.

``report.py`` prints the two others against ``asyncio-patterns`` (ours / baseline, so
below 1.0 is faster), and each line's ``efficiency`` (``ideal_s`` / median round).

Each line also records, per round, the CPU seconds of every process that scans
(``scan_cpu_s``: for the cluster, its two workers and this process, which holds the
scheduler and the client) and of the fleet (``fleet_cpu_s``): on a machine shared with
other work, what a round cost is steadier than how long it took.

Why ``ideal``: every host the same 50 ms, so a round is all probing and no waiting for
one slow or hanging host, and what more processes buy shows at once. Why 100 workers:
at 100 one process waits for the hosts more than for its CPU (about 0.8 of a perfect
pool on two CPUs), so there is room for a second process to help. Why ``TIMEOUT_S`` is
3 s: with two CPUs busy a probe also waits for the CPU, and its deadline covers that
wait (see ``test_scale.py``); the truth, ``ok``, holds for any timeout from 1 s.

What it shows on two CPUs (``docs/cluster.md`` has one run's figures, and reads them):
the cluster is faster than one process at 100 workers, and no faster than one process
at 200, for more CPU. Probing costs CPU (about 0.35 ms a probe), and the fleet shares
the two CPUs: once 200 probes are in flight a round waits for the CPU, however many
processes share the work. Machines of their own would each bring CPUs.

Run it (about a minute), then print the ratios; ``--benchmark-disable`` (the smoke run)
scans a fleet of 1,000 hosts once per line instead::

    python -m pytest benchmarks/test_cluster_bench.py --benchmark-json=cluster.json
    python benchmarks/report.py cluster.json
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from open_files import fleet_with_files

from patterns.probe import ProbeResult, Target, cluster, on_asyncio
from patterns.probe.fleet import Fleet
from patterns.probe.schedule import ideal_makespan
from patterns.probe.usage import cpu_seconds

pytest.importorskip("distributed", reason="scan --cluster needs Dask's distributed: "
                                          "pip install 'patterns[cluster]'")

HOSTS = 10_000
SMOKE_HOSTS = 1_000  # --benchmark-disable: the same three lines, a tenth of the hosts
WORKERS = 100  # per process: the baseline's, and each shard's
DASK_WORKERS = 2  # processes of the local cluster, one thread each
TIMEOUT_S = 3.0  # per probe; why not 1 s: see the module docstring
ROUNDS = 3  # timed rounds a line, after one warm-up round: a round takes 3 to 6 s


@pytest.fixture(scope="module")
def fleet(pytestconfig: pytest.Config) -> Iterator[Fleet]:
    """The ideal fleet, with the files this process needs: a listening socket per host
    in the fleet's process (which raises its own limit), a socket per probe in flight
    in this one, whose soft limit is raised for the module if it is lower."""
    hosts = SMOKE_HOSTS if pytestconfig.getoption("benchmark_disable") else HOSTS
    with fleet_with_files(hosts, "ideal", in_flight=2 * WORKERS) as fleet:
        yield fleet


@pytest.fixture(scope="module")
def local_cluster() -> Iterator[tuple[Any, float]]:
    """``--cluster local`` of two worker processes, and the seconds it took to start."""
    start = time.perf_counter()
    with cluster.connect(cluster.LOCAL, local_workers=DASK_WORKERS) as client:
        yield client, time.perf_counter() - start


async def one_process(targets: list[Target], workers: int) -> list[ProbeResult]:
    return await on_asyncio.scan(targets, workers=workers, timeout=TIMEOUT_S)


def check(results: list[ProbeResult], targets: list[Target]) -> None:
    """One result per target, in target order, every one ``ok`` (the fleet is ideal),
    every one probed by asyncio (the lines compare processes, not runtimes)."""
    assert len(results) == len(targets), f"{len(results)} results for {len(targets)} targets"
    assert {r.runtime for r in results} == {"asyncio"}
    assert all(r.target == t for r, t in zip(results, targets, strict=True)), "out of order"
    wrong = [r for r in results if r.outcome != "ok"]
    assert not wrong, f"{len(wrong)} not ok, the first: {wrong[0]}"


# Named runtime-implementation, as report.py reads a benchmark's param; in this order,
# so that the local cluster starts after the one-process lines have run.
CASES = {  # case -> probes in flight
    "asyncio-patterns": WORKERS,
    "asyncio-wide": DASK_WORKERS * WORKERS,
    "asyncio-cluster": DASK_WORKERS * WORKERS,
}


@pytest.mark.benchmark(group="cluster-scan-ideal")
@pytest.mark.parametrize("case", CASES)
def test_cluster_scan(benchmark: Any, in_runtime: Any, request: pytest.FixtureRequest,
                      fleet: Fleet, case: str) -> None:
    targets = fleet.targets
    in_flight = CASES[case]
    ideal_s = ideal_makespan([min(fleet.latency[t], TIMEOUT_S) for t in targets], in_flight)
    benchmark.extra_info.update(ops=len(targets), op="host", hosts=len(targets),
                                workers=WORKERS, in_flight=in_flight, timeout_s=TIMEOUT_S,
                                profile=fleet.profile, ideal_s=ideal_s)
    run: Callable[[], list[ProbeResult]]
    scanners: list[int] = []  # other processes that scan: the Dask workers
    if case == "asyncio-cluster":
        client, start_s = request.getfixturevalue("local_cluster")
        benchmark.extra_info.update(dask_workers=DASK_WORKERS, cluster_start_s=start_s)
        run = partial(cluster.scan, targets, client=client, runtime="asyncio",
                      workers=WORKERS, timeout=TIMEOUT_S)
        scanners = list(client.run(os.getpid).values())
    else:
        run = in_runtime("asyncio", partial(one_process, targets, in_flight))
    assert fleet.pid is not None
    fleet_pid = fleet.pid
    spent = Counter[str]()

    def scan_round() -> None:
        # CPU seconds, beside the wall time: on a machine shared with other work, what
        # a round cost is steadier than how long it took.
        scan_cpu, fleet_cpu = cpu_of(scanners), cpu_seconds(fleet_pid) or 0.0
        check(run(), targets)
        spent.update(rounds=1, scan_cpu_s=cpu_of(scanners) - scan_cpu,
                     fleet_cpu_s=(cpu_seconds(fleet_pid) or 0.0) - fleet_cpu)

    benchmark.pedantic(scan_round, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update({key: spent[key] / spent["rounds"]
                                 for key in ("scan_cpu_s", "fleet_cpu_s")})
    if benchmark.stats is not None:  # None with --benchmark-disable: nothing was timed
        benchmark.extra_info["efficiency"] = ideal_s / benchmark.stats.stats.median


def cpu_of(others: list[int]) -> float:
    """CPU seconds used so far by this process (a local cluster's scheduler and client
    are in it) and by the processes ``others``."""
    return cpu_seconds() + sum(cpu_seconds(pid) or 0.0 for pid in others)


"""A cancel scope per job, or one per worker? The trio pool, measured both ways.

trio's idiom is a cancel scope per job: ``with job.scope():`` around ``fn``, as the
asyncio pool writes ``async with job.scope():``. An earlier version of the trio pool
kept one scope per worker instead, its deadline moved from job to job, because entering
a scope costs about as much as a no-op job. This script asks whether that saving shows
on the work the pool is for: the burst (the ``ideal`` fleet: 100 hosts answering in
50 ms, 100 workers), the probe workload where per-job costs show most.

Both pools scan one fleet in interleaved rounds (A B, then B A, ...), each round a
fresh ``trio.run``, every result checked against the fleet's truth; the first round
warms up. The per-worker pool is read from the commit that last had it, so the script
needs a clone with history::

    python scripts/trio_pool_scopes.py [ROUNDS]

``docs/measurements.md`` has the figures of one run.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

import patterns.probe.on_trio as driver
import patterns.workerpool.on_trio as job_scope
from patterns.probe.fleet import Fleet

WORKER_SCOPE_COMMIT = "f4b867a"  # the last commit whose trio pool kept a scope per worker
ROOT = Path(__file__).resolve().parent.parent


def worker_scope_pool() -> type:
    source = subprocess.run(
        ["git", "show", f"{WORKER_SCOPE_COMMIT}:patterns/workerpool/on_trio.py"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "worker_scope_pool.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("worker_scope_pool", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    pool: type = module.WorkerPool
    return pool


def main(rounds: int) -> None:
    pools = {"scope per job": job_scope.WorkerPool, "scope per worker": worker_scope_pool()}
    times: dict[str, list[float]] = {name: [] for name in pools}
    with Fleet(hosts=100, profile="ideal", seed=0) as fleet:
        targets = fleet.targets
        for number in range(rounds + 1):
            order = list(pools) if number % 2 == 0 else list(pools)[::-1]
            for name in order:
                driver.WorkerPool = pools[name]  # type: ignore[misc]  # what scan builds on
                start = time.perf_counter()
                results = trio.run(lambda: driver.scan(targets, workers=100, timeout=1.0))
                elapsed = time.perf_counter() - start
                wrong = [r for r in results if r.outcome != fleet.truth[r.target]]
                assert len(results) == len(targets) and not wrong, f"{name}: {wrong[:3]}"
                if number:  # round 0 warms up
                    times[name].append(elapsed)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, ts in times.items():
        print(f"{name:17} median {medians[name] * 1000:6.2f} ms over {len(ts)} rounds")
    ratio = medians["scope per job"] / medians["scope per worker"]
    print(f"per job / per worker: {ratio:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)

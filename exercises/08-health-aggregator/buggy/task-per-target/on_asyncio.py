"""Chapter 08, asyncio: the health aggregator. Probe every target through a worker pool,
then export each target's last probe as Prometheus gauges.

Go's health checker: N goroutines ranging over a channel of targets, each probe under
``context.WithTimeout``, the results written by index, then a ``prometheus.GaugeVec``
per metric served by ``promhttp``::

    for w := 0; w < workers; w++ {
        go func() {
            for i := range jobs {
                ctx, cancel := context.WithTimeout(context.Background(), timeout)
                results[i] = probe(ctx, targets[i])
                cancel()
            }
        }()
    }

becomes::

    results = await scan(targets, workers=20, timeout=1.0)
    metrics.update(results)

What asyncio does differently: the workers are tasks on one thread, and a probe waits
on the event loop, not in a system call. The whole probe runs inside its context's
``scope()``, so when its deadline passes the probe is cancelled wherever it waits
(connecting, reading the third byte). A host that never answers holds one worker for one
timeout, and the other workers go on with the rest of the fleet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Gauge

from patterns.context.on_asyncio import background
from patterns.probe import OUTCOMES, ProbeResult, Target
from patterns.probe.on_asyncio import probe

__all__ = ["Metrics", "scan"]


async def scan(targets: Iterable[Target], *, workers: int, timeout: float) -> list[ProbeResult]:
    """Probe every target, ``workers`` at a time, each within ``timeout`` seconds, and
    return one result per target, in the order of ``targets``."""
    targets = list(targets)
    finished: list[ProbeResult | None] = [None] * len(targets)

    async def probe_one(index: int, target: Target) -> None:
        with background().with_timeout(timeout) as ctx:
            finished[index] = await probe(ctx, target)

    async with asyncio.TaskGroup() as group:
        for index, target in enumerate(targets):
            # BUG: a task per target: `workers` bounds nothing, every probe runs at once
            group.create_task(probe_one(index, target))
    return [result for result in finished if result is not None]


class Metrics:
    """Each target's last probe as gauges, on a registry of their own.

    - ``probe_success{target}``: 1 if the last probe was healthy, else 0;
    - ``probe_duration_seconds{target}``: how long the last probe took;
    - ``probe_outcome{target, outcome}``: 1 for the last probe's outcome, 0 for the nine
      others (the usual way to export an enum as gauges).

    A gauge is a state, not an event: every round sets every gauge of each target, to 0
    as well as to 1, so a host that went down stops saying it is up, and never has two
    outcomes at 1. Runtime-free: the same class in all three files.
    """

    def __init__(self) -> None:
        # Not the process-wide default registry: what a scrape sees is exactly these
        # gauges, and a test (or a second aggregator) can build as many as it likes.
        self.registry = CollectorRegistry()
        self.success = Gauge("probe_success", "1 if the last probe of the target was healthy",
                             ["target"], registry=self.registry)
        self.duration = Gauge("probe_duration_seconds", "Seconds the last probe took",
                              ["target"], registry=self.registry)
        self.outcome = Gauge("probe_outcome", "1 for the outcome of the last probe, else 0",
                             ["target", "outcome"], registry=self.registry)

    def update(self, results: Sequence[ProbeResult]) -> None:
        """Set every gauge of each result's target from that result."""
        for result in results:
            target = str(result.target)  # its hosts-file line: one label value per target
            self.success.labels(target).set(1 if result.healthy else 0)
            if result.latency is not None:
                self.duration.labels(target).set(result.latency)
            for outcome in OUTCOMES:
                self.outcome.labels(target, outcome).set(1 if outcome == result.outcome else 0)

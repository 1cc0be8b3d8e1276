"""Chapter 08, trio: the health aggregator. Probe every target through a worker pool,
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

One probe is the library's ``probe(ctx, target)``: this chapter is the aggregator
around it. The pool is the library's ``WorkerPool`` or your own from chapter 03.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Gauge  # noqa: F401  (Gauge: task 3)

from patterns.probe import OUTCOMES, ProbeResult, Target, result_of_job  # noqa: F401
from patterns.probe.on_trio import probe  # noqa: F401  (one probe, with its deadline)
from patterns.workerpool.on_trio import WorkerPool  # noqa: F401  (or yours, chapter 03)

__all__ = ["Metrics", "scan"]

RUNTIME = "trio"


async def scan(targets: Iterable[Target], *, workers: int, timeout: float) -> list[ProbeResult]:
    """Probe every target, ``workers`` at a time, each within ``timeout`` seconds, and
    return one result per target, in the order of ``targets``."""
    # TODO (task 1): hand every target to a worker pool that calls probe(ctx, target) with
    #   a deadline of `timeout` seconds; keep each result by its target's place in the
    #   input, and return them in that order. A probe that timed out is a result too.
    # TODO (task 2): every probe goes through the pool: `workers` at a time, no more.
    raise NotImplementedError("task 1: scan() should probe every target through a worker pool")


class Metrics:
    """Each target's last probe as gauges, on a registry of their own:
    ``probe_success{target}``, ``probe_duration_seconds{target}`` and
    ``probe_outcome{target, outcome}``. Runtime-free: the same class in all three files.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # TODO (task 3): three Gauges on self.registry: probe_success and probe_duration_seconds
        #   labelled by target, probe_outcome labelled by target and outcome.

    def update(self, results: Sequence[ProbeResult]) -> None:
        """Set every gauge of each result's target from that result."""
        # TODO (task 3): for each result, its target's up (1 if healthy, else 0), its
        #   latency, and its outcome (1); the label value is str(result.target).
        # TODO (task 4): a gauge says what is true now: after a host goes down, nothing
        #   of it may still say it is up, and only one outcome is ever 1.
        raise NotImplementedError("task 3: update() should set every result's gauges")

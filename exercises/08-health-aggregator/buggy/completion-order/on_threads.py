"""Chapter 08, threads: the health aggregator. Probe every target through a worker pool,
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

    results = scan(targets, workers=20, timeout=1.0)
    metrics.update(results)

What threads do differently: a worker blocked on a socket cannot be interrupted, so the
probe keeps its deadline itself (the time left becomes the socket's timeout before each
call). A host that never answers holds one worker for one timeout, and the other
workers go on with the rest of the fleet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Gauge

from patterns.probe import OUTCOMES, ProbeResult, Target, result_of_job
from patterns.probe.on_threads import probe
from patterns.workerpool.on_threads import WorkerPool

__all__ = ["Metrics", "scan"]

RUNTIME = "threads"


def scan(targets: Iterable[Target], *, workers: int, timeout: float) -> list[ProbeResult]:
    """Probe every target, ``workers`` at a time, each within ``timeout`` seconds, and
    return one result per target, in the order of ``targets``."""
    finished: list[ProbeResult] = []
    # probe(ctx, target) is the shape the pool calls, fn(ctx, item): no wrapper needed.
    with WorkerPool(probe, workers=workers, timeout=timeout) as pool:
        for job in pool.map(targets):
            # A probe whose deadline passed comes back as a failed job (the pool keeps
            # its context's error, not a value that came as it ended): result_of_job
            # gives every job its outcome, timeout included. None only for a probe that
            # was cancelled, and nothing cancels this scan.
            result = result_of_job(job, RUNTIME)
            if result is not None:
                finished.append(result)  # BUG: in the order the probes finished, not the input's
    return finished


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

"""Chapter 09: the runtime comparison, and the arithmetic that makes its figures honest.

Go measures with ``go test -bench=Scan -count=5`` and reads the runs with ``benchstat``,
which reports the median of the runs and how far they spread. ``patterns.probe.compare``
does that for the three runtimes' scans of one fleet, and this file is its core:

- :func:`ideal_makespan`, the yardstick: how long a perfect FIFO pool of ``workers``
  would take over the fleet's latencies. A wall time alone says nothing; held against
  what the fleet itself makes a scan wait, it says what the runtime and your code cost.
- :class:`RuntimeFigures`: a runtime's rounds become its figures: the median wall time
  (one round on a busy machine must not move it), the efficiency ``ideal / median``
  (1.0 is a pool that costs nothing), and the hosts it got right in its worst round (a
  fast wrong scan is not fast).
- :func:`compare`: one fleet, ``rounds`` scans in each runtime, interleaved (threads,
  asyncio, trio, then again), so that a machine that slows down for a while slows every
  runtime alike; each round held against the fleet's truth.

Plain synchronous code, whatever runtime it measures: every scan runs in a fresh process
of its own (:class:`~patterns.probe.compare.RoundRunner`), which reports its wall time,
CPU time, peak memory and outcomes. What this file decides is whether those figures can
be believed. (The library's version also reads the fleet's CPU time during each round,
to show that the fleet was never what a scan waited for; this one leaves that out.)
"""

from __future__ import annotations

import heapq
import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from patterns.probe import Target
from patterns.probe.compare import Round, RoundRunner
from patterns.runtimes import RUNTIMES

if TYPE_CHECKING:
    from patterns.probe.fleet import Fleet

__all__ = ["Comparison", "Round", "RuntimeFigures", "compare", "ideal_makespan", "lower_bound"]


def ideal_makespan(costs: Iterable[float], workers: int) -> float:
    """The wall time of a perfect FIFO pool: ``costs`` taken in input order, each by the
    worker that frees first, with no overhead at all (greedy list scheduling).

    >>> ideal_makespan([1, 1, 1, 1, 5], workers=2)  # the slow host comes last...
    7.0
    >>> ideal_makespan([5, 1, 1, 1, 1], workers=2)  # ...or first, behind the others
    5.0

    The heap holds the time at which each busy worker frees up; the smallest is the next
    free one, which takes the next cost. A slow host that comes last starts late, when a
    worker frees, and finishes later still: that is what FIFO order costs.
    """
    costs = list(costs)
    free_at = [0.0] * min(workers, len(costs))
    for cost in costs:
        heapq.heapreplace(free_at, free_at[0] + cost)
    return max(free_at, default=0.0)


def lower_bound(costs: Iterable[float], workers: int) -> float:
    """The wall time no schedule can beat: the longest cost, or all the work spread evenly
    over the workers, whichever is more. Not a yardstick for a FIFO pool, which need not
    reach it: ``lower_bound / ideal_makespan`` is what FIFO order costs."""
    costs = list(costs)
    if not costs:
        return 0.0
    return max(float(max(costs)), math.fsum(costs) / workers)


@dataclass(slots=True)
class RuntimeFigures:
    """A runtime's rounds, and the figures the comparison reports for it."""

    runtime: str
    hosts: int
    ideal_s: float
    lower_bound_s: float
    rounds: list[Round] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        """The median wall time: the middle round, which one slow round cannot move
        (the mean of the middle two, for an even number)."""
        return statistics.median(r.wall_s for r in self.rounds)

    @property
    def efficiency(self) -> float:
        """``ideal_s / median_s``: 1.0 is a perfect FIFO pool; less is what it costs."""
        return self.ideal_s / self.median_s

    @property
    def correct(self) -> int:
        """Hosts classified as the fleet's truth says, in the worst round."""
        return min(r.correct for r in self.rounds)

    @property
    def peak_memory_bytes(self) -> int:
        """The highest peak resident set size of a round's process."""
        return max(r.peak_memory_bytes for r in self.rounds)

    @property
    def cpu_s(self) -> float:
        """The median CPU seconds of a round (every thread of the process)."""
        return statistics.median(r.cpu_s for r in self.rounds)


@dataclass(slots=True)
class Comparison:
    """What :func:`compare` measured: its settings, and the figures of each runtime.
    (The library's record has more: the fleet's CPU time, JSON; the same fields first.)"""

    hosts: int
    workers: int
    profile: str
    rounds: int
    seed: int
    timeout: float
    date: str
    runtimes: dict[str, RuntimeFigures]

    @property
    def rounds_done(self) -> int:
        """The rounds every runtime finished."""
        return min((len(f.rounds) for f in self.runtimes.values()), default=0)


def compare(*, hosts: int = 100, workers: int = 20, profile: str = "standard",
            rounds: int = 5, seed: int = 0, timeout: float = 1.0,
            runner: RoundRunner | None = None,
            on_round: Callable[[Round], object] | None = None) -> Comparison:
    """Scan one fleet ``rounds`` times in each runtime, interleaved: round 1 is threads,
    asyncio, trio; round 2 starts one further on (asyncio, trio, threads), so no runtime
    always goes first. ``runner.run(request)`` runs one scan in a process of its own.

    ``on_round(round)`` is called as each round ends. A ``runner`` stopped meanwhile
    ends the comparison early, with every runtime cut to the rounds all of them finished.
    """
    # Imported here, as the library does: the fleet's package imports asyncio, and
    # nothing else in this module needs it.
    from patterns.probe.fleet import Fleet

    runner = runner or RoundRunner()
    with Fleet(hosts, profile, seed) as fleet:
        targets = fleet.targets
        # A host that never answers (latency inf) costs a probe one timeout.
        costs = [min(fleet.latency[t], timeout) for t in targets]
        ideal, bound = ideal_makespan(costs, workers), lower_bound(costs, workers)
        figures: dict[str, RuntimeFigures] = {
            name: RuntimeFigures(name, len(targets), ideal, bound) for name in RUNTIMES}
        comparison = Comparison(hosts, workers, profile, rounds, seed, timeout,
                                time.strftime("%Y-%m-%d"), figures)
        for number in range(rounds):
            first = number % len(RUNTIMES)
            for name in RUNTIMES[first:] + RUNTIMES[:first]:
                done = None if runner.stopped else _one_round(runner, fleet, targets, name,
                                                               workers, timeout)
                if done is None:
                    break
                figures[name].rounds.append(done)
                if on_round is not None:
                    on_round(done)
            if runner.stopped:
                break
    done_everywhere = comparison.rounds_done
    for f in figures.values():
        del f.rounds[done_everywhere:]  # a round only some runtimes finished is no match
    return comparison


def _one_round(runner: RoundRunner, fleet: Fleet, targets: list[Target], runtime: str,
               workers: int, timeout: float) -> Round | None:
    """One scan in ``runtime``, held against the fleet's truth; ``None`` if stopped."""
    request = {"runtime": runtime, "workers": workers, "timeout": timeout,
               "targets": [str(t) for t in targets]}
    report = runner.run(request)
    if report is None:
        return None
    truth = fleet.truth
    mistakes = tuple((str(t), outcome, truth[t])
                     for t, outcome in zip(targets, report["outcomes"], strict=True)
                     if outcome != truth[t])
    return Round(runtime, report["wall_s"], report["cpu_s"], report["peak_memory_bytes"],
                 len(targets) - len(mistakes), mistakes, None)

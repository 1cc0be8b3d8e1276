"""The runtime comparison: the same scan of one fleet in threads, asyncio and trio, and
beside them the reference rows, asyncio on uvloop and the same scan in Go.

:func:`compare` starts one :class:`~patterns.probe.fleet.Fleet` and scans it ``rounds``
times in each runtime (each *row*), the rows interleaved (round 1: threads, asyncio,
trio; round 2: asyncio, trio, threads; ...), so that a machine that slows down for a
while slows every row alike. Each scan runs in a fresh process of its own (the row's
round command, :mod:`patterns.probe.compare.rows`; for this library's rows
:mod:`patterns.probe.compare.round`), which times the scan alone and reports its CPU
time and the process's peak memory. A row that cannot run here (no uvloop, no Go) is
left out, with one line on how to get it, under ``"unavailable"``.

Per runtime it reports the median wall time against two yardsticks of the fleet's own
latencies (:func:`~patterns.probe.ideal_makespan`, what a perfect FIFO pool would take,
and :func:`~patterns.probe.lower_bound`, what no schedule can beat), the efficiency
(ideal / median: 1.0 is a pool that costs nothing), how many hosts it classified as the
fleet's truth says (in its worst round), its peak memory and its CPU seconds: in
:meth:`Comparison.as_json`, under ``"runtimes"``, the keys ``median_s``, ``ideal_s``,
``lower_bound_s``, ``efficiency`` (``ideal_s / median_s``), ``correct``, ``hosts``,
``peak_memory_bytes`` and ``cpu_s``, among others.

**The fleet is not what is measured.** The fleet's own CPU time is read during every
round (``/proc``), so the comparison can say what one request cost the fleet, and so
how many requests it could answer per CPU second, against the 2,000 per second that a
scan at 100 workers asks of it (:func:`~patterns.probe.fleet.scan_demand`).
Go counterpart: ``go test -bench`` with ``-count`` and ``benchstat``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from patterns.probe import Target, ideal_makespan, lower_bound
from patterns.probe.compare.rows import ROWS, Unavailable
from patterns.probe.usage import cpu_seconds
from patterns.runtimes import RUNTIMES

# The fleet is imported where a comparison starts one, never here: every round's process
# imports this package (patterns.probe.compare.round), and the fleet's imports, asyncio
# among them, would count against each runtime's memory.
if TYPE_CHECKING:
    from patterns.probe.fleet import Fleet

__all__ = ["Comparison", "Round", "RoundRunner", "RuntimeFigures", "compare"]

ROUND_LIMIT_S = 300.0  # a round that takes longer than this is a hang, not a figure


@dataclass(frozen=True, slots=True)
class Round:
    """One scan in one runtime: wall and CPU seconds, peak memory, correct hosts, and
    the CPU seconds the fleet spent meanwhile (``None`` where ``/proc`` cannot tell)."""

    runtime: str
    wall_s: float
    cpu_s: float
    peak_memory_bytes: int
    correct: int
    mistakes: tuple[tuple[str, str, str], ...]  # (target, outcome, truth)
    fleet_cpu_s: float | None


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

    def as_dict(self) -> dict[str, Any]:
        mistakes = sorted({m for r in self.rounds for m in r.mistakes})
        return {"median_s": self.median_s, "ideal_s": self.ideal_s,
                "lower_bound_s": self.lower_bound_s, "efficiency": self.efficiency,
                "correct": self.correct, "hosts": self.hosts,
                "peak_memory_bytes": self.peak_memory_bytes, "cpu_s": self.cpu_s,
                "rounds": len(self.rounds),
                "wall_s": [r.wall_s for r in self.rounds],
                "mistakes": [{"target": t, "outcome": o, "truth": w} for t, o, w in mistakes]}


@dataclass(slots=True)
class Comparison:
    """What :func:`compare` measured; ``stopped_by`` is the signal that cut it short,
    ``unavailable`` the rows that could not run here (row -> how to get it)."""

    hosts: int
    workers: int
    profile: str
    rounds: int
    seed: int
    timeout: float
    date: str
    runtimes: dict[str, RuntimeFigures]
    stopped_by: int | None = None
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def rounds_done(self) -> int:
        return min((len(f.rounds) for f in self.runtimes.values()), default=0)

    @property
    def fleet_cpu_per_request_s(self) -> float | None:
        """The fleet's CPU seconds per request answered, over every round (a refused
        host costs it nothing, so this is an upper bound)."""
        spent = [r.fleet_cpu_s for f in self.runtimes.values() for r in f.rounds]
        if not spent or any(s is None for s in spent):
            return None
        return sum(s for s in spent if s is not None) / (len(spent) * self.hosts)

    @property
    def fleet_headroom_at_100(self) -> float | None:
        """Requests the fleet could answer per CPU second, over what a scan at 100
        workers asks of it: above 1, the fleet is not what a scan waits for."""
        from patterns.probe.fleet import scan_demand

        per_request = self.fleet_cpu_per_request_s
        if not per_request:
            return None
        return 1 / per_request / scan_demand(100)

    def as_dict(self) -> dict[str, Any]:
        return {"hosts": self.hosts, "workers": self.workers, "profile": self.profile,
                "rounds": self.rounds, "seed": self.seed, "timeout_s": self.timeout,
                "date": self.date, "rounds_done": self.rounds_done,
                "stopped_by_signal": self.stopped_by,
                "fleet": {"cpu_per_request_s": self.fleet_cpu_per_request_s,
                          "headroom_at_100_workers": self.fleet_headroom_at_100},
                "runtimes": {name: f.as_dict() for name, f in self.runtimes.items()
                             if f.rounds},
                "unavailable": dict(self.unavailable)}

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"


class RoundRunner:
    """Runs round processes one at a time, each with its row's command from ``rows``
    (default :data:`~patterns.probe.compare.rows.ROWS`); :meth:`stop` ends the one
    running (from another thread: ``notify_context``'s, on a signal) and every later
    :meth:`run` refuses to start."""

    def __init__(self, rows: Mapping[str, Callable[[], list[str]]] | None = None) -> None:
        self.rows = ROWS if rows is None else rows
        self._commands: dict[str, list[str]] = {}
        self._unavailable: dict[str, str] = {}
        self._process: subprocess.Popen[str] | None = None
        self.stopped = False

    def prepare(self, names: Sequence[str]) -> dict[str, str]:
        """Find each row's round command (building ``go`` the first time), before any
        round is timed; return the rows that cannot run here, each with one line on
        how to get it. ``ValueError`` for a name that is no row."""
        for name in names:
            if name in self._commands or name in self._unavailable:
                continue
            command = self.rows.get(name)
            if command is None:
                raise ValueError(f"unknown runtime {name!r}: choose from "
                                 f"{', '.join(self.rows)}")
            try:
                self._commands[name] = command()
            except Unavailable as exc:
                self._unavailable[name] = str(exc)
        return {name: self._unavailable[name] for name in names
                if name in self._unavailable}

    def stop(self) -> None:
        self.stopped = True
        process = self._process  # read once: run() may let go of it meanwhile
        if process is not None:
            process.kill()

    def run(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The child's report, or ``None`` if it was stopped. The row is
        ``request["runtime"]``, and its command is the one :meth:`prepare` found."""
        runtime = request["runtime"]
        if runtime in self.prepare([runtime]):
            raise RuntimeError(f"{runtime} cannot run here: {self._unavailable[runtime]}")
        # A session of its own: a Ctrl-C at the terminal reaches this process only,
        # which then stops the child itself.
        self._process = subprocess.Popen(
            self._commands[runtime], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = self._process.communicate(json.dumps(request), timeout=ROUND_LIMIT_S)
        finally:
            code, self._process = self._process.wait(), None
        if self.stopped:
            return None
        if code != 0:
            last = err.strip().splitlines()[-1] if err.strip() else f"exit code {code}"
            raise RuntimeError(f"a {request['runtime']} round failed: {last}")
        report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return report


def compare(*, hosts: int = 100, workers: int = 20, profile: str = "standard",
            rounds: int = 5, seed: int = 0, timeout: float = 1.0,
            runtimes: Sequence[str] = RUNTIMES, runner: RoundRunner | None = None,
            on_round: Callable[[Round], object] | None = None) -> Comparison:
    """Scan one fleet ``rounds`` times in each of ``runtimes`` (rows of
    :data:`~patterns.probe.compare.rows.ROWS`, or of the ``runner``'s own), interleaved;
    see the module.

    A row that cannot run here is left out and named in ``Comparison.unavailable``;
    ``ValueError`` if none can, or a name is no row. ``on_round(round)`` is called as
    each round ends (a progress bar's hook). A ``runner`` stopped meanwhile ends the
    comparison early: the rounds that finished are kept, and the rows are cut to the
    same number of rounds.
    """
    from patterns.probe.fleet import Fleet

    runner = runner or RoundRunner()
    # Before the fleet starts: building go is no part of any round.
    unavailable = runner.prepare(runtimes) if isinstance(runner, RoundRunner) else {}
    rows = [name for name in runtimes if name not in unavailable]
    if not rows:
        raise ValueError("no runtime can run here: " + "; ".join(
            f"{name}: {why}" for name, why in unavailable.items()))
    with Fleet(hosts, profile, seed) as fleet:
        targets = fleet.targets
        costs = [min(fleet.latency[t], timeout) for t in targets]
        ideal, bound = ideal_makespan(costs, workers), lower_bound(costs, workers)
        figures: dict[str, RuntimeFigures] = {
            name: RuntimeFigures(name, len(targets), ideal, bound) for name in rows}
        comparison = Comparison(hosts, workers, profile, rounds, seed, timeout,
                                time.strftime("%Y-%m-%d"), figures,
                                unavailable=unavailable)
        for number in range(rounds):
            first = number % len(rows)
            for name in rows[first:] + rows[:first]:
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
    request = {"runtime": runtime, "workers": workers, "timeout": timeout,
               "targets": [str(t) for t in targets], "ca_pem": fleet.ca_pem}
    server = fleet.pid
    assert server is not None  # the fleet runs for as long as the comparison does
    fleet_before = cpu_seconds(server)
    report = runner.run(request)
    fleet_after = cpu_seconds(server)
    if report is None:
        return None
    truth = fleet.truth
    mistakes = tuple((str(t), outcome, truth[t])
                     for t, outcome in zip(targets, report["outcomes"], strict=True)
                     if outcome != truth[t])
    fleet_cpu = (None if fleet_before is None or fleet_after is None
                 else fleet_after - fleet_before)
    return Round(runtime, report["wall_s"], report["cpu_s"], report["peak_memory_bytes"],
                 len(targets) - len(mistakes), mistakes, fleet_cpu)

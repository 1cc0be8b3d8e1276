"""What ``check 09`` prints once the chapter passes: your chapter-08 health aggregators
beside the library's scans, on one fleet, measured with your chapter-09 code.

:func:`show` starts one :class:`~patterns.probe.fleet.Fleet` and runs six contestants,
your ``scan`` and the library's in each runtime, ``ROUNDS`` times each, interleaved as
``compare`` interleaves the runtimes (each round starts one contestant further on), and
every scan in a fresh process of its own. The figures are your ``compare.py``'s:
``ideal_makespan`` and ``lower_bound`` for the yardsticks, ``Round`` and
``RuntimeFigures`` for the median, the efficiency and the worst round's correct hosts.
Then a table, and a write-up with your figures in it and blanks for your own sentences.

The library's scans run in ``compare``'s own round process (``python -m
patterns.probe.compare.round``); yours in ``show_round.py``, beside this file, which does
what that process does with the ``scan`` of your file: the same request on stdin, the
same one-line report. A runtime whose chapter 08 does not pass yet, or whose file is not
there, gets no row, and one line that says why.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from rich.console import Console
from rich.table import Table

from patterns.exercises.chapters import Chapter, ChapterError, find
from patterns.exercises.runner import grade
from patterns.probe import Target
from patterns.probe.compare import ROUND_LIMIT_S
from patterns.probe.fleet import Fleet
from patterns.probe.schedule import lower_bound
from patterns.runtimes import RUNTIMES

__all__ = ["Contestant", "aggregators", "run", "show", "side_by_side", "write_up"]

HOSTS, WORKERS, ROUNDS, PROFILE, SEED, TIMEOUT = 100, 20, 3, "standard", 0, 1.0
"""The show's fleet and scan: ``compare``'s defaults, with 3 rounds of each of the six
contestants (about half a minute) instead of 5."""

CHAPTER = Path(__file__).resolve().parent
AGGREGATORS = "08"  # the chapter whose scans are compared


class Contestant(NamedTuple):
    """One row of the table: ``runtime``'s scan, from your ``file``, or the library's
    (``file`` is ``None``). (A tuple, not a dataclass: ``check`` loads this file by path,
    and a dataclass needs its module in ``sys.modules``.)"""

    runtime: str
    file: Path | None = None

    @property
    def whose(self) -> str:
        return "library" if self.file is None else "yours"

    @property
    def label(self) -> str:
        return f"{self.runtime} ({self.whose})"

    def command(self) -> list[str]:
        """The round process: ``compare``'s for the library's scan, ``show_round.py``
        beside this file for yours."""
        if self.file is None:
            return [sys.executable, "-m", "patterns.probe.compare.round"]
        return [sys.executable, str(CHAPTER / "show_round.py")]


# -- one fleet, six contestants, interleaved rounds ---------------------------------------


def show(workspace: Path, console: Console) -> None:
    """What ``check`` prints once chapter 09 passes, with the show's settings."""
    run(workspace, console)


def run(workspace: Path, console: Console, *, hosts: int = HOSTS, workers: int = WORKERS,
        rounds: int = ROUNDS, profile: str = PROFILE, seed: int = SEED,
        timeout: float = TIMEOUT) -> dict[Contestant, Any]:
    """:func:`show` with settings of your own (a test's are small): your ``compare.py``
    from ``workspace``, your chapter-08 scans that pass, and :func:`side_by_side`."""
    this = Chapter.load(CHAPTER)
    yours = load(workspace / this.name / this.files["threads"], "yours_compare")
    scans, skipped = aggregators(workspace)
    for line in skipped:
        console.print(line, markup=False, highlight=False)
    return side_by_side(console, yours, scans, hosts=hosts, workers=workers, rounds=rounds,
                        profile=profile, seed=seed, timeout=timeout)


def aggregators(workspace: Path) -> tuple[dict[str, Path], list[str]]:
    """Your chapter-08 ``scan`` file per runtime, for the runtimes where chapter 08
    passes; and one line for each runtime it does not, saying why."""
    try:
        chapter = find(AGGREGATORS)
    except ChapterError:
        return {}, [f"your aggregators: skipped, there is no chapter {AGGREGATORS} here to "
                    "grade them with"]
    files = {rt: workspace / chapter.name / chapter.files[rt] for rt in chapter.runtimes}
    why_not = {rt: f"{file} is not there" for rt, file in files.items() if not file.is_file()}
    present = {rt: file for rt, file in files.items() if rt not in why_not}
    targets = {f"yours/{rt}": (str(file), rt) for rt, file in present.items()}
    graded = grade(chapter, targets) if targets else {}
    for rt in present:
        outcome = graded[f"yours/{rt}"]
        if not outcome.passed:
            first = outcome.first_failure()
            why = (outcome.problems[0] if outcome.problems or first is None else
                   f"task {first[0]}: {first[1].first_failure}")
            why_not[rt] = f"chapter {chapter.name} does not pass in {rt} yet ({why})"
    passing = {rt: file for rt, file in present.items() if rt not in why_not}
    return passing, [f"{rt} (yours): skipped, {why_not[rt]}" for rt in files if rt in why_not]


def side_by_side(console: Console, yours: ModuleType, scans: Mapping[str, Path], *,
                 hosts: int = HOSTS, workers: int = WORKERS, rounds: int = ROUNDS,
                 profile: str = PROFILE, seed: int = SEED,
                 timeout: float = TIMEOUT) -> dict[Contestant, Any]:
    """Your ``scans`` (runtime -> file) and the library's, on one fleet, measured with
    ``yours`` (your ``compare.py``); print the table and the write-up, and return each
    contestant's ``RuntimeFigures`` (those whose every round ran)."""
    contestants = [c for rt in RUNTIMES
                   for c in ([Contestant(rt, scans[rt])] if rt in scans else [])
                   + [Contestant(rt)]]
    failed: dict[Contestant, str] = {}
    with Fleet(hosts, profile, seed) as fleet:
        targets = fleet.targets
        costs = [min(fleet.latency[t], timeout) for t in targets]
        ideal = yours.ideal_makespan(costs, workers)
        bound = getattr(yours, "lower_bound", lower_bound)(costs, workers)  # given to you
        figures = {c: yours.RuntimeFigures(c.label, len(targets), ideal, bound)
                   for c in contestants}
        total = rounds * len(contestants)
        with console.status("") as status:
            for number in range(rounds):
                first = number % len(contestants)
                for c in contestants[first:] + contestants[:first]:
                    if c in failed:
                        continue
                    done = sum(len(f.rounds) for f in figures.values()) + 1
                    status.update(f"round {done} of {total}: {c.label}")
                    try:
                        report = run_round(c, targets, workers, timeout)
                    except RuntimeError as exc:
                        failed[c] = str(exc)
                        continue
                    figures[c].rounds.append(held_to_truth(yours, c, targets, report,
                                                           fleet.truth))
    for c, why in failed.items():
        console.print(f"{c.label}: dropped, a round failed: {why}", markup=False,
                      highlight=False)
    ran = {c: f for c, f in figures.items() if c not in failed}
    settings = (f"{hosts} hosts ({profile} profile, seed {seed}), {workers} workers, "
                f"timeout {timeout:g} s, {_count(rounds, 'round')} of each, interleaved")
    console.print(table(ran, settings))
    for line in mistakes(ran):
        console.print(line, markup=False, highlight=False)
    console.print()
    console.print(write_up(ran, settings, rounds=rounds, workers=workers), markup=False,
                  highlight=False)
    return ran


def run_round(contestant: Contestant, targets: Sequence[Target], workers: int,
              timeout: float) -> dict[str, Any]:
    """One scan in a fresh process, and its report: ``wall_s``, ``cpu_s``,
    ``peak_memory_bytes`` and ``outcomes`` in the order of ``targets``. ``RuntimeError``
    if it fails. (``compare``'s ``RoundRunner`` does this for ``compare``, but it starts
    only the library's round process.)"""
    request: dict[str, Any] = {"runtime": contestant.runtime, "workers": workers,
                               "timeout": timeout, "targets": [str(t) for t in targets]}
    if contestant.file is not None:
        request["file"] = str(contestant.file)
    try:
        done = subprocess.run(contestant.command(), input=json.dumps(request),
                              capture_output=True, text=True, timeout=ROUND_LIMIT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the scan did not end in {ROUND_LIMIT_S:g} s") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"exit code {done.returncode}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def held_to_truth(yours: ModuleType, contestant: Contestant, targets: Sequence[Target],
                  report: Mapping[str, Any], truth: Mapping[Target, str]) -> Any:
    """A round's report as your ``Round``: its outcomes held against the fleet's truth,
    as your ``compare`` holds them."""
    wrong = tuple((str(t), outcome, truth[t])
                  for t, outcome in zip(targets, report["outcomes"], strict=True)
                  if outcome != truth[t])
    return yours.Round(runtime=contestant.label, wall_s=report["wall_s"],
                       cpu_s=report["cpu_s"], peak_memory_bytes=report["peak_memory_bytes"],
                       correct=len(targets) - len(wrong), mistakes=wrong, fleet_cpu_s=None)


# -- what is printed -------------------------------------------------------------------


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def table(figures: Mapping[Contestant, Any], settings: str) -> Table:
    """The rich table: a row per contestant, yours above the library's in each runtime."""
    grid = Table(title=f"one fleet: {settings}",
                 caption="efficiency = ideal / median: 1.00 is a FIFO pool that costs nothing")
    for column in ("runtime", "code", "median", "ideal", "efficiency", "correct",
                   "peak memory"):
        grid.add_column(column, justify="left" if column in ("runtime", "code") else "right")
    for c, f in figures.items():
        grid.add_row(c.runtime, c.whose, f"{f.median_s:.3f} s", f"{f.ideal_s:.3f} s",
                     f"{f.efficiency:.2f}", f"{f.correct}/{f.hosts}",
                     mib(f.peak_memory_bytes))
    return grid


def mistakes(figures: Mapping[Contestant, Any], shown: int = 3) -> list[str]:
    """A line per contestant that got hosts wrong: a few of its worst round's mistakes."""
    lines = []
    for c, f in figures.items():
        if f.correct < f.hosts:
            worst = min(f.rounds, key=lambda r: r.correct)
            some = "; ".join(f"{target}: {outcome}, truth {truth}"
                             for target, outcome, truth in worst.mistakes[:shown])
            lines.append(f"{c.label} got {f.hosts - f.correct} of {f.hosts} wrong in its "
                         f"worst round: {some}")
    return lines


def write_up(figures: Mapping[Contestant, Any], settings: str, *, rounds: int,
             workers: int) -> str:
    """About 300 words on your figures, with ``____`` where your own sentences go."""
    mine = {c.runtime: f for c, f in figures.items() if c.file is not None}
    library = {c.runtime: f for c, f in figures.items() if c.file is None}
    if not mine:
        return ("None of your aggregators ran beside the library's, so there is nothing of "
                "yours to write up yet: make chapter 08 pass, then check 09 again.")
    some = next(iter(mine.values()))
    ideal, bound = some.ideal_s, some.lower_bound_s
    ranked = sorted(mine, key=lambda rt: mine[rt].median_s)
    fast, slow = mine[ranked[0]], mine[ranked[-1]]
    if len(ranked) == 1:
        fastest = (f"Only my {ranked[0]} version ran, at an efficiency of "
                   f"{fast.efficiency:.2f} ({fast.median_s:.3f} s).")
    else:
        fastest = (f"Of mine, {ranked[0]} came closest to the ideal, at an efficiency of "
                   f"{fast.efficiency:.2f} ({fast.median_s:.3f} s), and {ranked[-1]} "
                   f"furthest, at {slow.efficiency:.2f} ({slow.median_s:.3f} s).")
    wrong = [f"{rt} {f.correct} of {f.hosts}" for rt, f in mine.items() if f.correct < f.hosts]
    every, gap = (("It", "gap to the ideal") if len(mine) == 1 else
                  ("Every one of them", "difference between my versions"))
    right = (f"{every} classified all {some.hosts} hosts as the fleet's truth says."
             if not wrong else
             "Not every host came out as the fleet's truth says, in the worst round: "
             + "; ".join(wrong) + ". A fast wrong scan is not fast, and the reason is ____.")
    against = " ".join(
        f"In {rt}, mine took {f.median_s:.3f} s to the library's "
        f"{library[rt].median_s:.3f} s ({_ratio(f.median_s, library[rt].median_s)}) and "
        f"peaked at {mib(f.peak_memory_bytes)} to its {mib(library[rt].peak_memory_bytes)}."
        for rt, f in mine.items() if rt in library)
    paragraphs = [
        "WRITE-UP (about 300 words: the figures are filled in, the ____ are yours)",
        "My health aggregators against the library's",
        f"I ran my chapter-08 health aggregators beside the library's scans on one "
        f"simulated fleet: {settings}. Every scan ran in a fresh process of its own, and "
        f"each figure is the median of its {_count(rounds, 'round')}.",
        f"The yardstick. A perfect FIFO pool of {workers} workers, with no overhead at "
        f"all, would take {ideal:.3f} s over this fleet's latencies, and no schedule at all "
        f"could beat {bound:.3f} s: the {max(ideal - bound, 0.0):.3f} s between them is what "
        "taking the hosts in their order costs, whatever the runtime.",
        f"The fastest. {fastest} {right} I think the {gap} comes from ____.",
        f"Against the library. {against} Where my version differs from the library's: "
        "____.",
        f"What I would change. ____. I expect it to move my {ranked[-1]} efficiency from "
        f"{slow.efficiency:.2f} to about ____, because ____.",
        f"How far I trust these figures. {_count(rounds, 'round')} of each is few, and the fleet "
        "shares the machine with the scans: ____.",
    ]
    return "\n\n".join(paragraphs)


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _ratio(mine: float, theirs: float) -> str:
    ratio = mine / theirs
    if abs(ratio - 1) < 0.02:
        return "the same, within 2%"
    return f"{ratio:.2f}x its time"


def load(path: Path, name: str) -> ModuleType:
    """The module in ``path``, under ``name``: your files are loaded by path (and
    registered, as an import would, for the dataclasses in them)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module

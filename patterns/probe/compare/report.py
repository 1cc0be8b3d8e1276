"""How a :class:`~patterns.probe.compare.Comparison` is written: a table for a terminal,
and the written comparison in Markdown (``docs/compare.md`` is one, from a real run).

The Markdown's words are written here once, and every figure in them comes from the
run: which runtime was fastest, by how much, how much memory each took, how each did on
the hostile fleet, and, where the go row ran, each Python row against Go
(:func:`against_go`, which ``benchmarks/report.py`` prints from a comparison's JSON too).
Only the lessons that hold by construction are fixed text; where a sentence judges (a
row "matches" Go or "trails" it), the figures pick the word.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patterns.probe.cli.formats import plain_table
from patterns.probe.compare import Comparison, RuntimeFigures
from patterns.probe.compare.go import SOURCE as GO_SOURCE
from patterns.probe.fleet import scan_demand
from patterns.runtimes import RUNTIMES

__all__ = ["MATCH_WITHIN", "AgainstGo", "against_go", "as_markdown", "as_table",
           "code_lines", "cpu_per_probe_us", "go_code_lines"]

PACKAGE = Path(__file__).resolve().parents[2]  # patterns/
CLOSING = ("The worker pool is the same shape in all three runtimes; the syntax and the "
           "runtime's support differ.")
MATCH_WITHIN = 0.10
"""A ratio to Go's within this of 1.0 is written as a match."""


def code_lines(path: Path) -> int:
    """Lines of code in a module: not blank, not only a comment, not in a docstring."""
    source = path.read_text(encoding="utf-8")
    docstring_lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            end = body[0].end_lineno or body[0].lineno
            docstring_lines.update(range(body[0].lineno, end + 1))
    code: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                              tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code.update(line for line in range(token.start[0], token.end[0] + 1)
                        if line not in docstring_lines)
    return len(code)


def go_code_lines(path: Path) -> int:
    """Lines of code in a Go file, counted as :func:`code_lines` counts Python: not
    blank, not a ``//`` comment line, not inside a ``/* */`` block that a line begins
    with (Go's doc comments are ``//`` lines, so they are left out as docstrings are)."""
    count, in_block = 0, False
    for line in path.read_text(encoding="utf-8").splitlines():
        rest, is_code = line.strip(), False
        while rest and not is_code:  # what is left of the line, comments peeled off
            if in_block:
                end = rest.find("*/")
                rest, in_block = ("", True) if end < 0 else (rest[end + 2:].strip(), False)
            elif rest.startswith("//"):
                rest = ""
            elif rest.startswith("/*"):
                rest, in_block = rest[2:], True
            else:
                is_code = True
        count += is_code
    return count


def code_sizes(*, go: bool = False) -> dict[str, tuple[int, int]]:
    """Runtime -> (lines of its worker pool, lines of its probe driver); with ``go``,
    ``reference/go``'s too (``pool.go``, ``probe.go``) where its sources are here."""
    sizes: dict[str, tuple[int, int]] = {
        name: (code_lines(PACKAGE / "workerpool" / f"on_{name}.py"),
               code_lines(PACKAGE / "probe" / f"on_{name}.py")) for name in RUNTIMES}
    if go and (GO_SOURCE / "pool.go").is_file():
        sizes["go"] = (go_code_lines(GO_SOURCE / "pool.go"),
                       go_code_lines(GO_SOURCE / "probe.go"))
    return sizes


@dataclass(frozen=True, slots=True)
class AgainstGo:
    """One row of a comparison against its go row: the row's figures, and each one's
    ratio to go's (the row's over go's: 1.0 is Go's own)."""

    row: str
    efficiency: float  # ideal / median
    efficiency_ratio: float
    cpu_per_probe_us: float  # a round's CPU seconds over its hosts
    cpu_ratio: float
    peak_memory_bytes: int
    memory_ratio: float


def cpu_per_probe_us(figures: Mapping[str, Any]) -> float:
    """What one probe cost in CPU, in µs: a round's ``cpu_s`` over its ``hosts``."""
    return float(figures["cpu_s"]) / int(figures["hosts"]) * 1e6


def against_go(rows: Mapping[str, Mapping[str, Any]]) -> list[AgainstGo]:
    """Every row, go's own included, against ``rows["go"]``, in the order given; ``[]``
    where there is no go row. ``rows`` maps a row's name to its figures as a
    comparison's JSON has them under ``"runtimes"`` (``efficiency``, ``cpu_s``,
    ``hosts``, ``peak_memory_bytes``).

    >>> go = {"efficiency": 0.98, "cpu_s": 0.03, "hosts": 100, "peak_memory_bytes": 10}
    >>> threads = {"efficiency": 0.98, "cpu_s": 0.3, "hosts": 100, "peak_memory_bytes": 40}
    >>> row = against_go({"threads": threads, "go": go})[0]
    >>> round(row.cpu_per_probe_us), round(row.cpu_ratio, 2), row.memory_ratio
    (3000, 10.0, 4.0)
    """
    go = rows.get("go")
    if go is None:
        return []
    return [AgainstGo(name, float(f["efficiency"]),
                      float(f["efficiency"]) / float(go["efficiency"]),
                      cpu_per_probe_us(f), cpu_per_probe_us(f) / cpu_per_probe_us(go),
                      int(f["peak_memory_bytes"]),
                      int(f["peak_memory_bytes"]) / int(go["peak_memory_bytes"]))
            for name, f in rows.items()]


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _ran(comparison: Comparison) -> list[RuntimeFigures]:
    """The rows with rounds, in the order they were asked for."""
    return [f for f in comparison.runtimes.values() if f.rounds]


def _rows(comparison: Comparison) -> list[list[str]]:
    return [[f.runtime, f"{f.median_s:.3f} s", f"{f.ideal_s:.3f} s",
             f"{f.lower_bound_s:.3f} s", f"{f.efficiency:.2f}", f"{f.correct}/{f.hosts}",
             _mib(f.peak_memory_bytes), f"{f.cpu_s:.2f} s"] for f in _ran(comparison)]


def _not_compared(name: str, why: str) -> str:
    return f"{name}: not compared, {why}"


def _unavailable_lines(comparison: Comparison) -> list[str]:
    """A line for each row that could not run here, saying how to get it."""
    return [_not_compared(name, why) for name, why in comparison.unavailable.items()]


def _names(figures: Sequence[RuntimeFigures]) -> str:
    names = [f.runtime for f in figures]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


HEADER = ["runtime", "median", "ideal", "lower bound", "efficiency", "correct",
          "peak memory", "CPU"]


def _settings(c: Comparison) -> str:
    return (f"{c.hosts} hosts ({c.profile} profile, seed {c.seed}), {c.workers} workers, "
            f"timeout {c.timeout:g} s, {c.rounds_done} of {c.rounds} rounds, {c.date}")


def _fleet_line(c: Comparison) -> str:
    per_request, headroom = c.fleet_cpu_per_request_s, c.fleet_headroom_at_100
    if per_request is None or headroom is None:
        return "fleet: its CPU time cannot be read here (no /proc)"
    return (f"fleet: {per_request * 1e6:.0f} µs of CPU per request, "
            f"{1 / per_request:,.0f} requests per CPU second: {headroom:.1f}x the "
            f"{scan_demand(100):,.0f}/s that a scan at 100 workers asks")


def as_table(comparison: Comparison) -> str:
    """The figures as ``scan``'s :func:`~patterns.probe.cli.formats.plain_table`, between
    the settings and the fleet's line."""
    lines = [f"compare: {_settings(comparison)}",
             plain_table([h.upper() for h in HEADER], _rows(comparison)),
             *_unavailable_lines(comparison),
             _fleet_line(comparison)]
    lines.append("efficiency = ideal / median: 1.00 is a FIFO pool that costs nothing")
    return "\n".join(lines) + "\n"


def _markdown_table(comparison: Comparison) -> list[str]:
    return ["| " + " | ".join(HEADER) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(HEADER) - 1)) + "|",
            *("| " + " | ".join(row) + " |" for row in _rows(comparison))]


def _ranked(figures: Sequence[RuntimeFigures], key: str) -> list[RuntimeFigures]:
    return sorted(figures, key=lambda f: float(getattr(f, key)))


def as_markdown(comparison: Comparison, *, command: str,
                hostile: Comparison | None = None) -> str:
    """The written comparison: the table, then about 300 words on code, throughput,
    memory and failure, every figure from ``comparison`` (and ``hostile``, a run on
    the hostile fleet), ending with the sentence the library exists for."""
    c = comparison
    ran = _ran(c)
    go_ran = any(f.runtime == "go" for f in ran)
    sizes = code_sizes(go=go_ran)
    by_time, by_memory, by_cpu = (_ranked(ran, key)
                                  for key in ("median_s", "peak_memory_bytes", "cpu_s"))
    fast, slow = by_time[0], by_time[-1]
    lean, heavy = by_memory[0], by_memory[-1]
    frugal, busy = by_cpu[0], by_cpu[-1]
    unavailable = [f"{name} ({why})" for name, why in c.unavailable.items()]
    lines = [
        f"# {_names(ran)} on one fleet", "",
        f"Generated by `{command}`: {_settings(c)}.", "",
        *_markdown_table(c), "",
        *([f"Not compared here: {'; '.join(unavailable)}.", ""] if unavailable else []),
        f"The {_fleet_line(c)}, so the scans above waited for the hosts' latencies and "
        "for themselves, not for the fleet.", "",
        "## Code", "",
        "| runtime | worker pool | probe driver |", "|---|---:|---:|",
        *(f"| {name} | {pool} lines | {driver} lines |"
          for name, (pool, driver) in sizes.items()), "",
        "Lines of code, counted by `compare` itself (no blank lines, comments or "
        "docstrings). They differ where the runtimes do. Nothing can interrupt a "
        "thread, so the threads pool only cancels a job's context and its driver hands "
        "the deadline to every blocking call as the socket's timeout; asyncio and trio "
        "run each job inside its context's scope (`async with job.scope():`, "
        "`with job.scope():`), so the job's deadline or a cancel interrupts it at its "
        "next await: asyncio's scope cancels the task and counts its cancellations, "
        "trio's is a cancel scope whose deadline trio's scheduler watches. The drivers "
        "make the same socket calls in the same order, blocking or awaited."
        + (" The uvloop row runs asyncio's code on uvloop's event loop."
           if "uvloop" in c.runtimes else "")
        + (" The go row is `reference/go`: goroutines, `errgroup` and `net/http`; its "
           "worker pool is `pool.go`, which writes the pool three ways (a channel of "
           "jobs, `errgroup` with `SetLimit`, a weighted semaphore), and its probe "
           "driver `probe.go`, `net/http` under one context deadline per probe."
           if go_ran else ""), "",
        "## Throughput", "",
        f"Against a perfect FIFO pool ({fast.ideal_s:.3f} s for this "
        f"fleet), {fast.runtime} came closest, at {fast.efficiency:.2f} "
        f"({fast.median_s:.3f} s), and {slow.runtime} furthest, at {slow.efficiency:.2f} "
        f"({slow.median_s:.3f} s). With every host waiting its latency, the runtimes' "
        f"own costs show as CPU time: {frugal.runtime} spent {frugal.cpu_s:.2f} s of CPU "
        f"per scan and {busy.runtime} {busy.cpu_s:.2f} s.", "",
        "## Memory", "",
        f"Peak resident memory of each scan's process, the interpreter and the runtime "
        f"included: {', '.join(f'{f.runtime} {_mib(f.peak_memory_bytes)}' for f in ran)}. "
        f"{lean.runtime.capitalize()} was the leanest and {heavy.runtime} the heaviest; "
        f"at {c.workers} workers the difference is mostly what each runtime imports, and "
        "a thread's stack is mostly virtual memory.", "",
        *_against_go_section(c, ran),
    ]
    if hostile is not None:
        lines += _failure_section(hostile)
    lines += [CLOSING, ""]
    return "\n".join(lines)


VERB_FOR_SEVERAL = {"matches": "match", "trails": "trail", "beats": "beat"}


def _standings(figures: Sequence[AgainstGo], ratio_of: str, higher_is_better: bool) -> str:
    """The rows' standing against Go on one ratio, in words the ratios pick: a row
    within :data:`MATCH_WITHIN` of 1.0 matches Go, the others trail or beat it; several
    in one standing are named with their smallest and largest ratio."""
    standings: dict[str, list[tuple[str, float]]] = {verb: [] for verb in VERB_FOR_SEVERAL}
    for f in sorted(figures, key=lambda f: float(getattr(f, ratio_of))):
        ratio = float(getattr(f, ratio_of))
        better = ratio > 1 if higher_is_better else ratio < 1
        standing = ("matches" if abs(ratio - 1) <= MATCH_WITHIN else
                    "beats" if better else "trails")
        standings[standing].append((f.row, ratio))
    clauses = []
    for standing, rows in standings.items():
        if len(rows) == 1:
            clauses.append(f"{rows[0][0]} {standing} Go, at {rows[0][1]:.2f}x")
        elif rows:
            (low_row, low), (high_row, high) = rows[0], rows[-1]
            names = [row for row, _ in rows]
            span = (f"all at {low:.2f}x" if f"{low:.2f}" == f"{high:.2f}" else
                    f"from {low:.2f}x ({low_row}) to {high:.2f}x ({high_row})")
            clauses.append(f"{', '.join(names[:-1])} and {names[-1]} "
                           f"{VERB_FOR_SEVERAL[standing]} Go, {span}")
    return "; ".join(clauses)


def _against_go_section(c: Comparison, ran: Sequence[RuntimeFigures]) -> list[str]:
    """Each Python row over the go row, in a table and in sentences; without a go row,
    the one line that says how to add it."""
    heading = ["## Against Go", ""]
    rows = against_go({f.runtime: f.as_dict() for f in ran})
    if not rows:
        why = c.unavailable.get("go") or (
            f"add it with `--runtimes {','.join([*(f.runtime for f in ran), 'go'])}`")
        return [*heading, _not_compared("go", why), ""]
    go = next(r for r in rows if r.row == "go")
    python = [r for r in rows if r.row != "go"]
    if not python:
        return [*heading, "Only the go row ran: there is nothing to set against it.", ""]
    table = [
        "| runtime | efficiency | / go | CPU per probe | / go | peak memory | / go |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(f"| {r.row} | {r.efficiency:.2f} | {r.efficiency_ratio:.2f}x | "
          f"{r.cpu_per_probe_us:,.0f} µs | {r.cpu_ratio:.2f}x | "
          f"{_mib(r.peak_memory_bytes)} | {r.memory_ratio:.2f}x |" for r in rows)]
    matched = any(abs(r.efficiency_ratio - 1) <= MATCH_WITHIN for r in python)
    wall = ("Where the efficiencies match, the wall time is the hosts' latency, which "
            "no runtime can shorten." if matched else
            "No Python row matches Go's efficiency here: the runtimes' own costs reached "
            "the wall time.")
    return [
        *heading,
        "Each row against `reference/go`, the same scan in Go, run in the same rounds "
        "against the same fleet: efficiency (ideal / median), CPU per probe (a round's "
        "CPU seconds over its hosts) and peak memory, each over go's. A ratio within "
        f"{MATCH_WITHIN:.0%} of 1.00 is a match.", "",
        *table, "",
        f"Efficiency, over go's {go.efficiency:.2f}: "
        f"{_standings(python, 'efficiency_ratio', higher_is_better=True)}. {wall}", "",
        f"CPU per probe, over go's {go.cpu_per_probe_us:,.0f} µs: "
        f"{_standings(python, 'cpu_ratio', higher_is_better=False)}. "
        f"Peak memory, over go's {_mib(go.peak_memory_bytes)}: "
        f"{_standings(python, 'memory_ratio', higher_is_better=False)}. The hosts' "
        "latency is the same wait in every runtime; the work around it is the runtime's "
        "own.", "",
    ]


def _failure_section(hostile: Comparison) -> list[str]:
    ran = _ran(hostile)
    all_right = all(f.correct == f.hosts for f in ran)
    verdict = (f"Every runtime classified all {hostile.hosts} hosts as the fleet's truth "
               "says" if all_right else
               "Not every host was classified as the fleet's truth says: " + "; ".join(
                   f"{f.runtime} {f.correct}/{f.hosts}" for f in ran))
    return [
        "## Under failure: the hostile fleet", "",
        f"The same scan against the hostile fleet ({hostile.hosts} hosts, "
        f"{hostile.rounds_done} rounds): hosts that drip "
        "a byte every 0.1 s, send bodies twice the cap, answer with garbage, reset the "
        "connection, or never accept it.", "",
        *_markdown_table(hostile), "",
        f"{verdict}. One deadline per probe, kept by the socket's timeout in threads "
        "and by a cancel scope in asyncio and trio, is what stops a host that drips a "
        "byte at a time from holding a worker forever. "
        f"Efficiencies of {', '.join(f'{f.efficiency:.2f} ({f.runtime})' for f in ran)} "
        "show what the misbehaving hosts cost each runtime beyond their timeouts.", "",
    ]

"""How a :class:`~patterns.probe.compare.Comparison` is written: a table for a terminal,
and the written comparison in Markdown (``docs/compare.md`` is one, from a real run).

The Markdown's words are written here once, and every figure in them comes from the
run: which runtime was fastest, by how much, how much memory each took, and how each
did on the hostile fleet. Only the lessons that hold by construction are fixed text.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Sequence
from pathlib import Path

from patterns.probe.cli.formats import plain_table
from patterns.probe.compare import Comparison, RuntimeFigures
from patterns.probe.fleet import scan_demand
from patterns.runtimes import RUNTIMES

__all__ = ["as_markdown", "as_table", "code_lines"]

PACKAGE = Path(__file__).resolve().parents[2]  # patterns/
CLOSING = ("The worker pool is the same shape in all three runtimes; the syntax and the "
           "runtime's support differ.")


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


def code_sizes() -> dict[str, tuple[int, int]]:
    """Runtime -> (lines of its worker pool, lines of its probe driver)."""
    return {name: (code_lines(PACKAGE / "workerpool" / f"on_{name}.py"),
                   code_lines(PACKAGE / "probe" / f"on_{name}.py")) for name in RUNTIMES}


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _ran(comparison: Comparison) -> list[RuntimeFigures]:
    """The rows with rounds, in the order they were asked for."""
    return [f for f in comparison.runtimes.values() if f.rounds]


def _rows(comparison: Comparison) -> list[list[str]]:
    return [[f.runtime, f"{f.median_s:.3f} s", f"{f.ideal_s:.3f} s",
             f"{f.lower_bound_s:.3f} s", f"{f.efficiency:.2f}", f"{f.correct}/{f.hosts}",
             _mib(f.peak_memory_bytes), f"{f.cpu_s:.2f} s"] for f in _ran(comparison)]


def _unavailable_lines(comparison: Comparison) -> list[str]:
    """A line for each row that could not run here, saying how to get it."""
    return [f"{name}: not compared, {why}" for name, why in comparison.unavailable.items()]


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
    sizes = code_sizes()
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
        "the deadline to every blocking call as the socket's timeout; asyncio enters a "
        "cancel scope per job and counts its cancellations; trio keeps one cancel scope "
        "per worker and lets its scheduler watch the deadline. The drivers make the same "
        "socket calls in the same order, blocking or awaited."
        + (" The uvloop row runs asyncio's code on uvloop's event loop."
           if "uvloop" in c.runtimes else "")
        + (" The go row is `reference/go`: goroutines, `errgroup` and `net/http`."
           if "go" in c.runtimes else ""), "",
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
    ]
    if hostile is not None:
        lines += _failure_section(hostile)
    lines += [CLOSING, ""]
    return "\n".join(lines)


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

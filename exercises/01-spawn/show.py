"""Chapter 01's show: what one function costs when *your* ``Group`` starts 10,000.

``check`` calls :func:`show` once your three versions pass. For each runtime, in a
fresh process (this file run as a script), your ``Group``, loaded from
``01-spawn/on_<runtime>.py`` in your workspace, starts ``N`` functions that each count
themselves and wait on one gate, so that all ``N`` are alive and waiting at once; then
the gate opens, and the block's end waits for them all. Per function:

- **µs per spawn**: from the first ``go()`` until all ``N`` wait, divided by ``N``:
  starting one, and its running up to the gate. A thread's start is a system call and
  the scheduler's business; a task's is an object and a place in a queue;
- **KiB per function, RSS**: the resident set (``/proc/self/statm``) while all ``N``
  wait, minus just before the first ``go()``, divided by ``N``: what the machine
  gives them. A thread's stack is 8 MiB of address space, but only the pages it
  touches become resident;
- **KiB per function, tracemalloc**: the same difference in what ``tracemalloc``
  traces, in a second round: Python's own allocations only, so a thread's stack is not
  in it, and a task is nearly all of it.

A fresh process per runtime, and a first round of 100 to warm up, because memory a
process has freed mostly stays resident (pymalloc keeps an arena while any object
lives in it, glibc keeps its heap) and a later round would grow into it unseen; and
``tracemalloc`` in a round of its own, since it slows every allocation and its own
tables are resident too. Waking 10,000 waiting threads at once is a convoy on the GIL
(each woken thread asks for it every switch interval, 5 ms), so the threads' release
runs with a 1 s switch interval: it is not measured, only waited for. The project's
benchmark of the same thing, ``benchmarks/test_spawn.py``, says more on all of this.

One round each: the figures are indicative, a few per cent apart from run to run.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

N = 10_000  # functions alive at once
WARMUP = 100  # the first, unmeasured round: imports, the first loop, caches
RELEASE_SWITCH_INTERVAL_S = 1.0  # threads only, while the gate opens and the block ends
CHILD_LIMIT_S = 300.0  # 10,000 threads twice on a busy machine take tens of seconds
RUNTIMES = ("threads", "asyncio", "trio")
CHAPTER = Path(__file__).resolve().parent.name  # 01-spawn, the workspace's folder too

Reading = Callable[[], int]


def rss_bytes() -> int:
    """This process's resident set now; off Linux, its peak (the closest there is)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        from patterns.probe.usage import peak_memory

        return peak_memory()
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


def traced_bytes() -> int:
    return tracemalloc.get_traced_memory()[0]


# -- one round: your Group starts n functions, all wait at one gate ---------------------


def threads_round(group: type[Any], n: int, reading: Reading) -> tuple[float, int]:
    """Seconds from the first go() until all ``n`` wait, and ``reading()`` then."""
    gate, all_waiting, lock = threading.Event(), threading.Event(), threading.Lock()
    waiting = 0

    def wait_at_gate() -> None:
        nonlocal waiting
        with lock:
            waiting += 1
            if waiting == n:
                all_waiting.set()
        gate.wait()

    default = sys.getswitchinterval()
    try:
        with group() as g:
            try:
                started = time.perf_counter()
                for _ in range(n):
                    g.go(wait_at_gate)
                all_waiting.wait()
                spawned = time.perf_counter() - started
                at_peak = reading()
            finally:  # even if a start failed: waiting threads would keep the block open
                sys.setswitchinterval(RELEASE_SWITCH_INTERVAL_S)
                gate.set()
    finally:
        sys.setswitchinterval(default)
    return spawned, at_peak


async def asyncio_round(group: type[Any], n: int, reading: Reading) -> tuple[float, int]:
    gate, all_waiting = asyncio.Event(), asyncio.Event()
    waiting = 0

    async def wait_at_gate() -> None:
        nonlocal waiting
        waiting += 1
        if waiting == n:
            all_waiting.set()
        await gate.wait()

    async with group() as g:
        try:
            started = time.perf_counter()
            for _ in range(n):
                await g.go(wait_at_gate)
            await all_waiting.wait()
            spawned = time.perf_counter() - started
            at_peak = reading()
        finally:
            gate.set()
    return spawned, at_peak


async def trio_round(group: type[Any], n: int, reading: Reading) -> tuple[float, int]:
    import trio

    gate, all_waiting = trio.Event(), trio.Event()
    waiting = 0

    async def wait_at_gate() -> None:
        nonlocal waiting
        waiting += 1
        if waiting == n:
            all_waiting.set()
        await gate.wait()

    async with group() as g:
        try:
            started = time.perf_counter()
            for _ in range(n):
                await g.go(wait_at_gate)
            await all_waiting.wait()
            spawned = time.perf_counter() - started
            at_peak = reading()
        finally:
            gate.set()
    return spawned, at_peak


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("learners_group", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(runtime: str, path: Path, n: int) -> dict[str, float]:
    """In this process: µs per spawn, RSS and traced bytes per function, one round each."""
    group = load(path).Group
    with asyncio.Runner() as runner:
        def run(n: int, reading: Reading) -> tuple[float, int]:
            if runtime == "threads":
                return threads_round(group, n, reading)
            if runtime == "asyncio":
                return runner.run(asyncio_round(group, n, reading))
            import trio

            result: tuple[float, int] = trio.run(trio_round, group, n, reading)
            return result

        run(WARMUP, rss_bytes)
        gc.collect()
        before = rss_bytes()
        spawned, at_peak = run(n, rss_bytes)
        tracemalloc.start()
        try:
            gc.collect()
            traced_before = traced_bytes()
            _, traced_at_peak = run(n, traced_bytes)
        finally:
            tracemalloc.stop()
    return {"us_per_spawn": spawned / n * 1e6, "rss_per_function": (at_peak - before) / n,
            "traced_per_function": (traced_at_peak - traced_before) / n}


def measure_in_child(runtime: str, path: Path, n: int) -> dict[str, float] | str:
    """``measure`` in a fresh process; what went wrong, in one line, if it did."""
    try:
        done = subprocess.run([sys.executable, __file__, "--measure", runtime, str(path), str(n)],
                              capture_output=True, text=True, timeout=CHILD_LIMIT_S)
    except subprocess.TimeoutExpired:
        return f"still running after {CHILD_LIMIT_S:g} s"
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


# -- what check calls -------------------------------------------------------------------


def show(workspace: Path, console: Any, *, functions: int = N) -> None:
    """Measure your three ``Group``\\ s, each in a fresh process, and print them side by
    side (``functions`` is for tests; the lesson is 10,000)."""
    from rich.table import Table
    from rich.text import Text

    results: dict[str, dict[str, float] | str] = {}
    with console.status("") as status:
        for runtime in RUNTIMES:
            status.update(f"{functions:,} functions in {runtime}, in a fresh process…")
            results[runtime] = measure_in_child(
                runtime, workspace / CHAPTER / f"on_{runtime}.py", functions)
    table = Table(title=f"{functions:,} functions started by your Group, all waiting at once",
                  caption="one round each, in a fresh process: indicative")
    table.add_column("runtime")
    table.add_column("µs per spawn", justify="right")
    table.add_column("KiB per function (RSS)", justify="right")
    table.add_column("KiB (tracemalloc)", justify="right")
    for runtime, figures in results.items():
        if isinstance(figures, str):
            table.add_row(runtime, Text(f"could not measure: {figures}", style="red"), "", "")
        else:
            table.add_row(runtime, f"{figures['us_per_spawn']:.1f}",
                          f"{figures['rss_per_function'] / 1024:.2f}",
                          f"{figures['traced_per_function'] / 1024:.2f}")
    console.print(table)
    threads, tasks = results["threads"], results["asyncio"]
    if isinstance(threads, dict) and isinstance(tasks, dict) and min(
            tasks["rss_per_function"], tasks["us_per_spawn"]) > 0:
        memory = threads["rss_per_function"] / tasks["rss_per_function"]
        start = threads["us_per_spawn"] / tasks["us_per_spawn"]
        console.print(Text(f"On this machine a thread costs {memory:.0f}x the memory of an "
                           f"asyncio task, and {start:.0f}x the time to start."))


if __name__ == "__main__" and sys.argv[1:2] == ["--measure"]:  # measure_in_child's child
    runtime, path, n = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    try:
        print(json.dumps(measure(runtime, path, n)))
    except Exception as exc:  # the parent shows it as one line in the table
        sys.exit(f"{type(exc).__name__}: {exc}".splitlines()[0])

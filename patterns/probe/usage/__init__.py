"""What a process costs: the CPU seconds it has used, and its peak memory.

One reader of each for the whole tool: the fleet's capacity check and ``compare`` read
the fleet server's CPU time with :func:`cpu_seconds`, and each of ``compare``'s rounds
reads its own CPU time and :func:`peak_memory` the same way.

A package of its own, below the fleet and the comparison, because a round's process
imports it: it must stay this small (no asyncio, no fleet), or every round would carry
the fleet's imports in its memory and the runtimes' figures would not be their own.
Go counterpart: ``syscall.Getrusage``, and reading ``/proc`` as ``procfs`` does.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from typing import overload

__all__ = ["cpu_seconds", "peak_memory"]


@overload
def cpu_seconds(pid: None = None) -> float: ...
@overload
def cpu_seconds(pid: int) -> float | None: ...


def cpu_seconds(pid: int | None = None) -> float | None:
    """CPU seconds, user and system, that a process has used: this one's
    (``pid=None``), every thread included, or process ``pid``'s.

    Another process is read from ``/proc/PID/task/*/schedstat``, which counts
    nanoseconds per thread, where ``/proc/PID/stat`` counts 10 ms ticks: too coarse for
    a round that costs the fleet a few of them. A thread that has exited no longer
    counts. ``None`` where there is no ``/proc`` (off Linux), or once ``pid`` is gone.

    >>> 0 <= cpu_seconds() <= cpu_seconds()
    True
    """
    if pid is None:
        return time.process_time()
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    nanoseconds = 0
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/schedstat", encoding="ascii") as stat:
                nanoseconds += int(stat.read().split()[0])
        except FileNotFoundError:
            continue  # the thread ended since the listing: it no longer counts
        except (OSError, ValueError, IndexError):
            return None
    return nanoseconds / 1e9


def peak_memory() -> int:
    """This process's peak resident set size, in bytes. Linux's ``VmHWM`` (the high
    water mark of this program's address space), not ``ru_maxrss``: a child's
    ``ru_maxrss`` starts at its parent's when it forks, and survives the ``exec``.

    >>> peak_memory() > 0
    True
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # given in kB
    except OSError:
        pass
    # Elsewhere ru_maxrss is all there is: bytes on macOS, KiB on the others.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale

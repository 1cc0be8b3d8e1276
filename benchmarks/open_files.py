"""A large fleet, with the open files a benchmark's process needs beside it.

The fleet's process holds a listening socket per host and raises its own soft limit to
the hard one, which it inherits from us; this process holds a socket per probe in
flight, so its soft limit is raised while the fleet runs if it is lower than that (a
common default is 1,024). Where the hard limit is too low for both, the benchmark
skips and says so.
"""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Iterator

import pytest

from patterns.probe.fleet import Fleet

SPARE_FILES = 100  # pipes, pytest's own files, sockets still closing


@contextlib.contextmanager
def fleet_with_files(hosts: int, profile: str, *, in_flight: int) -> Iterator[Fleet]:
    """``Fleet(hosts, profile)`` while this process may hold ``in_flight`` sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < hosts + in_flight + SPARE_FILES:
        pytest.skip(f"the fleet needs {hosts + in_flight + SPARE_FILES} open files, and "
                    f"the hard limit is {hard} (ulimit -Hn)")
    if soft != resource.RLIM_INFINITY and soft < in_flight + SPARE_FILES:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        with Fleet(hosts=hosts, profile=profile, seed=0) as fleet:
            yield fleet
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

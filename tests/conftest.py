"""Fixtures shared by every suite: the runtime adapter and the leak check."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import settings
from runtimes import NAMES, Runtime

# Deterministic by default, so CI and the 20-run loop see the same examples;
# HYPOTHESIS_PROFILE=explore draws fresh ones for a deeper local search.
settings.register_profile("default", deadline=None, max_examples=40, derandomize=True)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

THREAD_GRACE_S = 5.0  # how long a finished test's threads may take to exit after join()


@pytest.fixture(params=NAMES, scope="session")
def rt(request: pytest.FixtureRequest) -> Runtime:
    """The runtime a behavioural test runs in: threads, asyncio or trio."""
    return Runtime(request.param)


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves threads or file descriptors behind.

    Tasks are checked by ``Runtime.run`` itself, inside the event loop, where they live.
    A thread the test ended may still be unwinding, so each gets a join with a bounded
    grace period; one that is still alive after it has leaked.
    """
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    yield
    limit = time.monotonic() + THREAD_GRACE_S
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(timeout=max(0.0, limit - time.monotonic()))
    leaked_threads = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert not leaked_threads, f"test leaked threads: {leaked_threads}"
    # /proc lists the fd used to read it; it is closed again by the time we compare.
    leaked_fds = _open_fds() - fds_before
    assert not leaked_fds, f"test leaked file descriptors: {sorted(leaked_fds)}"

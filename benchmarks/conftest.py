"""What every microbenchmark shares: how one round of work runs in each runtime.

The suite sets each pattern against the tool its runtime already has, runtime by
runtime, and reads the result as a ratio (ours / native) from one run::

    python -m pytest benchmarks --benchmark-json=bench.json
    python benchmarks/report.py bench.json

``python -m pytest benchmarks --benchmark-disable -q`` runs every round once, untimed:
the smoke test CI runs. The project's own ``pytest`` does not collect this directory.
The project's tests run on four processes (``-n 4`` in pyproject.toml); here there is
one, so that no round shares the machine with another.

pytest-benchmark times a plain function, so a round of async work is wrapped in one.
A round is a whole piece of work (1,000 acquire+release pairs, or a group of 1,000
tasks) inside a single event loop, because what we compare is the work, not the start
of a loop:

- threads: the round is the function itself.
- asyncio: ``asyncio.Runner`` keeps one loop for the whole benchmark, and each round is
  one ``runner.run()`` on it: a task on a running loop, a few tens of µs, where
  ``asyncio.run`` would build and tear down a loop every time.
- trio: one ``trio.run`` per round, since trio has no runner that outlives a run;
  starting one costs a fraction of a millisecond, small beside a round of trio work.

What is left of the start-up is the same for ours and native, so it can only pull a
ratio towards 1; the rounds are sized to keep it to a few per cent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio

Round = Callable[[], Any]  # a sync function (threads) or an async one (asyncio, trio)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """One process: the ``-n 4`` the tests run with would run rounds side by side (and
    pytest-benchmark turns itself off under xdist)."""
    config.option.numprocesses = 0
    config.option.dist = "no"


@pytest.fixture
def in_runtime() -> Iterator[Callable[[str, Round], Callable[[], Any]]]:
    """``in_runtime(runtime, work)``: the plain function that runs one round of ``work``."""
    with asyncio.Runner() as runner:  # builds its loop on first use: free for the others

        def wrap(runtime: str, work: Round) -> Callable[[], Any]:
            match runtime:
                case "threads":
                    return work
                case "asyncio":
                    return lambda: runner.run(work())
                case "trio":
                    return lambda: trio.run(work)
            raise ValueError(f"unknown runtime {runtime!r}")

        yield wrap

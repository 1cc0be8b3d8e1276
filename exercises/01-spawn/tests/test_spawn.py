"""Chapter 01's grading: ``Group.go`` starts each function concurrently, the block waits
for all of them, and each runs exactly once.

Every scenario is written once and run in the chapter's runtime (``rt``), on the
learner's module (``impl``); the library's ``patterns.errgroup`` passes them too.
"""

from __future__ import annotations

from typing import Any

import pytest

N = 100  # functions per scenario: enough that a loop in disguise cannot pass


async def together(rt: Any, impl: Any, n: int) -> list[int]:
    """Start ``n`` functions that each wait until all ``n`` are running; return the
    arguments they were called with. Only a ``go`` that returns before its function
    ends lets the next one start, so a loop in disguise waits here forever."""
    arrived: list[int] = []
    everyone = rt.event()

    async def meet(i: int) -> None:
        arrived.append(i)
        if len(arrived) == n:
            everyone.set()
        await everyone.wait()

    async with rt.enter(impl.Group()) as g:
        for i in range(n):
            await rt.call(g.go, rt.callback(meet), i)
    return arrived


@pytest.mark.task(1)
def test_go_returns_before_the_function_ends(impl: Any, rt: Any) -> None:
    rt.run(together, impl, N,
           waiting_for=f"{N} functions to be running at once: does go() wait for its "
           "function to end before it returns?")


@pytest.mark.task(2)
def test_the_block_waits_for_every_function(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        ended: list[int] = []
        gate = rt.event()

        async def work(i: int) -> None:
            await gate.wait()
            await rt.checkpoint()
            ended.append(i)

        async def open_gate() -> None:
            gate.set()

        async with rt.enter(impl.Group()) as g:
            for i in range(N):
                await rt.call(g.go, rt.callback(work), i)
            await rt.call(g.go, rt.callback(open_gate))
        assert len(ended) == N, (
            f"the block ended while {N - len(ended)} of {N} functions were still running: "
            "leaving it must wait for every function go() started"
        )

    rt.run(scenario, waiting_for="the block to end")


@pytest.mark.task(3)
def test_each_function_runs_exactly_once_with_its_arguments(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> list[int]:
        ran: list[int] = []

        async def work(i: int) -> None:
            ran.append(i)

        async with rt.enter(impl.Group()) as g:
            for i in range(N):
                await rt.call(g.go, rt.callback(work), i)
        return ran

    ran = rt.run(scenario, waiting_for="the block to end")
    twice = sorted({i for i in ran if ran.count(i) > 1})
    assert not twice, f"function {twice[0]} ran {ran.count(twice[0])} times; go() ran it once"
    missing = sorted(set(range(N)) - set(ran))
    assert not missing, f"{len(missing)} of {N} functions never ran (the first: {missing[0]})"

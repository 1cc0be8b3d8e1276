"""Chapter 06's grading: each job of the worker pool runs under a context of its own,
a child of the pool's with ``timeout`` applied from the moment it starts; a job past
its deadline ends as ``DeadlineExceeded`` and its worker goes on; a job that ignores
its context does not keep its worker (asyncio and trio stop it natively; threads
cannot); cancelling the pool's ``ctx`` reaches every job.

Every scenario is written once and run in the chapter's runtime (``rt``), on the
learner's module (``impl``); the library's ``patterns.workerpool`` passes them too.
Deadlines are real seconds in threads and asyncio and instant in trio (its mock
clock); the tests assert how jobs ended, never how long they took. An assertion inside
a job would only become that job's error, so jobs record what they see and the
scenario asserts on it.
"""

from __future__ import annotations

from typing import Any

import pytest

from patterns.context import Canceled, DeadlineExceeded
from patterns.exercises.grading import background, let_others_block

TIMEOUT_S = 0.05  # each job's timeout: real seconds in threads and asyncio, mock in trio
FAIL_SAFE_S = 1.0  # a wait the pool should have ended long before: a bug fails, not hangs
NO_DEADLINE = "no deadline to wait for"  # what a job that would wait forever says instead


class Reason(Exception):
    """The cause given to ``cancel``."""


def pool(rt: Any, impl: Any, afn: Any, **kwargs: Any) -> Any:
    """``impl.WorkerPool`` running ``afn``, a job written once as ``async def``."""
    return impl.WorkerPool(rt.callback(afn), **kwargs)


async def collect(rt: Any, iterable: Any) -> list[Any]:
    return [r async for r in rt.aiter(iterable)]


def by_index(results: list[Any]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for r in results:
        assert r.index not in out, f"job {r.index} has two results; each job has one"
        out[r.index] = r
    return out


def ended(r: Any) -> str:
    """How a job ended, in a sentence's words."""
    if r.ok:
        return f"returned {r.value!r}"
    return f"failed with {type(r.error).__name__}: {r.error}"


def assert_all_ok(results: list[Any]) -> None:
    for r in sorted(results, key=lambda r: r.index):
        assert r.ok, f"job {r.index} ({r.item!r}) {ended(r)}; it should have returned"


async def wait_for_deadline(rt: Any, ctx: Any) -> str:
    """A job that honours its context: it waits on it (``ctx.sleep``), which raises
    ``DeadlineExceeded`` at the deadline. A context with no deadline in reach would
    keep it waiting for nothing, so it returns at once and says so."""
    remaining = ctx.remaining()
    if remaining is None or remaining > FAIL_SAFE_S:
        return NO_DEADLINE
    await rt.call(ctx.sleep, FAIL_SAFE_S)
    return "slept through its deadline"


async def until_cancelled(ctx: Any, release: Any) -> None:
    """A job that honours its context: wait until it is cancelled. A cancel that never
    reaches the context would keep it waiting for ever, so the test can ``release`` it."""
    stop = ctx.after_cancel(release.set)
    try:
        await release.wait()
    finally:
        stop()


# -- task 1: a context of the job's own ---------------------------------------------------


@pytest.mark.task(1)
def test_each_job_gets_a_child_of_the_pool_context_bounded_by_timeout(impl: Any,
                                                                      rt: Any) -> None:
    """Two pools under one parent (a value, a deadline 60 s away): with ``timeout``,
    each job's deadline is ``timeout`` from its start; without, it is the parent's. Each
    job's context is its own, carries the parent's value, and ends with the job."""
    n = 3

    async def scenario(rt: Any) -> None:
        parent = background(rt).with_value("request", 42).with_timeout(60.0)
        seen: list[tuple[int, Any, float]] = []  # (item, its ctx, the time it started)

        async def fn(ctx: Any, item: int) -> int:
            seen.append((item, ctx, rt.now()))
            return item

        t0 = rt.now()
        async with rt.enter(pool(rt, impl, fn, workers=2, timeout=TIMEOUT_S, ctx=parent)) as p:
            results = await collect(rt, p.map(range(n)))
            assert_all_ok(results)
            assert len(seen) == n, f"{len(seen)} jobs ran; {n} were submitted"
            for item, ctx, started in sorted(seen, key=lambda s: s[0]):
                assert ctx is not parent, (
                    f"job {item} was handed the pool's ctx itself: each job needs a context "
                    "of its own, derived from the pool's")
                assert ctx.value("request") == 42, (
                    f"job {item}'s context does not carry the values of the pool's ctx: it "
                    "must be derived from the pool's context (self.ctx), not made afresh")
                away = "missing" if ctx.deadline is None else f"{ctx.deadline - started:.3g} s away"
                assert ctx.deadline is not None and ctx.deadline <= started + TIMEOUT_S, (
                    f"job {item}'s deadline is {away} when it starts; timeout={TIMEOUT_S} "
                    "bounds each job: derive its context with with_timeout(timeout)")
                assert ctx.deadline >= t0 + TIMEOUT_S, (
                    f"job {item}'s deadline came before {TIMEOUT_S} s had passed: "
                    "with_timeout(seconds) counts from now, with_deadline(when) wants a "
                    "time on the runtime's clock")
            assert len({id(ctx) for _, ctx, _ in seen}) == n, (
                "two jobs shared one context: each job gets a context of its own, so that "
                "one job's deadline is not another's")

        seen.clear()
        async with rt.enter(pool(rt, impl, fn, workers=2, ctx=parent)) as p:
            results = await collect(rt, p.map(range(n)))
            assert_all_ok(results)
            for item, ctx, _ in sorted(seen, key=lambda s: s[0]):
                assert ctx.deadline == parent.deadline, (
                    f"with timeout=None, job {item}'s deadline should be the one its "
                    f"context inherits from the pool's ctx, 60 s away; it is "
                    f"{ctx.deadline!r}")
                assert ctx.done, (
                    f"job {item}'s context was still running after the job had ended: "
                    "cancel it when the job ends (Go's defer cancel()), or the pool's "
                    "context holds on to every finished job's")

    rt.run(scenario, waiting_for="two small pools to run three jobs each")


@pytest.mark.task(1)
def test_a_jobs_deadline_counts_from_when_it_starts_not_from_submit(impl: Any,
                                                                    rt: Any) -> None:
    """One worker; two slow jobs wait on their contexts until their deadlines, and a fast
    one queued behind them must still get all its time when it starts."""
    items = ["slow", "slow", "fast"]

    async def scenario(rt: Any) -> tuple[dict[int, Any], list[float], list[Any]]:
        slow_ended: list[float] = []  # when each slow job saw its deadline
        fast_deadline: list[Any] = []

        async def fn(ctx: Any, item: str) -> str:
            if item == "fast":
                fast_deadline.append(ctx.deadline)
                return "FAST"
            try:
                return await wait_for_deadline(rt, ctx)
            finally:
                slow_ended.append(rt.now())

        async with rt.enter(pool(rt, impl, fn, workers=1, queue_size=2,
                                 timeout=TIMEOUT_S)) as p:
            for item in items:
                await rt.call(p.submit, item)
            p.close()
            results = by_index(await collect(rt, p.results()))
        return results, slow_ended, fast_deadline

    results, slow_ended, fast_deadline = rt.run(
        scenario, waiting_for="three jobs with a 0.05 s timeout to end")
    assert sorted(results) == [0, 1, 2], f"{len(results)} results for 3 jobs"
    assert fast_deadline and fast_deadline[0] is not None, (
        f"job 2 ran with no deadline; the pool has timeout={TIMEOUT_S}")
    assert len(slow_ended) == 2, f"{len(slow_ended)} of the 2 slow jobs ran"
    assert fast_deadline[0] >= max(slow_ended) + TIMEOUT_S, (
        "job 2 waited in the queue behind two slow jobs, and its deadline had passed "
        "before it started: a job's timeout counts from when it starts (derive its "
        "context in the worker, not in submit())")
    assert results[2].ok and results[2].value == "FAST", (
        f"job 2 ('fast') {ended(results[2])}; it returns at once, well within its time")


# -- task 2: past its deadline, a job has failed ------------------------------------------


@pytest.mark.task(2)
def test_a_job_past_its_deadline_ends_with_deadline_exceeded_and_the_worker_goes_on(
        impl: Any, rt: Any) -> None:
    """One worker; slow jobs wait on their contexts (``ctx.sleep``), fast ones return at
    once."""
    items = ["slow", "fast", "slow", "fast"]

    async def scenario(rt: Any) -> dict[int, Any]:
        async def fn(ctx: Any, item: str) -> str:
            if item == "slow":
                return await wait_for_deadline(rt, ctx)
            return item.upper()

        async with rt.enter(pool(rt, impl, fn, workers=1, timeout=TIMEOUT_S)) as p:
            for item in items:
                await rt.call(p.submit, item)
            p.close()
            return by_index(await collect(rt, p.results()))

    results = rt.run(scenario, waiting_for="four jobs with a 0.05 s timeout to end")
    assert sorted(results) == list(range(len(items))), (
        f"{len(results)} results for {len(items)} jobs: a worker stopped after a job "
        "that missed its deadline?")
    for i, item in enumerate(items):
        r = results[i]
        if item == "slow":
            assert r.value != NO_DEADLINE, (
                f"job {i} ('slow') had no deadline to wait for: timeout={TIMEOUT_S} never "
                "reached its context (task 1)")
            assert isinstance(r.error, DeadlineExceeded), (
                f"job {i} ('slow') waited on its context past its deadline and "
                f"{ended(r)}; it should end with DeadlineExceeded")
        else:
            assert r.ok and r.value == "FAST", (
                f"job {i} ('fast') {ended(r)}: the worker must go on after a job that "
                "missed its deadline, each job with time of its own")


@pytest.mark.task(2)
def test_a_value_returned_after_the_deadline_is_not_kept(impl: Any, rt: Any) -> None:
    """Job 0 waits until its context is done, then returns anyway; its result is the
    context's error, not the late value. (asyncio and trio interrupt it before it can
    return, or the pool drops the value as threads must.)"""

    async def scenario(rt: Any) -> dict[int, Any]:
        async def fn(ctx: Any, item: str) -> str:
            if item == "late":
                remaining = ctx.remaining()
                if remaining is None or remaining > FAIL_SAFE_S:
                    return NO_DEADLINE
                await rt.call(ctx.wait)
                return "late value"
            return item

        async with rt.enter(pool(rt, impl, fn, workers=1, timeout=TIMEOUT_S)) as p:
            await rt.call(p.submit, "late")
            await rt.call(p.submit, "next")
            p.close()
            return by_index(await collect(rt, p.results()))

    results = rt.run(scenario, waiting_for="two jobs with a 0.05 s timeout to end")
    assert sorted(results) == [0, 1], f"{len(results)} results for 2 jobs"
    late, following = results[0], results[1]
    assert late.value != NO_DEADLINE, (
        f"job 0 had no deadline to wait for: timeout={TIMEOUT_S} never reached its "
        "context (task 1)")
    assert isinstance(late.error, DeadlineExceeded) and late.value is None, (
        f"job 0 {ended(late)} after its deadline had passed: a job whose context ended "
        "while it ran has failed with the context's error (job.err), whatever it returned")
    assert following.ok and following.value == "next", f"job 1 {ended(following)}"


# -- task 3: a job that ignores its context -----------------------------------------------


@pytest.mark.task(3)
def test_a_job_that_ignores_its_context_does_not_keep_its_worker(impl: Any, rt: Any) -> None:
    """Job 0 never looks at its context: it waits for the test to release it. The test
    waits on the job's context until its deadline passes: asyncio and trio stop the job
    there; a thread cannot be stopped, so the test releases it and the pool must still
    end it as ``DeadlineExceeded``, and go on with job 1."""

    async def scenario(rt: Any) -> tuple[dict[int, Any], bool, bool]:
        contexts: list[Any] = []
        ended: list[str] = []
        started, release = rt.event(), rt.event()

        async def fn(ctx: Any, item: str) -> str:
            if item != "ignores its context":
                return item
            contexts.append(ctx)
            started.set()
            try:
                await release.wait()  # not its context: only the pool can stop it
            finally:
                ended.append(item)
            return "late value"

        async with rt.enter(pool(rt, impl, fn, workers=1, timeout=TIMEOUT_S)) as p:
            await rt.call(p.submit, "ignores its context")
            await rt.call(p.submit, "next")
            try:
                await started.wait()
                remaining = contexts[0].remaining()
                has_deadline = remaining is not None and remaining <= FAIL_SAFE_S
                if has_deadline:
                    await rt.call(contexts[0].wait)  # until the job's deadline has passed
                await let_others_block(rt)  # time for the pool to stop the job
                kept_running = not ended
            finally:
                release.set()
            p.close()
            return by_index(await collect(rt, p.results())), has_deadline, kept_running

    results, has_deadline, kept_running = rt.run(
        scenario, waiting_for="a job that ignores its context to end")
    assert has_deadline, (
        f"job 0 ran with no deadline; the pool has timeout={TIMEOUT_S} (task 1)")
    if rt.is_async:
        assert not kept_running, (
            "job 0 ignored its context and kept running after its deadline had passed: "
            f"{rt.name} can stop it there: make the call inside the job context's scope()")
    assert sorted(results) == [0, 1], f"{len(results)} results for 2 jobs"
    assert isinstance(results[0].error, DeadlineExceeded), (
        f"job 0 ignored its context, ran past its deadline and {ended(results[0])}; it "
        "should end with DeadlineExceeded")
    assert results[1].ok and results[1].value == "next", (
        f"job 1 {ended(results[1])}: the worker must go on to the next item")


# -- task 4: the pool's context is the parent of every job's -------------------------------


@pytest.mark.task(4)
def test_cancelling_the_pool_ctx_stops_running_jobs_and_queued_ones_never_start(
        impl: Any, rt: Any) -> None:
    """One worker: job 0 waits until its context is cancelled, jobs 1-3 wait in the
    queue. Cancelling the ``ctx`` the pool was given must reach job 0's context at once
    and end all four as ``Canceled``; the queued ones never start."""

    async def scenario(rt: Any) -> tuple[dict[int, Any], list[int], bool, list[bool]]:
        parent = background(rt).with_cancel()
        reason = Reason("request abandoned")
        ran: list[int] = []
        contexts: list[Any] = []
        release = rt.event()

        async def fn(ctx: Any, item: int) -> str:
            ran.append(item)
            if item == 0:
                contexts.append(ctx)
                await until_cancelled(ctx, release)
            return "late value"

        async with rt.enter(pool(rt, impl, fn, workers=1, queue_size=3, timeout=60.0,
                                 ctx=parent)) as p:
            try:
                for i in range(4):
                    await rt.call(p.submit, i)
                await rt.until(lambda: ran == [0])
                parent.cancel(reason)
                reached = contexts[0].done  # a cancel reaches every descendant at once
            finally:
                release.set()
            p.close()
            results = by_index(await collect(rt, p.results()))
        return results, ran, reached, [contexts[0].cause is reason]

    results, ran, reached, by_reason = rt.run(
        scenario, waiting_for="four jobs to end once the pool's ctx was cancelled")
    assert reached, (
        "cancelling the ctx the pool was given did not reach job 0's context: the pool's "
        "context must be a child of ctx, and each job's a child of the pool's")
    assert by_reason == [True], (
        "job 0's context did not end with the cause given to ctx.cancel(): its context "
        "must descend from the ctx the pool was given")
    assert sorted(results) == [0, 1, 2, 3], f"{len(results)} results for 4 jobs"
    for i, r in sorted(results.items()):
        assert isinstance(r.error, Canceled), (
            f"job {i} {ended(r)}; once the pool's ctx is cancelled every job ends with "
            "Canceled")
    assert ran == [0], (
        f"jobs {[i for i in ran if i]} started after the pool's ctx was cancelled: a job "
        "still queued when the pool's context is done must end without starting")

"""Chapter 05's grading: a job's ``Exception`` is its ``Result.error`` and costs the pool
nothing; any other ``BaseException`` stops the pool and comes out of its block;
``cancel()`` stops the running jobs and ends the queued ones as ``Canceled`` results;
``statistics()`` counts what completed and what failed.

Every scenario is written once and run in the chapter's runtime (``rt``), on the
learner's module (``impl``); the library's ``patterns.workerpool`` passes them too.
A pool whose worker died waits forever for the results it will never produce, so each
pool's block runs beside the scenario (:func:`run_pool`): a block that does not end
fails the test at once, with what is missing, instead of at the time limit. And a
thread cannot be interrupted, so everything a job waits on in threads is bounded.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import pytest
import trio

from patterns.context import Canceled
from patterns.exercises.grading import SETTLE_S, ScenarioThread, drive
from patterns.workerpool import PoolClosed, Result

FAIL_SAFE_S = 0.5  # the longest a thread here waits for what a correct pool does at once
QUIET_S = 0.05  # threads, a test that failed: no job running this long, the pool is stuck


class Boom(Exception):
    """An ordinary job failure: it becomes ``Result.error``."""


class Stop(BaseException):
    """A BaseException that is not an Exception: KeyboardInterrupt's kind, harmlessly."""


class Reason(Exception):
    """A cause given to ``cancel``."""


# -- helpers ------------------------------------------------------------------------------


class Gate:
    """An event a job waits on. A thread waits at most FAIL_SAFE_S, so a test that fails
    leaves no thread behind; asyncio and trio tasks are cancelled with the scenario."""

    def __init__(self, rt: Any) -> None:
        self._rt = rt
        self._event: Any = rt.event() if rt.is_async else threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return bool(self._event.is_set())

    async def wait(self) -> None:
        if self._rt.is_async:
            await self._event.wait()
        else:
            self._event.wait(FAIL_SAFE_S)


def pool(impl: Any, rt: Any, afn: Callable[[Any, Any], Coroutine[Any, Any, Any]],
         **kwargs: Any) -> Any:
    """``impl.WorkerPool`` with a job function written once as ``async def fn(ctx, item)``."""
    return impl.WorkerPool(rt.callback(afn), **kwargs)


async def hold(rt: Any, ctx: Any) -> bool:
    """Run until the pool stops this job; return ``False`` if it never did.

    A thread watches its ctx, the only way it can learn that it should stop, for at
    most FAIL_SAFE_S. An asyncio or trio job ignores it and sleeps: only the pool's
    native interruption can end that sleep, and then this never returns.
    """
    if rt.is_async:
        await anyio.sleep_forever()
    return bool(ctx.wait(FAIL_SAFE_S))


def is_our_cancellation(rt: Any, exc: BaseException) -> bool:
    """Is ``exc`` the scenario itself being cancelled (its time limit), rather than a
    cancellation exception that a pool raised by mistake?"""
    if rt.name == "asyncio":
        task = asyncio.current_task()
        return (isinstance(exc, asyncio.CancelledError)
                and task is not None and task.cancelling() > 0)
    if rt.name == "trio":
        return (isinstance(exc, trio.Cancelled)
                and trio.current_effective_deadline() == -math.inf)
    return False


def describe(exc: BaseException | None) -> str:
    """``exc`` in a few words, for a message: its type, and its text if it has one."""
    if exc is None:
        return "nothing"
    if isinstance(exc, asyncio.CancelledError | trio.Cancelled):
        return type(exc).__name__
    if isinstance(exc, BaseExceptionGroup):
        inner = ", ".join(type(e).__name__ for e in exc.exceptions)
        return f"{type(exc).__name__}([{inner}])"
    return f"{type(exc).__name__}({exc})" if str(exc) else type(exc).__name__


@asynccontextmanager
async def crew(rt: Any) -> AsyncIterator[Callable[..., None]]:
    """``async with crew(rt) as start: start(afn)`` runs ``afn()`` beside the scenario,
    as a task (asyncio, trio) or a :class:`ScenarioThread` (one left blocked cannot
    keep the process alive, and the leak check leaves it to the test that has failed
    already). An assertion in the body comes out as itself, not wrapped in a
    task group's ExceptionGroup, so the learner reads its message."""
    if rt.is_async:
        failure: Exception | None = None
        async with anyio.create_task_group() as tg:
            try:
                yield tg.start_soon
            except Exception as exc:
                failure = exc
                tg.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return
    threads: list[threading.Thread] = []

    def start(afn: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        thread = ScenarioThread(lambda: drive(afn()))
        threads.append(thread)
        thread.start()

    yield start
    for thread in threads:
        thread.join()


async def run_pool(rt: Any, p: Any, body: Callable[[Any], Awaitable[None]],
                   never_ended: Callable[[], str]) -> BaseException | None:
    """Run ``with p: body(p)`` beside the scenario and return what the block raised.

    If the block has not ended once nothing more can happen, fail with
    ``never_ended()``. In asyncio and trio the failing test cancels the block. A thread
    cannot be cancelled: the test cancels and closes the pool, and if its block is stuck
    for good (in ``results()``, waiting for a result that will never come), leaves the
    pool for it, so that no worker thread outlives the test.
    """
    outcome: list[BaseException | None] = []

    async def block() -> None:
        got: BaseException | None = None
        try:
            async with rt.enter(p):
                await body(p)
        except BaseException as exc:
            if is_our_cancellation(rt, exc):
                raise
            got = exc
        outcome.append(got)

    async with crew(rt) as start:
        start(block)
        await rt.settled(lambda: bool(outcome))
        if not outcome:
            message = never_ended()
            if not rt.is_async:
                for stop in (p.cancel, p.close):
                    with suppress(Exception):
                        stop()
                # Wait while jobs still run (their fail-safes end them); a block that
                # has not ended once none has run for a moment is stuck for good.
                limit = time.monotonic() + FAIL_SAFE_S + SETTLE_S
                quiet_since = time.monotonic()
                while not outcome and time.monotonic() < limit:
                    if p.statistics().running:
                        quiet_since = time.monotonic()
                    elif time.monotonic() - quiet_since > QUIET_S:
                        break
                    time.sleep(0.005)
                if not outcome:
                    with suppress(BaseException):
                        p.__exit__(None, None, None)
            raise AssertionError(message)
    return outcome[0]


async def read_all(rt: Any, p: Any, into: list[Result]) -> None:
    """Read ``p.results()`` to its end into ``into``, as the results come."""
    async for result in rt.aiter(p.results()):
        into.append(result)


def missing(results: list[Result], n: int) -> list[int]:
    return sorted(set(range(n)) - {r.index for r in results})


# -- task 1: a job's Exception is its result, and the worker goes on ------------------------


@pytest.mark.task(1)
def test_an_exception_from_fn_is_the_results_error_and_every_item_gets_a_result(
    impl: Any, rt: Any
) -> None:
    n = 6

    async def scenario(rt: Any) -> None:
        errors = {i: Boom(f"item {i}") for i in (1, 3, 4)}
        results: list[Result] = []

        async def fn(ctx: Any, item: int) -> int:
            await rt.checkpoint()
            if item in errors:
                raise errors[item]
            return item * 10

        async def body(p: Any) -> None:
            for i in range(n):
                await rt.call(p.submit, i)
            p.close()
            await read_all(rt, p, results)

        p = pool(impl, rt, fn, workers=1, queue_size=n)
        error = await run_pool(rt, p, body, lambda: (
            f"items {missing(results, n)} never got a result once item 1 had failed: the "
            "pool's one worker must go on after its job fails (catch the job's Exception "
            "around the job, not around the worker's loop)"))
        assert error is None, (
            f"the block raised {describe(error)}: an Exception from fn is its job's "
            "Result.error, never the pool's")
        assert not missing(results, n), f"items {missing(results, n)} never got a result"
        for r in sorted(results, key=lambda r: r.index):
            if r.index in errors:
                assert r.error is errors[r.index], (
                    f"item {r.index} raised {describe(errors[r.index])}, and its result's "
                    f"error is {describe(r.error)}: it must be the exception itself")
                assert not r.ok and r.value is None, r
            else:
                assert (r.ok, r.value) == (True, r.index * 10), r

    rt.run(scenario, waiting_for="every item's result")


@pytest.mark.task(1)
def test_a_failed_job_costs_the_pool_no_worker(impl: Any, rt: Any) -> None:
    """Three jobs fail; then three jobs that can only finish together, all three at
    once, need every one of the pool's three workers."""
    workers = 3

    async def scenario(rt: Any) -> None:
        together = Gate(rt)
        arrived: list[int] = []
        results: list[Result] = []

        async def fn(ctx: Any, item: int) -> int:
            if item < workers:
                raise Boom(f"item {item}")
            arrived.append(item)
            if len(arrived) == workers:
                together.set()
            await together.wait()
            return item

        async def body(p: Any) -> None:
            for i in range(2 * workers):
                await rt.call(p.submit, i)
            p.close()
            await read_all(rt, p, results)

        p = pool(impl, rt, fn, workers=workers, queue_size=2 * workers)
        error = await run_pool(rt, p, body, lambda: (
            f"after {workers} jobs failed, only {len(arrived)} of the next {workers} jobs "
            f"got to run at once: the pool has {workers} workers, and a job that fails "
            "takes none of them with it"))
        assert error is None, f"the block raised {describe(error)}"
        met = [r for r in results if r.index >= workers]
        assert len(met) == workers and all(r.ok for r in met), (
            f"after {workers} jobs failed, {len(arrived)} of the next {workers} ran at once: "
            f"a job that fails takes no worker with it ({met})")
        assert {r.worker for r in met} == set(range(workers)), met

    rt.run(scenario, waiting_for="the jobs after the failures")


# -- task 2: any other BaseException stops the pool ---------------------------------------


@pytest.mark.task(2)
def test_a_base_exception_from_fn_stops_the_pool_and_comes_out_of_the_block(
    impl: Any, rt: Any
) -> None:
    """Job 1 raises Stop while job 0 runs until the pool stops it (threads through its
    ctx, asyncio and trio natively): the block raises Stop itself."""

    async def scenario(rt: Any) -> None:
        stop = Stop()
        started = Gate(rt)
        ended: list[int] = []
        outlived: list[int] = []

        async def fn(ctx: Any, item: int) -> None:
            try:
                if item == 0:
                    started.set()
                    if not await hold(rt, ctx):
                        outlived.append(item)
                else:
                    await started.wait()
                    raise stop
            finally:
                ended.append(item)

        async def body(p: Any) -> None:
            await rt.call(p.submit, 0)
            await rt.call(p.submit, 1)

        p = pool(impl, rt, fn, workers=2)
        error = await run_pool(rt, p, body, lambda: (
            "the pool went on after job 1 raised Stop (a BaseException, like "
            "KeyboardInterrupt), and job 0 was never stopped: Stop is no job's failure, it "
            "stops the pool, and comes out of its block"))
        assert error is not None, (
            "the block ended without raising, but job 1 raised Stop (a BaseException, like "
            "KeyboardInterrupt): a pool catches a job's Exception, nothing more")
        assert error is stop, f"the block raised {describe(error)}, not job 1's Stop itself"
        assert outlived == [], "job 0 ran on after job 1 raised Stop: the pool must stop it"
        assert sorted(ended) == [0, 1], f"the block raised while jobs {ended} had ended"

    rt.run(scenario, waiting_for="the block to end after a job raised Stop")


@pytest.mark.task(2)
def test_a_base_exception_from_fn_comes_out_of_results_too(impl: Any, rt: Any) -> None:
    """A task (or thread) beside the block reads ``results()``: when job 0 raises Stop,
    ``results()`` raises it too, rather than wait for results that will never come."""

    async def scenario(rt: Any) -> None:
        stop = Stop()
        read: list[BaseException | None] = []

        async def fn(ctx: Any, item: int) -> None:
            raise stop

        async def reader() -> None:
            try:
                await read_all(rt, p, [])
                read.append(None)
            except BaseException as exc:
                if is_our_cancellation(rt, exc):
                    raise
                read.append(exc)

        async def body(p: Any) -> None:
            await rt.call(p.submit, 0)

        p = pool(impl, rt, fn, workers=1)
        async with crew(rt) as start:
            start(reader)
            error = await run_pool(rt, p, body, lambda: (
                "the block never ended after job 0 raised Stop (a BaseException, like "
                "KeyboardInterrupt): Stop stops the pool, and comes out of its block"))
            await rt.settled(lambda: bool(read))
            assert read, (
                "results() went on waiting after job 0 raised Stop: a reader must hear of "
                "it (keep it, wake the reader, and have results() raise it)")
        assert error is stop, f"the block raised {describe(error)}, not job 0's Stop itself"
        assert read[0] is stop, f"results() raised {describe(read[0])}, not job 0's Stop"

    rt.run(scenario, waiting_for="results() to end after a job raised Stop")


# -- task 3: cancel() --------------------------------------------------------------------


@pytest.mark.task(3)
def test_cancel_stops_the_running_job_and_ends_the_queued_ones_as_canceled(
    impl: Any, rt: Any
) -> None:
    """Job 0 runs until the pool stops it; jobs 1 to 3 wait in the queue. After
    ``cancel(reason)`` all four end ``Canceled``: job 0 even though, in threads, it
    returns a value once it sees its ctx done; jobs 1 to 3 without ever starting."""

    async def scenario(rt: Any) -> None:
        reason = Reason("shutting down")
        ran: list[int] = []
        outlived: list[int] = []
        causes: list[BaseException | None] = []
        results: list[Result] = []
        refused: list[BaseException] = []

        async def fn(ctx: Any, item: int) -> str:
            ran.append(item)
            if item == 0:
                try:
                    if not await hold(rt, ctx):
                        outlived.append(item)
                finally:
                    causes.append(ctx.cause)
            return "late"

        async def body(p: Any) -> None:
            for i in range(4):
                await rt.call(p.submit, i)
            await rt.settled(lambda: ran == [0] and p.statistics().queued == 3)
            p.cancel(reason)
            try:
                await rt.call(p.submit, 4)
            except PoolClosed as exc:
                refused.append(exc)
            await read_all(rt, p, results)

        p = pool(impl, rt, fn, workers=1, queue_size=3)
        error = await run_pool(rt, p, body, lambda: (
            f"cancel() left the pool running: jobs {missing(results, 4)} never got a "
            "result (the running job is stopped, the queued ones end as results)"))
        assert error is None, f"the block raised {describe(error)}"
        assert refused, "submit() after cancel() was accepted: a cancelled pool refuses it"
        assert ran == [0], (
            f"jobs {ran[1:]} started after cancel(): a queued job of a cancelled pool ends "
            "as a Canceled result without starting")
        assert outlived == [], "job 0 ran on after cancel(): cancel() stops the running job"
        assert causes == [reason], (
            f"job 0's ctx had the cause {causes}, not the reason given to cancel()")
        assert not missing(results, 4), f"jobs {missing(results, 4)} never got a result"
        for r in sorted(results, key=lambda r: r.index):
            assert isinstance(r.error, Canceled), (
                f"job {r.index} ended with {describe(r.error) if r.error else repr(r.value)} "
                "after cancel(), not a Canceled error")
            assert not r.ok

    rt.run(scenario, waiting_for="the results after cancel()")


# -- task 4: statistics -----------------------------------------------------------------


@pytest.mark.task(4)
def test_statistics_count_what_completed_and_what_failed(impl: Any, rt: Any) -> None:
    n = 6

    async def scenario(rt: Any) -> None:
        counts: list[tuple[int, int]] = []

        async def fn(ctx: Any, item: int) -> int:
            await rt.checkpoint()
            if item % 3 == 0:
                raise Boom(f"item {item}")
            return item

        async def body(p: Any) -> None:
            stats = p.statistics()
            counts.append((stats.completed, stats.failed))
            for i in range(n):
                await rt.call(p.submit, i)
            p.close()
            await read_all(rt, p, results)

        results: list[Result] = []
        p = pool(impl, rt, fn, workers=2, queue_size=n)
        error = await run_pool(rt, p, body, lambda: (
            f"items {missing(results, n)} never got a result: the pool never ended"))
        assert error is None, f"the block raised {describe(error)}"
        stats = p.statistics()
        assert counts == [(0, 0)], f"a new pool counts {counts[0]} (completed, failed)"
        assert (stats.completed, stats.failed) == (4, 2), (
            f"4 jobs returned and 2 raised, and statistics() counts completed="
            f"{stats.completed}, failed={stats.failed}")
        assert (stats.workers, stats.running, stats.queued) == (2, 0, 0), stats

    rt.run(scenario, waiting_for="the pool to end")


@pytest.mark.task(4)
def test_statistics_count_cancelled_jobs_as_failed(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        ran: list[int] = []

        async def fn(ctx: Any, item: int) -> int:
            ran.append(item)
            if item == 1:
                await hold(rt, ctx)
            return item

        async def body(p: Any) -> None:
            for i in range(4):
                await rt.call(p.submit, i)
            await rt.settled(lambda: ran == [0, 1] and p.statistics().queued == 2)
            p.cancel()
            await read_all(rt, p, results)

        results: list[Result] = []
        p = pool(impl, rt, fn, workers=1, queue_size=3)
        error = await run_pool(rt, p, body, lambda: (
            f"items {missing(results, 4)} never got a result: the pool never ended after "
            "cancel()"))
        assert error is None, f"the block raised {describe(error)}"
        stats = p.statistics()
        assert (stats.completed, stats.failed) == (1, 3), (
            f"1 job returned, then 1 was stopped by cancel() and 2 were cancelled in the "
            f"queue, and statistics() counts completed={stats.completed}, "
            f"failed={stats.failed}: a cancelled job has failed too")

    rt.run(scenario, waiting_for="the pool to end")

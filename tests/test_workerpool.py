"""Behavioural suite for ``patterns.workerpool`` (the pulse worker pool), in three runtimes.

Each test is one scenario run in threads, asyncio and trio (see ``runtimes.py``). The
contract is the one the docstrings of :mod:`patterns.workerpool` and of each runtime's
``WorkerPool`` state: ``workers`` long-lived workers call
``fn(ctx, item)`` with a per-job child of the pool's context (``timeout`` applied);
``submit`` blocks while ``queue_size`` items wait (default ``workers``; ``0`` is a
hand-off) and raises ``PoolClosed`` after ``close()``; ``cancel()`` reaches running jobs
(natively in asyncio and trio) and ends queued ones as ``Canceled`` results;
``results()`` yields every accepted item's ``Result`` once, in completion order, and
ends once the pool is closed and drained; ``map`` yields exactly its items' results,
unordered or in input order, with bounded outstanding work; an ``Exception`` from
``fn`` is a result, a ``BaseException`` stops the pool; never more than ``workers``
calls at once, never more than ``workers + queue_size`` items accepted and unfinished.

Job functions are written once as ``async def fn(ctx, item)`` and handed to the pool
through :func:`job`, which makes them the sync functions the threads pool expects. An
assertion inside a job would only become that job's ``Result.error``, so jobs record
what they see and the scenario asserts on it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import Any

import anyio
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runtimes import Runtime, background, let_others_block

from patterns.context import Canceled, DeadlineExceeded
from patterns.workerpool import PoolClosed, Result, timeline

FAIL_SAFE_S = 5.0  # a wait that should end long before; turns a hang into a failure
TIMEOUT_S = 0.05  # a per-job timeout: real seconds in threads and asyncio, mock in trio
IGNORES_CTX = "threads: a job that ignores its ctx runs on past its deadline"
NO_ASYNC_ITERABLE = "threads: map takes a sync iterable; no event loop drives an async one"


class Boom(Exception):
    """An ordinary job failure: it becomes ``Result.error``."""


class BodyError(Exception):
    """Raised by the body of the ``with`` / ``async with`` block."""


class Reason(Exception):
    """A cause given to ``cancel``."""


class Stop(BaseException):
    """A BaseException that is not an Exception: KeyboardInterrupt's kind, harmlessly."""


# -- helpers ------------------------------------------------------------------------------------


def pool(rt: Runtime, afn: Callable[[Any, Any], Coroutine[Any, Any, Any]], **kwargs: Any) -> Any:
    return rt.module("workerpool").WorkerPool(rt.callback(afn), **kwargs)



def current_worker(rt: Runtime) -> object:
    """What runs a job: an OS thread, an asyncio task or a trio task."""
    if rt.name == "threads":
        return threading.current_thread()
    if rt.name == "asyncio":
        return asyncio.current_task()
    return trio.lowlevel.current_task()


async def collect(rt: Runtime, iterable: Any) -> list[Any]:
    """Every item of ``results()`` or ``map()``, read to the end."""
    return [r async for r in rt.aiter(iterable)]


_END: Any = object()


class Reader:
    """Reads a ``results()`` iterator (sync or async) one result at a time.

    Tests read it to the end (:meth:`rest`), so no half-read async generator is left to
    the garbage collector.
    """

    def __init__(self, iterable: Any) -> None:
        self._it = aiter(iterable) if hasattr(iterable, "__aiter__") else iter(iterable)

    async def next(self) -> Any:
        if hasattr(self._it, "__anext__"):
            try:
                return await anext(self._it)
            except StopAsyncIteration:
                return _END
        return next(self._it, _END)

    async def rest(self) -> list[Any]:
        out = []
        while (item := await self.next()) is not _END:
            out.append(item)
        return out


class Gate:
    """An event a job can wait on with a fail-safe: a gate never opened fails, not hangs."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._event: Any = anyio.Event() if rt.is_async else threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return bool(self._event.is_set())

    async def wait(self) -> None:
        if self._rt.is_async:
            with anyio.move_on_after(FAIL_SAFE_S):
                await self._event.wait()
        else:
            self._event.wait(FAIL_SAFE_S)
        assert self._event.is_set(), "a gate was never opened"


async def hold(rt: Runtime, ctx: Any) -> bool:
    """Run until ``ctx`` is done; return ``False`` if the fail-safe ended the wait instead.

    Threads look at their ctx (``ctx.wait``), the only way a thread learns it should stop.
    In asyncio and trio the job ignores its ctx and sleeps: only the pool's native
    cancellation can end that sleep, and then this never returns.
    """
    if rt.is_async:
        with anyio.move_on_after(FAIL_SAFE_S):
            await anyio.sleep_forever()
        return False
    return bool(ctx.wait(FAIL_SAFE_S))


class Gauge:
    """Counts the calls inside ``with gauge:``: now, at peak, in total."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.peak = self.total = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.total += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self.now -= 1


def by_index(results: Iterable[Any]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for r in results:
        assert r.index not in out, f"index {r.index} has two results"
        out[r.index] = r
    return out


def mentions(text: str, number: int) -> bool:
    return re.search(rf"(?<!\d){number}(?!\d)", text) is not None


# -- the neutral pieces ---------------------------------------------------------------------------


def test_result_is_a_frozen_record_with_ok_and_elapsed() -> None:
    done = Result(index=0, item="a", value=1, error=None, worker=0, started=1.0, finished=3.5)
    assert done.ok is True
    assert done.elapsed == 2.5
    failed = dataclasses.replace(done, value=None, error=Boom())
    assert failed.ok is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        done.value = 2  # type: ignore[misc]
    assert issubclass(PoolClosed, RuntimeError)


def test_timeline_draws_one_row_per_worker_with_every_job() -> None:
    # Workers 0 and 2 ran jobs, worker 1 did not; indices are two-digit, so a match is
    # not an accident of some other number in the drawing.
    spans = {10: (0, 0.0, 1.0), 11: (2, 0.0, 2.0), 12: (0, 1.0, 3.0), 13: (2, 2.0, 2.5)}
    results = [
        Result(index=i, item=i, value=i, error=None, worker=w, started=s, finished=f)
        for i, (w, s, f) in spans.items()
    ]
    text = timeline(results)
    assert isinstance(text, str)
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) >= 2, text
    for worker in (0, 2):
        indices = [i for i, (w, _, _) in spans.items() if w == worker]
        assert any(all(mentions(line, i) for i in indices) for line in lines), (
            f"no row shows worker {worker}'s jobs {indices}:\n{text}"
        )
    assert isinstance(timeline([]), str)


# -- one result per item -------------------------------------------------------------------------


def test_every_item_gets_exactly_one_result_with_its_value(rt: Runtime) -> None:
    n, workers = 12, 3

    async def scenario(rt: Runtime) -> None:
        async def fn(ctx: Any, item: int) -> int:
            await rt.checkpoint()
            return item * 10

        t0 = rt.now()
        async with rt.enter(pool(rt, fn, workers=workers)) as p:
            for i in range(n):
                await rt.call(p.submit, i)
            p.close()
            results = await collect(rt, p.results())
        t1 = rt.now()
        assert sorted(r.index for r in results) == list(range(n))
        for r in results:
            assert r.item == r.index  # index is the submission order
            assert (r.value, r.error, r.ok) == (r.item * 10, None, True)
            assert 0 <= r.worker < workers
            assert t0 <= r.started <= r.finished <= t1  # the runtime's own clock
            assert r.elapsed == r.finished - r.started

    rt.run(scenario)


def test_results_come_in_completion_order(rt: Runtime) -> None:
    """Job 0 cannot finish before the consumer has read job 1's result."""

    async def scenario(rt: Runtime) -> None:
        seen_one = Gate(rt)

        async def fn(ctx: Any, item: int) -> int:
            if item == 0:
                await seen_one.wait()
            return item

        async with rt.enter(pool(rt, fn, workers=2)) as p:
            await rt.call(p.submit, 0)
            await rt.call(p.submit, 1)
            reader = Reader(p.results())
            first = await reader.next()
            seen_one.set()
            p.close()
            rest = await reader.rest()
        assert first.item == 1
        assert [r.item for r in rest] == [0]
        assert all(r.ok for r in [first, *rest]), [first, *rest]

    rt.run(scenario)


def test_results_are_kept_until_read_without_blocking_submit(rt: Runtime) -> None:
    """Finished items no longer count against ``queue_size``: a producer that reads
    results only at the end submits far more than ``workers + queue_size`` items."""
    n = 20

    async def scenario(rt: Runtime) -> None:
        async def fn(ctx: Any, item: int) -> int:
            return item

        async with rt.enter(pool(rt, fn, workers=2, queue_size=1)) as p:
            for i in range(n):
                await rt.call(p.submit, i)
            p.close()
            results = await collect(rt, p.results())
        assert sorted(r.item for r in results) == list(range(n))

    rt.run(scenario)


def test_leaving_the_block_closes_and_drains(rt: Runtime) -> None:
    n = 10

    async def scenario(rt: Runtime) -> None:
        finished: list[int] = []

        async def fn(ctx: Any, item: int) -> int:
            await rt.checkpoint()
            finished.append(item)
            return item

        async with rt.enter(pool(rt, fn, workers=3)) as p:
            for i in range(n):
                await rt.call(p.submit, i)
            # neither close() nor results(): leaving the block does both jobs' worth
        assert sorted(finished) == list(range(n))
        with pytest.raises(PoolClosed):
            await rt.call(p.submit, n)

    rt.run(scenario)


# -- workers: how many, who, and never more at once ---------------------------------------------


def test_never_more_than_workers_calls_at_once_each_worker_one_long_lived_runner(
    rt: Runtime,
) -> None:
    """The first ``workers`` jobs run together (so each worker is seen); 30 jobs are then
    run by ``workers`` threads or tasks in all, one per ``Result.worker`` number."""
    n, workers = 30, 3

    async def scenario(rt: Runtime) -> None:
        gauge = Gauge()
        first_wave = Gate(rt)
        runner: dict[int, object] = {}  # item -> the thread or task that ran it

        async def fn(ctx: Any, item: int) -> int:
            runner[item] = current_worker(rt)
            with gauge:
                if item < workers:
                    await first_wave.wait()
                await rt.checkpoint()
            return item

        async with rt.task_group() as tg:

            async def opener() -> None:
                try:
                    await rt.until(lambda: gauge.now == workers)
                finally:
                    first_wave.set()

            tg.start_soon(opener)
            async with rt.enter(pool(rt, fn, workers=workers)) as p:
                for i in range(n):
                    await rt.call(p.submit, i)
                p.close()
                results = await collect(rt, p.results())
        assert all(r.ok for r in results), [r for r in results if not r.ok]
        assert sorted(r.item for r in results) == list(range(n))
        assert gauge.peak == workers
        assert {r.worker for r in results} == set(range(workers))
        runners_of: dict[int, set[int]] = {}
        for r in results:
            runners_of.setdefault(r.worker, set()).add(id(runner[r.item]))
        assert all(len(ids) == 1 for ids in runners_of.values()), (
            f"a worker number was more than one {rt.name} runner: {runners_of}"
        )
        assert len({id(x) for x in runner.values()}) == workers  # kept alive in `runner`
        assert current_worker(rt) not in runner.values()

    rt.run(scenario)


def test_workers_start_with_the_first_items_and_no_more_than_the_items_need(
    rt: Runtime,
) -> None:
    """Entering a pool starts no worker; each of the first ``workers`` submits starts
    one. A pool of 8 given 3 items runs them on 3 workers, numbered 0 to 2, and the
    thread or task that entered it is never one."""
    items, workers = 3, 8

    async def scenario(rt: Runtime) -> None:
        runner: dict[int, object] = {}

        async def fn(ctx: Any, item: int) -> int:
            runner[item] = current_worker(rt)
            await rt.checkpoint()
            return item

        async with rt.enter(pool(rt, fn, workers=workers)) as p:
            assert p.statistics().workers == workers
            results = await collect(rt, p.map(range(items)))
        assert sorted(r.item for r in results) == list(range(items))
        assert {r.worker for r in results} <= set(range(items)), (
            f"{items} items ran on workers {sorted({r.worker for r in results})}: "
            f"only {items} workers should have started")
        assert len({id(x) for x in runner.values()}) <= items
        assert current_worker(rt) not in runner.values()

    rt.run(scenario)


def test_timeline_of_a_pool_run_shows_each_worker_and_every_job(rt: Runtime) -> None:
    """One row per worker that ran a job, showing every index, whatever the jobs took
    (under trio's MockClock, no time at all)."""
    n, workers = 6, 2

    async def scenario(rt: Runtime) -> None:
        async def fn(ctx: Any, item: int) -> int:
            await rt.checkpoint()
            return item

        async with rt.enter(pool(rt, fn, workers=workers, queue_size=n)) as p:
            for i in range(n):
                await rt.call(p.submit, i)
            p.close()
            results = await collect(rt, p.results())
        text = timeline(results)
        lines = [line for line in text.splitlines() if line.strip()]
        ran_on: dict[int, list[int]] = {}
        for r in results:
            ran_on.setdefault(r.worker, []).append(r.index)
        assert len(lines) >= len(ran_on), text
        for worker, indices in ran_on.items():
            assert any(all(mentions(line, i) for i in indices) for line in lines), (
                f"no row shows worker {worker}'s jobs {sorted(indices)}:\n{text}"
            )

    rt.run(scenario)


# -- backpressure ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("workers", "queue_size"),
    [(1, 1), (2, 3), (2, None), (1, 0), (3, 0)],
    ids=["1+1", "2+3", "2+default", "1+hand-off", "3+hand-off"],
)
def test_submit_blocks_while_queue_size_items_wait(
    rt: Runtime, workers: int, queue_size: int | None
) -> None:
    """With every worker busy and ``queue_size`` items waiting (default ``workers``; none
    for a hand-off), the next ``submit`` blocks until a worker takes an item."""
    capacity = workers if queue_size is None else queue_size
    extra = workers + capacity  # the item whose submit must wait

    async def scenario(rt: Runtime) -> None:
        gauge = Gauge()
        gates = [Gate(rt) for _ in range(extra + 1)]
        returned: list[Any] = []  # statistics() seen just after the extra submit returned

        async def fn(ctx: Any, item: int) -> int:
            with gauge:
                await gates[item].wait()
            return item

        async def submit_extra() -> None:
            await rt.call(p.submit, extra)
            returned.append(p.statistics())

        def full() -> bool:
            stats = p.statistics()
            return gauge.now == workers and stats.queued == capacity

        async with (
            rt.task_group() as tg,
            rt.enter(pool(rt, fn, workers=workers, queue_size=queue_size)) as p,
        ):
            try:
                for i in range(extra):
                    await rt.call(p.submit, i)
                    assert p.statistics().queued <= capacity
                await rt.until(full)
                stats = p.statistics()
                assert (stats.workers, stats.running, stats.queued) == (workers, workers, capacity)
                tg.start_soon(submit_extra)
                await let_others_block(rt)
                assert returned == [], "submit returned while the queue was full"
                assert full()
                gates[0].set()
                await rt.until(lambda: bool(returned))
                assert returned[0].queued <= capacity
                assert returned[0].running <= workers
            finally:
                for gate in gates:
                    gate.set()
            p.close()
            results = await collect(rt, p.results())
        assert sorted(r.item for r in results) == list(range(extra + 1))
        assert all(r.ok for r in results)
        assert gauge.peak == workers

    rt.run(scenario)


# -- close and cancel -----------------------------------------------------------------------------


def test_close_refuses_new_items_but_queued_ones_still_run(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        gate = Gate(rt)
        ran: list[int] = []

        async def fn(ctx: Any, item: int) -> int:
            ran.append(item)
            if item == 0:
                await gate.wait()
            return item

        async with rt.enter(pool(rt, fn, workers=1, queue_size=2)) as p:
            try:
                for i in range(3):
                    await rt.call(p.submit, i)
                await rt.until(lambda: ran == [0] and p.statistics().queued == 2)
                p.close()
                with pytest.raises(PoolClosed):
                    await rt.call(p.submit, 3)
            finally:
                gate.set()
            results = await collect(rt, p.results())
        assert sorted(ran) == [0, 1, 2]
        assert sorted(r.item for r in results) == [0, 1, 2]
        assert all(r.ok for r in results)

    rt.run(scenario)


def test_cancel_stops_running_jobs_and_ends_queued_ones_as_canceled(rt: Runtime) -> None:
    """Job 0 runs until its ctx is done (threads look; asyncio and trio are interrupted
    natively); jobs 1-3 wait in the queue and never start. All four end ``Canceled``,
    job 0 even though a thread returns a value once it sees its ctx done."""

    async def scenario(rt: Runtime) -> None:
        reason = Reason("shutting down")
        ran: list[int] = []
        outlived: list[int] = []  # jobs whose wait the cancellation did not end
        causes: list[BaseException | None] = []

        async def fn(ctx: Any, item: int) -> str:
            ran.append(item)
            try:
                if not await hold(rt, ctx):
                    outlived.append(item)
            finally:
                causes.append(ctx.cause)
            return "late"

        async with rt.enter(pool(rt, fn, workers=1, queue_size=3)) as p:
            for i in range(4):
                await rt.call(p.submit, i)
            await rt.until(lambda: ran == [0] and p.statistics().queued == 3)
            p.cancel(reason)
            with pytest.raises(PoolClosed):  # cancel() closes the pool too
                await rt.call(p.submit, 4)
            results = await collect(rt, p.results())
        assert ran == [0]
        assert outlived == []
        assert causes == [reason]
        assert sorted(r.item for r in results) == [0, 1, 2, 3]
        for r in results:
            assert isinstance(r.error, Canceled), r
            assert not r.ok

    rt.run(scenario)


def test_cancel_wakes_a_blocked_submit_with_pool_closed(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ran: list[int] = []
        outcome: list[Any] = []

        async def fn(ctx: Any, item: int) -> None:
            ran.append(item)
            await hold(rt, ctx)

        async def submit_blocked() -> None:
            try:
                await rt.call(p.submit, 2)
                outcome.append("accepted")
            except PoolClosed as exc:
                outcome.append(exc)

        async with rt.task_group() as tg, rt.enter(pool(rt, fn, workers=1, queue_size=1)) as p:
            try:
                await rt.call(p.submit, 0)
                await rt.call(p.submit, 1)
                await rt.until(lambda: ran == [0] and p.statistics().queued == 1)
                tg.start_soon(submit_blocked)
                await let_others_block(rt)
                assert outcome == []
            finally:
                p.cancel()
            await rt.until(lambda: bool(outcome))
            results = await collect(rt, p.results())
        assert len(outcome) == 1 and isinstance(outcome[0], PoolClosed), outcome
        assert sorted(r.item for r in results) == [0, 1]  # item 2 was never accepted
        assert all(isinstance(r.error, Canceled) for r in results), results

    rt.run(scenario)


# -- per-job timeout ------------------------------------------------------------------------------


def test_a_job_past_its_timeout_ends_with_deadline_exceeded_and_the_worker_goes_on(
    rt: Runtime,
) -> None:
    """Slow jobs wait on their ctx (``ctx.sleep``), fast ones return at once. Each job
    has a deadline of its own, from when it starts: the fast job queued behind two slow
    ones still has all its time."""
    items = ["slow", "slow", "fast", "slow", "fast"]

    async def scenario(rt: Runtime) -> None:
        deadlines: list[float | None] = []

        async def fn(ctx: Any, item: str) -> str:
            deadlines.append(ctx.deadline)
            if item == "slow":
                await rt.call(ctx.sleep, FAIL_SAFE_S)
                return "slept through its deadline"
            return item.upper()

        async with rt.enter(pool(rt, fn, workers=1, timeout=TIMEOUT_S)) as p:
            for item in items:
                await rt.call(p.submit, item)
            p.close()
            results = by_index(await collect(rt, p.results()))
        assert sorted(results) == list(range(len(items)))
        for i, item in enumerate(items):
            r = results[i]
            assert r.worker == 0
            if item == "slow":
                assert isinstance(r.error, DeadlineExceeded), r
                assert not r.ok
            else:
                assert (r.ok, r.value) == (True, "FAST"), r
        assert len(deadlines) == len(items) and None not in deadlines

    rt.run(scenario)


def test_a_job_that_returns_after_its_deadline_still_ends_with_deadline_exceeded(
    rt: Runtime,
) -> None:
    """A thread that notices its deadline and *returns* (rather than raising) is still
    past it: its result is the ctx's error, not the late value. (asyncio and trio are
    interrupted before they can return.)"""

    async def scenario(rt: Runtime) -> None:
        async def fn(ctx: Any, item: str) -> str:
            if item == "slow":
                await hold(rt, ctx)
                return "late"
            return item

        async with rt.enter(pool(rt, fn, workers=1, timeout=TIMEOUT_S)) as p:
            await rt.call(p.submit, "slow")
            await rt.call(p.submit, "fast")
            p.close()
            results = by_index(await collect(rt, p.results()))
        assert isinstance(results[0].error, DeadlineExceeded), results[0]
        assert results[1].ok and results[1].value == "fast", results[1]

    rt.run(scenario)


def native_task_group(rt: Runtime) -> Any:
    """The runtime's own task group (anyio's would unwrap the exception group)."""
    return trio.open_nursery() if rt.name == "trio" else asyncio.TaskGroup()


def spawn(group: Any, afn: Callable[[], Awaitable[Any]]) -> None:
    if isinstance(group, asyncio.TaskGroup):
        group.create_task(afn())
    else:
        group.start_soon(afn)


async def await_forever(rt: Runtime, where: str) -> None:
    if where == "alone":
        await anyio.sleep_forever()
        return
    # In a task group of its own: a nursery hands the interruption on wrapped in an
    # exception group, and the pool must still see that its job was interrupted.
    async with native_task_group(rt) as tg:
        spawn(tg, anyio.sleep_forever)
        await anyio.sleep_forever()


@pytest.mark.parametrize("where", ["alone", "in-a-task-group"])
def test_a_job_that_awaits_forever_is_interrupted_at_its_timeout(rt: Runtime,
                                                                 where: str) -> None:
    if not rt.is_async:
        pytest.skip(IGNORES_CTX)

    async def scenario(rt: Runtime) -> None:
        outlived: list[str] = []

        async def fn(ctx: Any, item: str) -> str:
            if item == "forever":
                with anyio.move_on_after(FAIL_SAFE_S):  # fail-safe: not interrupted
                    await await_forever(rt, where)
                outlived.append(item)
            return item

        async with rt.enter(pool(rt, fn, workers=1, timeout=TIMEOUT_S)) as p:
            await rt.call(p.submit, "forever")
            await rt.call(p.submit, "next")
            p.close()
            results = by_index(await collect(rt, p.results()))
        assert outlived == []
        assert len(results) == 2, results
        assert isinstance(results[0].error, DeadlineExceeded), results[0]
        assert results[1].ok and results[1].value == "next", results[1]

    rt.run(scenario)


# -- the job's context ----------------------------------------------------------------------------


@pytest.mark.parametrize("given_ctx", [True, False], ids=["ctx", "default-ctx"])
def test_fn_gets_a_child_of_the_pool_ctx_first(rt: Runtime, given_ctx: bool) -> None:
    async def scenario(rt: Runtime) -> None:
        parent = background(rt).with_value("request", 42).with_cancel() if given_ctx else None
        seen: list[tuple[Any, ...]] = []

        async def fn(ctx: Any, item: int) -> int:
            seen.append((ctx is parent, ctx.value("request"), ctx.deadline, ctx.done))
            return item

        async with rt.enter(pool(rt, fn, workers=2, ctx=parent)) as p:
            for i in range(3):
                await rt.call(p.submit, i)
            p.close()
            results = await collect(rt, p.results())
        assert all(r.ok for r in results), results
        expected_value = 42 if given_ctx else None
        assert seen == [(False, expected_value, None, False)] * 3
        if parent is not None:
            assert not parent.done  # the pool never cancels its parent

    rt.run(scenario)


@pytest.mark.parametrize("timeout", [None, TIMEOUT_S], ids=["no-timeout", "timeout"])
def test_a_deadline_on_the_pool_ctx_bounds_every_job_and_nothing_outlives_the_pool(
    rt: Runtime, timeout: float | None
) -> None:
    """Each job's ctx inherits the pool ctx's deadline (or has an earlier one of its own),
    and whatever watches that deadline ends with the pool: the leak checks look."""

    async def scenario(rt: Runtime) -> None:
        parent = background(rt).with_timeout(60.0)
        deadlines: list[float | None] = []

        async def fn(ctx: Any, item: int) -> int:
            deadlines.append(ctx.deadline)
            return item

        async with rt.enter(pool(rt, fn, workers=2, timeout=timeout, ctx=parent)) as p:
            for i in range(3):
                await rt.call(p.submit, i)
            p.close()
            results = await collect(rt, p.results())
        assert all(r.ok for r in results), results
        assert len(deadlines) == 3
        if timeout is None:
            assert deadlines == [parent.deadline] * 3
        else:
            assert all(d is not None and d < parent.deadline for d in deadlines), deadlines

    rt.run(scenario)


def test_cancelling_the_pool_ctx_reaches_running_jobs(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        parent = background(rt).with_cancel()
        reason = Reason("request abandoned")
        ran: list[int] = []
        outlived: list[int] = []
        causes: list[BaseException | None] = []

        async def fn(ctx: Any, item: int) -> None:
            ran.append(item)
            try:
                if not await hold(rt, ctx):
                    outlived.append(item)
            finally:
                causes.append(ctx.cause)

        async with rt.enter(pool(rt, fn, workers=1, ctx=parent)) as p:
            await rt.call(p.submit, 0)
            await rt.until(lambda: ran == [0])
            parent.cancel(reason)
            p.close()
            results = await collect(rt, p.results())
        assert outlived == []
        assert causes == [reason]
        assert len(results) == 1 and isinstance(results[0].error, Canceled), results

    rt.run(scenario)


# -- statistics -----------------------------------------------------------------------------------


def test_statistics_count_workers_queued_running_completed_and_failed(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        gate = Gate(rt)
        gauge = Gauge()

        async def fn(ctx: Any, item: int) -> int:
            with gauge:
                await gate.wait()
            if item % 2:
                raise Boom(item)
            return item

        async with rt.enter(pool(rt, fn, workers=2, queue_size=2)) as p:
            try:
                stats = p.statistics()
                assert (stats.workers, stats.queued, stats.running) == (2, 0, 0)
                assert (stats.completed, stats.failed) == (0, 0)
                for i in range(4):
                    await rt.call(p.submit, i)
                await rt.until(lambda: gauge.now == 2 and p.statistics().queued == 2)
                stats = p.statistics()
                assert (stats.workers, stats.queued, stats.running) == (2, 2, 2)
                assert (stats.completed, stats.failed) == (0, 0)
            finally:
                gate.set()
            p.close()
            results = await collect(rt, p.results())
        stats = p.statistics()  # once the workers are gone: nothing left to count
        assert sorted(r.item for r in results) == [0, 1, 2, 3]
        assert sorted(r.item for r in results if r.ok) == [0, 2]
        assert (stats.workers, stats.queued, stats.running) == (2, 0, 0)
        assert (stats.completed, stats.failed) == (2, 2)
        for name in ("workers", "queued", "running", "completed", "failed"):
            assert type(getattr(stats, name)) is int, name
        assert dataclasses.is_dataclass(stats)
        with pytest.raises(dataclasses.FrozenInstanceError):
            stats.completed = 0

    rt.run(scenario)


# -- fault isolation ------------------------------------------------------------------------------


def test_an_exception_from_fn_becomes_the_result_error_and_the_worker_goes_on(
    rt: Runtime,
) -> None:
    n = 6

    async def scenario(rt: Runtime) -> None:
        errors = {i: Boom(i) for i in range(1, n, 2)}

        async def fn(ctx: Any, item: int) -> int:
            if item in errors:
                raise errors[item]
            return item

        async with rt.enter(pool(rt, fn, workers=1)) as p:
            for i in range(n):
                await rt.call(p.submit, i)
            p.close()
            results = by_index(await collect(rt, p.results()))
        assert sorted(results) == list(range(n))
        for i, r in results.items():
            assert r.worker == 0
            if i in errors:
                assert r.error is errors[i]  # the exception itself
                assert not r.ok
            else:
                assert (r.ok, r.value) == (True, i)

    rt.run(scenario)


@pytest.mark.parametrize("body", ["leaves", "reads-results"])
def test_a_base_exception_from_fn_stops_the_pool_and_propagates(rt: Runtime, body: str) -> None:
    """Job 1 raises Stop while job 0 runs until its ctx is done: the pool stops job 0
    (threads through its ctx, asyncio and trio natively), and the block raises Stop."""

    async def scenario(rt: Runtime) -> None:
        stop = Stop()
        started: list[int] = []
        ended: list[int] = []
        outlived: list[int] = []

        async def fn(ctx: Any, item: int) -> None:
            started.append(item)
            try:
                if item == 0:
                    if not await hold(rt, ctx):
                        outlived.append(item)
                else:
                    await rt.until(lambda: 0 in started)
                    raise stop
            finally:
                ended.append(item)

        with pytest.raises(Stop) as raised:
            async with rt.enter(pool(rt, fn, workers=2)) as p:
                await rt.call(p.submit, 0)
                await rt.call(p.submit, 1)
                if body == "reads-results":
                    p.close()
                    await collect(rt, p.results())
        assert raised.value is stop
        assert sorted(ended) == [0, 1]  # the workers had finished when the block raised
        assert outlived == []

    rt.run(scenario)


def test_threads_a_worker_dying_of_a_base_exception_never_hangs_the_results_reader(
    rt: Runtime,
) -> None:
    """The race behind the test above, stressed: job 1 raises Stop at once while the body
    reads ``results()``, and threads switch as often as they can. The reader runs on a
    thread of its own so that a hang fails the round instead of the whole run."""
    if rt.is_async:
        pytest.skip("asyncio / trio: one thread, no race to stress; the test above covers them")
    rounds = 1000
    m = rt.module("workerpool")

    def run_round(n: int) -> None:
        stop = Stop()
        outcome: list[BaseException] = []

        def fn(ctx: Any, item: int) -> None:
            if item == 1:
                raise stop
            ctx.wait(FAIL_SAFE_S)

        def body() -> None:
            try:
                with m.WorkerPool(fn, workers=2) as p:
                    p.submit(0)
                    p.submit(1)
                    p.close()
                    for _ in p.results():
                        pass
            except BaseException as exc:  # the outcome under test
                outcome.append(exc)

        reader = threading.Thread(target=body, name=f"reader-{n}", daemon=True)
        reader.start()
        reader.join(FAIL_SAFE_S)
        assert not reader.is_alive(), f"round {n}: results() hung after a worker died of Stop"
        assert len(outcome) == 1 and outcome[0] is stop, f"round {n}: {outcome!r}"

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        for n in range(rounds):
            run_round(n)
    finally:
        sys.setswitchinterval(interval)


# -- leaving by exception -------------------------------------------------------------------------


def test_leaving_the_block_by_an_exception_cancels_running_jobs_and_re_raises(
    rt: Runtime,
) -> None:
    async def scenario(rt: Runtime) -> None:
        error = BodyError()
        ran: list[int] = []
        ended: list[int] = []
        outlived: list[int] = []
        errs: list[Any] = []

        async def fn(ctx: Any, item: int) -> None:
            ran.append(item)
            try:
                if not await hold(rt, ctx):
                    outlived.append(item)
            finally:
                errs.append(ctx.err)
                ended.append(item)

        with pytest.raises(BodyError) as raised:
            async with rt.enter(pool(rt, fn, workers=1, queue_size=2)) as p:
                for i in range(3):
                    await rt.call(p.submit, i)
                await rt.until(lambda: ran == [0] and p.statistics().queued == 2)
                raise error
        assert raised.value is error
        assert ended == [0]  # the running job had finished when the block raised
        assert ran == [0]  # the queued ones never started
        assert outlived == []
        assert len(errs) == 1 and isinstance(errs[0], Canceled), errs

    rt.run(scenario)


# -- property: every item ends exactly once, within the bounds -----------------------------------


@dataclasses.dataclass(frozen=True)
class Plan:
    n: int
    workers: int
    queue_size: int | None
    failing: frozenset[int]
    cancel_at: int | None  # cancel() before submitting this item (n: after the last one)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    n = draw(st.integers(0, 60))
    workers = draw(st.integers(1, 8))
    queue_size = draw(st.none() | st.integers(0, 5))
    failing = draw(st.sets(st.integers(0, n - 1))) if n else set()
    cancel_at = draw(st.none() | st.integers(0, n))
    return Plan(n, workers, queue_size, frozenset(failing), cancel_at)


async def run_plan(rt: Runtime, plan: Plan) -> None:
    """Submit items ``0..n-1`` (cancelling at ``cancel_at``) while another task reads
    ``results()``. Jobs in ``failing`` raise their own error, the others return ``-item``.

    Outstanding work is measured as (items whose submit returned or whose fn started)
    minus (items whose fn returned), from inside fn and after each submit: a lower bound
    of what the pool holds, so it can never exceed ``workers + queue_size``.
    """
    workers = plan.workers
    capacity = workers if plan.queue_size is None else plan.queue_size
    errors = {i: Boom(i) for i in plan.failing}
    gauge = Gauge()
    lock = threading.Lock()
    accepted: set[int] = set()
    finished: set[int] = set()
    called: list[int] = []
    violations: list[str] = []
    got: list[Any] = []

    def check(where: str) -> None:
        with lock:
            outstanding = len(accepted - finished)
        stats = p.statistics()
        if outstanding > workers + capacity:
            violations.append(f"{where}: {outstanding} items accepted and unfinished")
        if stats.running > workers or stats.queued > capacity:
            violations.append(f"{where}: {stats}")

    async def fn(ctx: Any, item: int) -> int:
        with lock:
            accepted.add(item)
            called.append(item)
        check(f"fn({item})")
        try:
            with gauge:
                await rt.checkpoint()
                await rt.checkpoint()
                if item in errors:
                    raise errors[item]
                return -item
        finally:
            with lock:
                finished.add(item)

    async def consume() -> None:
        async for r in rt.aiter(p.results()):
            got.append(r)

    cancelled = False
    async with rt.task_group() as tg:
        async with rt.enter(pool(rt, fn, workers=workers, queue_size=plan.queue_size)) as p:
            tg.start_soon(consume)
            for i in range(plan.n + 1):
                if i == plan.cancel_at:
                    p.cancel()
                    cancelled = True
                    break
                if i == plan.n:
                    break
                await rt.call(p.submit, i)
                with lock:
                    accepted.add(i)
                check(f"submit({i})")
            if cancelled:
                with pytest.raises(PoolClosed):
                    await rt.call(p.submit, plan.n)
        stats = p.statistics()

    n_accepted = plan.n if plan.cancel_at is None else plan.cancel_at
    assert violations == []
    assert gauge.peak <= workers
    assert sorted(r.index for r in got) == list(range(n_accepted)), "not exactly once"
    assert len(called) == len(set(called)), "fn was called twice for one item"
    for r in got:
        assert r.item == r.index, r
        if r.ok:
            assert r.index in called and r.item not in errors and r.value == -r.item, r
        elif isinstance(r.error, Canceled):
            assert cancelled, r
        else:
            assert r.error is errors[r.item], r
        if r.index in called:
            assert 0 <= r.worker < workers, r
        else:
            assert isinstance(r.error, Canceled), f"{r}: never started, yet not Canceled"
    oks = sum(r.ok for r in got)
    assert stats.completed == oks
    if not cancelled:
        assert sorted(called) == list(range(plan.n))
        assert stats.failed == len(plan.failing)
    assert (stats.running, stats.queued) == (0, 0)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans())
def test_every_item_ends_exactly_once_within_the_bounds(rt: Runtime, plan: Plan) -> None:
    rt.run(run_plan, plan)


# -- map ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ordered", [False, True], ids=["unordered", "ordered"])
def test_map_yields_exactly_the_results_of_its_items(rt: Runtime, ordered: bool) -> None:
    items = [f"x{i}" for i in range(25)]
    failing = {"x3", "x7", "x24"}

    async def scenario(rt: Runtime) -> None:
        errors = {item: Boom(item) for item in failing}

        async def fn(ctx: Any, item: str) -> str:
            await rt.checkpoint()
            if item in errors:
                raise errors[item]
            return item.upper()

        async with rt.enter(pool(rt, fn, workers=3, queue_size=1)) as p:
            results = await collect(rt, p.map(items, ordered=ordered))
        assert sorted(r.item for r in results) == sorted(items)
        assert sorted(r.index for r in results) == list(range(len(items)))
        if ordered:
            assert [r.item for r in results] == items
        for r in results:
            if r.item in errors:
                assert r.error is errors[r.item]
            else:
                assert (r.ok, r.value) == (True, r.item.upper())

    rt.run(scenario)


def test_map_unordered_yields_each_result_as_soon_as_it_is_ready(rt: Runtime) -> None:
    """Job 0 cannot finish before the consumer has read job 1's result."""

    async def scenario(rt: Runtime) -> None:
        seen_one = Gate(rt)

        async def fn(ctx: Any, item: int) -> int:
            if item == 0:
                await seen_one.wait()
            return item

        order: list[int] = []
        async with rt.enter(pool(rt, fn, workers=2)) as p:
            async for r in rt.aiter(p.map([0, 1])):
                order.append(r.item)
                assert r.ok, r
                if r.item == 1:
                    seen_one.set()
        assert order == [1, 0]

    rt.run(scenario)


def test_map_ordered_keeps_input_order_when_jobs_finish_out_of_order(rt: Runtime) -> None:
    """Each even job waits until the odd job after it has finished, so with two workers
    the jobs finish 1, 0, 3, 2, ...; ``ordered=True`` still yields 0, 1, 2, 3, ..."""
    n = 10

    async def scenario(rt: Runtime) -> None:
        done = [Gate(rt) for _ in range(n)]
        finish_order: list[int] = []

        async def fn(ctx: Any, item: int) -> int:
            if item % 2 == 0:
                await done[item + 1].wait()
            finish_order.append(item)
            done[item].set()
            return item

        async with rt.enter(pool(rt, fn, workers=2)) as p:
            results = await collect(rt, p.map(range(n), ordered=True))
        assert [r.item for r in results] == list(range(n))
        assert all(r.ok for r in results), results
        assert finish_order != list(range(n))  # the test did make them finish out of order

    rt.run(scenario)


@pytest.mark.parametrize("ordered", [False, True], ids=["unordered", "ordered"])
def test_map_with_a_slow_consumer_never_deadlocks_and_bounds_outstanding_work(
    rt: Runtime, ordered: bool
) -> None:
    """200 items through ``workers=2, queue_size=1``; after each result the consumer
    waits until the pool is idle (nothing queued or running), letting ``map`` run as far
    ahead as it will.

    Outstanding = items ``map`` has pulled from the input minus results the consumer has
    received, measured inside fn and after each result. Asserted bound:
    ``workers + queue_size + 2``: ``workers`` running, ``queue_size`` queued, one pulled
    item in a blocked ``submit``, and one finished result on its way to the consumer.
    Anything more is work piling up behind a slow consumer.
    """
    n, workers, queue_size = 200, 2, 1
    bound = workers + queue_size + 2

    async def scenario(rt: Runtime) -> None:
        lock = threading.Lock()
        pulled = yielded = worst = 0

        def note() -> None:
            nonlocal worst
            with lock:
                worst = max(worst, pulled - yielded)

        def source() -> Iterator[int]:
            nonlocal pulled
            for i in range(n):
                with lock:
                    pulled += 1
                yield i

        async def fn(ctx: Any, item: int) -> int:
            note()
            await rt.checkpoint()
            return item

        def idle() -> bool:
            stats = p.statistics()
            return stats.running == 0 and stats.queued == 0

        items: list[int] = []
        async with rt.enter(pool(rt, fn, workers=workers, queue_size=queue_size)) as p:
            async for r in rt.aiter(p.map(source(), ordered=ordered)):
                with lock:
                    yielded += 1
                items.append(r.item)
                note()
                await rt.until(idle)
        assert sorted(items) == list(range(n))
        if ordered:
            assert items == list(range(n))
        assert worst <= bound, f"{worst} items pulled but not yet yielded (bound {bound})"

    rt.run(scenario)


def test_map_takes_an_async_iterable(rt: Runtime) -> None:
    if not rt.is_async:
        pytest.skip(NO_ASYNC_ITERABLE)
    n = 30

    async def scenario(rt: Runtime) -> None:
        async def source() -> AsyncIterator[int]:
            for i in range(n):
                await anyio.lowlevel.checkpoint()
                yield i

        async def fn(ctx: Any, item: int) -> int:
            return item * 2

        async with rt.enter(pool(rt, fn, workers=3, queue_size=0)) as p:
            unordered = await collect(rt, p.map(source()))
            ordered = await collect(rt, p.map(source(), ordered=True))
        assert sorted(r.value for r in unordered) == [2 * i for i in range(n)]
        assert [r.value for r in ordered] == [2 * i for i in range(n)]

    rt.run(scenario)


def test_map_does_not_close_the_pool(rt: Runtime) -> None:
    """Two maps in a row on one pool: each yields exactly its own items, and indices go
    on counting submissions."""

    async def scenario(rt: Runtime) -> None:
        async def fn(ctx: Any, item: str) -> str:
            return item

        async with rt.enter(pool(rt, fn, workers=2)) as p:
            first = await collect(rt, p.map(["a", "b", "c"]))
            second = await collect(rt, p.map(["d", "e"], ordered=True))
        assert sorted(r.item for r in first) == ["a", "b", "c"]
        assert sorted(r.index for r in first) == [0, 1, 2]
        assert [r.item for r in second] == ["d", "e"]
        assert [r.index for r in second] == [3, 4]

    rt.run(scenario)

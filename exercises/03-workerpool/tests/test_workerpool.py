"""Chapter 03's grading: a ``WorkerPool`` runs at most ``workers`` jobs at once, makes
``submit`` wait once ``workers + queue_size`` items are accepted and unfinished, gives
every item exactly one ``Result``, keeps input order in ``map(..., ordered=True)``, and
drains when its block is left.

Every scenario is written once and run in the chapter's runtime (``rt``), on the
learner's module (``impl``); the library's ``patterns.workerpool`` passes them too.
Jobs are written once as ``async def fn(ctx, item)`` and handed over with
``rt.callback``. A job that asserts would only fail itself, so jobs record what they
see and the scenario asserts.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import pytest

from patterns.exercises.grading import StillWaiting, let_others_block
from patterns.workerpool import PoolClosed, Result

Rescue = list[Callable[[], object]]


# -- running a scenario -------------------------------------------------------------------


def run(rt: Any, scenario: Callable[..., Coroutine[Any, Any, Any]], *args: Any,
        waiting_for: str) -> Any:
    """``rt.run(scenario, rescue, *args)``, failing with ``waiting_for`` if it never ends.

    A thread cannot be cancelled: a scenario that never ends would leave jobs and
    helper threads blocked, and keep the checker from exiting. ``rescue`` collects what
    unblocks them (an event's ``set``), called if the scenario is given up on. asyncio
    and trio cancel their tasks themselves."""
    rescue: Rescue = []
    try:
        return rt.run(scenario, rescue, *args, waiting_for=waiting_for)
    except StillWaiting:
        if not rt.is_async:
            helper = threading.Thread(target=_call_all, args=(rescue,), daemon=True)
            helper.start()
            helper.join(1.0)
        raise


def _call_all(calls: Rescue) -> None:
    for call in calls:
        with suppress(Exception):
            call()


@asynccontextmanager
async def helpers(rt: Any) -> AsyncIterator[Any]:
    """``rt.task_group()`` for the scenario's own tasks (a producer). If something
    fails, the block raises one error, not an exception group: the block's own if it
    raised, else the first task's."""
    body_error: BaseException | None = None
    try:
        async with rt.task_group() as group:
            try:
                yield group
            except BaseException as exc:
                if not (rt.is_async and isinstance(exc, anyio.get_cancelled_exc_class())):
                    body_error = exc  # its own error, not the group cancelling it
                raise
    except BaseExceptionGroup as errors:
        raise (body_error if body_error is not None else _first(errors)) from None


def _first(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def pool(rt: Any, impl: Any, fn: Callable[..., Coroutine[Any, Any, Any]], **kwargs: Any) -> Any:
    return impl.WorkerPool(rt.callback(fn), **kwargs)


async def collect(rt: Any, results: Any) -> list[Any]:
    """Every result of ``results()`` or ``map()``: the consumer's loop, to its end."""
    return [r async for r in rt.aiter(results)]


class Gauge:
    """Counts the jobs running now, and at the peak."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self.now -= 1


def jobs(n: int) -> str:
    return f"{n} job{'s' if n != 1 else ''}"


def exactly_one_result_each(results: list[Any], items: list[Any], what: str) -> None:
    """One ``Result`` per item: ``index`` its submission order, ``item`` the item."""
    strange = [r for r in results if not isinstance(r, Result)]
    assert not strange, (f"{what} gave {strange[0]!r}, not a patterns.workerpool.Result")
    counts = Counter(r.index for r in results)
    twice = [i for i in range(len(items)) if counts[i] > 1]
    assert not twice, f"item {twice[0]} came out of {what} {counts[twice[0]]} times"
    missing = [i for i in range(len(items)) if counts[i] == 0]
    assert not missing, (f"item {missing[0]} never got a result from {what} "
                         f"({len(missing)} of {len(items)} missing)")
    strays = [r for r in results if r.index not in range(len(items))]
    assert not strays, f"{what} gave a result with index {strays[0].index}, which no item has"
    wrong = [r for r in results if r.item != items[r.index]]
    assert not wrong, (f"the result with index {wrong[0].index} has item {wrong[0].item!r}; "
                       f"item {wrong[0].index} (submission order, from 0) was "
                       f"{items[wrong[0].index]!r}")


# -- task 1: never more than `workers` jobs at once -------------------------------------------


@pytest.mark.task(1)
def test_never_more_than_workers_jobs_at_once(impl: Any, rt: Any) -> None:
    """Every job waits at a gate. Once ``workers`` of them wait, no other may start
    until the gate opens: the others wait in the queue (which has room for all)."""

    async def scenario(rt: Any, rescue: Rescue, workers: int) -> tuple[int, int, set[int]]:
        n = 3 * workers
        gauge, gate = Gauge(), rt.event()
        rescue.append(gate.set)

        async def fn(ctx: Any, item: int) -> int:
            with gauge:
                await gate.wait()
            return item

        async with rt.enter(pool(rt, impl, fn, workers=workers, queue_size=2 * workers)) as p:
            try:
                for i in range(n):
                    await rt.call(p.submit, i)
                await rt.until(lambda: gauge.now >= workers)
                await let_others_block(rt)
                running = gauge.now
            finally:
                gate.set()
            p.close()
            results = await collect(rt, p.results())
        exactly_one_result_each(results, list(range(n)), "results()")
        return running, gauge.peak, {r.worker for r in results}

    for workers in (4, 1):
        running, peak, numbers = run(
            rt, scenario, workers, waiting_for=f"{jobs(workers)} to run at once: does the "
            f"pool start {workers} worker{'s' if workers > 1 else ''}?")
        worst = max(running, peak)
        assert worst <= workers, (f"{jobs(worst)} ran at once; the pool has {workers} "
                                  f"worker{'s' if workers > 1 else ''}")
        assert numbers <= set(range(workers)), (
            f"Result.worker was {max(numbers)}; a pool of {workers} numbers its workers "
            f"0 to {workers - 1}")


# -- task 2: backpressure ---------------------------------------------------------------------


@pytest.mark.task(2)
def test_submit_waits_once_workers_plus_queue_size_items_are_unfinished(
    impl: Any, rt: Any
) -> None:
    """Every job waits at a gate; a producer submits, counting the submits that have
    returned. ``workers`` jobs run, ``queue_size`` wait (default ``workers``; 0 is a
    hand-off), and the next submit must wait until a worker is free."""

    async def scenario(rt: Any, rescue: Rescue, workers: int, queue_size: int | None) -> int:
        window = workers + (workers if queue_size is None else queue_size)
        n = window + 3
        gate = rt.event()
        rescue.append(gate.set)
        accepted, submitted = [0], rt.event()

        async def fn(ctx: Any, item: int) -> int:
            await gate.wait()
            return item

        async with helpers(rt) as group, rt.enter(
            pool(rt, impl, fn, workers=workers, queue_size=queue_size)
        ) as p:

            async def producer() -> None:
                for i in range(n):
                    await rt.call(p.submit, i)
                    accepted[0] += 1
                submitted.set()

            try:
                group.start_soon(producer)
                await rt.until(lambda: accepted[0] >= window)
                await let_others_block(rt)
                seen = accepted[0]
            finally:
                gate.set()
            await submitted.wait()
            p.close()
            results = await collect(rt, p.results())
        exactly_one_result_each(results, list(range(n)), "results()")
        return seen

    for workers, queue_size in ((2, 3), (3, 0), (2, None)):
        size = f"queue_size={queue_size}" if queue_size is not None else "the default queue_size"
        window = workers + (workers if queue_size is None else queue_size)
        seen = run(
            rt, scenario, workers, queue_size, waiting_for=f"{window} submits to return while "
            f"every job was still running: a pool of {workers} workers and {size} accepts "
            f"{window} items before submit waits")
        assert seen <= window, (
            f"submit accepted {seen} items while none had finished; a pool of {workers} "
            f"workers and {size} holds {window}: submit number {window + 1} must wait")


# -- task 3: exactly one result each ----------------------------------------------------------


@pytest.mark.task(3)
def test_every_item_gets_exactly_one_result(impl: Any, rt: Any) -> None:
    """Twenty items, submitted before any result is read (finished results must not
    hold the workers up), then ``close()`` and ``results()`` to its end."""
    n, workers = 20, 3
    items = [f"item-{i}" for i in range(n)]

    async def scenario(rt: Any, rescue: Rescue) -> tuple[list[Any], list[int], list[Any]]:
        contexts: list[Any] = []

        async def fn(ctx: Any, item: str) -> str:
            contexts.append(ctx)
            await rt.checkpoint()
            return item.upper()

        t0 = rt.now()
        async with rt.enter(pool(rt, impl, fn, workers=workers, queue_size=1)) as p:
            indices = [await rt.call(p.submit, item) for item in items]
            p.close()
            results = await collect(rt, p.results())
        assert all(t0 <= r.started <= r.finished <= rt.now() for r in results), (
            "a Result's started and finished must be the runtime's clock when the job "
            "started and finished")
        return results, indices, contexts

    results, indices, contexts = run(
        rt, scenario, waiting_for=f"{n} submits, then results() to end once the pool was "
        "closed: are finished results holding the workers up, or does results() never end?")
    assert indices == list(range(n)), (
        f"submit returned {indices[:5]}...; it returns each item's index, 0, 1, 2, ...")
    exactly_one_result_each(results, items, "results()")
    for r in results:
        assert (r.value, r.error) == (r.item.upper(), None), (
            f"item {r.index}'s result has value={r.value!r}, error={r.error!r}; fn returned "
            f"{r.item.upper()!r}")
        assert r.worker in range(workers), (
            f"item {r.index} ran on worker {r.worker!r}; a pool of {workers} numbers its "
            f"workers 0 to {workers - 1}")
    context_type = rt.module("context").Context
    odd = [c for c in contexts if not isinstance(c, context_type)]
    assert not odd, (f"fn(ctx, item) got ctx={odd[0]!r}; pass each job a context, "
                     f"patterns.context.on_{rt.name}.background()")


@pytest.mark.task(3)
def test_results_waits_for_jobs_still_running(impl: Any, rt: Any) -> None:
    """Job 2 cannot finish before the consumer has read two results: ``results()`` must
    wait for it, not end because nothing is ready yet."""

    async def scenario(rt: Any, rescue: Rescue) -> list[Any]:
        two_read = rt.event()
        rescue.append(two_read.set)

        async def fn(ctx: Any, item: int) -> int:
            if item == 2:
                await two_read.wait()
            return item

        got: list[Any] = []
        async with rt.enter(pool(rt, impl, fn, workers=2)) as p:
            for i in range(3):
                await rt.call(p.submit, i)
            p.close()
            async for r in rt.aiter(p.results()):
                got.append(r)
                if len(got) == 2:
                    two_read.set()
        return got

    got = run(rt, scenario, waiting_for="results() to give three results and end")
    assert len(got) == 3, (f"results() ended after {len(got)} of 3 results while a job was "
                           "still running; it ends once the pool is closed and every item "
                           "has its result")
    exactly_one_result_each(got, [0, 1, 2], "results()")


# -- task 4: map ------------------------------------------------------------------------------


@pytest.mark.task(4)
def test_map_ordered_keeps_input_order_when_jobs_finish_out_of_order(impl: Any, rt: Any) -> None:
    """Each even job waits until the odd job after it has finished, so two workers
    finish 1, 0, 3, 2, ...; ``ordered=True`` still yields 0, 1, 2, 3, ..."""
    n = 10

    async def scenario(rt: Any, rescue: Rescue) -> tuple[list[Any], list[int]]:
        done = [rt.event() for _ in range(n)]
        rescue += [event.set for event in done]
        finish_order: list[int] = []

        async def fn(ctx: Any, item: int) -> int:
            if item % 2 == 0:
                await done[item + 1].wait()
            finish_order.append(item)
            done[item].set()
            return item

        async with rt.enter(pool(rt, impl, fn, workers=2)) as p:
            results = await collect(rt, p.map(range(n), ordered=True))
        return results, finish_order

    results, finish_order = run(rt, scenario, waiting_for=f"map(range({n}), ordered=True) on "
                                "2 workers, whose even jobs wait for the odd job after them")
    exactly_one_result_each(results, list(range(n)), "map()")
    order = [r.item for r in results]
    assert order == list(range(n)), (f"map(..., ordered=True) gave items {order}, "
                                     f"the input was {list(range(n))}")
    assert finish_order != list(range(n))  # the jobs did finish out of order


@pytest.mark.task(4)
def test_map_unordered_yields_each_result_as_it_finishes(impl: Any, rt: Any) -> None:
    """Job 0 cannot finish before the consumer has seen job 1's result."""

    async def scenario(rt: Any, rescue: Rescue) -> list[int]:
        one_seen = rt.event()
        rescue.append(one_seen.set)

        async def fn(ctx: Any, item: int) -> int:
            if item == 0:
                await one_seen.wait()
            return item

        order: list[int] = []
        async with rt.enter(pool(rt, impl, fn, workers=2)) as p:
            async for r in rt.aiter(p.map([0, 1])):
                order.append(r.item)
                if r.item == 1:
                    one_seen.set()
        return order

    order = run(rt, scenario, waiting_for="map([0, 1]) to yield job 1's result while job 0 "
                "still ran: unordered, results come as they finish")
    assert order == [1, 0], f"map([0, 1]) gave items {order}; job 1 finished first"


@pytest.mark.task(4)
def test_map_reads_no_further_ahead_than_the_pool_can_hold(impl: Any, rt: Any) -> None:
    """A long input: after each result, ``map`` may have read at most ``workers +
    queue_size`` items past what it has yielded (and one in hand). Reading it all first
    would pile up work behind the consumer, and never yield on an endless input."""
    n, workers, queue_size = 100, 2, 1
    bound = workers + queue_size + 2

    async def scenario(rt: Any, rescue: Rescue) -> tuple[list[Any], int]:
        read = [0]
        worst = 0

        def source() -> Iterator[int]:
            for i in range(n):
                read[0] += 1
                yield i

        async def fn(ctx: Any, item: int) -> int:
            await rt.checkpoint()
            return item

        results: list[Any] = []
        async with rt.enter(pool(rt, impl, fn, workers=workers, queue_size=queue_size)) as p:
            async for r in rt.aiter(p.map(source())):
                results.append(r)
                worst = max(worst, read[0] - len(results))
        return results, worst

    results, worst = run(rt, scenario, waiting_for=f"map over {n} items to yield them all")
    exactly_one_result_each(results, list(range(n)), "map()")
    assert worst <= bound, (
        f"map had read {worst} items more than it had yielded; with {workers} workers and "
        f"queue_size={queue_size} it must keep no more than {workers + queue_size} in flight")


# -- task 5: leaving the block drains -----------------------------------------------------------


@pytest.mark.task(5)
def test_leaving_the_block_closes_the_pool_and_waits_for_every_job(impl: Any, rt: Any) -> None:
    n = 10

    async def scenario(rt: Any, rescue: Rescue) -> None:
        finished: list[int] = []

        async def fn(ctx: Any, item: int) -> int:
            await rt.checkpoint()
            await rt.checkpoint()
            finished.append(item)
            return item

        async with rt.enter(pool(rt, impl, fn, workers=3)) as p:
            for i in range(n):
                await rt.call(p.submit, i)
            # neither close() nor results(): leaving the block does both jobs' worth
        assert len(finished) == n, (f"the block ended while {n - len(finished)} of {n} jobs "
                                    "had not finished: leaving it must close the pool and "
                                    "wait for every job it accepted")
        try:
            await rt.call(p.submit, n)
        except PoolClosed:
            pass
        else:
            raise AssertionError("submit() after the block ended returned; the pool is "
                                 "closed, it must raise patterns.workerpool.PoolClosed")

    run(rt, scenario, waiting_for="the block to end once every job had")

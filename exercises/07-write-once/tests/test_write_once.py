"""Chapter 07's grading: one anyio ``WorkerPool``, run on asyncio and on trio. Never more
than ``workers`` jobs at once, each worker one long-lived task; ``submit`` waits while
``queue_size`` items wait; every item exactly one result; and the same file on both
backends.

Every scenario is written once and run in the backend being graded (``rt``), on the
learner's module (``impl``); the library's ``patterns.workerpool.on_asyncio`` and
``on_trio`` pass them too. The learner's ``on_anyio.py`` is one file for both backends,
so the last test runs it on both, whichever one is being graded, and a call that only
one backend understands (``asyncio.Queue``, ``asyncio.sleep``, ``trio.sleep``...) is
reported as that, not as the odd error it raises on the other one.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio

from patterns.exercises.grading import let_others_block
from patterns.exercises.plugin import GradingRuntime
from patterns.workerpool import PoolClosed

SHARED_FILE = "on_anyio.py"  # chapter.toml grades this one file on asyncio and on trio
BACKEND_CODE = {"asyncio": Path(asyncio.__file__).parent, "trio": Path(trio.__file__).parent}
SLOW_CONSUMER_CHECKPOINTS = 30  # how far a slow consumer lets the pool run ahead
# What each backend's own calls say when they run under the other one's loop.
FOREIGN_ERRORS = ("no running event loop", "unrecognized yield message",
                  "must be called from async context", "got bad yield",
                  "bound to a different event loop")


class Boom(Exception):
    """An ordinary job failure: it becomes ``Result.error``."""


# -- running a scenario, and saying what went wrong in the learner's terms ----------------


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside ``exc``, exception groups opened."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaves(inner)
    else:
        yield exc


def involved(exc: BaseException) -> Iterator[BaseException]:
    """Every exception ``exc`` holds or was raised during: the groups' members and each
    one's cause and context (a failure in the block that closed the pool under a waiting
    ``submit`` is the context of that ``PoolClosed``)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        else:
            yield current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def other_backends_call(exc: BaseException, backend: str) -> str | None:
    """If ``exc`` came out of the other backend's own code, where the pool called it."""
    other = "trio" if backend == "asyncio" else "asyncio"
    home = BACKEND_CODE[other]
    for leaf in involved(exc):
        frames = traceback.extract_tb(leaf.__traceback__)
        inside = [Path(f.filename).is_relative_to(home) for f in frames]
        said = f"{type(leaf).__name__}: {str(leaf).splitlines()[0] if str(leaf) else ''}"
        if any(inside):
            first = inside.index(True)
            caller = next((f for f in reversed(frames[:first])), None)
            where = f"{Path(caller.filename).name}, line {caller.lineno}" if caller else "?"
            return f"{where} calls {other} itself ({said})"
        if any(text in str(leaf) for text in FOREIGN_ERRORS):
            return f"the pool calls another backend's function ({said})"
    return None


def run(rt: Any, scenario: Any, *args: Any, waiting_for: str) -> Any:
    """``rt.run``, with a failure from the wrong backend's code, or from inside an
    exception group, turned into one sentence."""
    try:
        return rt.run(scenario, *args, waiting_for=waiting_for)
    except AssertionError:
        raise
    except Exception as exc:
        foreign = other_backends_call(exc, rt.name)
        if foreign is not None:
            raise AssertionError(
                f"on {rt.name}, {foreign}: the pool must call anyio only (a task group, "
                "memory object streams, anyio.sleep...) to run unchanged on both backends"
            ) from exc
        if isinstance(exc, BaseExceptionGroup):
            first = next(leaves(exc))
            raise AssertionError(
                f"the pool raised {type(first).__name__}: {first} (in an exception group "
                f"of {len(list(leaves(exc)))})") from exc
        raise


def backends_for(impl: Any, rt: Any) -> list[str]:
    """The backends a module is graded on: the learner's one file serves both."""
    if Path(getattr(impl, "__file__", "") or "").name == SHARED_FILE:
        return ["asyncio", "trio"]
    return [rt.name]  # the library's on_asyncio / on_trio: one backend each


class Gauge:
    """Counts the jobs inside ``with gauge:``: now, and at the peak."""

    def __init__(self) -> None:
        self.now = self.peak = 0

    def __enter__(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def __exit__(self, *exc_info: object) -> None:
        self.now -= 1


async def collect(iterable: Any) -> list[Any]:
    return [r async for r in iterable]


def check_exactly_once(results: list[Any], n: int) -> None:
    indices = [r.index for r in results]
    twice = sorted({i for i in indices if indices.count(i) > 1})
    assert not twice, (
        f"item {twice[0]} has {indices.count(twice[0])} results; it was submitted once")
    missing = sorted(set(range(n)) - set(indices))
    assert not missing, (
        f"{len(missing)} of {n} items have no result (the first: item {missing[0]})")
    for r in results:
        assert r.item == r.index, (
            f"result {r.index} holds item {r.item!r}: index is submission order")


# -- task 1: bounded concurrency --------------------------------------------------------------


@pytest.mark.task(1)
def test_never_more_than_workers_jobs_at_once(impl: Any, rt: Any) -> None:
    """12 items, 4 workers, every job waiting on a gate: once 4 are running, every
    other task is let run until it blocks, and still only 4 may be running."""
    n, workers = 12, 4

    async def scenario(rt: Any) -> tuple[int, int]:
        gauge = Gauge()
        gate, busy = rt.event(), rt.event()

        async def fn(ctx: Any, item: int) -> int:
            with gauge:
                if gauge.now >= workers:
                    busy.set()
                await gate.wait()
            return item

        async with impl.WorkerPool(fn, workers=workers) as p, rt.task_group() as tg:

            async def submit_all() -> None:
                for i in range(n):
                    await p.submit(i)
                p.close()

            tg.start_soon(submit_all)
            try:
                await busy.wait()
                await let_others_block(rt)  # a pool without a bound starts more now
                at_once = gauge.now
            finally:
                gate.set()
            results = await collect(p.results())
        check_exactly_once(results, n)
        return at_once, gauge.peak

    at_once, peak = run(rt, scenario, waiting_for=f"{workers} jobs to be running at once "
                        f"(the pool has {workers} workers)")
    assert max(at_once, peak) <= workers, (
        f"{max(at_once, peak)} jobs ran at once; the pool has {workers} workers")


@pytest.mark.task(1)
def test_each_worker_is_one_long_lived_task(impl: Any, rt: Any) -> None:
    """30 items through 3 workers: every job runs on one of 3 tasks, the one its
    ``Result.worker`` names, not on a task of its own."""
    n, workers = 30, 3

    async def scenario(rt: Any) -> tuple[list[Any], dict[int, int]]:
        ran_on: dict[int, int] = {}  # item -> the id of the task that ran it

        async def fn(ctx: Any, item: int) -> int:
            ran_on[item] = anyio.get_current_task().id
            await anyio.lowlevel.checkpoint()
            return item

        async with impl.WorkerPool(fn, workers=workers) as p:
            for i in range(n):
                await p.submit(i)
            p.close()
            results = await collect(p.results())
        return results, ran_on

    results, ran_on = run(rt, scenario, waiting_for=f"{n} jobs to run")
    check_exactly_once(results, n)
    tasks = set(ran_on.values())
    assert len(tasks) <= workers, (
        f"{len(tasks)} different tasks ran the {n} jobs; a pool of {workers} workers runs "
        f"them all on {workers} long-lived tasks, each taking item after item")
    for r in results:
        assert 0 <= r.worker < workers, (
            f"job {r.index} names worker {r.worker}; the workers are 0 to {workers - 1}")
    tasks_of: dict[int, set[int]] = {}
    for r in results:
        tasks_of.setdefault(r.worker, set()).add(ran_on[r.item])
    assert all(len(ids) == 1 for ids in tasks_of.values()), (
        "one worker number was more than one task: each worker is one task for the "
        "pool's whole life")


# -- task 2: backpressure ---------------------------------------------------------------------


@pytest.mark.task(2)
def test_submit_waits_while_queue_size_items_wait(impl: Any, rt: Any) -> None:
    """Every worker busy and ``queue_size`` items waiting (default ``workers``; 0 is a
    hand-off): the next ``submit`` must wait until a worker takes an item."""
    for workers, queue_size in [(2, 2), (1, 0), (3, None)]:
        submit_waits(impl, rt, workers, queue_size)


def submit_waits(impl: Any, rt: Any, workers: int, queue_size: int | None) -> None:
    capacity = workers if queue_size is None else queue_size
    extra = workers + capacity  # the item whose submit must wait

    async def scenario(rt: Any) -> tuple[bool, list[Any]]:
        gauge = Gauge()
        gate, busy, accepted = rt.event(), rt.event(), rt.event()

        async def fn(ctx: Any, item: int) -> int:
            with gauge:
                if gauge.now == workers:
                    busy.set()
                await gate.wait()
            return item

        async def submit_extra() -> None:
            await p.submit(extra)
            accepted.set()

        async with (impl.WorkerPool(fn, workers=workers, queue_size=queue_size) as p,
                    rt.task_group() as tg):
            try:
                for i in range(workers):
                    await p.submit(i)
                await busy.wait()  # every worker has a job
                for i in range(workers, extra):
                    await p.submit(i)  # room for these: they wait in the queue
                tg.start_soon(submit_extra)
                await let_others_block(rt)
                waited = not accepted.is_set()
            finally:
                gate.set()
            await accepted.wait()
            p.close()
            results = await collect(p.results())
        return waited, results

    waited, results = run(
        rt, scenario, waiting_for=f"{workers} workers to be busy and {capacity} items to "
        f"be queued (queue_size={queue_size} lets {capacity} wait)")
    assert waited, (
        f"submit returned while all {workers} workers were busy and {capacity} items "
        f"waited; with queue_size={queue_size} it must wait for room (backpressure)")
    check_exactly_once(results, extra + 1)


@pytest.mark.task(2)
def test_submit_never_waits_for_the_results_to_be_read(impl: Any, rt: Any) -> None:
    """Backpressure is the queue's, not the results': a producer that reads results only
    at the end can submit far more than ``workers + queue_size`` items."""
    n = 20

    async def scenario(rt: Any) -> list[Any]:
        async def fn(ctx: Any, item: int) -> int:
            return item

        async with impl.WorkerPool(fn, workers=2, queue_size=1) as p:
            for i in range(n):
                await p.submit(i)
            p.close()
            return await collect(p.results())

    results = run(rt, scenario, waiting_for=f"{n} submits, before any result is read: do "
                  "finished results hold the workers back?")
    check_exactly_once(results, n)


@pytest.mark.task(2)
def test_map_keeps_at_most_a_window_of_items_in_flight(impl: Any, rt: Any) -> None:
    """A slow consumer: after each result it lets the pool run ahead (a few dozen
    checkpoints: plenty for the workers to empty the queue). Items pulled from the input
    but not yet yielded stay within ``workers + queue_size`` (+2: one pulled item in a
    waiting submit, one result on its way)."""
    n, workers, queue_size = 50, 2, 1
    bound = workers + queue_size + 2

    async def scenario(rt: Any) -> tuple[list[int], int]:
        pulled = yielded = worst = 0

        def source() -> Iterator[int]:
            nonlocal pulled
            for i in range(n):
                pulled += 1
                yield i

        async def fn(ctx: Any, item: int) -> int:
            nonlocal worst
            worst = max(worst, pulled - yielded)
            return item

        items: list[int] = []
        async with impl.WorkerPool(fn, workers=workers, queue_size=queue_size) as p:
            async for r in p.map(source()):
                yielded += 1
                items.append(r.item)
                worst = max(worst, pulled - yielded)
                for _ in range(SLOW_CONSUMER_CHECKPOINTS):
                    await anyio.lowlevel.checkpoint()
        return items, worst

    items, worst = run(rt, scenario, waiting_for=f"map to yield {n} results")
    assert sorted(items) == list(range(n)), f"map yielded {len(items)} results for {n} items"
    assert worst <= bound, (
        f"{worst} items were taken from map's input and not yet yielded; with "
        f"{workers} workers and queue_size={queue_size} at most {bound} may be")


# -- task 3: exactly once ---------------------------------------------------------------------


@pytest.mark.task(3)
def test_every_item_gets_exactly_one_result(impl: Any, rt: Any) -> None:
    """50 items through 4 workers, every seventh failing: each item has one result, with
    its value or the very exception its job raised, and ``results()`` ends once the
    closed pool has drained."""
    n = 50

    async def scenario(rt: Any) -> tuple[list[Any], dict[int, Boom], list[int]]:
        errors = {i: Boom(i) for i in range(0, n, 7)}
        called: list[int] = []

        async def fn(ctx: Any, item: int) -> int:
            called.append(item)
            await anyio.lowlevel.checkpoint()
            if item in errors:
                raise errors[item]
            return item * 10

        async with impl.WorkerPool(fn, workers=4) as p:
            for i in range(n):
                await p.submit(i)
            p.close()
            results = await collect(p.results())
            with pytest.raises(PoolClosed):
                await p.submit(n)
        return results, errors, called

    results, errors, called = run(rt, scenario, waiting_for="results() to end after close()")
    check_exactly_once(results, n)
    twice = sorted({i for i in called if called.count(i) > 1})
    assert not twice, f"job {twice[0]} ran {called.count(twice[0])} times; it was submitted once"
    for r in results:
        if r.index in errors:
            assert r.error is errors[r.index], (
                f"job {r.index} raised Boom, and its result says {r.error!r}: a job's "
                "exception is its Result.error, and the worker goes on")
        else:
            assert r.ok and r.value == r.index * 10, (
                f"job {r.index} returned {r.index * 10}, and its result says "
                f"{r.value!r} / {r.error!r}")


@pytest.mark.task(3)
def test_map_yields_exactly_its_items_and_keeps_order_when_asked(impl: Any, rt: Any) -> None:
    """Two maps on one pool (map does not close it). The second's jobs finish out of
    order (each even job waits for the odd one after it); ``ordered=True`` still yields
    them in input order, and indices go on counting submissions."""
    first_items = [f"x{i}" for i in range(25)]
    n = 10

    async def scenario(rt: Any) -> tuple[list[Any], list[Any], list[int]]:
        done = [rt.event() for _ in range(n)]
        finish_order: list[int] = []

        async def fn(ctx: Any, item: Any) -> Any:
            if isinstance(item, str):
                return item.upper()
            if item % 2 == 0:
                await done[item + 1].wait()
            finish_order.append(item)
            done[item].set()
            return item

        async with impl.WorkerPool(fn, workers=2) as p:
            first = await collect(p.map(first_items))
            second = await collect(p.map(range(n), ordered=True))
        return first, second, finish_order

    first, second, finish_order = run(rt, scenario, waiting_for="two maps to end")
    assert sorted(r.item for r in first) == sorted(first_items), (
        f"map yielded {len(first)} results for {len(first_items)} items, not one each")
    assert all(r.ok and r.value == r.item.upper() for r in first), first
    assert [r.item for r in second] == list(range(n)), (
        f"map(ordered=True) yielded items {[r.item for r in second]}: input order is "
        f"0 to {n - 1}, however the jobs finished")
    assert [r.index for r in second] == list(range(25, 25 + n)), (
        "the second map's indices should go on from the first's: index is submission order")
    assert finish_order != list(range(n))  # the jobs did finish out of order


@pytest.mark.task(3)
def test_leaving_the_block_closes_the_pool_and_runs_what_is_queued(impl: Any, rt: Any) -> None:
    n = 10

    async def scenario(rt: Any) -> list[int]:
        finished: list[int] = []

        async def fn(ctx: Any, item: int) -> None:
            await anyio.lowlevel.checkpoint()
            finished.append(item)

        async with impl.WorkerPool(fn, workers=3) as p:
            for i in range(n):
                await p.submit(i)
        with pytest.raises(PoolClosed):
            await p.submit(n)
        return finished

    finished = run(rt, scenario, waiting_for="the block to end")
    assert sorted(finished) == list(range(n)), (
        f"{n - len(set(finished))} of {n} submitted jobs never ran: leaving the block "
        "closes the pool and waits for what is queued")


# -- task 4: one file, both backends ---------------------------------------------------------


@pytest.mark.task(4)
def test_jobs_get_a_context_of_the_running_backend(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> list[Any]:
        seen: list[Any] = []

        async def fn(ctx: Any, item: int) -> int:
            seen.append(ctx)
            return item

        async with impl.WorkerPool(fn, workers=2) as p:
            await collect(p.map(range(3)))
        return seen

    seen = run(rt, scenario, waiting_for="three jobs to run")
    kind = rt.module("context").Context
    for ctx in seen:
        assert isinstance(ctx, kind), (
            f"on {rt.name}, a job was handed a {type(ctx).__module__} context: a context "
            f"keeps its backend's clock and timers, so on {rt.name} it must be "
            f"patterns.context.on_{rt.name}'s (ask sniffio.current_async_library())")


async def round_trip(rt: Any, impl: Any) -> tuple[list[Any], list[Any]]:
    """The whole pool once: a map whose consumer has to wait for a result, a failing
    job, then submit, close and results()."""
    gate = rt.event()

    async def fn(ctx: Any, item: int) -> int:
        if item == 0:
            await gate.wait()
        if item == 3:
            raise Boom(item)
        await anyio.lowlevel.checkpoint()
        return item * 10

    async def open_gate() -> None:
        await let_others_block(rt)  # map's consumer now waits for job 0's result
        gate.set()

    async with impl.WorkerPool(fn, workers=2, queue_size=1) as p, rt.task_group() as tg:
        tg.start_soon(open_gate)
        mapped = await collect(p.map(range(6), ordered=True))
        await p.submit(6)
        await p.submit(7)
        p.close()
        rest = await collect(p.results())
    return mapped, rest


@pytest.mark.task(4)
def test_the_same_file_runs_on_both_backends(impl: Any, rt: Any) -> None:
    for backend in backends_for(impl, rt):
        mapped, rest = run(GradingRuntime(backend), round_trip, impl,
                           waiting_for=f"the pool to map, submit and drain on {backend}")
        assert [r.item for r in mapped] == list(range(6)), (
            f"on {backend}, map(ordered=True) yielded items {[r.item for r in mapped]}")
        assert isinstance(mapped[3].error, Boom), f"on {backend}, job 3's result: {mapped[3]}"
        assert sorted(r.item for r in rest) == [6, 7], (
            f"on {backend}, results() after close() yielded items "
            f"{sorted(r.item for r in rest)}; 6 and 7 were submitted")

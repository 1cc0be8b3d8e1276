"""Behavioural suite for ``patterns.errgroup`` (Go ``x/sync/errgroup``), in three runtimes.

Each test is one scenario run in threads, asyncio and trio (see ``runtimes.py``). The
contract is the one the docstrings of :mod:`patterns.errgroup` and of each runtime's
``Group`` state: the group's ctx is a child of the given one,
cancelled by the first error (its cause) and when the group finishes; ``wait()`` and the
block raise exactly that first error, never an ExceptionGroup, once every task has
finished; in asyncio and trio the first error also cancels the siblings and the body
natively; BaseExceptions are never swallowed; the body's own exception wins; ``limit``
bounds concurrency; threads are reused.

Task functions are written once as ``async def`` and given to ``g.go`` through
``rt.callback``, which makes them the sync functions the threads group expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runtimes import Runtime, background

from patterns.context import Canceled

FAIL_SAFE_S = 5.0  # a wait that should end long before; turns a hang into a failure
NO_NATIVE_CANCEL = "threads: a thread cannot be interrupted; tasks stop through g.ctx"


class Boom(Exception):
    """The first error, in most tests."""


class Late(Exception):
    """An error raised after the first one: it must never replace it."""


class BodyError(Exception):
    """Raised by the body of the ``with`` / ``async with`` block."""


class Stop(BaseException):
    """A BaseException that is not an Exception: KeyboardInterrupt's kind, harmlessly."""


def group(rt: Runtime, *args: Any, **kwargs: Any) -> Any:
    return rt.module("errgroup").Group(*args, **kwargs)



async def wait_done(rt: Runtime, ctx: Any) -> bool:
    """Wait until ``ctx`` is done, at most FAIL_SAFE_S; return whether it is.

    In asyncio and trio a native cancellation of the waiting task propagates.
    """
    if rt.is_async:
        with anyio.move_on_after(FAIL_SAFE_S):
            await ctx.wait()
        return bool(ctx.done)
    return bool(ctx.wait(FAIL_SAFE_S))


class Gauge:
    """Counts the tasks inside ``with gauge:``: now, at peak, in total."""

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


def gated_job(gauge: Gauge, gates: list[Any], ran: list[int]) -> Callable[[int], Any]:
    """A task body: count itself in ``gauge`` until ``gates[i]`` is set."""

    async def job(i: int) -> None:
        with gauge:
            ran.append(i)
            await gates[i].wait()

    return job


# -- success: wait and the block wait for every task ------------------------------------------


@pytest.mark.parametrize("explicit_wait", [True, False], ids=["wait", "block-exit"])
def test_every_task_runs_once_and_has_finished_when_the_group_returns(
    rt: Runtime, explicit_wait: bool
) -> None:
    n = 5

    async def scenario(rt: Runtime) -> None:
        gauge, gates, ran = Gauge(), [rt.event() for _ in range(n)], []
        ended: list[int] = []
        job = gated_job(gauge, gates, ran)

        async def tracked(i: int) -> None:
            try:
                await job(i)
            finally:
                ended.append(i)

        async def opener() -> None:
            try:
                await rt.until(lambda: gauge.now == n)  # unlimited: all run at once
            finally:
                for gate in reversed(gates):
                    gate.set()

        async with rt.task_group() as tg:
            tg.start_soon(opener)
            async with rt.enter(group(rt)) as g:
                for i in range(n):
                    await rt.call(g.go, rt.callback(tracked), i)
                if explicit_wait:
                    await rt.call(g.wait)
                    assert sorted(ended) == list(range(n))
            assert sorted(ended) == list(range(n))
        assert sorted(ran) == list(range(n))
        assert gauge.peak == n

    rt.run(scenario)


def test_go_passes_positional_and_keyword_arguments(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        seen: list[tuple[Any, ...]] = []

        async def record(a: int, b: int, *, c: int) -> None:
            seen.append((a, b, c))

        async with rt.enter(group(rt)) as g:
            await rt.call(g.go, rt.callback(record), 1, 2, c=3)
            assert g.try_go(rt.callback(record), 4, 5, c=6) is True
        assert sorted(seen) == [(1, 2, 3), (4, 5, 6)]

    rt.run(scenario)


def test_threads_run_each_task_off_the_caller_thread(rt: Runtime) -> None:
    if rt.is_async:
        pytest.skip("asyncio / trio: tasks run on the event loop's thread, by design")

    async def scenario(rt: Runtime) -> None:
        seen: list[threading.Thread] = []

        async def record() -> None:
            seen.append(threading.current_thread())

        async with rt.enter(group(rt)) as g:
            await rt.call(g.go, rt.callback(record))
        assert seen and threading.current_thread() not in seen

    rt.run(scenario)


# -- the first error ----------------------------------------------------------------------------


@pytest.mark.parametrize("explicit_wait", [True, False], ids=["wait", "block-exit"])
def test_the_first_error_itself_is_raised_once_every_task_has_finished(
    rt: Runtime, explicit_wait: bool
) -> None:
    async def scenario(rt: Runtime) -> None:
        boom = Boom("first")
        ended: list[str] = []
        saw_done: list[bool] = []
        gate = rt.event()

        async def fail() -> None:
            try:
                raise boom
            finally:
                ended.append("fail")

        async def sibling() -> None:
            try:
                saw_done.append(await wait_done(rt, g.ctx))  # natively cancelled in async
                await gate.wait()  # and only then finishes (threads)
            finally:
                ended.append("sibling")

        async def opener() -> None:
            try:
                await rt.until(lambda: g.ctx.done)
            finally:
                gate.set()

        async with rt.task_group() as tg:
            with pytest.raises(Boom) as raised:
                async with rt.enter(group(rt)) as g:
                    tg.start_soon(opener)
                    await rt.call(g.go, rt.callback(sibling))
                    await rt.call(g.go, rt.callback(fail))
                    if explicit_wait:
                        await rt.call(g.wait)
            finished_when_raised = sorted(ended)
            gate.set()
        assert raised.value is boom  # the error itself: not a copy, not an ExceptionGroup
        assert finished_when_raised == ["fail", "sibling"]
        assert saw_done in ([], [True])  # async siblings may be cancelled before they look
        assert g.ctx.done
        assert g.ctx.cause is boom
        assert isinstance(g.ctx.err, Canceled)

    rt.run(scenario)


def test_wait_raises_the_first_error_itself(rt: Runtime) -> None:
    """In threads the body's own ``wait()`` raises it. In asyncio and trio the error
    cancels the body natively, interrupting a ``wait()`` there, so a task outside the
    block waits instead (the block raises the error too, tested above)."""

    async def scenario(rt: Runtime) -> None:
        boom = Boom("first")
        got: list[BaseException] = []

        async def fail() -> None:
            raise boom

        async def waiter() -> None:
            try:
                await rt.call(g.wait)
            except Boom as exc:
                got.append(exc)

        async with rt.task_group() as outside:
            with contextlib.suppress(Boom):
                async with rt.enter(group(rt)) as g:
                    await rt.call(g.go, rt.callback(fail))
                    if rt.is_async:
                        outside.start_soon(waiter)
                    else:
                        await waiter()
        assert len(got) == 1
        assert got[0] is boom

    rt.run(scenario)


def test_the_group_ctx_is_cancelled_with_the_first_error_as_cause_before_it_finishes(
    rt: Runtime,
) -> None:
    """A sibling that only watches ``g.ctx`` (threads) sees it done, caused by the error."""
    if rt.is_async:
        pytest.skip("asyncio / trio: siblings are cancelled natively (tested below)")

    async def scenario(rt: Runtime) -> None:
        boom = Boom("first")
        causes: list[BaseException | None] = []

        async def watcher() -> None:
            assert await wait_done(rt, g.ctx)
            causes.append(g.ctx.cause)

        async def fail() -> None:
            raise boom

        with pytest.raises(Boom):
            async with rt.enter(group(rt)) as g:
                await rt.call(g.go, rt.callback(watcher))
                await rt.call(g.go, rt.callback(fail))
        assert causes == [boom]

    rt.run(scenario)


def test_later_errors_never_replace_the_first(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        boom = Boom("first")
        ended: list[str] = []

        async def later(i: int) -> None:
            try:
                await wait_done(rt, g.ctx)  # or is cancelled natively (async)
            finally:
                ended.append(f"late-{i}")
                raise Late(i)  # even when it replaces a native cancellation

        async def fail() -> None:
            ended.append("fail")
            raise boom

        with pytest.raises(Boom) as raised:
            async with rt.enter(group(rt)) as g:
                for i in range(3):
                    await rt.call(g.go, rt.callback(later), i)
                await rt.call(g.go, rt.callback(fail))
                await rt.call(g.wait)
        assert raised.value is boom
        assert sorted(ended) == ["fail", "late-0", "late-1", "late-2"]
        assert g.ctx.cause is boom

    rt.run(scenario)


def test_sibling_cancellations_are_not_errors(rt: Runtime) -> None:
    """Siblings stopped by the first error end with ``Canceled`` from ``g.ctx.sleep``
    (threads) or a native cancellation (async): neither is reported."""

    async def scenario(rt: Runtime) -> None:
        boom = Boom("first")

        async def sleeper() -> None:
            await rt.call(g.ctx.sleep, 60.0)
            pytest.fail("g.ctx.sleep outlived the first error")

        async def fail() -> None:
            raise boom

        with pytest.raises(Boom) as raised:
            async with rt.enter(group(rt)) as g:
                for _ in range(3):
                    await rt.call(g.go, rt.callback(sleeper))
                await rt.call(g.go, rt.callback(fail))
        assert raised.value is boom

    rt.run(scenario)


def test_the_first_error_cancels_siblings_and_the_body_natively(rt: Runtime) -> None:
    if not rt.is_async:
        pytest.skip(NO_NATIVE_CANCEL)

    async def scenario(rt: Runtime) -> None:
        boom = Boom("first")
        outlived: list[str] = []  # who got past a wait that only a cancellation ends
        ended: list[str] = []

        async def ignores_ctx() -> None:
            try:
                with anyio.move_on_after(FAIL_SAFE_S):  # fail-safe: not cancelled natively
                    await anyio.sleep_forever()
                outlived.append("sibling")
            finally:
                ended.append("sibling")

        async def fail() -> None:
            await anyio.wait_all_tasks_blocked()  # the sibling and the body are waiting
            raise boom

        with pytest.raises(Boom) as raised:
            async with rt.enter(group(rt)) as g:
                await rt.call(g.go, ignores_ctx)
                await rt.call(g.go, fail)
                with anyio.move_on_after(FAIL_SAFE_S):
                    await anyio.sleep_forever()
                outlived.append("body")
        assert raised.value is boom
        assert outlived == []
        assert ended == ["sibling"]
        assert g.ctx.cause is boom

    rt.run(scenario)


# -- BaseExceptions ---------------------------------------------------------------------------


def test_a_base_exception_in_a_task_is_raised_not_swallowed(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        stop = Stop()

        async def quit_() -> None:
            raise stop

        async def fine() -> None:
            pass

        with pytest.raises(Stop) as raised:
            async with rt.enter(group(rt)) as g:
                await rt.call(g.go, rt.callback(fine))
                await rt.call(g.go, rt.callback(quit_))
                await rt.call(g.wait)
        assert raised.value is stop

    rt.run(scenario)


def test_a_base_exception_after_the_first_error_is_not_swallowed(rt: Runtime) -> None:
    """The first *error* wins among errors; a BaseException is never swallowed."""

    async def scenario(rt: Runtime) -> None:
        stop = Stop()

        async def quits_late() -> None:
            try:
                await wait_done(rt, g.ctx)
            finally:
                raise stop  # even when it replaces a native cancellation

        async def fail() -> None:
            raise Boom("first")

        with pytest.raises(Stop) as raised:
            async with rt.enter(group(rt)) as g:
                await rt.call(g.go, rt.callback(quits_late))
                await rt.call(g.go, rt.callback(fail))
                await rt.call(g.wait)
        assert raised.value is stop

    rt.run(scenario)


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_keyboard_interrupt_and_system_exit_in_a_task_are_never_swallowed(
    rt: Runtime, interrupt: type[BaseException]
) -> None:
    """Caught outside ``rt.run``: in asyncio, one of these two that escapes a task's
    coroutine is re-raised out of the event loop itself, past every ``await``, so only
    there can one test observe all three runtimes, whichever way it travels."""

    async def scenario(rt: Runtime) -> None:
        async def quit_() -> None:
            raise interrupt()

        async with rt.enter(group(rt)) as g:
            await rt.call(g.go, rt.callback(quit_))
            await rt.call(g.wait)
        pytest.fail(f"{interrupt.__name__} was swallowed")

    with pytest.raises(interrupt):
        rt.run(scenario)


# -- the body of the block ----------------------------------------------------------------------


def test_the_body_exception_wins_and_cancels_the_group_ctx(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        error = BodyError()
        ended: list[str] = []
        saw_done: list[bool] = []

        async def watcher() -> None:
            try:
                # The body's exception must end this wait (natively, in async runtimes).
                saw_done.append(await wait_done(rt, g.ctx))
            finally:
                ended.append("watcher")
            raise Late("a task error after the body's")

        with pytest.raises(BodyError) as raised:
            async with rt.enter(group(rt)) as g:
                await rt.call(g.go, rt.callback(watcher))
                raise error
        assert raised.value is error
        assert ended == ["watcher"]  # the tasks finished before the block raised
        assert (saw_done in ([], [True])) if rt.is_async else (saw_done == [True])
        assert g.ctx.done

    rt.run(scenario)


def test_the_body_exception_wins_over_an_earlier_task_error(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        error = BodyError()

        async def fail() -> None:
            raise Boom("first")

        with pytest.raises(BodyError) as raised:
            async with rt.enter(group(rt)) as g:
                await rt.call(g.go, rt.callback(fail))
                try:
                    await wait_done(rt, g.ctx)  # async: may be cancelled natively here
                finally:
                    raise error
        assert raised.value is error

    rt.run(scenario)


def test_a_base_exception_from_the_body_wins(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        stop = Stop()

        async def fail() -> None:
            raise Boom("first")

        with pytest.raises(Stop) as raised:
            async with rt.enter(group(rt)) as g:
                await rt.call(g.go, rt.callback(fail))
                raise stop
        assert raised.value is stop

    rt.run(scenario)


# -- the group's context --------------------------------------------------------------------------


def test_the_group_ctx_is_a_child_of_the_given_ctx(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        parent = background(rt).with_value("request", 42).with_cancel()
        async with rt.enter(group(rt, parent)) as g:
            assert g.ctx is not parent
            assert g.ctx.value("request") == 42
            assert not g.ctx.done
        assert g.ctx.done  # the group finished
        assert not parent.done  # a child never cancels its parent

    rt.run(scenario)


def test_cancelling_the_parent_cancels_the_group_ctx(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        parent = background(rt).with_cancel()
        saw: list[bool] = []

        async def watcher() -> None:
            saw.append(await wait_done(rt, g.ctx))

        try:
            async with rt.enter(group(rt, parent)) as g:
                await rt.call(g.go, rt.callback(watcher))
                parent.cancel()
        except Canceled:
            # In asyncio and trio the group's work is stopped natively once g.ctx is
            # done, and the group may then report ``g.ctx.err``, as Go's errgroup reports
            # a task that returns ``ctx.Err()``. A thread is not stopped: it just returns.
            assert rt.is_async
        assert (saw in ([], [True])) if rt.is_async else (saw == [True])
        assert g.ctx.done
        assert isinstance(g.ctx.err, Canceled)

    rt.run(scenario)


def test_a_task_cancelled_inside_its_own_nursery_is_no_error(rt: Runtime) -> None:
    """A task with a task group of its own (a nursery, a ``TaskGroup``), stopped with
    the group: trio's nursery raises the cancellations as an ExceptionGroup of
    ``Cancelled``, which is a cancellation still, never the group's error."""
    if not rt.is_async:
        pytest.skip(NO_NATIVE_CANCEL)

    async def scenario(rt: Runtime) -> BaseException | None:
        parent = background(rt).with_cancel()
        started = rt.event()

        async def with_a_group_of_its_own() -> None:
            if rt.name == "trio":  # the runtime's own, not anyio's, which differs here
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(trio.sleep_forever)
                    started.set()
                    await trio.sleep_forever()
            else:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(asyncio.Event().wait())
                    started.set()
                    await asyncio.Event().wait()

        try:
            async with rt.enter(group(rt, parent)) as g:
                await rt.call(g.go, with_a_group_of_its_own)
                await started.wait()
                parent.cancel()
        except BaseException as exc:  # what the group raised, to look at
            return exc
        return None

    raised = rt.run(scenario)
    assert raised is None or isinstance(raised, Canceled), f"the group raised {raised!r}"


def test_the_group_ctx_is_cancelled_when_the_group_finishes(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        async def fine() -> None:
            pass

        async with rt.enter(group(rt)) as g:
            await rt.call(g.go, rt.callback(fine))
            assert not g.ctx.done
        assert g.ctx.done
        assert isinstance(g.ctx.err, Canceled)

    rt.run(scenario)


def test_threads_wait_finishes_the_group_without_a_with_block(rt: Runtime) -> None:
    """Go's shape: ``g.go(...)`` then ``g.wait()``, which cancels ``g.ctx``, raises the
    first error and lets the idle threads end (the leak check watches)."""
    if rt.is_async:
        pytest.skip("asyncio / trio: always `async with Group()`, structured by design")

    async def scenario(rt: Runtime) -> None:
        boom = Boom("first")

        async def fail() -> None:
            raise boom

        g = group(rt)
        g.go(rt.callback(fail))
        with pytest.raises(Boom) as raised:
            g.wait()
        assert raised.value is boom
        assert g.ctx.done and g.ctx.cause is boom

        ok = group(rt)
        ok.go(lambda: None)
        ok.wait()
        assert ok.ctx.done

    rt.run(scenario)


def test_async_wait_waits_for_the_tasks_started_so_far(rt: Runtime) -> None:
    if not rt.is_async:
        pytest.skip(
            "threads: wait() finishes the group, as Go's Wait does; the contract stops there"
        )

    async def scenario(rt: Runtime) -> None:
        ended: list[int] = []

        async def job(i: int) -> None:
            await anyio.lowlevel.checkpoint()
            ended.append(i)

        async with rt.enter(group(rt)) as g:
            for i in range(3):
                await g.go(job, i)
            await g.wait()
            assert sorted(ended) == [0, 1, 2]
            await g.go(job, 3)
            await g.wait()
            assert sorted(ended) == [0, 1, 2, 3]

    rt.run(scenario)


# -- limit ---------------------------------------------------------------------------------------


def test_limit_bounds_concurrency_and_go_blocks_at_the_limit(rt: Runtime) -> None:
    n, limit = 7, 3

    async def scenario(rt: Runtime) -> None:
        gauge, gates, ran = Gauge(), [rt.event() for _ in range(n)], []
        job = rt.callback(gated_job(gauge, gates, ran))
        submitted = 0

        def started_at_least(k: int) -> Callable[[], bool]:
            return lambda: len(ran) >= k

        async def controller() -> None:
            # Open the gates one at a time; before each, exactly the next ``limit`` tasks
            # (or the rest) have started, and the body's go() has not got further.
            try:
                for i in range(n):
                    expected = min(i + limit, n)
                    await rt.until(started_at_least(expected))
                    assert sorted(ran) == list(range(expected))
                    assert submitted <= expected, "go() returned past the limit"
                    assert gauge.now <= limit
                    gates[i].set()
            finally:
                for gate in gates:
                    gate.set()

        async with rt.task_group() as tg:
            tg.start_soon(controller)
            async with rt.enter(group(rt, limit=limit)) as g:
                for i in range(n):
                    await rt.call(g.go, job, i)
                    submitted += 1
        assert gauge.peak == limit
        assert sorted(ran) == list(range(n))

    rt.run(scenario)


def test_try_go_is_false_at_the_limit_and_true_otherwise(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        gauge, gates, ran = Gauge(), [rt.event() for _ in range(4)], []
        job = rt.callback(gated_job(gauge, gates, ran))
        async with rt.enter(group(rt, limit=2)) as g:
            try:
                assert g.try_go(job, 0) is True
                assert g.try_go(job, 1) is True
                await rt.until(lambda: gauge.now == 2)
                assert g.try_go(job, 2) is False
                gates[0].set()
                # Once task 0 is over, its slot is free again (and task 2 never ran).
                await rt.until(lambda: g.try_go(job, 3))
            finally:
                for gate in gates:
                    gate.set()
        assert sorted(ran) == [0, 1, 3]
        assert gauge.peak == 2

    rt.run(scenario)


def test_without_a_limit_every_task_runs_at_once_and_try_go_always_succeeds(
    rt: Runtime,
) -> None:
    n = 8

    async def scenario(rt: Runtime) -> None:
        gauge, gates, ran = Gauge(), [rt.event() for _ in range(n)], []
        job = rt.callback(gated_job(gauge, gates, ran))
        async with rt.enter(group(rt)) as g:
            try:
                for i in range(n // 2):
                    await rt.call(g.go, job, i)
                for i in range(n // 2, n):
                    assert g.try_go(job, i) is True
                await rt.until(lambda: gauge.now == n)
            finally:
                for gate in gates:
                    gate.set()
        assert gauge.peak == n

    rt.run(scenario)


def test_set_limit_none_removes_the_limit(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        gauge, gates, ran = Gauge(), [rt.event() for _ in range(5)], []
        job = rt.callback(gated_job(gauge, gates, ran))
        async with rt.enter(group(rt, limit=1)) as g:
            g.set_limit(None)
            try:
                for i in range(5):
                    assert g.try_go(job, i) is True
                await rt.until(lambda: gauge.now == 5)
            finally:
                for gate in gates:
                    gate.set()
        assert gauge.peak == 5

    rt.run(scenario)


def test_set_limit_before_any_task_sets_the_limit(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        gauge, gates, ran = Gauge(), [rt.event() for _ in range(3)], []
        job = rt.callback(gated_job(gauge, gates, ran))
        async with rt.enter(group(rt)) as g:
            g.set_limit(2)
            try:
                assert g.try_go(job, 0) is True
                assert g.try_go(job, 1) is True
                assert g.try_go(job, 2) is False
            finally:
                for gate in gates:
                    gate.set()
        assert sorted(ran) == [0, 1]

    rt.run(scenario)


def test_set_limit_while_tasks_run_is_a_runtime_error(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        gauge, gates, ran = Gauge(), [rt.event() for _ in range(3)], []
        job = rt.callback(gated_job(gauge, gates, ran))
        async with rt.enter(group(rt)) as g:
            try:
                await rt.call(g.go, job, 0)
                with pytest.raises(RuntimeError):
                    g.set_limit(1)
                # Refused means unchanged: still unlimited.
                assert g.try_go(job, 1) is True
                assert g.try_go(job, 2) is True
            finally:
                for gate in gates:
                    gate.set()
        assert sorted(ran) == [0, 1, 2]

    rt.run(scenario)


# -- threads: after wait(), as Go's Group after Wait ------------------------------------------


def test_threads_after_wait_tasks_run_but_ctx_and_first_error_stick(rt: Runtime) -> None:
    """Go's Group after Wait: Go still starts goroutines, the context stays cancelled and
    the first error sticks (errOnce has fired). Ours does the same."""
    if rt.is_async:
        pytest.skip("asyncio / trio: the first error cancels the block itself; "
                    "nothing runs on in it after wait()")
    group = rt.module("errgroup").Group()
    first = ValueError("first")

    def fail(exc: BaseException) -> None:
        raise exc

    group.go(fail, first)
    with pytest.raises(ValueError) as raised:
        group.wait()
    assert raised.value is first
    assert group.ctx.done
    ran: list[int] = []
    group.go(ran.append, 1)
    group.go(fail, KeyError("second"))
    with pytest.raises(ValueError) as raised:
        group.wait()
    assert raised.value is first, "a later error replaced the first"
    assert ran == [1]
    assert group.ctx.done


# -- threads: idle threads are reused, and end with the group -------------------------------------


def test_threads_reuse_idle_threads_and_end_them_with_the_group(rt: Runtime) -> None:
    if rt.is_async:
        pytest.skip("asyncio / trio: a task costs about a microsecond; there is no thread to reuse")

    rounds, tasks, limit = 100, 100, 4

    async def scenario(rt: Runtime) -> None:
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
        try:
            for _ in range(rounds):
                # Thread objects, kept alive here, rather than get_ident(): an ended
                # thread's ident is reused by the next one, which would hide a group
                # starting a thread per task.
                seen: list[threading.Thread] = []
                with group(rt, limit=limit) as g:
                    for _ in range(tasks):
                        g.go(lambda seen=seen: seen.append(threading.current_thread()))
                assert len(seen) == tasks
                assert len(set(seen)) <= limit, (
                    f"{len(set(seen))} threads ran {tasks} tasks with limit={limit}"
                )
                for thread in set(seen):
                    thread.join(FAIL_SAFE_S)
                    assert not thread.is_alive(), "an idle thread outlived its group"
        finally:
            sys.setswitchinterval(interval)

    rt.run(scenario)


# -- property: which task fails first -------------------------------------------------------------


Plan = tuple[int, int | None, frozenset[int], int | None, bool]


@st.composite
def failure_plans(draw: st.DrawFn) -> Plan:
    """``n`` tasks, a ``limit``, the tasks that fail, the one of them that fails first,
    and whether the body calls ``wait()``. Failing tasks other than the first wait for
    ``g.ctx`` while holding a slot, so the first is drawn among those that still get one:
    fewer than ``limit`` failing tasks come before it."""
    n = draw(st.integers(1, 8))
    limit = draw(st.none() | st.integers(1, n))
    failing = frozenset(draw(st.sets(st.integers(0, n - 1))))
    eligible = [i for i in sorted(failing) if limit is None or sum(j < i for j in failing) < limit]
    first = draw(st.sampled_from(eligible)) if eligible else None
    explicit_wait = draw(st.booleans())
    return n, limit, failing, first, explicit_wait


async def run_failure_plan(
    rt: Runtime,
    n: int,
    limit: int | None,
    failing: frozenset[int],
    first: int | None,
    explicit_wait: bool,
) -> None:
    """Tasks ``0..n-1`` in a group with ``limit``; those in ``failing`` raise their own
    error. ``first`` fails as soon as it starts; the other failing ones, started before
    or after it, wait until ``g.ctx`` is done (that is, until the first error is
    recorded) and fail after it, unless cancelled natively first. Tasks that do not fail
    just pass a checkpoint."""
    errors = {i: Boom(i) for i in failing}
    lock = threading.Lock()
    runs: list[int] = []
    ended: list[int] = []

    async def job(i: int) -> None:
        with lock:
            runs.append(i)
        try:
            if i in failing:
                if i != first:
                    await wait_done(rt, g.ctx)
                raise errors[i]
            await rt.checkpoint()
        finally:
            with lock:
                ended.append(i)

    fn = rt.callback(job)
    raised: BaseException | None = None
    try:
        async with rt.enter(group(rt, limit=limit)) as g:
            for i in range(n):
                await rt.call(g.go, fn, i)
            if explicit_wait:
                await rt.call(g.wait)
                with lock:
                    assert sorted(runs) == sorted(ended), "wait() returned before its tasks"
    except Boom as exc:
        raised = exc
    with lock:
        ran, finished = sorted(runs), sorted(ended)
    assert ran == finished, "the group returned while a task was still running"
    assert len(set(ran)) == len(ran), "a task ran twice"
    if first is None:
        assert raised is None
        assert ran == list(range(n))
    else:
        assert raised is errors[first], f"raised {raised!r}, but task {first} failed first"
        assert g.ctx.cause is errors[first]
        assert ran[: first + 1] == list(range(first + 1))  # every task up to the first failure
    assert g.ctx.done


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=failure_plans())
def test_the_error_of_the_task_that_failed_first_is_raised(rt: Runtime, plan: Plan) -> None:
    """Whatever the limit and whichever tasks fail, the group raises exactly the error of
    the task that failed first, once every task it started has ended."""
    rt.run(run_failure_plan, *plan)

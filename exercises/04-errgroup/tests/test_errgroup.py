"""Chapter 04's grading: the first error comes out of the group itself and cancels
``g.ctx``; only a task's own exceptions are errors, never the runtime's cancellation;
``Semaphore`` is weighted and first come, first served; ``limit`` is built on it, and
a slot always comes back.

Every scenario is written once and run in the chapter's runtime (``rt``), on the
learner's module (``impl``); the library's ``patterns.errgroup`` and
``patterns.semaphore`` pass them too. The library does a little more than the chapter
asks (in asyncio and trio its first error also interrupts the block's body), so where
the two may differ a test accepts both.

A thread cannot be interrupted, so everything a learner's thread waits on here is
bounded (:class:`Gate`, :func:`stopped`): a group that never tells its threads to stop
fails the test instead of leaving a thread behind.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
import trio

from patterns.context import Canceled
from patterns.exercises.grading import ScenarioThread, background, drive, let_others_block

N = 5  # tasks per scenario
FAIL_SAFE_S = 1.0  # the longest a thread here waits for what a correct group does at once


class Boom(Exception):
    """The first error, in most scenarios."""


class Late(Exception):
    """An error raised after the first one: it must never replace it."""


class Stop(BaseException):
    """A BaseException that is not an Exception: KeyboardInterrupt's kind, harmlessly."""


# -- helpers ------------------------------------------------------------------------------


class Gate:
    """An event a task waits on. A thread waits at most FAIL_SAFE_S, so a test that fails
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


async def go(rt: Any, g: Any, afn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
    """``g.go(afn, *args)``, with ``afn`` made a plain function for threads."""
    await rt.call(g.go, rt.callback(afn), *args)


async def stopped(rt: Any, ctx: Any) -> bool:
    """Wait until the group stops this task; return whether it did.

    A thread watches ``ctx``, the only way it can learn that it should stop, for at
    most FAIL_SAFE_S. An asyncio or trio task ignores it and sleeps: only the group's
    native interruption can end that sleep, and then this never returns.
    """
    if rt.is_async:
        await anyio.sleep_forever()
    return bool(ctx.wait(FAIL_SAFE_S))


def is_our_cancellation(rt: Any, exc: BaseException) -> bool:
    """Is ``exc`` the scenario itself being cancelled (its time limit), rather than a
    cancellation exception that a group raised by mistake?"""
    if rt.name == "asyncio":
        task = asyncio.current_task()
        return (isinstance(exc, asyncio.CancelledError)
                and task is not None and task.cancelling() > 0)
    if rt.name == "trio":
        return (isinstance(exc, trio.Cancelled)
                and trio.current_effective_deadline() == -math.inf)
    return False


@asynccontextmanager
async def raised(rt: Any) -> AsyncIterator[list[BaseException]]:
    """``async with raised(rt) as got:`` keeps what the block raised in ``got``, whatever
    it is, so a test can say what it should have been; the scenario's own cancellation
    (its time limit) goes on."""
    got: list[BaseException] = []
    try:
        yield got
    except BaseException as exc:
        if is_our_cancellation(rt, exc):
            raise
        got.append(exc)


def describe(exc: BaseException | None) -> str:
    """``exc`` in a few words, for a message: its type, and its text if it has one."""
    if exc is None:
        return "nothing"
    if isinstance(exc, asyncio.CancelledError | trio.Cancelled):
        return type(exc).__name__  # trio's text names a task object: noise here
    if isinstance(exc, BaseExceptionGroup):
        inner = ", ".join(type(e).__name__ for e in exc.exceptions)
        return f"{type(exc).__name__}([{inner}])"
    return f"{type(exc).__name__}({exc})" if str(exc) else type(exc).__name__


def only(got: list[BaseException]) -> BaseException | None:
    return got[0] if got else None


@asynccontextmanager
async def crew(rt: Any) -> AsyncIterator[Callable[..., None]]:
    """``async with crew(rt) as start: start(afn)`` runs ``afn()`` beside the scenario,
    as a task (asyncio, trio) or a thread; the block ends once they all have.

    Each thread is a :class:`ScenarioThread`: one blocked for good in a wrong ``acquire``
    cannot keep the process alive, and the leak check leaves it to the test that has
    failed already. An assertion in the body comes out as itself, not wrapped in a task
    group's ExceptionGroup, so the learner reads its message.
    """
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


async def outcome_beside(rt: Any, block: Callable[[], Coroutine[Any, Any, Any]],
                         never_ended: str) -> BaseException | None:
    """Run ``block()`` (a group's whole block) beside the scenario, and return what it
    raised once it has ended. If it has not ended once nothing more can happen, fail
    with ``never_ended`` at once rather than at the scenario's time limit."""
    outcome: list[BaseException | None] = []

    async def run() -> None:
        async with raised(rt) as got:
            await block()
        outcome.append(only(got))

    async with crew(rt) as start:
        start(run)
        await rt.settled(lambda: bool(outcome))
        assert outcome, never_ended
    return outcome[0]


class Waiter:
    """One task (or thread) that acquires ``n`` tokens, holds them until ``let_go`` (at
    once with ``hold=False``), then releases them. It never raises: what ``acquire`` or
    ``release`` raised is kept in ``error``. In asyncio and trio it runs in a cancel
    scope, ``scope``, so a scenario can cancel its wait."""

    def __init__(self, rt: Any, sem: Any, n: int = 1, *, name: object = None,
                 log: list[object] | None = None, hold: bool = True) -> None:
        self.rt, self.sem, self.n, self.name, self.log = rt, sem, n, name, log
        self.let_go = Gate(rt)
        if not hold:
            self.let_go.set()
        self.granted = rt.event()
        self.finished = rt.event()
        self.error: Exception | None = None
        self.scope: Any = None

    async def run(self) -> None:
        try:
            if self.rt.is_async:
                with anyio.CancelScope() as self.scope:
                    await self._acquire_and_hold()
            else:
                await self._acquire_and_hold()
        except Exception as exc:
            self.error = self.error or exc
        finally:
            self.finished.set()

    async def _acquire_and_hold(self) -> None:
        await self.rt.call(self.sem.acquire, self.n)
        if self.log is not None:
            self.log.append(self.name)
        self.granted.set()
        try:
            await self.let_go.wait()
        finally:
            self.sem.release(self.n)

    def outcome(self) -> str:
        if self.error is not None:
            return f"acquire({self.n}) raised {describe(self.error)}"
        return "granted" if self.granted.is_set() else "still waiting"


def no_errors(*waiters: Waiter) -> None:
    for waiter in waiters:
        assert waiter.error is None, (
            f"a waiter's acquire({waiter.n}) or release({waiter.n}) raised "
            f"{describe(waiter.error)}")


# -- task 1: the first error comes out of the group, itself --------------------------------


@pytest.mark.task(1)
def test_the_block_raises_the_first_error_itself_once_every_task_has_ended(
    impl: Any, rt: Any
) -> None:
    async def scenario(rt: Any) -> None:
        boom = Boom("task 2 failed")
        failed = Gate(rt)
        ended: list[int] = []

        async def task(i: int) -> None:
            try:
                if i == 2:
                    failed.set()
                    raise boom
                await failed.wait()  # the others end after the failure (or are stopped)
                await rt.checkpoint()
            finally:
                ended.append(i)

        ended_when_raised: list[int] = []
        async with raised(rt) as got:
            try:
                async with rt.enter(impl.Group()) as g:
                    for i in range(N):
                        await go(rt, g, task, i)
            finally:
                ended_when_raised = sorted(ended)
        assert got, f"the block ended without raising, but a task raised {describe(boom)}"
        assert got[0] is boom, (
            f"the block raised {describe(got[0])}, not the task's {describe(boom)} itself")
        missing = sorted(set(range(N)) - set(ended_when_raised))
        assert not missing, (
            f"the block raised while tasks {missing} were still running: the first error "
            "comes out once every task has ended")

    rt.run(scenario, waiting_for="the block to end after a task failed")


@pytest.mark.task(1)
def test_wait_waits_for_every_task(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        ended: list[int] = []
        gate = Gate(rt)

        async def work(i: int) -> None:
            await gate.wait()
            await rt.checkpoint()
            ended.append(i)

        async def open_gate() -> None:
            gate.set()

        async with rt.enter(impl.Group()) as g:
            for i in range(N):
                await go(rt, g, work, i)
            await go(rt, g, open_gate)
            await rt.call(g.wait)
            assert len(ended) == N, (
                f"wait() returned while {N - len(ended)} of {N} tasks were still running")

    rt.run(scenario, waiting_for="wait() to return")


@pytest.mark.task(1)
def test_wait_raises_the_first_error_itself(impl: Any, rt: Any) -> None:
    """Threads: the body's own ``wait()``. asyncio and trio: a task outside the block
    calls ``wait()``, since a group may interrupt its own body once a task has failed."""

    async def scenario(rt: Any) -> None:
        boom = Boom("failed")
        got: list[BaseException | None] = []

        async def fail() -> None:
            raise boom

        async def waiter() -> None:
            try:
                await rt.call(g.wait)
                got.append(None)
            except Exception as exc:
                got.append(exc)

        async with crew(rt) as start, raised(rt), rt.enter(impl.Group()) as g:
            await go(rt, g, fail)
            if rt.is_async:
                start(waiter)
            else:
                await waiter()
        assert got, "wait() never returned"
        assert got[0] is boom, (
            f"wait() raised {describe(got[0])}, not the task's {describe(boom)} itself")

    rt.run(scenario, waiting_for="wait() to return after a task failed")


# -- task 2: the first error cancels g.ctx ---------------------------------------------------


@pytest.mark.task(2)
def test_the_first_error_cancels_g_ctx_with_itself_as_the_cause(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        boom = Boom("failed")
        seen: list[Any] = []  # what the watching task saw of g.ctx when it stopped
        watching = Gate(rt)

        async def watcher() -> None:
            watching.set()
            try:
                if rt.is_async:
                    await g.ctx.wait()
                else:
                    g.ctx.wait(FAIL_SAFE_S)
            finally:
                seen.append(g.ctx.cause)

        async def fail() -> None:
            await watching.wait()
            raise boom

        async with raised(rt) as got, rt.enter(impl.Group()) as g:
            await go(rt, g, watcher)
            await go(rt, g, fail)
        assert seen == [boom], (
            f"a task watching g.ctx saw its cause {describe(seen[0] if seen else None)} when "
            f"it stopped, not the first error {describe(boom)}: the first error cancels "
            "g.ctx, with itself as the cause")
        assert g.ctx.cause is boom, f"g.ctx.cause is {describe(g.ctx.cause)}, not the first error"
        assert isinstance(g.ctx.err, Canceled), f"g.ctx.err is {describe(g.ctx.err)}"
        assert only(got) is boom, f"the block raised {describe(only(got))}, not {describe(boom)}"

    rt.run(scenario, waiting_for="the task watching g.ctx to stop: does the first error "
           "cancel g.ctx?")


@pytest.mark.task(2)
def test_the_first_error_interrupts_the_other_tasks(impl: Any, rt: Any) -> None:
    if not rt.is_async:
        pytest.skip("threads: a thread cannot be interrupted; it stops through g.ctx")

    async def scenario(rt: Any) -> None:
        boom = Boom("failed")
        ended: list[int] = []

        async def ignores_ctx(i: int) -> None:
            try:
                await anyio.sleep_forever()
            finally:
                ended.append(i)

        async def fail() -> None:
            for _ in range(3):
                await rt.checkpoint()  # the others are asleep
            raise boom

        async def block() -> None:
            async with rt.enter(impl.Group()) as g:
                for i in range(N):
                    await go(rt, g, ignores_ctx, i)
                await go(rt, g, fail)

        error = await outcome_beside(rt, block, (
            f"{N - len(ended)} of {N} tasks asleep were never stopped after a task failed: "
            "in asyncio and trio the first error interrupts them (run each one inside "
            "g.ctx.scope())"))
        assert sorted(ended) == list(range(N))
        assert error is boom, f"the block raised {describe(error)}, not {describe(boom)}"

    rt.run(scenario, waiting_for="the group to end")


@pytest.mark.task(2)
def test_later_errors_never_replace_the_first(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        boom = Boom("first")
        started = Gate(rt)

        async def later(i: int) -> None:
            try:
                started.set()
                await stopped(rt, g.ctx)
            finally:
                raise Late(i)  # even in place of the group's cancellation (asyncio, trio)

        async def fail() -> None:
            await started.wait()
            raise boom

        async with raised(rt) as got, rt.enter(impl.Group()) as g:
            for i in range(3):
                await go(rt, g, later, i)
            await go(rt, g, fail)
        assert got, f"the block ended without raising, but a task raised {describe(boom)}"
        assert got[0] is boom, (
            f"the block raised {describe(got[0])}, not the first error {describe(boom)}: "
            "the errors that come after it never replace it")

    rt.run(scenario, waiting_for="the group to end: does the first error cancel g.ctx?")


@pytest.mark.task(2)
def test_g_ctx_is_a_child_of_ctx_and_done_once_the_group_ends(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        parent = background(rt).with_value("request", 42).with_cancel()

        async def fine() -> None:
            pass

        async with rt.enter(impl.Group(parent)) as g:
            await go(rt, g, fine)
            assert g.ctx is not parent, "g.ctx is the ctx given: it must be a child of it"
            assert g.ctx.value("request") == 42, "g.ctx does not carry its parent's values"
            assert not g.ctx.done, "g.ctx is done while the group runs, with no error"
        assert g.ctx.done, "g.ctx is still running after the group ended: cancel it then"
        assert not parent.done, "the group cancelled the ctx it was given: only its own"

    rt.run(scenario, waiting_for="the block to end")


# -- task 3: a task's own exceptions, KeyboardInterrupt's kind too, never the runtime's ------


@pytest.mark.task(3)
def test_a_base_exception_from_a_task_is_raised_itself(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        stop = Stop()

        async def quit_() -> None:
            raise stop

        async def fine() -> None:
            pass

        async with raised(rt) as got, rt.enter(impl.Group()) as g:
            await go(rt, g, fine)
            await go(rt, g, quit_)
        assert got, (
            "the block ended without raising, but a task raised Stop (a BaseException, like "
            "KeyboardInterrupt): it was lost")
        assert got[0] is stop, (
            f"the block raised {describe(got[0])}, not the task's Stop itself (a "
            "BaseException, like KeyboardInterrupt)")

    rt.run(scenario, waiting_for="the block to end after a task raised Stop")


@pytest.mark.task(3)
def test_the_group_stopping_its_tasks_is_no_error_of_theirs(impl: Any, rt: Any) -> None:
    """The parent ctx is cancelled: the group stops its tasks. The block may raise
    ``Canceled`` (``g.ctx.err``, which is what a Go task returns once its context is
    done), or nothing; never the runtime's own cancellation of a task."""

    async def scenario(rt: Any) -> None:
        parent = background(rt).with_cancel()
        started: list[int] = []
        ended: list[int] = []

        async def task(i: int) -> None:
            started.append(i)
            try:
                await stopped(rt, g.ctx)
            finally:
                ended.append(i)

        async def block() -> None:
            nonlocal g
            async with rt.enter(impl.Group(parent)) as g:
                for i in range(N):
                    await go(rt, g, task, i)
                await rt.settled(lambda: len(started) == N)
                parent.cancel()

        g: Any = None
        error = await outcome_beside(rt, block, (
            f"{N - len(ended)} of {N} tasks were never stopped once the parent ctx was "
            "cancelled: g.ctx, its child, is cancelled too, and the tasks with it"))
        assert error is None or isinstance(error, Canceled), (
            f"the block raised {describe(error)} when the parent ctx was cancelled: a task "
            "swallowed the cancellation the group sent it, and it became the group's error "
            "(catch outside g.ctx.scope(), and let the runtime's cancellation through "
            "ahead of `except BaseException`)")
        assert sorted(ended) == list(range(N))
        assert g.ctx.done

    rt.run(scenario, waiting_for="the tasks to stop once the parent ctx was cancelled")


# -- task 4: a weighted semaphore ------------------------------------------------------------


@pytest.mark.task(4)
def test_acquire_and_release_move_tokens(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        sem = impl.Semaphore(3)
        assert sem.available == 3, f"a new Semaphore(3) has {sem.available} tokens free"
        await rt.call(sem.acquire, 2)
        assert sem.available == 1, f"acquire(2) of 3 tokens left {sem.available} free, not 1"
        await rt.call(sem.acquire)
        assert sem.available == 0, f"acquire() of the last token left {sem.available} free"
        sem.release(2)
        assert sem.available == 2, f"release(2) of 3 taken left {sem.available} free, not 2"
        sem.release()
        assert sem.available == 3, f"every token released, yet {sem.available} of 3 are free"

    rt.run(scenario, waiting_for="acquire() to return with enough tokens free")


@pytest.mark.task(4)
def test_acquire_waits_until_n_tokens_are_free(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        sem = impl.Semaphore(3)
        await rt.call(sem.acquire, 3)
        waiter = Waiter(rt, sem, 2, hold=False)
        async with crew(rt) as start:
            start(waiter.run)
            await rt.settled(lambda: sem.waiting == 1 or waiter.finished.is_set())
            no_errors(waiter)
            assert waiter.outcome() == "still waiting", (
                "acquire(2) returned with no token free: it waits until 2 are")
            sem.release(1)
            await let_others_block(rt)
            no_errors(waiter)
            assert waiter.outcome() == "still waiting", (
                "acquire(2) returned with 1 token free: it waits until 2 are")
            sem.release(1)
            await rt.settled(waiter.finished.is_set)
            assert waiter.outcome() == "granted", (
                f"a waiter for 2 tokens is {waiter.outcome()} after release(1) twice")
        assert sem.available == 2, f"{sem.available} of 3 tokens free once the waiter was done"

    rt.run(scenario, waiting_for="acquire(2) to return once 2 tokens were released")


@pytest.mark.task(4)
def test_release_wakes_every_waiter_the_tokens_satisfy(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        sem = impl.Semaphore(2)
        await rt.call(sem.acquire, 2)
        waiters = [Waiter(rt, sem, 1, name=i) for i in range(2)]
        async with crew(rt) as start:
            for i, waiter in enumerate(waiters):
                start(waiter.run)
                await rt.settled(lambda i=i, w=waiter: sem.waiting == i + 1 or w.finished.is_set())
            sem.release(2)
            await rt.settled(lambda: all(w.granted.is_set() or w.error for w in waiters))
            for waiter in waiters:
                waiter.let_go.set()
            no_errors(*waiters)
            outcomes = [w.outcome() for w in waiters]
            assert outcomes == ["granted", "granted"], (
                f"two waiters for 1 token each, then release(2): they are {outcomes}; "
                "release wakes every waiter the tokens now satisfy")
        assert sem.available == 2, f"{sem.available} of 2 tokens free once both were done"

    rt.run(scenario, waiting_for="both waiters for 1 token to be granted by release(2)")


# -- task 5: first come, first served --------------------------------------------------------


@pytest.mark.task(5)
def test_a_big_waiter_is_not_overtaken_by_small_ones(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        sem = impl.Semaphore(4)
        await rt.call(sem.acquire, 3)  # 1 token free
        order: list[object] = []
        big = Waiter(rt, sem, 4, name="big", log=order, hold=False)
        small = Waiter(rt, sem, 1, name="small", log=order, hold=False)
        async with crew(rt) as start:
            start(big.run)
            await rt.settled(lambda: sem.waiting == 1 or big.finished.is_set())
            start(small.run)
            await rt.settled(lambda: sem.waiting == 2 or small.finished.is_set())
            try:
                no_errors(big, small)
                assert small.outcome() == "still waiting", (
                    "a waiter for 1 token that came after a waiter for 4 was granted the free "
                    "token at once: nobody is served before an earlier waiter, even when it "
                    "fits")
            finally:
                sem.release(3)
        assert order == ["big", "small"], f"served in the order {order}, not big, then small"
        assert sem.available == 4

    rt.run(scenario, waiting_for="the waiters for 4 tokens and then 1 to be served")


@pytest.mark.task(5)
def test_waiters_are_served_in_arrival_order(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        sem = impl.Semaphore(1)
        await rt.call(sem.acquire)
        order: list[object] = []
        waiters = [Waiter(rt, sem, 1, name=i, log=order, hold=False) for i in range(N)]
        async with crew(rt) as start:
            for i, waiter in enumerate(waiters):
                start(waiter.run)
                await rt.settled(lambda i=i, w=waiter: sem.waiting == i + 1 or w.finished.is_set())
            sem.release()
        no_errors(*waiters)
        assert order == list(range(N)), f"waiters 0 to {N - 1} came in that order, served {order}"

    rt.run(scenario, waiting_for="every waiter to be served, one after the other")


@pytest.mark.task(5)
def test_a_waiter_that_gives_up_blocks_nobody(impl: Any, rt: Any) -> None:
    """A cancelled waiter at the head of the queue leaves it, and the ones behind it that
    now fit are served (asyncio, trio: a thread's acquire has no way to give up)."""
    if not rt.is_async:
        pytest.skip("threads: acquire() cannot be cancelled")

    async def scenario(rt: Any) -> None:
        sem = impl.Semaphore(2)
        await rt.call(sem.acquire)  # 1 token free
        big = Waiter(rt, sem, 2, name="big")
        small = Waiter(rt, sem, 1, name="small")
        async with crew(rt) as start:
            start(big.run)
            await let_others_block(rt)
            start(small.run)
            await let_others_block(rt)
            no_errors(big, small)
            big.scope.cancel()
            await rt.settled(lambda: small.granted.is_set() or small.finished.is_set())
            no_errors(big, small)
            assert small.outcome() == "granted", (
                "a waiter for 2 tokens was cancelled, and the waiter for 1 behind it is "
                f"{small.outcome()} with 1 token free: a cancelled acquire leaves the queue, "
                "and lets the ones behind it through")
            small.let_go.set()
        sem.release()
        assert sem.available == 2, f"{sem.available} of 2 tokens free once every waiter was done"

    rt.run(scenario, waiting_for="the waiter for 1 token to be done")


@pytest.mark.task(5)
def test_a_waiter_cancelled_as_it_is_granted_gives_the_tokens_back(impl: Any, rt: Any) -> None:
    """The waiter is cancelled, and in the same step ``release()`` grants it the token:
    it wakes up cancelled, and must give back what it was granted."""
    if not rt.is_async:
        pytest.skip("threads: acquire() cannot be cancelled")

    async def scenario(rt: Any) -> None:
        sem = impl.Semaphore(1)
        await rt.call(sem.acquire)
        waiter = Waiter(rt, sem, 1)
        async with crew(rt) as start:
            start(waiter.run)
            await let_others_block(rt)
            waiter.scope.cancel()
            sem.release()  # grants the token to the waiter, which is cancelled already
        assert waiter.error is None, (
            f"a waiter cancelled just as release() granted it a token: {waiter.outcome()}")
        assert sem.available == 1, (
            f"{sem.available} of 1 token free after a waiter was cancelled just as "
            "release() granted it the token: it must give the token back")
        await rt.call(sem.acquire)  # and the token can be had again
        sem.release()

    rt.run(scenario, waiting_for="acquire() after a cancelled waiter was granted the token")


# -- task 6: limit --------------------------------------------------------------------------


@pytest.mark.task(6)
def test_limit_bounds_how_many_run_at_once_and_go_waits_for_a_slot(impl: Any, rt: Any) -> None:
    n, limit = 8, 3

    async def scenario(rt: Any) -> None:
        gates = [Gate(rt) for _ in range(n)]
        running: list[int] = []
        peak = 0
        submitted = 0
        problems: list[str] = []

        async def task(i: int) -> None:
            nonlocal peak
            running.append(i)
            peak = max(peak, len(running))
            try:
                await gates[i].wait()
            finally:
                running.remove(i)

        async def controller() -> None:
            # Before gate i opens, tasks i to i+limit-1 run, and go() has got no further.
            try:
                for i in range(n):
                    expected = list(range(i, min(i + limit, n)))
                    await rt.settled(lambda e=expected: sorted(running) == e)
                    await let_others_block(rt)  # and then a while: does go() get further?
                    if peak > limit:
                        problems.append(f"{peak} tasks ran at once; the limit is {limit}")
                    elif submitted > i + limit:
                        problems.append(f"go() returned {submitted} times with only {i} tasks "
                                        f"ended: it must wait for a slot (limit {limit})")
                    if problems:
                        return
                    gates[i].set()
            finally:
                for gate in gates:
                    gate.set()

        async with crew(rt) as start:
            start(controller)
            async with rt.enter(impl.Group(limit=limit)) as g:
                for i in range(n):
                    await go(rt, g, task, i)
                    submitted += 1
        assert not problems, problems[0]
        assert peak <= limit, f"{peak} tasks ran at once; the limit is {limit}"
        assert peak == limit, f"at most {peak} tasks ran at once; the limit of {limit} was not used"

    rt.run(scenario, waiting_for="the group to end: does go() get a slot once a task ends?")


@pytest.mark.task(6)
def test_a_task_that_fails_frees_its_slot(impl: Any, rt: Any) -> None:
    """``limit=1``: a task fails, and three more ``go()`` calls wait for its slot. The
    group runs beside the scenario, so that a ``go()`` that never gets the slot fails
    the test at once instead of at its time limit."""

    async def scenario(rt: Any) -> None:
        boom = Boom("failed")
        async def fail() -> None:
            raise boom

        async def fine(i: int) -> None:
            pass

        async def block() -> None:
            async with rt.enter(impl.Group(limit=1)) as g:
                await go(rt, g, fail)
                for i in range(3):
                    await go(rt, g, fine, i)  # each waits for the one slot

        error = await outcome_beside(rt, block, (
            "go() never got the one slot back from the task that failed: a task that "
            "raises must free its slot too"))
        assert error is boom, f"the block raised {describe(error)}, not {describe(boom)}"

    rt.run(scenario, waiting_for="the group with limit=1 to end after its first task failed")

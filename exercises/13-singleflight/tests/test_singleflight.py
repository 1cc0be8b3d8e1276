"""Chapter 13's grading: one call per key in flight, whatever the number of callers;
every caller gets its value and ``shared``, or its exception, the same object; a caller
that leaves leaves the call to the others, and in asyncio and trio the last one to leave
cancels it; ``forget`` starts a new call, and the old one never removes the new one; a
``BaseException`` reaches every caller.

Every scenario is written once and run in the chapter's runtime (``rt``), on the
learner's module (``impl``); the library's ``patterns.singleflight`` passes them too.

The function the callers share is :class:`Work`: each call of it waits at a gate of
its own until the test ends it, so that the callers pile up while it is in flight. How
many calls of a key run *at the same time* is what "one call per key" means; asyncio and
trio know when every caller is waiting, and threads can only be given a while, so a
thread that arrives late may start a second call after the first has ended. That is
allowed, and the tests judge each call's callers by what that call did.
"""

from __future__ import annotations

import contextlib
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from patterns.context import Canceled, ContextError
from patterns.exercises.grading import background, let_others_block

N = 4  # callers of one key, in most scenarios
FAIL_SAFE_S = 1.0  # each caller's ctx: one never woken leaves with DeadlineExceeded
THREADS_S = 0.05  # how long a thread is given to show a bug before the test goes on
RUNNER_STAYS = "threads: the first caller runs fn itself and cannot leave"
NO_NATIVE_CANCEL = "threads: a blocked thread cannot be interrupted; it leaves through its ctx"


class Oops(Exception):
    """What a failing call raises."""


class Stop(BaseException):
    """A BaseException that is not an Exception: KeyboardInterrupt's kind, harmlessly."""


# -- helpers --------------------------------------------------------------------------------


class Work:
    """The function the callers share: ``work.fn(key)``. Call ``j`` (in the order the
    calls start) waits at its gate, then does what ``end(j, how)`` says: return
    ``("value", j)``, or raise an :class:`Oops` or a :class:`Stop`, kept in
    ``raised[j]``. ``peak[key]`` is the most calls of ``key`` that ran at once."""

    def __init__(self, rt: Any) -> None:
        self.rt = rt
        self.keys: list[Hashable] = []
        self.gates: list[Any] = []
        self.plans: dict[int, str] = {}
        self.raised: dict[int, BaseException] = {}
        self.cancelled: set[int] = set()
        self.running: dict[Hashable, int] = defaultdict(int)
        self.peak: dict[Hashable, int] = defaultdict(int)
        self.opened = False  # end_all(): every call, later ones too, returns at once
        self.lock = threading.Lock()
        self.fn = rt.callback(self._call)

    async def _call(self, key: Hashable) -> tuple[str, int]:
        gate: Any = self.rt.event() if self.rt.is_async else threading.Event()
        with self.lock:
            j = len(self.keys)
            self.keys.append(key)
            self.gates.append(gate)
            self.running[key] += 1
            self.peak[key] = max(self.peak[key], self.running[key])
        try:
            if self.opened:
                pass
            elif self.rt.is_async:
                await gate.wait()
            else:
                gate.wait(FAIL_SAFE_S)  # a thread is never left waiting for good
        except BaseException:  # the runtime's cancellation (asyncio, trio)
            self.cancelled.add(j)
            raise
        finally:
            with self.lock:
                self.running[key] -= 1
        plan = self.plans.get(j, "value")
        if plan == "value":
            return ("value", j)
        exc = Oops(f"call {j}") if plan == "error" else Stop(f"call {j}")
        self.raised[j] = exc
        raise exc

    def end(self, j: int, how: str = "value") -> None:
        self.plans[j] = how
        self.gates[j].set()

    def end_all(self, how: str = "value") -> None:
        self.opened = True
        for j in range(len(self.gates)):
            self.end(j, how)


class Caller:
    """One ``do(key, work.fn, key)`` in a task (a thread), recording how it ended in
    ``outcomes``: ``("value", value, shared)``, ``("raised", exc)``, ``("left", ctx
    error)`` or ``("cancelled",)`` (natively, through ``scope``). Its ctx has a deadline,
    a fail-safe: a caller nobody wakes leaves with ``DeadlineExceeded``, and says so."""

    def __init__(self, rt: Any, g: Any, work: Work, key: Hashable = "a") -> None:
        self.rt, self.g, self.work, self.key = rt, g, work, key
        self.ctx = background(rt).with_timeout(FAIL_SAFE_S)
        self.outcomes: list[tuple[Any, ...]] = []
        self.arrived = False
        self.finished = rt.event()
        self.scope: Any = None

    async def run(self) -> None:
        try:
            if self.rt.is_async:
                with anyio.CancelScope() as self.scope:
                    await self._do()
                if self.scope.cancelled_caught:
                    self.outcomes.append(("cancelled",))
            else:
                await self._do()
        finally:
            self.finished.set()

    async def _do(self) -> None:
        self.arrived = True
        try:
            value, shared = await self.rt.call(self.g.do, self.key, self.work.fn, self.key,
                                               ctx=self.ctx)
        except ContextError as exc:
            self.outcomes.append(("left", exc))
        except BaseException as exc:
            if self.rt.is_async and isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            self.outcomes.append(("raised", exc))
        else:
            self.outcomes.append(("value", value, shared))

    def cancel(self, how: str) -> None:
        if how == "native":
            self.scope.cancel()
        else:
            self.ctx.cancel()


def describe(outcomes: list[tuple[Any, ...]]) -> str:
    if len(outcomes) != 1:
        return f"ended {len(outcomes)} times"
    outcome = outcomes[0]
    if outcome[0] == "value":
        return f"got {outcome[1]!r}, shared={outcome[2]}"
    if outcome[0] == "cancelled":
        return "was cancelled"
    exc = outcome[1]
    verb = "left with" if outcome[0] == "left" else "raised"
    return f"{verb} {type(exc).__name__}" + (f": {exc}" if str(exc) else "")


@asynccontextmanager
async def scene(rt: Any, impl: Any) -> AsyncIterator[tuple[Any, Work, Callable[..., Any]]]:
    """``async with scene(rt, impl) as (g, work, start):`` a group (a block of its own
    in asyncio and trio), the shared function, and ``start(*callers)``; the block ends
    once every caller has. If the body fails, every call and caller is let go first,
    and the failure comes out as itself, not wrapped in a task group's ExceptionGroup,
    so the learner reads its message."""
    work = Work(rt)
    started: list[Caller] = []
    failure: Exception | None = None
    group = impl.Group() if rt.is_async else contextlib.nullcontext(impl.Group())
    async with rt.enter(group) as g, rt.task_group() as tg:

        def start(*callers: Caller) -> None:
            for caller in callers:
                started.append(caller)
                tg.start_soon(caller.run)

        try:
            yield g, work, start
        except Exception as exc:
            failure = exc
            work.end_all()
            for caller in started:
                caller.ctx.cancel()
            if rt.is_async:
                tg.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def arrive(rt: Any, *callers: Caller) -> None:
    """Wait until these callers have called ``do()``, then until they are all waiting
    (asyncio, trio; threads get a moment)."""
    await rt.until(lambda: all(c.arrived for c in callers))
    await let_others_block(rt)


async def settle(rt: Any, bug_shows: Callable[[], bool]) -> None:
    """Let every caller reach its wait. asyncio and trio know when every task is
    blocked; threads are given up to THREADS_S for ``bug_shows()`` to come true, if the
    bug is there (a late thread can hide a bug, never invent one)."""
    await let_others_block(rt)
    if not rt.is_async:
        await rt.settled(bug_shows, within=THREADS_S)


async def eventually(rt: Any, event: Any) -> None:
    if rt.is_async:
        with anyio.fail_after(FAIL_SAFE_S * 2):
            await event.wait()
    else:
        await rt.until(event.is_set)


def one_call_at_a_time(work: Work, key: Hashable) -> None:
    peak = work.peak[key]
    assert peak <= 1, (
        f"fn ran {peak} times for key {key!r} while one call was in flight; "
        "singleflight runs it once")


def each_got_its_calls_value(work: Work, crowd: list[Caller]) -> None:
    """Every caller got the value of a call of its own key, and ``shared`` says whether
    others got that call's value too."""
    by_call: dict[int, list[int]] = defaultdict(list)
    for i, caller in enumerate(crowd):
        got = caller.outcomes
        assert len(got) == 1 and got[0][0] == "value", (
            f"caller {i} {describe(got)}, not the call's value")
        j = got[0][1][1]
        assert work.keys[j] == caller.key, (
            f"caller {i} asked for {caller.key!r} and got the value of {work.keys[j]!r}'s call")
        by_call[j].append(i)
    for callers in by_call.values():
        for i in callers:
            shared = crowd[i].outcomes[0][2]
            assert shared == (len(callers) > 1), (
                f"caller {i} got shared={shared}, but {len(callers)} caller(s) got the "
                "value of that call: shared is True when more than one did")


# -- task 1: one call per key in flight ------------------------------------------------------


@pytest.mark.task(1)
def test_callers_of_a_key_share_the_call_in_flight(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        async with scene(rt, impl) as (g, work, start):
            crowd = [Caller(rt, g, work) for _ in range(N)]
            start(*crowd)
            await arrive(rt, *crowd)
            await settle(rt, lambda: work.peak["a"] > 1)
            one_call_at_a_time(work, "a")
            if rt.is_async:
                assert len(work.keys) <= 1, (
                    f"fn ran {len(work.keys)} times for {N} callers of 'a' who all came "
                    "while the first call was in flight")
            work.end_all()
        each_got_its_calls_value(work, crowd)

    rt.run(scenario, waiting_for="the callers to get the call's value")


@pytest.mark.task(1)
def test_each_key_has_a_call_of_its_own(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        async with scene(rt, impl) as (g, work, start):
            crowd = [Caller(rt, g, work, key) for key in "abcabc"]
            start(*crowd)
            await arrive(rt, *crowd)
            await settle(rt, lambda: max(work.peak.values(), default=0) > 1)
            for key in "abc":
                one_call_at_a_time(work, key)
            assert sorted(set(work.keys)) == ["a", "b", "c"], (
                f"calls ran for {sorted(set(work.keys))}, not for each of 'a', 'b', 'c'")
            work.end_all()
        each_got_its_calls_value(work, crowd)

    rt.run(scenario, waiting_for="the callers to get their calls' values")


@pytest.mark.task(1)
def test_a_call_that_has_ended_is_not_joined(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        async with scene(rt, impl) as (g, work, start):
            work.opened = True  # every call returns at once
            for j in range(3):
                caller = Caller(rt, g, work)
                start(caller)
                await eventually(rt, caller.finished)
                assert caller.outcomes == [("value", ("value", j), False)], (
                    f"caller {j}, alone, {describe(caller.outcomes)}: a call that has "
                    "ended is done with; the next caller starts a new one")

    rt.run(scenario, waiting_for="three calls, one after another")


# -- task 2: the value and shared, or the exception itself --------------------------------------


@pytest.mark.task(2)
@pytest.mark.parametrize("n", [1, N])
def test_every_caller_gets_the_value_and_shared(impl: Any, rt: Any, n: int) -> None:
    async def scenario(rt: Any) -> None:
        async with scene(rt, impl) as (g, work, start):
            crowd = [Caller(rt, g, work) for _ in range(n)]
            start(*crowd)
            await arrive(rt, *crowd)
            await settle(rt, lambda: False)
            work.end_all()
        each_got_its_calls_value(work, crowd)

    rt.run(scenario, waiting_for="the callers to get the call's value")


@pytest.mark.task(2)
def test_every_caller_gets_the_same_exception_object(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        async with scene(rt, impl) as (g, work, start):
            crowd = [Caller(rt, g, work) for _ in range(N)]
            start(*crowd)
            await arrive(rt, *crowd)
            await settle(rt, lambda: False)
            work.end_all("error")
        for i, caller in enumerate(crowd):
            got = caller.outcomes
            assert len(got) == 1 and got[0][0] == "raised" and isinstance(got[0][1], Oops), (
                f"caller {i} {describe(got)}, not the call's Oops")
            assert any(got[0][1] is exc for exc in work.raised.values()), (
                f"caller {i} got a different exception object: every caller raises the "
                "call's own, not a copy")

    rt.run(scenario, waiting_for="the callers to get the call's exception")


# -- task 3: a caller that leaves leaves the call to the others ------------------------------------


@pytest.mark.task(3)
@pytest.mark.parametrize("who", ["first", "joiner"])
@pytest.mark.parametrize("how", ["ctx", "native"])
def test_a_caller_that_leaves_does_not_cancel_the_call_for_the_others(
    impl: Any, rt: Any, how: str, who: str
) -> None:
    if how == "native" and not rt.is_async:
        pytest.skip(NO_NATIVE_CANCEL)
    if who == "first" and not rt.is_async:
        pytest.skip(RUNNER_STAYS)

    async def scenario(rt: Any) -> None:
        async with scene(rt, impl) as (g, work, start):
            crowd = [Caller(rt, g, work) for _ in range(N)]
            start(crowd[0])
            await rt.until(lambda: len(work.keys) == 1 or crowd[0].finished.is_set())
            start(*crowd[1:])
            await arrive(rt, *crowd)
            await settle(rt, lambda: False)
            leaver = 0 if who == "first" else 1
            crowd[leaver].cancel(how)
            await eventually(rt, crowd[leaver].finished)
            await let_others_block(rt)
            expected = "left" if how == "ctx" else "cancelled"
            got = crowd[leaver].outcomes
            assert len(got) == 1 and got[0][0] == expected, (
                f"caller {leaver}'s {'ctx' if how == 'ctx' else 'task'} was cancelled, and it "
                f"{describe(got)}: it should leave" + (" with Canceled" if how == "ctx" else ""))
            if how == "ctx":
                assert isinstance(got[0][1], Canceled), f"caller {leaver} {describe(got)}"
            assert not work.cancelled, (
                f"caller {leaver} left, and the call was cancelled for the {N - 1} callers "
                "still waiting: only the last one to leave may cancel it")
            work.end_all()
        each_got_its_calls_value(work, [c for i, c in enumerate(crowd) if i != leaver])

    rt.run(scenario, waiting_for="the callers who stayed to get the call's value")


# -- task 4: the last caller to leave cancels the call (asyncio, trio) ---------------------------


@pytest.mark.task(4)
@pytest.mark.parametrize("how", ["ctx", "native"])
def test_the_last_caller_to_leave_cancels_the_call(impl: Any, rt: Any, how: str) -> None:
    if not rt.is_async:
        pytest.skip(RUNNER_STAYS)

    async def scenario(rt: Any) -> None:
        async with scene(rt, impl) as (g, work, start):
            crowd = [Caller(rt, g, work) for _ in range(N)]
            start(*crowd)
            await arrive(rt, *crowd)
            for caller in crowd:
                caller.cancel(how)
                await eventually(rt, caller.finished)
            assert await rt.settled(lambda: bool(work.cancelled)), (
                "every caller left, and the call still runs: the last caller to leave "
                "cancels it, since nobody wants its result")
            late = Caller(rt, g, work)
            start(late)
            assert await rt.settled(lambda: len(work.keys) == 2 or late.finished.is_set()), (
                "every caller of 'a' left, and the next do('a') started no call: the "
                "cancelled call must leave the map, and a new one start")
            work.end_all()
        assert late.outcomes == [("value", ("value", 1), False)], (
            f"the caller after them {describe(late.outcomes)}, not a new call's value")

    rt.run(scenario, waiting_for="the callers to leave")


# -- task 5: forget ----------------------------------------------------------------------------


@pytest.mark.task(5)
def test_forget_starts_a_new_call_and_the_old_callers_keep_the_old_result(
    impl: Any, rt: Any
) -> None:
    async def scenario(rt: Any) -> None:
        async with scene(rt, impl) as (g, work, start):
            old, new = Caller(rt, g, work), Caller(rt, g, work)
            start(old)
            await rt.until(lambda: len(work.keys) == 1 or old.finished.is_set())
            g.forget("a")
            g.forget("never asked for")  # nothing to forget: nothing happens
            start(new)
            assert await rt.settled(lambda: len(work.keys) == 2 or new.finished.is_set()), (
                "after forget('a'), the next do('a') joined the call in flight: it must "
                "start a new one")
            work.end(1)  # the new call ends first; the old one is still in flight
            await eventually(rt, new.finished)
            assert not old.outcomes, (
                f"the new call ended, and the caller of the forgotten one "
                f"{describe(old.outcomes)}: it waits for its own call")
            work.end(0)
        assert new.outcomes == [("value", ("value", 1), False)], (
            f"the caller after forget {describe(new.outcomes)}, not the new call's value")
        assert old.outcomes == [("value", ("value", 0), False)], (
            f"the caller before forget {describe(old.outcomes)}, not its own call's value")

    rt.run(scenario, waiting_for="both calls to end")


@pytest.mark.task(5)
def test_a_forgotten_call_that_ends_leaves_the_new_one_in_the_map(impl: Any, rt: Any) -> None:
    """Go's ``doCall`` deletes the key only ``if g.m[key] == c``: after a forget, the
    key holds a newer call, which the old one must not take away as it ends."""

    async def scenario(rt: Any) -> None:
        async with scene(rt, impl) as (g, work, start):
            old, new, later = (Caller(rt, g, work) for _ in range(3))
            start(old)
            await rt.until(lambda: len(work.keys) == 1 or old.finished.is_set())
            g.forget("a")
            start(new)
            await rt.until(lambda: len(work.keys) == 2 or new.finished.is_set())
            work.end(0)  # the forgotten call ends while the new one is in flight
            await eventually(rt, old.finished)
            work.peak["a"] = work.running["a"]  # the two calls overlapped, as they may
            start(later)
            await arrive(rt, later)
            await settle(rt, lambda: work.peak["a"] > 1)
            peak = work.peak["a"]
            assert peak <= 1, (
                f"fn ran {peak} times for key 'a' while one call was in flight: as the "
                "forgotten call ended, it took the new call out of the map (remove a "
                "key's call only if it is still that call)")
            work.end_all()
        each_got_its_calls_value(work, [new, later])

    rt.run(scenario, waiting_for="every call to end")


# -- task 6: a BaseException reaches every caller -----------------------------------------------


@pytest.mark.task(6)
def test_a_base_exception_reaches_every_caller(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        escaped: BaseException | None = None
        crowd: list[Caller] = []
        try:
            async with scene(rt, impl) as (g, work, start):
                crowd = [Caller(rt, g, work) for _ in range(N)]
                start(*crowd)
                await arrive(rt, *crowd)
                await settle(rt, lambda: False)
                work.end_all("stop")
        except BaseException as exc:
            if rt.is_async and isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            escaped = exc
        assert escaped is None, (
            f"the call's Stop came out of the group's block ({type(escaped).__name__}) "
            "instead of reaching its callers: except Exception lets a BaseException by")
        for i, caller in enumerate(crowd):
            got = caller.outcomes
            assert len(got) == 1 and got[0][0] == "raised" and isinstance(got[0][1], Stop), (
                f"caller {i} {describe(got)}, not the call's Stop: a BaseException "
                "(KeyboardInterrupt's kind) reaches every caller too")

    rt.run(scenario, waiting_for="the callers to get the call's Stop")

"""Behavioural suite for ``patterns.singleflight`` (Go ``x/sync/singleflight``), in
three runtimes.

Each test is one scenario run in threads, asyncio and trio (see ``runtimes.py``). The
contract is the one the docstrings of :mod:`patterns.singleflight` and of each runtime's
``Group`` state: one call per key in flight, whatever the number of callers; every
caller gets its value, or its exception (the same object); ``shared`` when more than one
caller got it; a caller whose ctx ends (or, in asyncio and trio, that is cancelled)
leaves, and the call goes on for the others; in asyncio and trio the last caller to
leave cancels the call; ``forget`` starts a new call; BaseExceptions reach every caller.

The function the callers share is :class:`Work`: each call of it records itself and
waits at a gate of its own until the test ends it, so every caller of a scenario has
joined (``statistics()`` says so) while the call is still in flight.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from runtimes import Runtime, background, let_others_block

from patterns.context import Canceled, ContextError, DeadlineExceeded
from patterns.singleflight import CallCancelled, SingleflightStatistics

FAIL_SAFE_S = 5.0  # a wait that should end long before; turns a hang into a failure
NO_NATIVE_CANCEL = "threads: a blocked thread cannot be interrupted; it leaves through its ctx"
RUNNER_STAYS = "threads: the first caller runs fn itself and cannot leave"
SETTLE_LIMIT_S = 2.0  # how long the property waits for the model's state before it compares
SETTLE_AFTER_FAILURE_S = 0.05  # ... once one wait has timed out: shrinking a failure is fast
settle_limit = [SETTLE_LIMIT_S]


class Oops(Exception):
    """What a failing call raises."""


class Stop(BaseException):
    """A BaseException that is not an Exception: KeyboardInterrupt's kind, harmlessly."""


@asynccontextmanager
async def open_group(rt: Runtime) -> AsyncIterator[Any]:
    """The runtime's ``Group``: a plain object in threads, a block in asyncio and trio."""
    group_type = rt.module("singleflight").Group
    if rt.is_async:
        async with group_type() as g:
            yield g
    else:
        yield group_type()


class Work:
    """The function the callers share: ``work.fn(key)``. Call ``j`` (in the order the
    calls start) records its key, waits at ``gates[j]``, then does what ``end(j, how)``
    said: return ``("value", j)``, raise an :class:`Oops` or a :class:`Stop` (each kept
    in ``raised[j]``, to compare identities). A call cancelled at its gate is recorded
    in ``cancelled``."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.keys: list[Hashable] = []
        self.gates: list[Any] = []
        self.plans: dict[int, str] = {}
        self.raised: dict[int, BaseException] = {}
        self.cancelled: set[int] = set()
        self.lock = threading.Lock()  # threads: calls for two keys start at once
        self.fn = rt.callback(self._call)

    async def _call(self, key: Hashable) -> tuple[str, int]:
        gate = self.rt.event()
        with self.lock:
            j = len(self.keys)
            self.keys.append(key)
            self.gates.append(gate)
        try:
            await gate.wait()
        except BaseException:  # the runtime's cancellation (asyncio, trio)
            self.cancelled.add(j)
            raise
        plan = self.plans.get(j, "value")
        if plan == "value":
            return ("value", j)
        exc = Oops(f"call {j}") if plan == "error" else Stop(f"call {j}")
        self.raised[j] = exc
        raise exc

    def calls(self, key: Hashable) -> int:
        return self.keys.count(key)

    def end(self, j: int, how: str = "value") -> None:
        self.plans[j] = how
        self.gates[j].set()

    def abort(self) -> None:
        """A failing test's cleanup: let every call end."""
        for gate in list(self.gates):
            gate.set()


FRESH_CTX: Any = object()  # Caller's default: a cancellable ctx of its own


class Caller:
    """One ``do(key, work.fn, key)``, started in a task group, recording how it ended in
    ``outcomes`` (a list, so that ending twice shows): ``("value", value, shared)``,
    ``("raised", exc)``, ``("left", ctx error)`` or ``("cancelled",)`` (natively, in
    asyncio and trio, through ``caller.scope``). A caller never raises: the scenario's
    task group would hide the assertion that matters behind the error."""

    def __init__(self, rt: Runtime, g: Any, work: Work, key: Hashable = "a", *,
                 ctx: Any = FRESH_CTX) -> None:
        self.rt, self.g, self.work, self.key = rt, g, work, key
        self.ctx = background(rt).with_cancel() if ctx is FRESH_CTX else ctx
        self.outcomes: list[tuple[Any, ...]] = []
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

    @property
    def outcome(self) -> tuple[Any, ...]:
        assert len(self.outcomes) == 1, f"caller of {self.key!r} ended {len(self.outcomes)} times"
        return self.outcomes[0]

    def cancel(self, how: str) -> None:
        if how == "native":
            self.scope.cancel()
        else:
            self.ctx.cancel()


@asynccontextmanager
async def callers(rt: Runtime, work: Work) -> AsyncIterator[Any]:
    """``async with callers(rt, work) as start: start(caller)``: the block ends once every
    caller has. If the body fails, every call and caller is let go first, so that a
    blocked thread cannot turn the failing test into a hanging one."""
    started: list[Caller] = []
    async with rt.task_group() as tg:

        def start(*new: Caller) -> None:
            for caller in new:
                started.append(caller)
                tg.start_soon(caller.run)

        try:
            yield start
        except BaseException:
            work.abort()
            for caller in started:
                caller.ctx.cancel()
                if caller.scope is not None:
                    caller.scope.cancel()
            raise


async def eventually(rt: Runtime, event: Any) -> None:
    """``await event.wait()``, but a failure rather than a hang if it never comes (not
    ``rt.until`` in asyncio and trio: it would hold trio's mock clock back)."""
    if rt.is_async:
        with anyio.fail_after(FAIL_SAFE_S):
            await event.wait()
    else:
        await rt.until(event.is_set)


def joined(g: Any, callers: int, keys: int = 1) -> Any:
    return lambda: g.statistics() == SingleflightStatistics(keys, callers)


async def arrive(rt: Runtime, g: Any, work: Work, start: Any, crowd: list[Caller],
                 calls: int = 1) -> None:
    """Start each caller in turn and wait until it has joined (``statistics()``), then
    until ``calls`` calls are running, and let everything else settle."""
    for caller in crowd:
        before = g.statistics().callers
        start(caller)
        await rt.until(lambda before=before: g.statistics().callers == before + 1)
    await rt.until(lambda: len(work.keys) >= calls)
    await let_others_block(rt)


# -- one call per key ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5])
def test_callers_of_one_key_share_one_call(rt: Runtime, n: int) -> None:
    async def scenario(rt: Runtime) -> None:
        work = Work(rt)
        async with open_group(rt) as g:
            crowd = [Caller(rt, g, work) for _ in range(n)]
            async with callers(rt, work) as start:
                await arrive(rt, g, work, start, crowd)
                assert work.calls("a") == 1, f"fn ran {work.calls('a')} times for one key"
                work.end(0)
            assert g.statistics() == SingleflightStatistics(0, 0)
        assert [c.outcome for c in crowd] == [("value", ("value", 0), n > 1)] * n

    rt.run(scenario)


def test_each_key_has_a_call_of_its_own(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        work = Work(rt)
        async with open_group(rt) as g:
            crowd = {key: [Caller(rt, g, work, key) for _ in range(3)] for key in "abc"}
            async with callers(rt, work) as start:
                for k, key in enumerate("abc"):
                    await arrive(rt, g, work, start, crowd[key], calls=k + 1)
                assert sorted(work.keys) == ["a", "b", "c"]
                for j in (2, 0, 1):  # in any order: each key's callers get their own
                    work.end(j)
        for key, crowd_of_key in crowd.items():
            j = work.keys.index(key)
            assert [c.outcome for c in crowd_of_key] == [("value", ("value", j), True)] * 3

    rt.run(scenario)


def test_a_call_that_has_ended_is_not_joined(rt: Runtime) -> None:
    """One call per key *in flight*: once it has ended, the next caller starts another."""

    async def scenario(rt: Runtime) -> None:
        work = Work(rt)
        async with open_group(rt) as g:
            for j in range(3):
                caller = Caller(rt, g, work)
                async with callers(rt, work) as start:
                    start(caller)
                    await rt.until(lambda j=j: len(work.keys) == j + 1)
                    work.end(j)
                assert caller.outcome == ("value", ("value", j), False)
        assert work.calls("a") == 3

    rt.run(scenario)


# -- what the callers get -------------------------------------------------------------------


@pytest.mark.parametrize("kind", [Oops, Stop], ids=["exception", "base-exception"])
def test_every_caller_gets_the_same_exception_object(rt: Runtime, kind: type) -> None:
    """An Exception, or a BaseException that is not one (KeyboardInterrupt's kind), is
    raised in every caller, itself, and never swallowed; the group's block ends cleanly."""

    async def scenario(rt: Runtime) -> None:
        work = Work(rt)
        async with open_group(rt) as g:
            crowd = [Caller(rt, g, work) for _ in range(4)]
            async with callers(rt, work) as start:
                await arrive(rt, g, work, start, crowd)
                work.end(0, "error" if kind is Oops else "stop")
        raised = work.raised[0]
        assert type(raised) is kind
        for i, caller in enumerate(crowd):
            assert caller.outcome[0] == "raised", f"caller {i}: {caller.outcome}"
            assert caller.outcome[1] is raised, f"caller {i} got a different exception object"

    rt.run(scenario)


def test_the_exceptions_traceback_does_not_grow_with_every_caller(rt: Runtime) -> None:
    """Each caller raises the object with the call's own traceback, plus its own frames:
    six callers leave it as deep as one does."""
    if not rt.is_async:
        pytest.skip("threads: the callers raise the one object at once, and its one "
                    "traceback is each of theirs in turn")

    async def depth_after(rt: Runtime, n: int) -> int:
        work = Work(rt)
        async with open_group(rt) as g:
            crowd = [Caller(rt, g, work) for _ in range(n)]
            async with callers(rt, work) as start:
                await arrive(rt, g, work, start, crowd)
                work.end(0, "error")
        tb, depth = work.raised[0].__traceback__, 0
        while tb is not None:
            tb, depth = tb.tb_next, depth + 1
        return depth

    one, six = rt.run(depth_after, 1), rt.run(depth_after, 6)
    assert six == one, f"the traceback is {six} frames deep after six callers, {one} after one"


def raise_(exc: BaseException) -> Any:
    raise exc


async def araise(exc: BaseException) -> Any:
    raise exc


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_keyboard_interrupt_from_fn_is_never_swallowed(
    rt: Runtime, interrupt: type[BaseException]
) -> None:
    """Caught outside ``rt.run``: in asyncio, one of these two raised in a task ends the
    event loop itself (each caller re-raises it, and the first ends the run)."""

    async def scenario(rt: Runtime) -> None:
        async with open_group(rt) as g:
            fn = araise if rt.is_async else raise_
            await rt.call(g.do, "k", fn, interrupt())
        pytest.fail(f"{interrupt.__name__} was swallowed")

    with pytest.raises(interrupt):
        rt.run(scenario)


# -- leaving --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["first", "joiner"])
@pytest.mark.parametrize("how", ["cancel", "deadline", "native"])
def test_a_caller_that_leaves_does_not_cancel_the_call_for_the_others(
    rt: Runtime, how: str, who: str
) -> None:
    if how == "native" and not rt.is_async:
        pytest.skip(NO_NATIVE_CANCEL)
    if who == "first" and not rt.is_async:
        pytest.skip(RUNNER_STAYS)

    async def scenario(rt: Runtime) -> None:
        work = Work(rt)
        async with open_group(rt) as g:
            ctx = background(rt).with_timeout(0.1) if how == "deadline" else FRESH_CTX
            crowd = [Caller(rt, g, work) for _ in range(3)]
            leaver = 0 if who == "first" else 1
            crowd[leaver] = Caller(rt, g, work, ctx=ctx)
            async with callers(rt, work) as start:
                for i, caller in enumerate(crowd):
                    start(caller)
                    await rt.until(lambda i=i: g.statistics().callers == i + 1
                                   or crowd[leaver].finished.is_set())
                if how != "deadline":
                    crowd[leaver].cancel(how)
                await eventually(rt, crowd[leaver].finished)
                await rt.until(joined(g, 2))
                await rt.until(lambda: len(work.keys) >= 1)
                await let_others_block(rt)
                assert not work.cancelled, "a caller leaving cancelled the call for everyone"
                work.end(0)
        expected = {"cancel": ("left", Canceled), "deadline": ("left", DeadlineExceeded),
                    "native": ("cancelled",)}[how]
        got = crowd[leaver].outcome
        assert (got[0], *(type(x) for x in got[1:])) == expected, got
        stayed = [c.outcome for i, c in enumerate(crowd) if i != leaver]
        assert stayed == [("value", ("value", 0), True)] * 2
        assert work.calls("a") == 1

    rt.run(scenario)


@pytest.mark.parametrize("how", ["cancel", "native"])
def test_shared_counts_only_the_callers_that_stayed(rt: Runtime, how: str) -> None:
    if how == "native" and not rt.is_async:
        pytest.skip(NO_NATIVE_CANCEL)

    async def scenario(rt: Runtime) -> None:
        work = Work(rt)
        async with open_group(rt) as g:
            crowd = [Caller(rt, g, work) for _ in range(4)]
            async with callers(rt, work) as start:
                await arrive(rt, g, work, start, crowd)
                for caller in crowd[1:]:  # all but the first: in threads, it runs the call
                    caller.cancel(how)
                    await eventually(rt, caller.finished)
                assert g.statistics() == SingleflightStatistics(1, 1)
                work.end(0)
        assert crowd[0].outcome == ("value", ("value", 0), False)

    rt.run(scenario)


@pytest.mark.parametrize("how", ["cancel", "native"])
def test_the_last_caller_leaving_cancels_the_call(rt: Runtime, how: str) -> None:
    """Nobody wants the answer any more: the call is cancelled, and the key is free, so
    the next caller starts a new call."""
    if not rt.is_async:
        pytest.skip(RUNNER_STAYS)

    async def scenario(rt: Runtime) -> None:
        work = Work(rt)
        async with open_group(rt) as g:
            crowd = [Caller(rt, g, work) for _ in range(3)]
            async with callers(rt, work) as start:
                await arrive(rt, g, work, start, crowd)
                for i, caller in enumerate(crowd):
                    caller.cancel(how)
                    await eventually(rt, caller.finished)
                    await let_others_block(rt)
                    assert i == 2 or not work.cancelled, f"caller {i}, not the last, stopped it"
                await rt.until(lambda: work.cancelled == {0})
                assert g.statistics() == SingleflightStatistics(0, 0)
                late = Caller(rt, g, work)
                start(late)
                await rt.until(lambda: len(work.keys) == 2)
                work.end(1)
        assert late.outcome == ("value", ("value", 1), False)

    rt.run(scenario)


def test_a_done_ctx_raises_at_once_and_starts_nothing(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        work = Work(rt)
        ctx = background(rt).with_cancel()
        ctx.cancel()
        async with open_group(rt) as g:
            with pytest.raises(Canceled):
                await rt.call(g.do, "a", work.fn, "a", ctx=ctx)
        assert work.keys == []

    rt.run(scenario)


def test_the_first_caller_in_threads_runs_fn_on_its_own_thread(rt: Runtime) -> None:
    """Go's ``Do``: the caller runs the call; a ctx that ends meanwhile changes nothing."""
    if rt.is_async:
        pytest.skip("asyncio, trio: every call runs as a task of the group's own")

    async def scenario(rt: Runtime) -> None:
        g = rt.module("singleflight").Group()
        ctx = background(rt).with_cancel()

        def where() -> threading.Thread:
            ctx.cancel()
            return threading.current_thread()

        assert g.do("a", where, ctx=ctx) == (threading.current_thread(), False)

    rt.run(scenario)


# -- forget ----------------------------------------------------------------------------------


def test_forget_starts_a_new_call_and_the_old_callers_keep_the_old_result(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        work = Work(rt)
        async with open_group(rt) as g:
            old = [Caller(rt, g, work) for _ in range(2)]
            new = [Caller(rt, g, work) for _ in range(2)]
            async with callers(rt, work) as start:
                await arrive(rt, g, work, start, old)
                g.forget("a")
                g.forget("never-asked")  # nothing to forget: nothing happens
                assert g.statistics() == SingleflightStatistics(0, 0)
                await arrive(rt, g, work, start, new, calls=2)
                assert work.keys == ["a", "a"], "after forget, the next caller starts a call"
                work.end(1)  # the new call ends first
                for caller in new:
                    await eventually(rt, caller.finished)
                work.end(0)
        assert [c.outcome for c in old] == [("value", ("value", 0), True)] * 2
        assert [c.outcome for c in new] == [("value", ("value", 1), True)] * 2

    rt.run(scenario)


# -- the group's block (asyncio, trio) ---------------------------------------------------------


def test_do_needs_the_groups_block(rt: Runtime) -> None:
    if not rt.is_async:
        pytest.skip("threads: a Group is a plain object, with no block")

    async def scenario(rt: Runtime) -> None:
        work = Work(rt)
        g = rt.module("singleflight").Group()
        with pytest.raises(RuntimeError, match="block"):
            await g.do("a", work.fn, "a")
        async with g:
            pass
        with pytest.raises(RuntimeError, match="block"):
            await g.do("a", work.fn, "a")
        assert work.keys == []

    rt.run(scenario)


def test_the_bodys_exception_cancels_the_calls_and_comes_out_itself(rt: Runtime) -> None:
    """Not an ExceptionGroup, as a TaskGroup or a nursery would raise; callers outside
    the block raise CallCancelled rather than wait for a call that is gone."""
    if not rt.is_async:
        pytest.skip("threads: a Group is a plain object, with no block")

    async def scenario(rt: Runtime) -> None:
        work = Work(rt)
        body_error = Oops("the body")
        async with callers(rt, work) as start:
            with pytest.raises(Oops) as raised:
                async with open_group(rt) as g:
                    outside = Caller(rt, g, work)
                    await arrive(rt, g, work, start, [outside])
                    raise body_error
            assert raised.value is body_error
        assert work.cancelled == {0}
        assert outside.outcome[0] == "raised" and isinstance(outside.outcome[1], CallCancelled)

    rt.run(scenario)


def test_a_caller_in_the_body_raises_the_calls_exception_out_of_the_block(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        stop = Stop("from fn")
        fn = araise if rt.is_async else raise_
        with pytest.raises(Stop) as raised:
            async with open_group(rt) as g:
                await rt.call(g.do, "k", fn, stop)
        assert raised.value is stop

    rt.run(scenario)


# -- property: random callers, keys, failures and cancellations against a model ------------------


@dataclass(eq=False)
class Flight:
    """The model of one call: its number (the order calls start in), its key, and the
    callers waiting for it."""

    number: int
    key: str
    waiting: list[int] = field(default_factory=list)


class Model:
    """The reference singleflight: one flight per key in the map; a caller joins the
    key's flight or starts one; a leaving caller (async: the last one cancels the
    flight); forget empties the key; an ending flight hands its outcome to its waiters."""

    def __init__(self, is_async: bool) -> None:
        self.is_async = is_async
        self.flights: list[Flight] = []
        self.current: dict[str, Flight] = {}
        self.live: list[Flight] = []  # started, neither ended nor cancelled
        self.cancelled: set[int] = set()
        self.outcomes: dict[int, tuple[Any, ...]] = {}

    def call(self, caller: int, key: str) -> None:
        flight = self.current.get(key)
        if flight is None:
            flight = Flight(len(self.flights), key)
            self.flights.append(flight)
            self.current[key] = flight
            self.live.append(flight)
        flight.waiting.append(caller)

    def leavers(self) -> list[int]:
        """The callers that can leave: in threads, not the one running the call."""
        return [i for f in self.live for i in f.waiting[0 if self.is_async else 1:]]

    def leave(self, caller: int, outcome: tuple[Any, ...]) -> None:
        flight = next(f for f in self.live if caller in f.waiting)
        flight.waiting.remove(caller)
        self.outcomes[caller] = outcome
        if not flight.waiting:  # only in async: a thread running its call never leaves
            self.cancelled.add(flight.number)
            self._end(flight)

    def forget(self, key: str) -> None:
        self.current.pop(key, None)

    def end(self, flight: Flight, how: str) -> None:
        shared = len(flight.waiting) > 1
        for caller in flight.waiting:
            self.outcomes[caller] = (("value", ("value", flight.number), shared) if how == "value"
                                     else (how, flight.number))
        self._end(flight)

    def _end(self, flight: Flight) -> None:
        self.live.remove(flight)
        if self.current.get(flight.key) is flight:
            del self.current[flight.key]

    def statistics(self) -> SingleflightStatistics:
        return SingleflightStatistics(len(self.current),
                                      sum(len(f.waiting) for f in self.current.values()))


def observed_outcome(caller: Caller, work: Work) -> tuple[Any, ...]:
    """A caller's outcome in the model's terms; an exception is named by the call that
    raised it, and only if it is that call's very object."""
    if len(caller.outcomes) != 1:
        return ("ended", len(caller.outcomes))
    outcome = caller.outcomes[0]
    if outcome[0] == "raised":
        number = next((j for j, exc in work.raised.items() if exc is outcome[1]), None)
        kind = "error" if isinstance(outcome[1], Oops) else "stop"
        return (kind, number) if number is not None else ("a copy of", outcome[1])
    if outcome[0] in ("left", "cancelled"):
        return ("left",)
    return outcome


async def random_program(rt: Runtime, ops: list[tuple[str, int, str]]) -> None:
    work = Work(rt)
    model = Model(rt.is_async)
    crowd: list[Caller] = []

    def observed() -> tuple[Any, ...]:
        finished = {i: observed_outcome(c, work) for i, c in enumerate(crowd)
                    if c.finished.is_set()}
        return (list(work.keys), sorted(work.cancelled), finished, g.statistics())

    def expected() -> tuple[Any, ...]:
        keys = [f.key for f in model.flights]
        return (keys, sorted(model.cancelled), model.outcomes, model.statistics())

    async def check(step: object) -> None:
        if not await rt.settled(lambda: observed() == expected(), settle_limit[0]):
            settle_limit[0] = SETTLE_AFTER_FAILURE_S
        keys, cancelled, finished, stats = observed()
        assert keys == expected()[0], f"{step}: the calls started, by key: {keys}"
        assert cancelled == expected()[1], f"{step}: calls cancelled: {cancelled}"
        assert finished == model.outcomes, f"{step}: how the callers ended differs"
        assert stats == model.statistics(), f"{step}: statistics() {stats}"

    async with open_group(rt) as g, callers(rt, work) as start:
        for step, (op, pick, how) in enumerate(ops):
            key = "abc"[pick % 3]
            if op == "call":
                i = len(crowd)
                crowd.append(Caller(rt, g, work, key))
                model.call(i, key)
                start(crowd[i])
            elif op == "leave" and model.leavers():
                leavers = model.leavers()
                i = leavers[pick % len(leavers)]
                native = how == "native" and rt.is_async
                model.leave(i, ("left",))
                crowd[i].cancel("native" if native else "cancel")
            elif op == "forget":
                model.forget(key)
                g.forget(key)
            elif op == "end" and model.live:
                flight = model.live[pick % len(model.live)]
                ending = how if how in ("error", "stop") else "value"
                model.end(flight, ending)
                work.end(flight.number, ending)
            await check((step, op, pick, how))
        while model.live:
            flight = model.live[0]
            model.end(flight, "value")
            work.end(flight.number)
            await check("drain")
    assert observed()[2] == model.outcomes, "every caller ends exactly once"
    assert all(len(c.outcomes) == 1 for c in crowd)


HOWS = ["value", "error", "stop", "native"]


@st.composite
def programs(draw: st.DrawFn) -> list[tuple[str, int, str]]:
    """``("call", k, _)`` starts a caller of key k (mod 3); ``("leave", k, how)`` makes the
    k-th (mod the count) caller that can leave leave, natively (asyncio, trio) or by its
    ctx; ``("forget", k, _)``; ``("end", k, how)`` ends the k-th live call with a value,
    an Oops or a Stop. Calls are the likeliest, so that callers pile up on a flight."""
    op = st.sampled_from(["call", "call", "call", "leave", "forget", "end"])
    step = st.tuples(op, st.integers(0, 5), st.sampled_from(HOWS))
    return draw(st.lists(step, min_size=6, max_size=20))


# The last caller leaving after a forget (asyncio, trio: the forgotten call is cancelled,
# the new one goes on); a Stop for three callers, one of whom left.
LEAVE_AFTER_FORGET = [("call", 0, "value"), ("call", 0, "value"), ("forget", 0, "value"),
                      ("call", 0, "value"), ("leave", 0, "native"), ("leave", 0, "value"),
                      ("end", 0, "value")]
STOP_FOR_THE_REST = [("call", 1, "value"), ("call", 1, "value"), ("call", 1, "value"),
                     ("call", 1, "value"), ("leave", 1, "value"), ("end", 0, "stop")]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=programs())
@example(ops=LEAVE_AFTER_FORGET)
@example(ops=STOP_FOR_THE_REST)
def test_random_callers_keys_failures_and_cancellations(
    rt: Runtime, ops: list[tuple[str, int, str]]
) -> None:
    """fn runs once per key per flight; after every step each caller that has ended got
    what the model says (the value and ``shared``, the very exception object, or its own
    leaving), exactly once; in asyncio and trio a flight whose callers all left is
    cancelled, and never otherwise."""
    rt.run(random_program, ops)

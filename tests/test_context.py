"""Behavioural suite for :mod:`patterns.context` (Go's ``context``), in three runtimes.

Every test is one scenario, ``async def scenario(rt)``, run with ``rt.run`` in threads,
asyncio and trio (see ``runtimes.py``). The tests pin the contract that the docstrings
of :mod:`patterns.context` and of each runtime's ``Context`` state: they assert which
contexts are done, with which ``err`` and ``cause``, that callbacks run exactly once,
and that a descendant is never told before its ancestor is done; never how long
anything took.

Deadlines: trio runs under ``MockClock(autojump_threshold=0)``, so a deadline passes as
soon as every task is blocked; threads and asyncio use ``SHORT`` real deadlines. ``LONG``
is a deadline or sleep that never passes during a test: a sleep that should have been
interrupted fails the test instead of passing late (under trio's jumping clock, the
``rt.now() < start + LONG`` check sees it). Where a broken wait would hang, a ``GUARD``
deadline or ``anyio.fail_after(GUARD)`` turns the hang into a failure.

A thread cannot be interrupted, so the threads runtime has no ``ctx.scope()``: those
tests are skipped there with that reason, which is the lesson. To act on a thread "once
it is blocked in ``ctx.sleep``", :class:`Entered` looks at the thread's Python stack; a
thread blocked in C has released the GIL, which is when the poller gets to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from runtimes import Runtime, background

import patterns.context
from patterns.context import Canceled, ContextError, DeadlineExceeded

ROOT = Path(__file__).resolve().parent.parent
CONTEXT_DIR = os.path.dirname(os.path.abspath(patterns.context.__file__))

SHORT = 0.02  # a deadline that passes soon (at once under trio's MockClock)
LONG = 3600.0  # a deadline or sleep that must never be reached in a test
GUARD = 10.0  # turns a hang into a failure

NO_SCOPE = (
    "threads have no ctx.scope(): a thread cannot be interrupted, only asked to stop "
    "(check(), sleep(), remaining() as a socket timeout, after(sock.shutdown))"
)
THREADS_ONLY_SOCKET = (
    "asyncio and trio interrupt a blocked receive natively inside ctx.scope(); "
    "after(sock.shutdown) is the threads' way"
)


# -- helpers -------------------------------------------------------------------------------



def assert_live(ctx: Any) -> None:
    """Not done: no err, no cause, check() passes."""
    assert ctx.done is False
    assert ctx.err is None
    assert ctx.cause is None
    assert ctx.check() is None


def assert_done(ctx: Any, err_type: type[ContextError], cause: BaseException | None = None) -> None:
    """Done with an ``err_type`` err that never changes; ``cause`` is the given cause,
    else (``cause=None``) an error of the err's kind; check() raises the err."""
    assert ctx.done is True
    err = ctx.err
    assert isinstance(err, err_type)
    if err_type is Canceled:
        assert not isinstance(err, DeadlineExceeded)
    assert ctx.err is err, "err changes between reads"
    if cause is None:
        assert type(ctx.cause) is type(err)
    else:
        assert ctx.cause is cause
    with pytest.raises(ContextError) as raised:
        ctx.check()
    assert type(raised.value) is type(err)
    if isinstance(err, DeadlineExceeded):
        assert ctx.remaining() == 0  # never negative


def frame_named(thread: threading.Thread, name: str) -> bool:
    """Whether ``thread`` is inside a function ``name`` of the context package."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == name and os.path.abspath(code.co_filename).startswith(CONTEXT_DIR):
            return True
        frame = frame.f_back
    return False


class Entered:
    """Lets a scenario act once other tasks (or threads) are blocked in ``ctx.<name>``.

    A task calls :meth:`mark` right before the blocking call. In async runtimes the
    waiter then waits until every task is blocked; in threads it waits until each
    marked thread's stack is inside the context package's ``name`` function.
    """

    def __init__(self, rt: Runtime, name: str) -> None:
        self.rt = rt
        self.name = name
        self.threads: list[threading.Thread] = []

    def mark(self) -> None:
        self.threads.append(threading.current_thread())

    def _blocked(self, count: int) -> bool:
        if len(self.threads) < count:
            return False
        if self.rt.is_async:
            return True
        return all(frame_named(thread, self.name) for thread in self.threads)

    async def blocked(self, count: int = 1) -> None:
        await self.rt.until(lambda: self._blocked(count))
        if self.rt.is_async:
            await anyio.wait_all_tasks_blocked()


def live_timers(rt: Runtime) -> int:
    """asyncio: loop timers still armed. An after() timer is a ``loop.call_at`` handle,
    not a task, so ``rt.run`` does not see one left behind (private ``_scheduled``)."""
    if rt.name != "asyncio":
        return 0
    loop: Any = asyncio.get_running_loop()
    return sum(1 for handle in loop._scheduled if not handle.cancelled())


def running(rt: Runtime) -> int:
    """What is running beside the scenario: threads, asyncio tasks and armed timers, or
    trio tasks; a timer started for a context shows here."""
    if rt.name == "threads":
        return threading.active_count()
    if rt.name == "asyncio":
        return len(asyncio.all_tasks()) + live_timers(rt)
    return trio.lowlevel.current_statistics().tasks_living


async def assert_timers_ended(rt: Runtime) -> None:
    """Let timers that have just been stopped or fired finish; then none may be left:
    a stopped or fired after() timer has ended (threads: the leak check sees a timer
    thread; trio: ``rt.run`` sees a timer task; asyncio: checked here)."""
    await rt.checkpoint()
    if rt.is_async:
        await anyio.wait_all_tasks_blocked()
    assert live_timers(rt) == 0, "an after() timer is still armed"


def cancelling(rt: Runtime) -> int:
    """asyncio's count of cancellation requests pending on this task (0 elsewhere)."""
    if rt.name == "asyncio":
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()
    return 0


async def assert_no_pending_cancellation(rt: Runtime, baseline: int) -> None:
    """The task was not left with a cancellation: checkpoints pass."""
    assert cancelling(rt) == baseline, "a cancellation request is left on the task"
    try:
        await anyio.lowlevel.checkpoint()
        await anyio.sleep(0)
    except anyio.get_cancelled_exc_class():
        pytest.fail("the task was left with a pending cancellation")


def loopback_pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair of TCP sockets on 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        conn, _ = server.accept()
    return conn, client


# -- background ----------------------------------------------------------------------------


def test_background_is_never_done_and_cannot_be_cancelled(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ctx = background(rt)
        context_type = rt.module("context").Context
        assert isinstance(ctx, context_type)
        assert isinstance(ctx.with_cancel().with_value("k", 1).without_cancel(), context_type)
        assert_live(ctx)
        assert ctx.deadline is None
        assert ctx.remaining() is None
        assert ctx.value("missing") is None
        assert ctx.value("missing", 7) == 7
        with pytest.raises(ValueError):
            ctx.cancel()
        with pytest.raises(ValueError):
            ctx.cancel(RuntimeError("why"))
        assert_live(ctx)
        assert_live(background(rt))

    rt.run(scenario)


# -- with_cancel and the cancellation tree ---------------------------------------------------


def test_cancel_reaches_descendants_never_ancestors_or_siblings(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        parent = background(rt).with_cancel()
        child = parent.with_cancel()
        grandchild = child.with_value("k", 1).with_timeout(LONG).with_cancel()
        sibling = parent.with_cancel()
        for ctx in (parent, child, grandchild, sibling):
            assert_live(ctx)

        child.cancel()
        assert_done(child, Canceled)
        assert child.cause is child.err  # no cause given: the cause is the err
        assert_done(grandchild, Canceled)
        assert_live(parent)
        assert_live(sibling)

        err = child.err
        parent.cancel()
        assert_done(parent, Canceled)
        assert_done(sibling, Canceled)
        assert child.err is err  # already done: unchanged

        # a child of a cancelled context is born done, with the parent's cause
        cause = RuntimeError("gone")
        other = background(rt).with_cancel()
        other.cancel(cause)
        for born in (other.with_cancel(), other.with_timeout(LONG), other.with_value("k", 2)):
            assert_done(born, Canceled, cause)

    rt.run(scenario)


def test_cancel_is_idempotent_and_the_first_cause_wins(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ctx = background(rt).with_cancel()
        child = ctx.with_cancel()
        first, second = RuntimeError("first"), RuntimeError("second")
        ctx.cancel(first)
        err = ctx.err
        ctx.cancel(second)
        ctx.cancel()
        assert ctx.err is err
        assert_done(ctx, Canceled, first)
        assert_done(child, Canceled, first)  # the cause is propagated

        # no cause: the cause is the err, and a later cause does not replace it
        plain = background(rt).with_cancel()
        plain.cancel()
        plain.cancel(second)
        assert_done(plain, Canceled)
        assert plain.cause is plain.err

        # a child cancelled first keeps its own cause when its parent is cancelled later
        parent = background(rt).with_cancel()
        early = parent.with_cancel()
        early.cancel(first)
        parent.cancel(second)
        assert_done(early, Canceled, first)
        assert_done(parent, Canceled, second)

    rt.run(scenario)


def test_concurrent_cancels_one_cause_wins_and_callbacks_run_once(rt: Runtime) -> None:
    """Contexts are safe to share: racing cancels agree on one cause for the whole
    subtree, and every callback runs exactly once (threads race for real here). The
    contexts have a (far) deadline, so each after() may start a timer: a timer started
    while the context is being cancelled must end too (the leak check sees it)."""
    racers, rounds = 8, 10

    async def scenario(rt: Runtime) -> None:
        ctx = background(rt).with_timeout(LONG)
        kids = [ctx.with_cancel() for _ in range(racers)]
        causes = [RuntimeError(f"cause {i}") for i in range(racers)]
        on_ctx: list[int] = []
        on_kid: list[int] = []
        go = rt.event()

        async def racer(i: int) -> None:
            await go.wait()
            ctx.after(lambda: on_ctx.append(i))
            kids[i].after(lambda: on_kid.append(i))
            ctx.cancel(causes[i])

        async with rt.task_group() as tg:
            for i in range(racers):
                tg.start_soon(racer, i)
            go.set()

        await rt.until(lambda: len(on_ctx) >= racers and len(on_kid) >= racers)
        await assert_timers_ended(rt)
        assert sorted(on_ctx) == list(range(racers))
        assert sorted(on_kid) == list(range(racers))
        assert any(ctx.cause is cause for cause in causes)
        assert_done(ctx, Canceled, ctx.cause)
        for kid in kids:
            assert_done(kid, Canceled, ctx.cause)
        await assert_timers_ended(rt)

    for _ in range(rounds):
        rt.run(scenario)


# -- the property: cancelling a node of a random tree -----------------------------------------

KINDS = ("with_cancel", "future_deadline", "past_deadline", "with_value", "without_cancel")


@dataclass
class Node:
    """One context of a drawn tree and what the model expects of it."""

    ctx: Any
    parent: int  # -1: background()
    kind: str
    ancestors: tuple[int, ...]  # self first, then up to the root
    deadline: float | None
    err_type: type[ContextError] | None = None
    cause: BaseException | None = None  # None: "the err" (when done)
    stop: Callable[[], bool] | None = None
    inside: list[bool] = field(default_factory=list)  # done-ness seen from inside after()


Plan = tuple[list[tuple[int, str, int]], list[tuple[int, bool]], bool]


@st.composite
def trees(draw: st.DrawFn) -> Plan:
    """nodes as (parent index or -1, kind, seconds), cancels as (node index or -1 for
    background(), with a cause?), and whether to watch the tree (after() on every node,
    and a look at it) before the first cancel, which forces the lazy deadline checks."""
    size = draw(st.integers(1, 10))
    nodes = [
        (draw(st.integers(-1, i - 1)), draw(st.sampled_from(KINDS)), draw(st.integers(1, 1000)))
        for i in range(size)
    ]
    cancels = draw(
        st.lists(st.tuples(st.integers(-1, size - 1), st.booleans()), min_size=1, max_size=4)
    )
    return nodes, cancels, draw(st.booleans())


async def cancel_tree_scenario(rt: Runtime, plan: Plan) -> None:
    nodes, cancels, watch = plan
    base = rt.now()
    root = background(rt)
    tree: list[Node] = []
    calls: list[int] = []
    cancelling_now: list[Any] = []  # the context being cancelled, seen from after()

    for i, (parent, kind, offset) in enumerate(nodes):
        above = tree[parent] if parent >= 0 else None
        pctx = above.ctx if above else root
        inherited = above.deadline if above else None
        if kind == "with_cancel":
            ctx, deadline = pctx.with_cancel(), inherited
        elif kind == "with_value":
            ctx, deadline = pctx.with_value(("key", i), i), inherited
        elif kind == "without_cancel":
            ctx, deadline = pctx.without_cancel(), None
        else:
            own = base + 100 + offset if kind == "future_deadline" else base - offset
            ctx = pctx.with_deadline(own)
            deadline = own if inherited is None else min(own, inherited)
        node = Node(ctx, parent, kind, (i, *(above.ancestors if above else ())), deadline)
        if deadline is not None and deadline < base:
            node.err_type = DeadlineExceeded
        tree.append(node)

    def cancellable_subtree(target: int) -> list[int]:
        """target and its descendants, not crossing a without_cancel boundary."""
        reached = []
        for i, node in enumerate(tree):
            path = (
                node.ancestors[: node.ancestors.index(target) + 1]
                if target in node.ancestors
                else ()
            )
            if path and not any(tree[j].kind == "without_cancel" for j in path):
                reached.append(i)
        return reached

    def check_all() -> None:
        for i, node in enumerate(tree):
            ctx = node.ctx
            if node.err_type is None:
                assert_live(ctx)
            else:
                assert_done(ctx, node.err_type, node.cause)
            assert ctx.deadline == node.deadline
            if node.deadline is None:
                assert ctx.remaining() is None
            else:
                assert ctx.remaining() >= 0
            for j in range(len(tree)):
                expected = j if j in node.ancestors and tree[j].kind == "with_value" else None
                assert ctx.value(("key", j)) == expected, (i, j)
        assert_live(root)

    def expected_calls() -> Counter[int]:
        return Counter(i for i, node in enumerate(tree) if node.err_type is not None)

    if watch:
        for i, node in enumerate(tree):

            def called(i: int = i, node: Node = node) -> None:
                calls.append(i)
                node.inside.append(node.ctx.done)
                node.inside.extend(c.done for c in cancelling_now)

            node.stop = node.ctx.after(called)

        # contexts already past their deadline call back soon; the others not yet
        await rt.until(lambda: Counter(calls) == expected_calls())
        check_all()

    for k, (target, with_cause) in enumerate(cancels):
        cause = RuntimeError(f"cause {k}") if with_cause else None
        if target < 0 or tree[target].kind == "without_cancel":
            ctx = root if target < 0 else tree[target].ctx
            with pytest.raises(ValueError):
                ctx.cancel(cause)
        else:
            was_live = tree[target].err_type is None
            for i in cancellable_subtree(target):
                if tree[i].err_type is None:
                    tree[i].err_type, tree[i].cause = Canceled, cause
            cancelling_now[:] = [tree[target].ctx]
            tree[target].ctx.cancel(cause)
            cancelling_now.clear()
            if was_live and cause is None:  # no cause given: the cause is the err
                assert tree[target].ctx.cause is tree[target].ctx.err
        if watch:  # after() runs synchronously in the cancel that ends a context
            assert Counter(calls) == expected_calls()
        check_all()

    if watch:
        for node in tree:
            assert all(node.inside), (
                "after() ran before its context (or the cancelled one) was done"
            )
            assert node.stop is not None
            assert node.stop() is (node.err_type is None)
        await assert_timers_ended(rt)
        assert Counter(calls) == expected_calls()


@given(plan=trees())
def test_cancelling_a_node_cancels_exactly_its_subtree(rt: Runtime, plan: Plan) -> None:
    """Property: in a random tree (cancel, deadline, value and without_cancel nodes),
    cancelling a random node cancels it and its descendants (up to a without_cancel),
    never an ancestor or a sibling; the first cause wins; deadlines are the min of the
    ancestors'; values are found through ancestors; each after() runs exactly once, for
    exactly the done contexts, and stop() says whether it prevented the call."""
    rt.run(cancel_tree_scenario, plan)


# -- values and without_cancel ----------------------------------------------------------------


def test_values_are_looked_up_through_ancestors(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        key, stranger = object(), object()
        root = background(rt).with_value("user", "ann")
        mid = root.with_cancel().with_timeout(LONG).with_value(key, 1)
        leaf = mid.with_value("user", "bob").with_deadline(rt.now() + LONG).with_cancel()
        assert root.value("user") == "ann"
        assert mid.value("user") == "ann"
        assert leaf.value("user") == "bob"  # the nearest wins
        assert leaf.value(key) == 1
        assert root.value(key) is None  # never looked up downwards
        assert leaf.value(stranger) is None
        assert leaf.value(stranger, "default") == "default"
        assert background(rt).value("user") is None
        mid.cancel()
        assert leaf.value("user") == "bob"  # a done context keeps its values
        assert leaf.without_cancel().value(key) == 1

    rt.run(scenario)


@pytest.mark.parametrize("key", [None, [1], {"a": 1}], ids=["None", "list", "dict"])
def test_with_value_refuses_a_key_that_cannot_be_looked_up(rt: Runtime, key: Any) -> None:
    """Go's WithValue panics at the call ("nil key", "key is not comparable"); here the
    call raises TypeError and derives nothing."""

    async def scenario(rt: Runtime) -> None:
        with pytest.raises(TypeError, match="with_value"):
            background(rt).with_value(key, "v")

    rt.run(scenario)


def test_without_cancel_keeps_values_and_is_never_done(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        parent = background(rt).with_value("k", "v").with_timeout(LONG)
        detached = parent.without_cancel()
        child = detached.with_cancel()
        assert detached.value("k") == "v"
        assert child.value("k") == "v"
        assert detached.deadline is None
        assert detached.remaining() is None
        assert_live(detached)

        with pytest.raises(ValueError):
            detached.cancel()
        with pytest.raises(ValueError):
            detached.cancel(RuntimeError("why"))
        assert_live(detached)

        parent.cancel(RuntimeError("stop"))
        assert parent.done
        assert_live(detached)
        assert_live(child)  # cancellation does not cross without_cancel

        cause = RuntimeError("child")
        child.cancel(cause)
        assert_done(child, Canceled, cause)  # but its own children can be cancelled
        assert_live(detached)

        # never done, even below a context past its deadline
        expired = background(rt).with_deadline(rt.now() - 1)
        assert expired.done
        below = expired.without_cancel()
        assert_live(below)
        assert below.deadline is None
        before = rt.now()
        timed = below.with_timeout(10)
        assert before + 10 <= timed.deadline <= rt.now() + 10  # its own deadline only
        assert_live(timed)

    rt.run(scenario)


# -- deadlines -------------------------------------------------------------------------------


def test_child_deadline_is_the_earlier_of_its_own_and_the_parents(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        now = rt.now()
        parent = background(rt).with_deadline(now + 100)
        assert parent.deadline == now + 100
        assert parent.with_deadline(now + 200).deadline == now + 100
        assert parent.with_deadline(now + 50).deadline == now + 50
        assert parent.with_timeout(1000).deadline == now + 100
        assert parent.with_cancel().deadline == now + 100
        assert parent.with_value("k", 1).deadline == now + 100
        earlier = parent.with_deadline(now + 50).with_cancel().with_deadline(now + 75)
        assert earlier.deadline == now + 50

        before = rt.now()
        timed = parent.with_timeout(10)
        after = rt.now()
        assert before + 10 <= timed.deadline <= after + 10

        for ctx in (parent, timed, earlier):
            assert_live(ctx)
            now = rt.now()
            assert 0 < ctx.remaining() <= ctx.deadline - now
        assert background(rt).with_cancel().deadline is None
        assert background(rt).with_cancel().remaining() is None

    rt.run(scenario)


def test_a_past_deadline_is_done_at_once_with_deadline_exceeded(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        now = rt.now()
        ctx = background(rt).with_deadline(now - 1)
        assert ctx.deadline == now - 1
        assert_done(ctx, DeadlineExceeded)
        assert ctx.cause is ctx.err
        assert isinstance(ctx.err, TimeoutError)  # caught by `except TimeoutError`
        assert ctx.remaining() == 0  # never negative
        assert_done(ctx.with_cancel(), DeadlineExceeded)  # inherits the deadline
        assert_done(background(rt).with_timeout(-1), DeadlineExceeded)

        # first cause wins: a cancel after the deadline changes nothing
        err = ctx.err
        ctx.cancel(RuntimeError("too late"))
        assert ctx.err is err
        assert_done(ctx, DeadlineExceeded)
        assert ctx.cause is err

        # a parent cancelled after its child's deadline leaves the child's err alone
        parent = background(rt).with_cancel()
        expired = parent.with_deadline(now - 1)
        assert_done(expired, DeadlineExceeded)
        parent.cancel(RuntimeError("later"))
        assert_done(expired, DeadlineExceeded)

    rt.run(scenario)


def test_a_context_past_its_deadline_is_done_even_if_nobody_looked(rt: Runtime) -> None:
    """Deadlines are checked lazily, but that must not show: a context past its deadline
    is done with DeadlineExceeded from then on, so a cancel that comes later (its own,
    an ancestor's, or leaving its ``with`` block) finds it done and changes nothing."""

    async def scenario(rt: Runtime) -> None:
        now = rt.now()
        ctx = background(rt).with_deadline(now - 1)
        ctx.cancel(RuntimeError("too late"))  # nobody looked at ctx before
        assert_done(ctx, DeadlineExceeded)

        parent = background(rt).with_cancel()
        expired = parent.with_deadline(now - 1)
        cause = RuntimeError("later")
        parent.cancel(cause)
        assert_done(parent, Canceled, cause)
        assert_done(expired, DeadlineExceeded)

        with background(rt).with_deadline(now - 1) as left:
            pass
        assert_done(left, DeadlineExceeded)

        with background(rt).with_timeout(SHORT) as timed:
            witness = background(rt).with_deadline(timed.deadline)
            await rt.call(witness.wait)  # the deadline passes inside the block
        assert_done(timed, DeadlineExceeded)

    rt.run(scenario)


def test_deadline_passes_lazily_without_anyone_waiting(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ctx = background(rt).with_timeout(SHORT)
        child = ctx.with_cancel()
        witness = background(rt).with_deadline(ctx.deadline)
        await rt.call(witness.wait)  # nobody waits on ctx itself
        assert witness.done
        assert_done(ctx, DeadlineExceeded)
        assert ctx.cause is ctx.err
        assert ctx.remaining() == 0
        assert_done(child, DeadlineExceeded)
        with pytest.raises(TimeoutError):
            ctx.check()

    rt.run(scenario)


# -- check, wait, sleep ----------------------------------------------------------------------


def test_check_raises_err_only_when_done(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ctx = background(rt).with_cancel()
        assert ctx.check() is None
        assert background(rt).check() is None
        ctx.cancel(RuntimeError("cause"))
        with pytest.raises(Canceled):
            ctx.check()
        expired = background(rt).with_deadline(rt.now() - 1)
        with pytest.raises(DeadlineExceeded):
            expired.check()

    rt.run(scenario)


@pytest.mark.parametrize("target", ["self", "ancestor"])
def test_wait_returns_once_cancelled_from_another_task(rt: Runtime, target: str) -> None:
    async def scenario(rt: Runtime) -> None:
        # a wait that the cancel does not wake ends at the guard's deadline, and fails
        guard = background(rt).with_timeout(GUARD)
        parent = guard.with_cancel()
        ctx = parent.with_value("k", 1).with_cancel()
        entered = Entered(rt, "wait")
        results: list[Any] = []

        async def waiter(ctx: Any) -> None:
            entered.mark()
            results.append(await rt.call(ctx.wait))
            assert ctx.done
            assert not guard.done, "woken by the guard's deadline, not by the cancel"

        async with rt.task_group() as tg:
            tg.start_soon(waiter, ctx)
            tg.start_soon(waiter, ctx.with_cancel())
            await entered.blocked(2)
            assert results == []
            (ctx if target == "self" else parent).cancel()

        assert len(results) == 2
        if not rt.is_async:
            assert results == [True, True]

    rt.run(scenario)


def test_wait_returns_when_the_deadline_passes(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ctx = background(rt).with_timeout(SHORT)
        child = ctx.with_cancel()
        result = await rt.call(child.wait, *(() if rt.is_async else (LONG,)))
        if not rt.is_async:
            assert result is True
        assert_done(child, DeadlineExceeded)
        assert_done(ctx, DeadlineExceeded)

    rt.run(scenario)


def test_wait_gives_up_at_its_own_timeout_and_returns_at_once_when_done(rt: Runtime) -> None:
    """threads: ``wait(timeout) -> bool``; async: the caller bounds ``await ctx.wait()``
    natively, as with any other await."""

    async def scenario(rt: Runtime) -> None:
        ctx = background(rt).with_cancel()
        if rt.is_async:
            with anyio.move_on_after(SHORT) as bound:
                await ctx.wait()
            assert bound.cancelled_caught
        else:
            assert ctx.wait(SHORT) is False
            assert ctx.wait(0) is False
            assert background(rt).wait(0) is False
        assert_live(ctx)

        ctx.cancel()
        if rt.is_async:
            with anyio.fail_after(GUARD):
                await ctx.wait()
        else:
            assert ctx.wait(0) is True
            assert ctx.wait(SHORT) is True
            assert ctx.wait() is True

    rt.run(scenario)


def test_sleep_returns_normally_when_not_cancelled(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ctx = background(rt).with_timeout(LONG)
        start = rt.now()
        assert await rt.call(ctx.sleep, SHORT) is None
        assert rt.now() >= start + SHORT  # a sleep is never cut short
        assert await rt.call(ctx.sleep, 0) is None
        assert await rt.call(background(rt).sleep, 0) is None
        assert_live(ctx)

    rt.run(scenario)


async def sleep_raises(rt: Runtime, ctx: Any, seconds: float, err_type: type[ContextError]) -> None:
    """ctx.sleep(seconds) raises err_type, before the sleep would have ended."""
    start = rt.now()
    with pytest.raises(err_type):
        await rt.call(ctx.sleep, seconds)
    assert rt.now() < start + seconds or seconds == 0, "slept in full, then raised"
    assert ctx.done


def test_sleep_raises_err_at_once_when_already_done(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ctx = background(rt).with_cancel()
        ctx.cancel()
        await sleep_raises(rt, ctx, LONG, Canceled)
        await sleep_raises(rt, ctx, 0, Canceled)
        expired = background(rt).with_deadline(rt.now() - 1)
        await sleep_raises(rt, expired, LONG, DeadlineExceeded)
        await sleep_raises(rt, expired, 0, DeadlineExceeded)

    rt.run(scenario)


@pytest.mark.parametrize("target", ["self", "ancestor"])
def test_sleep_raises_as_soon_as_cancelled_from_another_task(rt: Runtime, target: str) -> None:
    async def scenario(rt: Runtime) -> None:
        # a sleep that the cancel does not wake ends at the guard's deadline, and fails
        guard = background(rt).with_timeout(GUARD)
        parent = guard.with_cancel()
        ctx = parent.with_cancel()
        entered = Entered(rt, "sleep")
        cause = RuntimeError("shutdown")

        async def sleeper() -> None:
            entered.mark()
            await sleep_raises(rt, ctx, LONG, Canceled)
            assert not guard.done, "woken by the guard's deadline, not by the cancel"

        async with rt.task_group() as tg:
            tg.start_soon(sleeper)
            await entered.blocked()
            (ctx if target == "self" else parent).cancel(cause)

        assert_done(ctx, Canceled, cause)

    rt.run(scenario)


def test_sleep_raises_deadline_exceeded_when_the_deadline_passes(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ctx = background(rt).with_timeout(SHORT).with_cancel()
        await sleep_raises(rt, ctx, LONG, DeadlineExceeded)
        assert_done(ctx, DeadlineExceeded)

    rt.run(scenario)


# -- after (Go AfterFunc) ---------------------------------------------------------------------


@pytest.mark.parametrize("target", ["self", "ancestor"])
def test_after_runs_once_in_the_cancelling_task(rt: Runtime, target: str) -> None:
    async def scenario(rt: Runtime) -> None:
        parent = background(rt).with_cancel()
        ctx = parent.with_value("k", 1).with_cancel()
        seen: list[tuple[threading.Thread, bool, bool]] = []
        cancellers: list[threading.Thread] = []

        def callback() -> None:
            seen.append((threading.current_thread(), ctx.done, parent.done or target == "self"))

        stop = ctx.after(callback)
        await rt.checkpoint()
        assert seen == []

        async def cancel() -> None:
            cancellers.append(threading.current_thread())
            (ctx if target == "self" else parent).cancel()

        async with rt.task_group() as tg:
            tg.start_soon(cancel)
        # synchronously, in whatever ended the context, with the context already done
        assert seen == [(cancellers[0], True, True)]

        ctx.cancel()
        parent.cancel()
        await assert_timers_ended(rt)
        assert len(seen) == 1
        assert stop() is False

    rt.run(scenario)


@pytest.mark.parametrize("how", ["canceled", "expired"])
def test_after_on_a_done_context_runs_soon(rt: Runtime, how: str) -> None:
    async def scenario(rt: Runtime) -> None:
        if how == "canceled":
            ctx = background(rt).with_cancel()
            ctx.cancel()
        else:
            ctx = background(rt).with_deadline(rt.now() - 1)
        seen: list[bool] = []
        stop = ctx.after(lambda: seen.append(ctx.done))
        await rt.until(lambda: bool(seen))
        await assert_timers_ended(rt)
        assert seen == [True]
        assert stop() is False

    rt.run(scenario)


def test_after_runs_once_when_the_deadline_passes(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ctx = background(rt).with_timeout(SHORT)
        child = ctx.with_cancel()
        seen: list[tuple[str, bool, type[BaseException] | None]] = []
        stop = ctx.after(lambda: seen.append(("ctx", ctx.done, type(ctx.err))))
        child_stop = child.after(lambda: seen.append(("child", child.done, type(child.err))))
        await rt.call(ctx.wait)
        await rt.until(lambda: len(seen) >= 2)
        ctx.cancel()  # already done: nothing more
        await assert_timers_ended(rt)
        assert sorted(seen, key=lambda call: call[0]) == [
            ("child", True, DeadlineExceeded),
            ("ctx", True, DeadlineExceeded),
        ]
        assert stop() is False
        assert child_stop() is False

    rt.run(scenario)


@pytest.mark.parametrize("timeout", [None, SHORT, LONG])
def test_after_stop_prevents_the_call(rt: Runtime, timeout: float | None) -> None:
    """stop() is True once, when it prevented the call; a timer it stops ends (the leak
    checks see a timer thread or task left behind)."""

    async def scenario(rt: Runtime) -> None:
        parent = background(rt).with_cancel()
        ctx = parent.with_cancel() if timeout is None else parent.with_timeout(timeout)
        seen: list[int] = []
        stop = ctx.after(lambda: seen.append(1))
        kept = ctx.after(lambda: seen.append(2))
        assert stop() is True
        assert stop() is False  # nothing left to prevent
        if timeout == SHORT:
            await rt.call(ctx.wait)
            await rt.until(lambda: bool(seen))
        else:
            parent.cancel()
        await assert_timers_ended(rt)
        assert seen == [2]
        assert stop() is False
        assert kept() is False

    rt.run(scenario)


def test_after_timer_ends_when_the_context_is_cancelled_first(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ctx = background(rt).with_timeout(LONG)
        seen: list[type[BaseException] | None] = []
        stop = ctx.after(lambda: seen.append(type(ctx.err)))
        ctx.cancel()
        assert seen == [Canceled]
        await assert_timers_ended(rt)
        assert seen == [Canceled]
        assert stop() is False

    rt.run(scenario)


def test_after_can_cancel_other_contexts(rt: Runtime) -> None:
    """fn may use contexts itself: ``a.after(b.cancel)`` links two trees (Go's way to
    merge contexts), and fn sees its own context done."""

    async def scenario(rt: Runtime) -> None:
        a = background(rt).with_cancel()
        b = background(rt).with_timeout(LONG)
        below_b = b.with_cancel()
        seen: list[tuple[bool, type[BaseException] | None]] = []
        a.after(lambda: seen.append((a.done, type(a.cause))))
        stop_link = a.after(b.cancel)
        b.after(lambda: seen.append((b.done, type(b.err))))
        cause = RuntimeError("a's cause")
        a.cancel(cause)
        assert sorted(seen, key=str) == sorted([(True, RuntimeError), (True, Canceled)], key=str)
        assert_done(a, Canceled, cause)
        assert_done(b, Canceled)
        assert_done(below_b, Canceled)
        assert stop_link() is False
        await assert_timers_ended(rt)

    rt.run(scenario)


@pytest.mark.parametrize("how", ["cancel", "ancestor_cancel", "already_done"])
def test_after_cancel_runs_once_when_cancelled(rt: Runtime, how: str) -> None:
    """after_cancel is after without the timer: it runs once on cancel, at once on a done
    context, and stop() works as after's does."""

    async def scenario(rt: Runtime) -> None:
        parent = background(rt).with_cancel()
        ctx = parent.with_timeout(LONG)
        if how == "already_done":
            ctx.cancel()
        seen: list[bool] = []
        stop = ctx.after_cancel(lambda: seen.append(ctx.done))
        if how == "already_done":
            assert seen == [True]  # at once, in the caller
        else:
            unwanted = ctx.after_cancel(lambda: seen.append(False))
            assert unwanted() is True
            assert seen == []
            (ctx if how == "cancel" else parent).cancel()
            assert unwanted() is False
        ctx.cancel()
        assert seen == [True]
        assert stop() is False

    rt.run(scenario)


def test_after_cancel_starts_no_timer_and_runs_when_a_deadline_is_observed(rt: Runtime) -> None:
    """A deadline nobody looks at calls nothing (no timer watches it); whoever finds it
    passed ends the context and runs the callback."""

    async def scenario(rt: Runtime) -> None:
        before = running(rt)
        ctx = background(rt).with_timeout(SHORT)
        seen: list[type[BaseException] | None] = []
        ctx.after_cancel(lambda: seen.append(type(ctx.err)))
        assert running(rt) == before  # no timer, unlike after()
        with contextlib.suppress(DeadlineExceeded):
            await rt.call(ctx.sleep, LONG)  # the sleeper watches the clock itself
        assert ctx.done  # looking ended it...
        assert seen == [DeadlineExceeded]  # ...and ran the callback, once
        await assert_timers_ended(rt)

    rt.run(scenario)


def test_deadlines_start_no_thread_or_task_and_after_at_most_one_timer(rt: Runtime) -> None:
    """Deadlines are checked lazily: contexts with deadlines cost no thread, task or
    timer. after() on a context with a deadline may start one timer, however many
    callbacks it holds; on one without a deadline, none."""

    async def scenario(rt: Runtime) -> None:
        before = running(rt)
        root = background(rt)
        contexts = [root.with_timeout(LONG + i).with_cancel() for i in range(5)]
        contexts += [
            c.with_deadline(rt.now() + LONG).with_value("k", i) for i, c in enumerate(contexts)
        ]
        assert all(not c.done for c in contexts)
        assert running(rt) == before

        plain = root.with_cancel()
        plain_stops = [plain.after(lambda: None) for _ in range(3)]
        assert running(rt) == before

        timed = contexts[0]
        stops = [timed.after(lambda: None) for _ in range(3)]
        await rt.checkpoint()
        assert running(rt) - before <= 1
        for stop in stops + plain_stops:
            assert stop() is True
        await assert_timers_ended(rt)
        await rt.until(lambda: running(rt) == before)  # the timer has ended

    rt.run(scenario)


def test_after_shutdown_wakes_a_thread_blocked_in_recv(rt: Runtime) -> None:
    """On Linux, closing a socket from another thread does not wake a recv blocked on it;
    shutdown does. So a thread hands ``after`` the shutdown."""
    if rt.is_async:
        pytest.skip(THREADS_ONLY_SOCKET)

    async def scenario(rt: Runtime) -> None:
        conn, client = loopback_pair()
        try:
            ctx = background(rt).with_cancel()
            stop = ctx.after(lambda: conn.shutdown(socket.SHUT_RDWR))
            received: list[bytes] = []
            started = threading.Event()

            def reader() -> None:
                started.set()
                while chunk := conn.recv(1024):
                    received.append(chunk)
                received.append(b"<eof>")

            thread = threading.Thread(target=reader, name="recv-blocked")
            thread.start()
            client.sendall(b"hello")
            await rt.until(lambda: b"".join(received) == b"hello")
            ctx.cancel()
            thread.join(GUARD)
            if thread.is_alive():  # free it before failing, so nothing leaks
                conn.shutdown(socket.SHUT_RDWR)
                thread.join()
                pytest.fail("after(sock.shutdown) did not wake the blocked recv")
            assert received == [b"hello", b"<eof>"]
            assert started.is_set()
            assert stop() is False
        finally:
            conn.close()
            client.close()

    rt.run(scenario)


# -- with: Go's defer cancel() --------------------------------------------------------------------


def test_with_block_cancels_the_child_on_exit_never_the_parent(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        parent = background(rt).with_cancel()
        with parent.with_timeout(LONG) as ctx:
            assert ctx is not parent
            assert ctx.deadline is not None
            assert_live(ctx)
            below = ctx.with_cancel()
        assert_done(ctx, Canceled)  # cancelled, not expired
        assert ctx.cause is ctx.err
        assert_done(below, Canceled)
        assert_live(parent)

        with pytest.raises(KeyError), parent.with_timeout(LONG) as failed:
            raise KeyError("boom")  # the body's exception passes unchanged
        assert_done(failed, Canceled)
        assert_live(parent)

    rt.run(scenario)


# -- scope(): native cancellation in asyncio and trio ----------------------------------------------


def test_threads_have_no_scope(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ctx = background(rt).with_cancel()
        if rt.is_async:
            assert callable(ctx.scope)
        else:
            assert not hasattr(ctx, "scope"), NO_SCOPE

    rt.run(scenario)


@pytest.mark.parametrize("how", ["cancel", "ancestor_cancel", "deadline", "already_done"])
def test_scope_cancels_work_natively_and_raises_err(rt: Runtime, how: str) -> None:
    if not rt.is_async:
        pytest.skip(NO_SCOPE)

    async def scenario(rt: Runtime) -> None:
        baseline = cancelling(rt)
        parent = background(rt).with_cancel()
        if how == "deadline":
            ctx = parent.with_timeout(SHORT)
        elif how == "already_done":
            ctx = parent.with_deadline(rt.now() - 1)
        else:
            ctx = parent.with_cancel()
        cause = RuntimeError("stop")
        entered = Entered(rt, "scope")
        native: list[str] = []
        raised: list[BaseException] = []

        async def work() -> None:
            with pytest.raises(ContextError) as caught:
                async with rt.enter(ctx.scope()):
                    entered.mark()
                    try:
                        await anyio.sleep_forever()
                    except anyio.get_cancelled_exc_class():
                        native.append("cancelled")
                        raise
            raised.append(caught.value)
            await assert_no_pending_cancellation(rt, baseline)

        with anyio.fail_after(GUARD):
            async with rt.task_group() as tg:
                tg.start_soon(work)
                if how in ("cancel", "ancestor_cancel"):
                    await entered.blocked()
                    (ctx if how == "cancel" else parent).cancel(cause)

        expected = DeadlineExceeded if how in ("deadline", "already_done") else Canceled
        assert_done(ctx, expected, cause if expected is Canceled else None)
        assert len(raised) == 1
        assert type(raised[0]) is type(ctx.err)  # ctx.err, not the runtime's cancellation
        assert native == ["cancelled"]  # the work inside was cancelled natively
        await assert_no_pending_cancellation(rt, baseline)

    rt.run(scenario)


@pytest.mark.parametrize("how", ["cancel", "deadline"])
@pytest.mark.parametrize("op", ["sleep", "wait"])
def test_scope_around_the_contexts_own_wait(rt: Runtime, how: str, op: str) -> None:
    """ctx.sleep / ctx.wait inside ctx.scope(): the context wakes the wait and cancels
    the task at the same moment; either way the block ends with ctx.err (a wait that
    returned first leaves the block normally) and no cancellation is left pending."""
    if not rt.is_async:
        pytest.skip(NO_SCOPE)

    async def scenario(rt: Runtime) -> None:
        baseline = cancelling(rt)
        ctx = background(rt).with_timeout(SHORT if how == "deadline" else LONG)
        entered = Entered(rt, op)
        outcome: list[str] = []

        async def work() -> None:
            try:
                async with rt.enter(ctx.scope()):
                    entered.mark()
                    if op == "sleep":
                        await ctx.sleep(LONG)
                    else:
                        await ctx.wait()
                outcome.append("returned")
            except ContextError as exc:
                assert type(exc) is type(ctx.err)
                outcome.append("raised")
            await assert_no_pending_cancellation(rt, baseline)

        with anyio.fail_after(GUARD):
            async with rt.task_group() as tg:
                tg.start_soon(work)
                if how == "cancel":
                    await entered.blocked()
                    ctx.cancel()
        assert outcome == ["raised"] if op == "sleep" else len(outcome) == 1
        assert_done(ctx, DeadlineExceeded if how == "deadline" else Canceled)
        await assert_no_pending_cancellation(rt, baseline)

    rt.run(scenario)


@pytest.mark.parametrize("outer_is", ["parent", "child"])
def test_nested_scopes_the_outermost_cancelled_one_raises(rt: Runtime, outer_is: str) -> None:
    """Both contexts are done when the work is cancelled, with different errs: the
    parent cancelled (Canceled), the child past its deadline (DeadlineExceeded). The
    block raises the outer one's err whichever of the two it is."""
    if not rt.is_async:
        pytest.skip(NO_SCOPE)

    async def scenario(rt: Runtime) -> None:
        baseline = cancelling(rt)
        parent = background(rt).with_cancel()
        child = parent.with_deadline(rt.now() - 1)
        outer, inner = (parent, child) if outer_is == "parent" else (child, parent)
        native: list[str] = []
        with anyio.fail_after(GUARD), pytest.raises(ContextError) as caught:
            async with rt.enter(outer.scope()), rt.enter(inner.scope()):
                parent.cancel()  # now both are done
                try:
                    await anyio.sleep_forever()
                except anyio.get_cancelled_exc_class():
                    native.append("cancelled")
                    raise
        assert native == ["cancelled"]
        assert_done(parent, Canceled)
        assert_done(child, DeadlineExceeded)
        assert type(caught.value) is type(outer.err)
        await assert_no_pending_cancellation(rt, baseline)

    rt.run(scenario)


def test_nested_scopes_cancelled_from_another_task(rt: Runtime) -> None:
    if not rt.is_async:
        pytest.skip(NO_SCOPE)

    async def scenario(rt: Runtime) -> None:
        baseline = cancelling(rt)
        parent = background(rt).with_cancel()
        child = parent.with_cancel()
        grandchild = child.with_timeout(LONG)
        cause = RuntimeError("shutdown")
        entered = Entered(rt, "scope")
        raised: list[BaseException] = []

        async def work() -> None:
            with pytest.raises(Canceled) as caught:
                async with (
                    rt.enter(parent.scope()),
                    rt.enter(child.scope()),
                    rt.enter(grandchild.scope()),
                ):
                    entered.mark()
                    await anyio.sleep_forever()
            raised.append(caught.value)
            await assert_no_pending_cancellation(rt, baseline)

        with anyio.fail_after(GUARD):
            async with rt.task_group() as tg:
                tg.start_soon(work)
                await entered.blocked()
                parent.cancel(cause)
        assert len(raised) == 1
        for ctx in (parent, child, grandchild):
            assert_done(ctx, Canceled, cause)

    rt.run(scenario)


def test_scope_of_a_live_context_exits_normally(rt: Runtime) -> None:
    if not rt.is_async:
        pytest.skip(NO_SCOPE)

    async def scenario(rt: Runtime) -> None:
        baseline = cancelling(rt)
        ctx = background(rt).with_timeout(LONG)
        ran: list[str] = []
        async with rt.enter(ctx.scope()):
            await anyio.lowlevel.checkpoint()
            await anyio.sleep(0)
            ran.append("body")
        assert ran == ["body"]
        with pytest.raises(KeyError):
            async with rt.enter(ctx.scope()):
                raise KeyError("boom")  # the body's own exceptions pass unchanged
        assert_live(ctx)
        await assert_no_pending_cancellation(rt, baseline)

        # leaving the scope disarms it: cancelling the context later does not reach us
        ctx.cancel()
        await assert_no_pending_cancellation(rt, baseline)

    rt.run(scenario)


def test_scope_replaces_only_the_native_cancellation(rt: Runtime) -> None:
    """Once the context is done, an exception of the body's own still passes unchanged:
    the scope turns its cancellation into ctx.err, nothing else."""
    if not rt.is_async:
        pytest.skip(NO_SCOPE)

    async def scenario(rt: Runtime) -> None:
        baseline = cancelling(rt)
        ctx = background(rt).with_cancel()
        with pytest.raises(KeyError):
            async with rt.enter(ctx.scope()):
                ctx.cancel()
                raise KeyError("the body's own")
        with pytest.raises(KeyError):
            async with rt.enter(ctx.scope()):
                try:
                    await anyio.sleep_forever()
                except anyio.get_cancelled_exc_class():
                    raise KeyError("raised while cancelled") from None
        await assert_no_pending_cancellation(rt, baseline)

    rt.run(scenario)


def test_scope_cancelled_at_its_very_end_leaves_no_pending_cancellation(rt: Runtime) -> None:
    """The context is cancelled inside the block but no checkpoint follows: the block
    may end normally or raise ctx.err, but the task must not carry the cancellation on."""
    if not rt.is_async:
        pytest.skip(NO_SCOPE)

    async def scenario(rt: Runtime) -> None:
        baseline = cancelling(rt)
        ctx = background(rt).with_cancel()
        with contextlib.suppress(Canceled):
            async with rt.enter(ctx.scope()):
                await anyio.lowlevel.checkpoint()
                ctx.cancel()
        assert_done(ctx, Canceled)
        await assert_no_pending_cancellation(rt, baseline)

    rt.run(scenario)


@pytest.mark.parametrize("where", ["inside", "other_task"])
def test_scope_does_not_swallow_native_cancellation_from_outside(rt: Runtime, where: str) -> None:
    if not rt.is_async:
        pytest.skip(NO_SCOPE)

    async def scenario(rt: Runtime) -> None:
        baseline = cancelling(rt)
        ctx = background(rt).with_timeout(LONG)
        after_block: list[str] = []
        entered = Entered(rt, "scope")

        async def work(outer: anyio.CancelScope) -> None:
            async with rt.enter(ctx.scope()):
                entered.mark()
                if where == "inside":
                    outer.cancel()
                await anyio.sleep_forever()
            after_block.append("ran on")  # must not: the cancellation passes through

        with anyio.fail_after(GUARD):
            if where == "inside":
                with anyio.CancelScope() as outer:
                    await work(outer)
                assert outer.cancelled_caught
            else:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(work, tg.cancel_scope)
                    await entered.blocked()
                    tg.cancel_scope.cancel()  # the group absorbs its own cancellation
        assert after_block == []
        assert_live(ctx)
        await assert_no_pending_cancellation(rt, baseline)
        ctx.cancel()  # the scope was left: this reaches no task
        await assert_no_pending_cancellation(rt, baseline)

    rt.run(scenario)


# -- packaging ----------------------------------------------------------------------------------


def test_import_loads_neither_trio_nor_asyncio() -> None:
    """A threads program pays for no async runtime; the others are one attribute away."""
    code = textwrap.dedent(
        """
        import sys
        import patterns.context as context

        def loaded():
            return sorted(name for name in ("trio", "asyncio") if name in sys.modules)

        assert loaded() == [], loaded()
        ctx = context.on_threads.background()
        child = ctx.with_timeout(60)
        child.cancel()
        assert child.done and not ctx.done
        assert loaded() == [], loaded()
        assert callable(context.on_trio.background)
        assert "trio" in sys.modules
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"

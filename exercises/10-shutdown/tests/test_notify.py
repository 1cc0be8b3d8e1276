"""Chapter 10's grading: ``notify_context`` cancels its context on the first signal,
with a ``Signaled`` cause; the cancel runs off the interrupted code; leaving the block
cancels the context and restores the handlers from before; a second signal stops at
once (asyncio and trio: the block raises the ``Signaled``; threads: the process exits
``128 +`` the signal).

The signals are real, delivered to this process with ``signal.raise_signal``, and are
SIGUSR1 and SIGUSR2, passed with ``signals=``, so the test runner's own SIGINT is never
touched. Before each test a handler of the test's own is put on both (the one a
``notify_context`` must restore); after it, whatever the code did, the originals come
back. Threads install handlers from the main thread only, so the threads scenarios run
in the main thread, bounded by a SIGALRM timer instead of the kit's helper thread; the
second signal, which ends a threads process, is sent to a child process. The library's
``patterns.context`` passes these tests too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import anyio
import pytest
import trio

from patterns.context import Signaled
from patterns.exercises.grading import StillWaiting, background

MINE = (signal.SIGUSR1, signal.SIGUSR2)
LIMIT_S = 2.0  # a scenario still running after this long waits for ever
CUT_WITHIN_S = 1.0  # a wait that a second signal must cut short (instant on trio's clock)
CHILD_LIMIT_S = 3.0  # a child process that starts and stops in a fraction of a second


class Previous:
    """The handler that was there before: it records what it hears."""

    def __init__(self) -> None:
        self.heard: list[int] = []

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.heard.append(signum)


@pytest.fixture(autouse=True)
def previous() -> Iterator[dict[int, Previous]]:
    originals = {signum: signal.getsignal(signum) for signum in MINE}
    handlers = {signum: Previous() for signum in MINE}
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    yield handlers
    for signum, original in originals.items():
        signal.signal(signum, original)


@contextlib.contextmanager
def main_thread_limit(seconds: float, waiting_for: str) -> Iterator[None]:
    """A bound on a scenario in the main thread: SIGALRM interrupts whatever it waits
    in (a join, a lock) with :class:`StillWaiting`."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise StillWaiting(seconds, waiting_for)

    before = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


def run(rt: Any, scenario: Callable[..., Any], waiting_for: str) -> None:
    if rt.is_async:
        rt.run(scenario, waiting_for=waiting_for)
        return
    with main_thread_limit(LIMIT_S, waiting_for):
        rt.run(scenario, timeout=None)  # in this, the main thread: signal.signal needs it


def where(rt: Any) -> object:
    """What runs now: the thread (threads), the task (asyncio, trio)."""
    if rt.name == "threads":
        return threading.current_thread()
    if rt.name == "asyncio":
        return asyncio.current_task()
    return trio.lowlevel.current_task()


async def first_signal(rt: Any, ctx: Any, signum: int = signal.SIGUSR1) -> None:
    """Deliver ``signum``; fail unless it cancels ``ctx`` with a ``Signaled`` cause."""
    signal.raise_signal(signum)
    name = signal.Signals(signum).name
    assert await rt.settled(lambda: ctx.done), (
        f"{name} arrived and the context was not cancelled: the first of `signals` "
        "cancels it")
    cause = ctx.cause
    assert isinstance(cause, Signaled), (
        f"the context was cancelled with cause {cause!r}; the cause of a signal's cancel "
        f"is Signaled({name}): ctx.cancel(Signaled(signum))")
    assert cause.signal == signum, (
        f"the cause says signal {cause.signal}; the signal that came was {name} ({signum})")


# -- task 1: the first signal cancels the context, with a Signaled cause ------------------


@pytest.mark.task(1)
def test_the_first_signal_cancels_the_context_with_a_signaled_cause(
        impl: Any, rt: Any, previous: dict[int, Previous]) -> None:
    async def scenario(rt: Any) -> None:
        parent = background(rt).with_cancel()
        async with rt.enter(impl.notify_context(parent, signals=MINE)) as ctx:
            assert not ctx.done, "the context was done before any signal came"
            await first_signal(rt, ctx, signal.SIGUSR2)
            assert not previous[signal.SIGUSR2].heard, (
                "the handler from before heard the signal inside the block: install yours")
            assert not parent.done, "the signal cancelled the parent: a cancel never goes up"
        parent.cancel()

    run(rt, scenario, "the block to end")


@pytest.mark.task(1)
def test_cancelling_the_parent_cancels_it(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        parent = background(rt).with_cancel()
        why = RuntimeError("shutting down")
        async with rt.enter(impl.notify_context(parent, signals=MINE)) as ctx:
            parent.cancel(why)
            assert ctx.done and ctx.cause is why, (
                "cancelling the parent did not cancel the context: derive it from the "
                "parent, parent.with_cancel()")

    run(rt, scenario, "the block to end")


# -- task 2: the cancel runs off the interrupted code ---------------------------------------


@pytest.mark.task(2)
def test_the_cancel_does_not_run_in_the_code_the_signal_interrupted(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        cancelled_in: list[object] = []
        async with rt.enter(impl.notify_context(signals=MINE)) as ctx:
            ctx.after_cancel(lambda: cancelled_in.append(where(rt)))
            await first_signal(rt, ctx)
            here = where(rt)
        assert cancelled_in and cancelled_in[0] is not here, (
            "the context was cancelled inside the signal handler, in the very code the "
            "signal interrupted, which may hold the context tree's lock: hand the cancel "
            + ("to a thread of its own (put the signal on a queue.SimpleQueue)"
               if rt.name == "threads" else
               "to the event loop (loop.add_signal_handler)" if rt.name == "asyncio" else
               "to a task (trio.open_signal_receiver, read in a task of a nursery)"))

    run(rt, scenario, "the block to end")


# -- task 3: leaving the block cancels it and restores the handlers ------------------------


@pytest.mark.task(3)
def test_leaving_the_block_cancels_it_and_restores_the_handlers(
        impl: Any, rt: Any, previous: dict[int, Previous]) -> None:
    async def scenario(rt: Any) -> None:
        async with rt.enter(impl.notify_context(signals=MINE)) as ctx:
            mine = [s for s, h in previous.items() if signal.getsignal(s) is h]
            assert not mine, (
                f"inside the block, {signal.Signals(mine[0]).name} still has the handler "
                "from before: notify_context installs its own on each of `signals`")
        assert ctx.done, "the context still runs after the block: leaving cancels it (stop())"
        for signum, handler in previous.items():
            now = signal.getsignal(signum)
            assert now is handler, (
                f"after the block, {signal.Signals(signum).name}'s handler is {now!r}, not "
                "the one from before: keep what signal.signal (or signal.getsignal) gave "
                "you, and put it back")
        signal.raise_signal(signal.SIGUSR1)
        assert previous[signal.SIGUSR1].heard == [signal.SIGUSR1]

    run(rt, scenario, "the block to end")


@pytest.mark.task(3)
def test_the_handlers_are_restored_when_the_block_raises(
        impl: Any, rt: Any, previous: dict[int, Previous]) -> None:
    async def scenario(rt: Any) -> None:
        error = ValueError("the block's own")
        try:
            async with rt.enter(impl.notify_context(signals=MINE)):
                raise error
        except ValueError as raised:
            assert raised is error
        except BaseException as other:
            raise AssertionError(f"the block raised ValueError and {other!r} came out: "
                                 "let the block's own error through as it is") from None
        else:
            raise AssertionError("the block raised ValueError and nothing came out")
        for signum, handler in previous.items():
            assert signal.getsignal(signum) is handler, (
                "after a block that raised, the handlers from before are not back: "
                "restore them in a finally")

    run(rt, scenario, "the block to end")


# -- task 4: a second signal stops at once ----------------------------------------------------


@pytest.mark.task(4)
def test_a_second_signal_cuts_the_block_short(impl: Any, rt: Any) -> None:
    if not rt.is_async:
        second_signal_ends_the_threads_process(impl)
        return

    async def scenario(rt: Any) -> None:
        outcome: list[BaseException] = []
        try:
            async with rt.enter(impl.notify_context(signals=MINE)) as ctx:
                await first_signal(rt, ctx)
                signal.raise_signal(signal.SIGUSR2)  # any of them: a second signal
                await anyio.sleep(CUT_WITHIN_S)  # ignores the context: only a cut ends it
        except BaseException as exc:
            outcome.append(exc)
        assert outcome, (
            "a second signal came and the block ran on to its end: it must stop at once "
            "(cancel the block natively; it raises the first signal's Signaled)")
        raised = outcome[0]
        assert isinstance(raised, Signaled), (
            f"the block cut short by a second signal raised {raised!r}; it raises the "
            "Signaled of the signal that started the shutdown")
        assert raised.signal == signal.SIGUSR1, (
            f"the block raised Signaled({raised.signal}); the first signal was SIGUSR1")
        await anyio.sleep(0)  # the task itself was not left cancelled

    run(rt, scenario, "the block to end")


CHILD = textwrap.dedent("""
    import importlib.util, signal, sys, threading
    spec = importlib.util.spec_from_file_location("learner", sys.argv[1])
    learner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(learner)
    with learner.notify_context(signals=(signal.SIGUSR1, signal.SIGUSR2)) as ctx:
        signal.raise_signal(signal.SIGUSR1)
        print("cancelled" if ctx.wait(timeout=2) else "not cancelled", flush=True)
        signal.raise_signal(signal.SIGUSR2)
        threading.Event().wait(30)  # a drain that ignores the context
    print("the block ended", flush=True)
""")


def second_signal_ends_the_threads_process(impl: Any) -> None:
    """Threads cannot cut the block short: the process goes, ``128 +`` the first signal."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, impl.__file__], env=env,
                              capture_output=True, text=True, timeout=CHILD_LIMIT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            "a second signal came and the process went on draining: threads cannot stop "
            "the block, so the second signal ends the process, os._exit(128 + the first "
            "signal), after flushing stdout and stderr") from None
    assert done.stdout.startswith("cancelled"), (
        f"the first signal did not cancel the context ({done.stdout or done.stderr!r})")
    assert done.returncode == 128 + signal.SIGUSR1, (
        f"the process exited {done.returncode}; a second signal ends it with 128 + the "
        f"first signal's number, {128 + signal.SIGUSR1} for SIGUSR1 ({done.stderr!r})")

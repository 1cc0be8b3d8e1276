"""Behavioural suite for ``notify_context`` (Go's ``signal.NotifyContext``), in three
runtimes: graceful shutdown as *signal, cancel, drain, exit*.

Two kinds of test, both with real signals. In this process, SIGUSR1 and SIGUSR2 (passed
with ``signals=``, so the test runner's own SIGINT is never touched) check the contract
a block can see from inside: the first signal cancels the context with a ``Signaled``
cause, off the interrupted code; leaving the block restores the handlers; a parent's
cancel reaches it; asyncio and trio cut the block short on a second signal or when the
grace is over. Then SIGINT and SIGTERM go to a child process (``shutdown_child.py``, a
worker pool under ``notify_context``) for what only a whole program shows: results that
finished are printed, the exit code is ``128 + signal``, and a drain that ignores its
context is ended by a second signal or by ``grace`` (threads: by ending the process).
The tests synchronise on the child's output lines, never on sleeps; a stubborn drain
would take 30 s, so a test that passes in seconds shows it was cut short.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import anyio
import pytest
import trio
from runtimes import NAMES, Runtime, background

from patterns.context import Canceled, Signaled

CHILD = Path(__file__).with_name("shutdown_child.py")
ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 20.0  # a child takes a fraction of a second; this only turns a hang into a failure
STOP_WITHIN_S = 5.0  # from the last signal to the exit; a stubborn drain would take 30 s
GRACE_S = 0.2
LONG = 3600.0  # a sleep that must be cut short
MINE = (signal.SIGUSR1, signal.SIGUSR2)
NO_CUT_IN_THREADS = ("threads cannot cut the block short: a second signal or the grace ends "
                     "the process, which the child-process tests below check")


# -- in this process: SIGUSR1 and SIGUSR2 ---------------------------------------------------


@pytest.fixture(autouse=True)
def previous_handlers() -> Iterator[dict[int, Callable[[int, FrameType | None], None]]]:
    """A recording handler of the test's own on SIGUSR1 and SIGUSR2, the ones a block must
    restore; the originals come back afterwards whatever the code under test did."""
    originals = {signum: signal.getsignal(signum) for signum in MINE}
    handlers = {signum: _recorder() for signum in MINE}
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    yield handlers
    for signum, original in originals.items():
        signal.signal(signum, original)


def _recorder() -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        handler.received.append(signum)  # type: ignore[attr-defined]

    handler.received = []  # type: ignore[attr-defined]
    return handler


def where(rt: Runtime) -> object:
    """What is running now: the thread in threads, the task in asyncio and trio."""
    if rt.name == "threads":
        return threading.current_thread()
    if rt.name == "asyncio":
        return asyncio.current_task()
    return trio.lowlevel.current_task()


async def wait_done(rt: Runtime, ctx: Any) -> None:
    if rt.is_async:
        await ctx.wait()
    else:
        assert ctx.wait(timeout=RUN_TIMEOUT_S), "the signal never cancelled the context"


def test_the_first_signal_cancels_with_a_signaled_cause_off_the_interrupted_code(
        rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        parent = background(rt).with_cancel()
        cancelled_in: list[object] = []
        async with rt.enter(rt.module("context").notify_context(parent, signals=MINE)) as ctx:
            ctx.after_cancel(lambda: cancelled_in.append(where(rt)))
            signal.raise_signal(signal.SIGUSR2)
            await wait_done(rt, ctx)
            cause = ctx.cause
            assert isinstance(cause, Signaled) and cause.signal == signal.SIGUSR2, repr(cause)
            assert isinstance(ctx.err, Canceled)
            assert not parent.done, "the signal reached the parent: a cancel never goes up"
            # The handler interrupted this very code; the cancel must run elsewhere (a
            # thread of its own, a loop callback, the watcher task), never inside it.
            assert cancelled_in and cancelled_in[0] is not where(rt), cancelled_in
        assert ctx.cause is cause, "leaving the block replaced the first cause"
        parent.cancel()

    rt.run(scenario)


def test_leaving_the_block_cancels_it_and_restores_the_handlers(
        rt: Runtime, previous_handlers: dict[int, Any]) -> None:
    async def scenario(rt: Runtime) -> None:
        defaults = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        async with rt.enter(rt.module("context").notify_context()) as plain:
            assert signal.getsignal(signal.SIGINT) is not defaults[signal.SIGINT]
        assert {s: signal.getsignal(s) for s in defaults} == defaults
        async with rt.enter(rt.module("context").notify_context(signals=MINE)) as ctx:
            assert all(signal.getsignal(s) is not h for s, h in previous_handlers.items())
            assert not ctx.done
        for signum, handler in previous_handlers.items():
            assert signal.getsignal(signum) is handler, f"{signum!r} not restored"
        assert ctx.done and plain.done  # Go's stop(): leaving cancels
        assert not isinstance(ctx.cause, Signaled)
        signal.raise_signal(signal.SIGUSR1)  # now the handler from before hears it
        assert previous_handlers[signal.SIGUSR1].received == [signal.SIGUSR1]

    rt.run(scenario)


def test_the_blocks_own_error_passes_through_unchanged(
        rt: Runtime, previous_handlers: dict[int, Any]) -> None:
    async def scenario(rt: Runtime) -> None:
        error = ValueError("the block's own")
        with pytest.raises(ValueError) as raised:  # not an ExceptionGroup (trio's nursery)
            async with rt.enter(rt.module("context").notify_context(signals=MINE)) as ctx:
                raise error
        assert raised.value is error
        assert ctx.done
        assert signal.getsignal(signal.SIGUSR1) is previous_handlers[signal.SIGUSR1]

    rt.run(scenario)


def test_cancelling_the_parent_cancels_it(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        parent = background(rt).with_cancel()
        why = RuntimeError("shutting down")
        async with rt.enter(rt.module("context").notify_context(parent, signals=MINE)) as ctx:
            parent.cancel(why)
            assert ctx.done and ctx.cause is why

    rt.run(scenario)


@pytest.mark.parametrize("grace", [None, GRACE_S], ids=["second-signal", "grace"])
def test_async_runtimes_cut_the_block_short_and_it_raises_the_first_signal(
        rt: Runtime, grace: float | None) -> None:
    if not rt.is_async:
        pytest.skip(NO_CUT_IN_THREADS)

    async def scenario(rt: Runtime) -> None:
        notify = rt.module("context").notify_context(signals=MINE, grace=grace)
        with pytest.raises(Signaled) as raised:
            async with notify as ctx:
                signal.raise_signal(signal.SIGUSR1)
                await ctx.wait()
                if grace is None:
                    signal.raise_signal(signal.SIGUSR2)  # any of them: a second signal
                await anyio.sleep(LONG)  # ignores the context: only the cut ends it
        assert raised.value is ctx.cause and raised.value.signal == signal.SIGUSR1
        await anyio.sleep(0)  # the task was not left cancelled: it can still wait

    rt.run(scenario)


def test_outside_the_main_thread_it_is_a_value_error(rt: Runtime) -> None:
    notify = rt.module("context").notify_context
    failures: list[BaseException] = []

    async def enter() -> None:
        async with notify(signals=MINE):
            pass

    def run() -> None:
        try:
            if rt.name == "threads":
                with notify(signals=MINE):
                    pass
            elif rt.name == "asyncio":
                asyncio.run(enter())
            else:
                trio.run(enter)
        except BaseException as exc:  # handed to the test below
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert len(failures) == 1 and isinstance(failures[0], ValueError), failures


# -- in a child process: SIGINT and SIGTERM, and the exit code --------------------------------


class Child:
    """``shutdown_child.py`` in a runtime, read a line at a time with a deadline."""

    def __init__(self, runtime: str, mode: str, grace: float | None = None) -> None:
        args = [sys.executable, str(CHILD), runtime, mode]
        if grace is not None:
            args.append(str(grace))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(CHILD.parent)])}
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, env=env)
        self.lines: list[str] = []
        self._buffer = b""

    def read_until(self, line: str) -> None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while line not in self.lines:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"no {line!r} from the child: {self.lines}")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"the child ended without {line!r}: {self.lines}")
            self._buffer += chunk
            *whole, self._buffer = self._buffer.split(b"\n")
            self.lines += [w.decode() for w in whole]

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self) -> int:
        out, _ = self.process.communicate(timeout=RUN_TIMEOUT_S)
        self.lines += (self._buffer + out).decode().splitlines()
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def child() -> Iterator[Callable[..., Child]]:
    started: list[Child] = []

    def start(*args: Any) -> Child:
        started.append(Child(*args))
        return started[-1]

    yield start
    for each in started:
        each.close()


SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM],
                                  ids=["SIGINT", "SIGTERM"])
RUNTIME = pytest.mark.parametrize("runtime", NAMES)


@SIGNALS
@RUNTIME
def test_a_signal_drains_the_pool_keeps_what_finished_and_exits_128_plus_it(
        child: Callable[..., Child], runtime: str, signum: int) -> None:
    program = child(runtime, "cooperative")
    program.read_until("ready")
    program.signal(signum)
    code = program.wait()
    assert code == 128 + signum, program.lines
    lines = program.lines
    assert {"done 0", "done 1"} <= set(lines[:lines.index("ready")]), lines
    # The slow jobs were stopped by the cancel, and said so: a drain, not a kill.
    assert {"cancelled", "canceled 2", "canceled 3", "drained"} <= set(lines), lines


@RUNTIME
def test_a_second_signal_ends_a_stubborn_drain_at_once(
        child: Callable[..., Child], runtime: str) -> None:
    program = child(runtime, "stubborn")
    program.read_until("ready")
    program.signal(signal.SIGINT)
    program.read_until("cancelled")  # the first one is in: the drain has begun
    sent = time.monotonic()  # before the signal: a busy machine may pause us after it
    program.signal(signal.SIGTERM)
    code = program.wait()
    took = time.monotonic() - sent
    assert code == 128 + signal.SIGINT, program.lines  # the signal that started the shutdown
    assert took < STOP_WITHIN_S, f"the drain went on {took:.1f} s after the second signal"
    assert "drained" not in program.lines
    assert {"done 0", "done 1"} <= set(program.lines)
    if runtime != "threads":  # threads end the process; asyncio and trio raise Signaled
        assert "cut short" in program.lines, program.lines


@RUNTIME
def test_grace_bounds_a_stubborn_drain(child: Callable[..., Child], runtime: str) -> None:
    program = child(runtime, "stubborn", GRACE_S)
    program.read_until("ready")
    # Before the signal, so that ``took`` can only be longer than the child's wait: a
    # busy machine may pause this process between the two, and the lower bound is hard.
    sent = time.monotonic()
    program.signal(signal.SIGTERM)
    code = program.wait()
    took = time.monotonic() - sent
    assert code == 128 + signal.SIGTERM, program.lines
    assert GRACE_S <= took < STOP_WITHIN_S, f"ended {took:.2f} s after the signal: {program.lines}"
    assert "cancelled" in program.lines and "drained" not in program.lines
    if runtime != "threads":
        assert "cut short" in program.lines, program.lines

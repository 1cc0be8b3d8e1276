"""One scenario, three runtimes: the adapter every test here is written against, the
project's behavioural suites and the exercises' chapter tests alike.

A test is written once, as ``async def scenario(rt)``, and run in each runtime:

- asyncio and trio run it with :func:`anyio.run` (trio with
  ``MockClock(autojump_threshold=0)``, so a deadline passes as soon as every task is
  blocked: timeouts cost no wall time);
- threads step the coroutine by hand. Every ``await rt.…`` on the threads adapter
  finishes without suspending, because the call underneath blocks the OS thread
  instead, so the scenario's ``await`` is only syntax there.

``await rt.call(f, ...)`` is the bridge: it calls ``f`` and awaits the result when the
runtime's API is async (``sem.acquire`` is a blocking call in threads and a coroutine
in asyncio and trio). ``rt.enter(cm)`` does the same for ``with`` / ``async with``.

A chapter's tests grade a learner, whose code may wait forever: ``rt.run(scenario,
timeout=5, waiting_for="the block to end")`` turns that into a failure that says so,
instead of a test that hangs (on trio's mock clock a deadlock fails at once: the clock
jumps to the limit). A scenario's own helper threads are daemons, each a
:class:`ScenarioThread`, so a learner's deadlock cannot keep them alive.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from types import ModuleType
from typing import Any

import anyio
import anyio.lowlevel
import trio
import trio.testing

POLL_LIMIT_S = 10.0  # a condition that never comes true fails the test instead of hanging it
SETTLE_S = 0.5  # how long ``settled`` waits for a state a correct version reaches at once
POLL_STEP_S = 0.001  # once every task is blocked, the clock moves on by this much a poll
QUICK_TURNS = 20  # scheduler turns before the first wait for every task to block
YIELDS_FOR_THREADS = 200  # how often a thread yields the GIL to let the others reach a block


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a threads scenario: a coroutine whose every await completes at once."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a threads scenario suspended: await only rt.* helpers there")


class StillWaiting(AssertionError):
    """A scenario was still running at its time limit: something waits forever."""

    def __init__(self, timeout: float, waiting_for: str | None = None) -> None:
        self.timeout = timeout
        what = (f" for {waiting_for}" if waiting_for else
                ": something never finished or never woke up (a deadlock, a join on a "
                "worker that never ends, a channel never closed)")
        super().__init__(f"still waiting after {timeout:g} s{what}")


class ScenarioThread(threading.Thread):
    """A thread of the test's own (a scenario, a helper beside it), not of the code
    under test. It is a daemon: if the code under test blocks it for good, it cannot
    keep the process alive, and the grader's leak check leaves it to the test, which
    has failed already."""

    def __init__(self, target: Callable[[], object], name: str = "scenario") -> None:
        super().__init__(target=target, name=name, daemon=True)


def _drive_within(timeout: float, coro: Coroutine[Any, Any, Any],
                  waiting_for: str | None) -> Any:
    """``drive`` in a daemon thread, given up on after ``timeout`` seconds: a thread
    cannot be cancelled, so one that waits forever is left behind (and the test fails)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, drive(coro)))
        except BaseException as exc:  # handed back to the test's own thread
            outcome.append((False, exc))

    thread = ScenarioThread(run)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise StillWaiting(timeout, waiting_for)
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


async def _within(timeout: float | None, waiting_for: str | None,
                  coro: Coroutine[Any, Any, Any]) -> Any:
    if timeout is None:
        return await coro
    try:
        with anyio.fail_after(timeout):
            return await coro
    except TimeoutError:
        raise StillWaiting(timeout, waiting_for) from None


class ThreadEvent:
    """``anyio.Event``'s shape over :class:`threading.Event`."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        self._event.wait()


class ThreadGroup:
    """A task group of OS threads: ``start_soon`` starts one, leaving the block joins all.

    Errors are raised as an ExceptionGroup, as anyio's task groups do. Threads cannot be
    cancelled, so a scenario must unblock its threads before leaving the block.
    """

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []

    def start_soon(self, afn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        def run() -> None:
            try:
                drive(afn(*args))
            except BaseException as exc:  # reported on exit, like a task group
                self._errors.append(exc)

        thread = ScenarioThread(run, name=f"scenario-{len(self._threads)}")
        thread.start()
        self._threads.append(thread)

    async def __aenter__(self) -> ThreadGroup:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for thread in self._threads:
            thread.join()
        if self._errors:
            raise BaseExceptionGroup("errors in scenario threads", self._errors)


class Runtime:
    """The adapter: ``rt.module("semaphore")`` is ``patterns.semaphore.on_<runtime>``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.is_async = name != "threads"

    def __repr__(self) -> str:
        return self.name

    def module(self, pattern: str) -> ModuleType:
        return importlib.import_module(f"patterns.{pattern}.on_{self.name}")

    # -- running ---------------------------------------------------------------------

    def run(self, scenario: Callable[..., Coroutine[Any, Any, Any]], *args: Any,
            mock_clock: bool = True, timeout: float | None = None,
            waiting_for: str | None = None) -> Any:
        """Run ``scenario(rt, *args)`` to completion; fail if it leaves tasks behind.

        ``mock_clock=False`` runs trio on the real clock, for scenarios that wait on real
        sockets: the mock clock would jump while a task waits for bytes, and every
        deadline would pass at once. ``timeout`` seconds (on the runtime's clock) bound
        the scenario: past them it fails with :class:`StillWaiting`, whose message says
        what it was ``waiting_for`` ("the block to end") when the test names it."""
        if self.name == "threads":
            coro = scenario(self, *args)
            return drive(coro) if timeout is None else _drive_within(timeout, coro, waiting_for)
        bound = (timeout, waiting_for)
        if self.name == "asyncio":
            return anyio.run(self._asyncio_main, scenario, args, bound, backend="asyncio")
        options = {"clock": trio.testing.MockClock(autojump_threshold=0)} if mock_clock else {}
        return anyio.run(
            self._trio_main, scenario, args, bound, backend="trio", backend_options=options
        )

    async def _asyncio_main(self, scenario: Callable[..., Any], args: tuple[Any, ...],
                            bound: tuple[float | None, str | None]) -> Any:
        result = await _within(*bound, scenario(self, *args))
        # A task that was just cancelled is still unwinding: let it finish, then count.
        await anyio.wait_all_tasks_blocked()
        left = asyncio.all_tasks() - {asyncio.current_task()}
        assert not left, f"scenario left asyncio tasks running: {left}"
        return result

    async def _trio_main(self, scenario: Callable[..., Any], args: tuple[Any, ...],
                         bound: tuple[float | None, str | None]) -> Any:
        living = trio.lowlevel.current_statistics().tasks_living
        result = await _within(*bound, scenario(self, *args))
        # A task that was just cancelled (a context's deadline timer, say) is still
        # unwinding, and trio runs a batch in random order: let it finish, then count.
        await trio.testing.wait_all_tasks_blocked()
        left = trio.lowlevel.current_statistics().tasks_living - living
        assert left <= 0, f"scenario left {left} trio task(s) running"
        return result

    # -- bridging sync and async APIs ----------------------------------------------------

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn``; await the result if this runtime's API returned an awaitable."""
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    @asynccontextmanager
    async def enter(self, cm: Any) -> AsyncIterator[Any]:
        """``async with rt.enter(cm) as x``: enter a sync or an async context manager."""
        if isinstance(cm, AbstractAsyncContextManager) or hasattr(cm, "__aenter__"):
            async with cm as value:
                yield value
        else:
            assert isinstance(cm, AbstractContextManager) or hasattr(cm, "__enter__")
            with cm as value:
                yield value

    async def aiter(self, iterable: Any) -> AsyncIterator[Any]:
        """Iterate a sync or an async iterable."""
        if hasattr(iterable, "__aiter__"):
            async for item in iterable:
                yield item
        else:
            for item in iterable:
                yield item

    def callback(self, afn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
        """``afn`` as this runtime's API takes a function to run: a sync function in
        threads (its awaits all complete at once there, see :func:`drive`), the async
        function itself otherwise. A scenario writes its jobs once, as ``async def``."""
        if self.is_async:
            return afn

        def run(*args: Any, **kwargs: Any) -> Any:
            return drive(afn(*args, **kwargs))

        return run

    # -- synchronisation for scenarios ------------------------------------------------------

    def event(self) -> Any:
        """An event with ``set()``, ``is_set()`` and ``await wait()``."""
        return ThreadEvent() if self.name == "threads" else anyio.Event()

    def task_group(self) -> Any:
        """``async with rt.task_group() as tg: tg.start_soon(afn, *args)``."""
        return ThreadGroup() if self.name == "threads" else anyio.create_task_group()

    def now(self) -> float:
        """The runtime's own clock, the one deadlines are measured on."""
        if self.name == "threads":
            return time.monotonic()
        if self.name == "asyncio":
            return asyncio.get_running_loop().time()
        return trio.current_time()

    async def checkpoint(self) -> None:
        """Let other tasks (or threads) run."""
        if self.is_async:
            await anyio.lowlevel.checkpoint()
        else:
            time.sleep(0)

    async def settled(self, condition: Callable[[], bool], within: float = SETTLE_S) -> bool:
        """Let the other tasks (or threads) run until ``condition()`` holds, for at most
        ``within`` seconds on the runtime's clock; return whether it holds. It is for
        states no event can announce ("the other task is now queued inside
        ``acquire``"), and for tests that say themselves what a wrong version did::

            await rt.settled(lambda: bool(outcome))
            assert outcome, "the block never ended once its last task had"

        asyncio and trio take a few scheduler turns first, then wait each time until
        every task is blocked and let the clock move a step: on trio's mock clock a step
        costs no wall time, so a condition that never comes true gives up at once.
        Threads poll, yielding the GIL between checks."""
        limit = self.now() + within
        turns = 0
        while not condition():
            if self.now() >= limit:
                return False
            if not self.is_async:
                time.sleep(0)
            elif turns < QUICK_TURNS:
                # anyio's asyncio wait_all_tasks_blocked naps 0.1 s whenever a task can
                # still run, so a few plain turns first are much quicker.
                await anyio.lowlevel.checkpoint()
            else:
                await anyio.wait_all_tasks_blocked()
                if condition():
                    return True
                await anyio.sleep(POLL_STEP_S)
            turns += 1
        return True

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds (see :meth:`settled`); fail if it has not
        after :data:`POLL_LIMIT_S` seconds on the runtime's clock."""
        assert await self.settled(condition, POLL_LIMIT_S), "condition never came true"


def background(rt: Runtime) -> Any:
    """The runtime's root context: ``patterns.context.on_<runtime>.background()``."""
    return rt.module("context").background()


async def let_others_block(rt: Runtime) -> None:
    """Let every other task run until it blocks (asyncio, trio). Threads can only yield
    the GIL a while, so there a "still blocked" assertion after it can miss a bug but
    never invent one."""
    if rt.is_async:
        await anyio.wait_all_tasks_blocked()
    else:
        for _ in range(YIELDS_FOR_THREADS):
            await rt.checkpoint()

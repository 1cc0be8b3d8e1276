"""Go's ``context`` on trio: a cancellation tree mapped onto cancel scopes.

A context carries a cancellation signal, a deadline and request-scoped values down a
call chain; ``cancel()`` reaches every descendant and never an ancestor. Go
counterpart: ``context.Context``.

What trio adds: it has cancellation built in. ``with ctx.scope():`` is a
``trio.CancelScope`` whose deadline is the context's and which is cancelled when the
context is; the block raises ``ctx.err`` instead of letting ``trio.Cancelled`` out.
trio's rule that the outermost cancelled scope catches the ``Cancelled`` gives nested
scopes the contract's behaviour for free. Deadlines are ``trio.current_time()``
values, so ``trio.testing.MockClock`` makes them instant in tests; they are checked
lazily: only ``after()`` on a context with a deadline starts a timer (one system
task).

Contexts belong to one ``trio.run`` and are not thread-safe.

Graceful shutdown, Go's ``signal.NotifyContext``: ``async with notify_context() as
ctx:`` runs the block under a context that the first SIGINT or SIGTERM cancels with a
``Signaled`` cause; the work under it stops, the pools drain, and the block ends with
what finished. The signals arrive as messages, from ``trio.open_signal_receiver``, in
a task of the block's own nursery: the cancelling runs in that task, never in the
middle of other code. A second signal, or ``grace`` seconds with the block still
running, cancels the block's cancel scope and the block raises the ``Signaled``.
``async with``, since the watching task needs a nursery around the block.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections.abc import AsyncIterator, Iterable
from types import TracebackType

import trio

from patterns.context import Signaled
from patterns.context._tree import ContextTree

__all__ = ["Context", "background", "notify_context"]


class Context(ContextTree):
    """A context for trio code: Go's ``context.Context``.

    Derive children with ``with_cancel``, ``with_timeout``, ``with_deadline``,
    ``with_value`` and ``without_cancel``; stop work with ``cancel(cause)``; watch it
    with ``done``, ``err``, ``cause``, ``check()``, ``await wait()``, ``await sleep()``,
    ``after()`` and ``after_cancel()``; interrupt work with ``with scope()``.
    """

    __slots__ = ("_timer",)
    _lock = contextlib.nullcontext()  # one thread, one run: nothing to guard
    _timer: trio.CancelScope

    def _now(self) -> float:
        return trio.current_time()

    async def wait(self) -> None:
        """Wait until the context is done (Go ``<-ctx.Done()``)."""
        await self._wait_until(None)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or raise ``err`` as soon as the context is done."""
        await self._wait_until(self._now() + seconds)
        self.check()

    async def _wait_until(self, end: float | None) -> None:
        """Wait until done, or until trio's clock reaches ``end``."""
        woken = trio.Event()
        stop = self.after_cancel(woken.set)
        try:
            while not self.done and (end is None or self._now() < end):
                wake_at = min((t for t in (end, self._deadline) if t is not None), default=None)
                with trio.move_on_at(math.inf if wake_at is None else wake_at):
                    await woken.wait()
        finally:
            stop()

    def scope(self) -> Scope:
        """``with ctx.scope():`` cancels the work inside natively when the context is
        done, and raises ``ctx.err`` instead of ``trio.Cancelled``."""
        return Scope(self)

    def _start_timer(self) -> None:
        self._timer = trio.CancelScope()
        trio.lowlevel.spawn_system_task(self._run_timer, self._timer)

    def _stop_timer(self) -> None:
        self._timer.cancel()

    async def _run_timer(self, timer: trio.CancelScope) -> None:
        assert self._deadline is not None
        with timer:
            while not self.done:  # looking ends it, and runs the after() callbacks here
                await trio.sleep_until(self._deadline)


class Scope:
    """The block of ``with ctx.scope():``: a ``trio.CancelScope`` tied to a context."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        deadline = ctx.deadline
        self._cancel_scope = trio.CancelScope(deadline=math.inf if deadline is None else deadline)

    def __enter__(self) -> Context:
        self._cancel_scope.__enter__()
        # trio watches the deadline itself; we only forward an explicit cancel.
        self._stop = self._ctx.after_cancel(self._cancel_scope.cancel)
        return self._ctx

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()
        self._cancel_scope.__exit__(exc_type, exc, tb)  # True also when nothing was raised
        if self._cancel_scope.cancelled_caught:
            err = self._ctx.err
            assert err is not None
            raise err.with_traceback(None)


def background() -> Context:
    """The root context: never done, no deadline, no values (Go ``Background``)."""
    return Context()


@contextlib.asynccontextmanager
async def notify_context(parent: Context | None = None, *,
                         signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
                         grace: float | None = None) -> AsyncIterator[Context]:
    """``async with notify_context() as ctx:``, a child of ``parent`` (default
    ``background()``) that the first of ``signals`` cancels with cause
    ``Signaled(signum)`` (Go ``signal.NotifyContext``).

    A second signal, or ``grace`` seconds after the first with the block still
    running, cancels the block, and the block raises that ``Signaled``. Leaving the
    block cancels ``ctx`` (Go's ``stop()``) and restores the handlers that were there
    before. ``ValueError`` outside the main thread.

    >>> import os, signal, trio
    >>> async def main():
    ...     async with notify_context(signals=[signal.SIGUSR1]) as ctx:
    ...         os.kill(os.getpid(), signal.SIGUSR1)
    ...         await ctx.wait()
    ...         print(repr(ctx.cause))
    >>> trio.run(main)
    Signaled(10)
    """
    if threading.current_thread() is not threading.main_thread():
        raise ValueError("notify_context() installs signal handlers: only the main thread can")
    ctx = (parent if parent is not None else background()).with_cancel()
    block = trio.CancelScope()  # cancelled by a second signal, or when the grace is over
    error: BaseException | None = None
    async with trio.open_nursery() as nursery:
        # start(), not start_soon(): the handlers are in place before the block runs.
        await nursery.start(_watch, signals, ctx, block, grace)
        try:
            with block:
                yield ctx
        except BaseException as exc:
            error = exc  # raised below: the nursery would wrap it in an ExceptionGroup
        finally:
            nursery.cancel_scope.cancel()  # the watcher's work is done
            ctx.cancel()
    if block.cancelled_caught:
        cause = ctx.cause
        assert isinstance(cause, Signaled)
        raise cause.with_traceback(None)
    if error is not None:
        raise error


async def _watch(signals: Iterable[int], ctx: Context, block: trio.CancelScope,
                 grace: float | None, *, task_status: trio.TaskStatus[None]) -> None:
    """The signals' task: cancel ``ctx`` on the first, ``block`` on the second."""
    with trio.open_signal_receiver(*signals) as received:  # restores the handlers after
        task_status.started()
        first = await anext(received)
        ctx.cancel(Signaled(first))  # everything under ctx stops; the pools drain
        with trio.move_on_after(math.inf if grace is None else grace):
            await anext(received)
        block.cancel()

"""Go's ``context`` on asyncio: a cancellation tree that can interrupt a task.

A context carries a cancellation signal, a deadline and request-scoped values down a
call chain; ``cancel()`` reaches every descendant and never an ancestor. Go
counterpart: ``context.Context``.

What asyncio adds: a task can be interrupted at any ``await``. Inside
``async with ctx.scope():`` the work is cancelled natively (``Task.cancel()``) when the
context is done, and the block raises ``ctx.err`` instead of ``CancelledError``, the
way ``asyncio.timeout()`` turns its own cancellation into ``TimeoutError``. Deadlines
are ``loop.time()`` values, checked lazily: only ``after()`` and ``scope()`` on a
context with a deadline arm a timer (one ``loop.call_at`` handle).

Contexts belong to one event loop and are not thread-safe.

Graceful shutdown, Go's ``signal.NotifyContext``: ``async with notify_context() as
ctx:`` runs the block under a context that the first SIGINT or SIGTERM cancels with a
``Signaled`` cause; the work under it stops, the pools drain, and the block ends with
what finished. The handlers are ``loop.add_signal_handler`` callbacks, which the loop
runs between tasks, never in the middle of other code. A second signal, or ``grace``
seconds with the block still running, cancels the block's task natively and the
block raises the ``Signaled``. ``async with``, like ``asyncio.timeout()``, because it
may cancel the task that runs the block. asyncio keeps one handler per signal and
loop, so ``notify_context`` blocks do not nest for the same signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType

from patterns.context import Signaled
from patterns.context._tree import ContextTree

__all__ = ["Context", "background", "notify_context"]


class Context(ContextTree):
    """A context for asyncio code: Go's ``context.Context``.

    Derive children with ``with_cancel``, ``with_timeout``, ``with_deadline``,
    ``with_value`` and ``without_cancel``; stop work with ``cancel(cause)``; watch it
    with ``done``, ``err``, ``cause``, ``check()``, ``await wait()``, ``await sleep()``,
    ``after()`` and ``after_cancel()``; interrupt work with ``async with scope()``.
    """

    __slots__ = ("_timer",)
    _lock = contextlib.nullcontext()  # one thread, one loop: nothing to guard
    _timer: asyncio.TimerHandle

    def _now(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:  # outside a loop: the clock asyncio's default loop uses
            return time.monotonic()

    async def wait(self) -> None:
        """Wait until the context is done (Go ``<-ctx.Done()``)."""
        await self._wait_until(None)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or raise ``err`` as soon as the context is done."""
        await self._wait_until(self._now() + seconds)
        self.check()

    async def _wait_until(self, end: float | None) -> None:
        """Wait until done, or until the loop's clock reaches ``end``."""
        woken = asyncio.Event()
        stop = self.after_cancel(woken.set)
        try:
            # The waiter's own timeout is its deadline timer; a timer may fire a hair
            # early (loop clock resolution), hence the loop.
            while not self.done and (end is None or self._now() < end):
                wake_at = min((t for t in (end, self._deadline) if t is not None), default=None)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(wake_at):
                        await woken.wait()
        finally:
            stop()

    def scope(self) -> Scope:
        """``async with ctx.scope():`` cancels the work inside natively when the context
        is done, and raises ``ctx.err`` instead of ``CancelledError``."""
        return Scope(self)

    def _start_timer(self) -> None:
        assert self._deadline is not None
        self._timer = asyncio.get_running_loop().call_at(self._deadline, self._on_timer)

    def _stop_timer(self) -> None:
        self._timer.cancel()

    def _on_timer(self) -> None:
        if not self.done:  # fired a hair early: look again at the deadline
            self._start_timer()


class Scope:
    """The block of ``async with ctx.scope():`` (asyncio's ``Timeout``, for contexts).

    When the context is done, the task running the block is cancelled; on the way out,
    a ``CancelledError`` that this scope caused becomes ``ctx.err``. Nested scopes
    count their cancellations with ``Task.cancelling()``/``uncancel()``, so only the
    outermost cancelled scope converts the error and inner ones let it pass, and a
    cancellation from outside (``task.cancel()``, a ``TaskGroup``) is never swallowed.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._cancelled = False
        self._delivery: asyncio.Handle | None = None

    async def __aenter__(self) -> Context:
        task = asyncio.current_task()
        assert task is not None, "ctx.scope() needs a running asyncio task"
        self._task, self._cancelling = task, task.cancelling()
        self._stop = self._ctx.after(self._on_context_done)
        return self._ctx

    def _on_context_done(self) -> None:
        # Deliver from the loop, while the task waits at an await inside the block: a
        # cancel requested while the task itself runs would stay pending, and could
        # fire at the first await after the block.
        self._delivery = asyncio.get_running_loop().call_soon(self._deliver)

    def _deliver(self) -> None:
        self._delivery = None
        self._cancelled = True
        self._task.cancel()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()
        if self._delivery is not None:
            self._delivery.cancel()
        if not self._cancelled:
            return
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
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
    running, cancels the block's task, and the block raises that ``Signaled``.
    Leaving the block cancels ``ctx`` (Go's ``stop()``) and restores the handlers that
    were there before. ``ValueError`` outside the main thread.

    >>> import asyncio, os, signal
    >>> async def main():
    ...     async with notify_context(signals=[signal.SIGUSR1]) as ctx:
    ...         os.kill(os.getpid(), signal.SIGUSR1)
    ...         await ctx.wait()
    ...         print(repr(ctx.cause))
    >>> asyncio.run(main())
    Signaled(10)
    """
    if threading.current_thread() is not threading.main_thread():
        raise ValueError("notify_context() installs signal handlers: only the main thread can")
    ctx = (parent if parent is not None else background()).with_cancel()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None, "notify_context() needs a running asyncio task"
    cancelling = task.cancelling()
    first: Signaled | None = None  # the signal that started the shutdown
    grace_timer: asyncio.TimerHandle | None = None
    cut = False  # the block's task has been cancelled, by us

    def stop_block() -> None:
        nonlocal cut
        if not cut:
            cut = True
            task.cancel()

    def on_signal(signum: int) -> None:  # a loop callback: the block's task is waiting
        nonlocal first, grace_timer
        if first is not None:
            stop_block()
            return
        first = Signaled(signum)
        ctx.cancel(first)  # everything under ctx stops; the pools drain
        if grace is not None:
            grace_timer = loop.call_later(grace, stop_block)

    previous: dict[int, Callable[..., object] | int | None] = {}
    try:
        for signum in signals:
            handler = signal.getsignal(signum)
            loop.add_signal_handler(signum, on_signal, signum)
            previous[signum] = handler  # only once ours is in: it is ours to take away
        yield ctx
    except asyncio.CancelledError:
        if cut and task.uncancel() <= cancelling:  # ours, and nobody else's
            assert first is not None
            raise first.with_traceback(None) from None
        raise
    else:
        if cut:  # the block swallowed our CancelledError: it owes the task nothing
            task.uncancel()
    finally:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)  # which leaves the default, not the previous
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if grace_timer is not None:
            grace_timer.cancel()
        ctx.cancel()

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
"""

from __future__ import annotations

import contextlib
import math
from types import TracebackType

import trio

from patterns.context._tree import ContextTree

__all__ = ["Context", "background"]


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

"""What every runtime's errgroup ``Group`` shares (runtime-neutral).

Go's ``errgroup.go`` minus the goroutines: the limit (a semaphore of ``limit``
tokens, where Go uses a buffered channel), the count of running tasks (Go's
``WaitGroup``), and the first error (Go's ``errOnce``), which cancels the group's
context with itself as the cause.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any


class GroupCore:
    """Limit, running count and first error; the runtime modules start and wait."""

    _lock: AbstractContextManager[Any]
    _semaphore_type: Any  # the runtime's Semaphore class
    ctx: Any  # the runtime's Context

    def __init__(self, ctx: Any, limit: int | None) -> None:
        self.ctx = ctx.with_cancel()
        self._limit: Any = None  # a Semaphore of `limit` tokens, or None for no limit
        self._running = 0
        self._error: BaseException | None = None
        self.set_limit(limit)

    def set_limit(self, n: int | None) -> None:
        """Allow at most ``n`` tasks at once; ``None`` lifts the limit (Go ``SetLimit``).

        ``RuntimeError`` while tasks run, as Go panics; ``ValueError`` for ``n < 1`` (Go
        takes a negative ``n`` to mean no limit, and 0 to block every ``Go`` forever).
        """
        if self._running:
            raise RuntimeError(
                f"Group.set_limit({n}) while {self._running} task(s) run: "
                "the limit may only change while the group is idle")
        if n is not None and n < 1:
            raise ValueError(f"Group limit must be None or at least 1, not {n}")
        self._limit = None if n is None else self._semaphore_type(n)

    def try_go(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Like ``go``, but return ``False`` at once instead of waiting at the limit (Go
        ``TryGo``). Never blocks, so it is a plain call in every runtime."""
        if self._limit is not None and not self._limit.try_acquire():
            return False
        self._start(fn, args, kwargs)
        return True

    def _start(self, fn: Any, args: Any, kwargs: Any) -> None:
        raise NotImplementedError  # the runtime starts the task

    def _fail(self, exc: BaseException) -> None:
        """Record a task's exception: the first one is kept and cancels ``ctx``.

        A ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``,
        ``SystemExit``) displaces a plain error, so that it is never swallowed.
        """
        with self._lock:
            first = self._error is None
            if first or (isinstance(self._error, Exception) and not isinstance(exc, Exception)):
                self._error = exc
        if first:
            self.ctx.cancel(exc)

    def _outcome(
        self, body: BaseException | None, *, stopped: bool = False,
    ) -> BaseException | None:
        """What the ``with`` block raises, given what its body raised and whether the
        group's context ``stopped`` running work (async runtimes only).

        The body's own exception wins; a body stopped by the group's context (``ctx.err``)
        gives way to the task error that cancelled it; work stopped by the context with no
        task error (the parent was cancelled, or the deadline passed) raises ``ctx.err``.
        A ``BaseException`` that is not an ``Exception`` outranks a plain one.
        """
        if body is None or body is self.ctx.err:
            return self._error or body or (self.ctx.err if stopped else None)
        if isinstance(body, Exception) and self._error is not None \
                and not isinstance(self._error, Exception):
            return self._error
        return body

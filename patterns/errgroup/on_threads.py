"""Go's ``x/sync/errgroup`` on OS threads: tasks on threads, the first error wins.

``g.go(fn, *args)`` runs ``fn`` on a thread; ``g.wait()`` blocks until every task has
returned and raises the first exception. The first exception cancels ``g.ctx``, so
tasks that watch it stop early. Go counterpart: ``errgroup.Group``.

What threads do differently: a task cannot be interrupted, only told (through
``g.ctx``), and a thread is dear to start, dozens of times a task or a goroutine
(``docs/measurements.md`` has the figures). So the group keeps threads that finish a
task idle for the next one, ``ThreadPoolExecutor``'s trick (a count of idle threads;
only when none is idle does ``go`` start a new one), and ends them when the group
finishes. Go does not bother: a goroutine is cheaper than the bookkeeping.

``wait()`` (or leaving ``with Group() as g:``) is where the group finishes: it cancels
``g.ctx`` and ends the idle threads. Go's ``Group`` promises nothing about use after
``Wait``: its ``WaitGroup`` takes new goroutines, but the context stays cancelled and
the ``sync.Once`` that kept the first error has fired, so a later ``Wait`` returns the
old error and a new one is never seen. This group does the same (more tasks run, on
new threads; ``g.ctx`` stays done; ``wait()`` raises the first error again): start a
new group for a new batch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from patterns.context.on_threads import Context, background
from patterns.errgroup._group import GroupCore
from patterns.semaphore.on_threads import Semaphore

__all__ = ["Group"]

_Job = tuple[Callable[..., object], tuple[Any, ...], dict[str, Any]]


class Group(GroupCore):
    """A group of tasks on threads (Go ``errgroup.WithContext``).

    ``g.ctx`` is a child of ``ctx`` (default ``background()``), cancelled by the first
    error, with that error as its cause, and when the group finishes. ``limit`` bounds
    the tasks running at once (``None``: no bound).

    >>> def fetch(ctx, page):
    ...     if page == 3:
    ...         raise RuntimeError(f"page {page}: HTTP 503")
    >>> try:
    ...     with Group(limit=2) as g:
    ...         for page in range(6):
    ...             g.go(fetch, g.ctx, page)
    ... except RuntimeError as exc:  # the first error itself
    ...     print("failed:", exc)
    failed: page 3: HTTP 503
    """

    ctx: Context
    _semaphore_type = Semaphore

    def __init__(self, ctx: Context | None = None, *, limit: int | None = None) -> None:
        self._lock = threading.Lock()
        self._all_done = threading.Condition(self._lock)
        super().__init__(ctx if ctx is not None else background(), limit)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._idle = 0  # threads waiting for a job, counted under the lock
        self._threads: list[threading.Thread] = []

    def go(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Run ``fn(*args, **kwargs)`` on a thread, first blocking while ``limit`` tasks
        run (Go ``Go``)."""
        if self._limit is not None:
            self._limit.acquire()
        self._start(fn, args, kwargs)

    def wait(self) -> None:
        """Block until every task has returned, then finish the group: cancel ``ctx``, end
        the idle threads, and raise the first exception, if any (Go ``Wait``)."""
        self._finish()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Group:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Wait on the way out. If the body raised, cancel ``ctx`` first; the body's
        exception wins over the tasks' (``_outcome``)."""
        if exc is not None:
            self.ctx.cancel(exc)
        self._finish()
        outcome = self._outcome(exc)
        if outcome is not None and outcome is not exc:
            raise outcome

    def _start(self, fn: Callable[..., object], args: Any, kwargs: Any) -> None:
        with self._lock:
            self._running += 1
            hire = not self._idle  # nobody idle to take it: hire
            if not hire:
                self._idle -= 1
        self._jobs.put((fn, args, kwargs))
        if hire:
            thread = threading.Thread(target=self._work, name=f"errgroup-{len(self._threads)}")
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, args, kwargs = job
            try:
                fn(*args, **kwargs)
            except BaseException as exc:  # kept, and raised by wait()
                self._fail(exc)
            finally:
                # Idle first, then free the slot: a go() let through by the slot must find
                # this thread idle, or it would hire one more than the limit.
                with self._lock:
                    self._running -= 1
                    self._idle += 1
                    if not self._running:
                        self._all_done.notify_all()
                if self._limit is not None:
                    self._limit.release()

    def _finish(self) -> None:
        with self._lock:
            while self._running:
                self._all_done.wait()
        threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(None)  # one "go home" per thread
        for thread in threads:
            thread.join()
        self._idle = 0
        self.ctx.cancel()

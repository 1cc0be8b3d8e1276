"""Go's ``context`` on OS threads: cancellation that work has to ask about.

A context carries a cancellation signal, a deadline and request-scoped values down a
call chain; ``cancel()`` reaches every descendant and never an ancestor. Go
counterpart: ``context.Context``.

What threads do differently: a thread cannot be interrupted from outside, so there is
no ``scope()``. Work stops only where it looks: ``ctx.check()`` between steps,
``ctx.sleep()`` instead of ``time.sleep()``, and, around a blocking socket, the
deadline as a timeout plus a shutdown on cancel::

    sock.settimeout(ctx.remaining())             # the deadline becomes a socket timeout
    stop = ctx.after_cancel(lambda: sock.shutdown(socket.SHUT_RDWR))  # cancel wakes recv()
    try:
        data = sock.recv(4096)
    finally:
        stop()
    ctx.check()                                  # recv woke up: was it us?

On Linux, ``close()`` from another thread does not wake a ``recv`` blocked on the
socket; ``shutdown()`` does. ``after_cancel`` is ``after`` without a deadline timer:
the socket timeout already wakes ``recv`` at the deadline, so only a cancel is news.

Contexts are safe to use from any thread: one lock guards every tree. Deadlines are
checked lazily, when somebody looks (``done``, ``err``, ``wait``...), so no thread
runs per context; only ``after()`` on a context with a deadline starts one timer
thread, which ends when the context is done or every callback is stopped.

Graceful shutdown, Go's ``signal.NotifyContext``: ``with notify_context() as ctx:``
runs the block under a context that the first SIGINT or SIGTERM cancels with a
``Signaled`` cause; the work under it stops where it looks, the pools drain, and the
block ends with what finished. Python runs a signal handler in the main thread
between two bytecodes, maybe while that thread holds the context tree's lock, so the
handler only puts the signal on a queue (``SimpleQueue.put`` is reentrant) and a
watcher thread does the cancelling. A thread cannot be stopped from outside, so a
second signal, or ``grace`` seconds with the block still running, ends the process:
the watcher flushes stdout and stderr and calls ``os._exit(128 + signal)``, which runs
no ``finally`` blocks and no ``atexit`` handlers. Handlers are installed from the main
thread only (``ValueError`` elsewhere, as ``signal.signal`` says).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from types import FrameType

from patterns.context import Signaled
from patterns.context._tree import ContextTree

__all__ = ["Context", "background", "notify_context"]


class Context(ContextTree):
    """A context for threaded code: Go's ``context.Context``.

    Derive children with ``with_cancel``, ``with_timeout``, ``with_deadline``,
    ``with_value`` and ``without_cancel``; stop work with ``cancel(cause)``; watch it
    with ``done``, ``err``, ``cause``, ``check()``, ``wait()``, ``sleep()``, ``after()``
    and ``after_cancel()``. Deadlines are ``time.monotonic()`` values.
    """

    __slots__ = ("_timer_stop",)
    _lock = threading.Lock()
    _timer_stop: threading.Event

    def _now(self) -> float:
        return time.monotonic()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the context is done or ``timeout`` seconds pass; return ``done``
        (Go ``<-ctx.Done()``)."""
        self._wait_until(None if timeout is None else self._now() + timeout)
        return self.done

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or raise ``err`` as soon as the context is done (Go's
        ``select`` on ``time.After`` and ``ctx.Done()``)."""
        self._wait_until(self._now() + seconds)
        self.check()

    def _wait_until(self, end: float | None) -> None:
        """Block until done, or until the clock reaches ``end``."""
        woken = threading.Event()
        stop = self.after_cancel(woken.set)
        try:
            # Nobody watches the deadline for us, so the waiter does: it sleeps until the
            # earlier of its end and the deadline, then looks again (a wait may wake early).
            while not self.done and (end is None or self._now() < end):
                wake_at = min((t for t in (end, self._deadline) if t is not None), default=None)
                woken.wait(None if wake_at is None else wake_at - self._now())
        finally:
            stop()

    def _start_timer(self) -> None:
        self._timer_stop = stop = threading.Event()
        name = "patterns.context deadline timer"
        threading.Thread(target=self._run_timer, args=(stop,), name=name, daemon=True).start()

    def _stop_timer(self) -> None:
        self._timer_stop.set()

    def _run_timer(self, stop: threading.Event) -> None:
        while not stop.wait(self.remaining()):
            if self.done:  # looking ends it, and runs the after() callbacks here
                return


def background() -> Context:
    """The root context: never done, no deadline, no values (Go ``Background``)."""
    return Context()


@contextlib.contextmanager
def notify_context(parent: Context | None = None, *,
                   signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
                   grace: float | None = None) -> Iterator[Context]:
    """``with notify_context() as ctx:``, a child of ``parent`` (default
    ``background()``) that the first of ``signals`` cancels with cause
    ``Signaled(signum)`` (Go ``signal.NotifyContext``).

    A second signal, or ``grace`` seconds after the first with the block still
    running, exits the process with ``128 +`` the first signal, after flushing stdout
    and stderr (``os._exit``: no ``finally`` runs). Leaving the block cancels ``ctx``
    (Go's ``stop()``) and restores the handlers that were there before. ``ValueError``
    outside the main thread.

    >>> import os, signal
    >>> with notify_context(signals=[signal.SIGUSR1]) as ctx:
    ...     os.kill(os.getpid(), signal.SIGUSR1)
    ...     ctx.wait(timeout=5)
    ...     print(repr(ctx.cause))
    True
    Signaled(10)
    """
    if threading.current_thread() is not threading.main_thread():
        raise ValueError("notify_context() installs signal handlers: only the main thread can")
    ctx = (parent if parent is not None else background()).with_cancel()
    received: queue.SimpleQueue[int | None] = queue.SimpleQueue()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.put(signum)  # takes no lock: safe between any two bytecodes

    watcher = threading.Thread(target=_watch, args=(received, ctx, grace), daemon=True,
                               name="patterns.context signal watcher")
    watcher.start()
    previous: dict[int, object] = {}
    try:
        for signum in signals:
            previous[signum] = signal.signal(signum, on_signal)
        yield ctx
    finally:
        for signum, handler in previous.items():
            # None: a handler from outside Python, which cannot be put back; the default.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)  # type: ignore[arg-type]
        received.put(None)  # the block is over: so is the watcher
        watcher.join()
        ctx.cancel()


def _watch(received: queue.SimpleQueue[int | None], ctx: Context,
           grace: float | None) -> None:
    """The signals' thread: cancel on the first, end the process on the second."""
    first = received.get()
    if first is None:
        return
    ctx.cancel(Signaled(first))  # everything under ctx stops; the pools drain
    try:
        second = received.get(timeout=grace)
    except queue.Empty:  # the grace is over and the block still runs
        second = first
    if second is None:
        return
    for stream in (sys.stdout, sys.stderr):  # what the block printed is kept
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(128 + first)

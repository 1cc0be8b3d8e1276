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
"""

from __future__ import annotations

import threading
import time

from patterns.context._tree import ContextTree

__all__ = ["Context", "background"]


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

"""The cancellation tree every runtime's ``Context`` is built on (runtime-neutral).

This is Go's ``context.go`` without the goroutines: a context knows its parent (for
values and for the deadline it inherits) and the children it must cancel. Cancelling
a node marks it and every descendant done, detaches it from its parent and runs the
callbacks registered on each of them; nothing ever flows upwards.

What differs between runtimes is left to the subclasses in ``on_threads``,
``on_asyncio`` and ``on_trio``: the clock (``_now``), the lock that guards the tree
(a real one only for threads), and everything that waits.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Self

from patterns.context import Canceled, ContextError, DeadlineExceeded

_NO_KEY: Any = object()


class ContextTree:
    """One node of a context tree: what every runtime's ``Context`` shares.

    Not built directly: start from the runtime module's ``background()`` and derive
    with ``with_cancel``, ``with_timeout``, ``with_deadline``, ``with_value`` and
    ``without_cancel``.
    """

    _lock: ClassVar[AbstractContextManager[Any]]  # guards every tree of this runtime
    __slots__ = (  # a worker pool makes and ends a context per job: keep them small
        "_callbacks",
        "_cancellable",
        "_cause",
        "_children",
        "_deadline",
        "_err",
        "_key",
        "_parent",
        "_timer_users",
        "_value",
    )

    def __init__(
        self,
        parent: Self | None = None,
        *,
        deadline: float | None = None,
        key: Hashable = _NO_KEY,
        value: Any = None,
        detached: bool = False,
    ) -> None:
        self._parent = parent
        self._deadline: float | None
        self._key, self._value = key, value
        self._err: ContextError | None = None
        self._cause: BaseException | None = None
        self._children: dict[ContextTree, None] = {}  # a dict: ordered, unlike a set
        self._callbacks: dict[object, Callable[[], object]] = {}
        self._timer_users = 0  # after() callbacks waiting for this node's deadline timer
        # A root or a without_cancel() node can never be done, and says no to cancel().
        self._cancellable = parent is not None and not detached
        if parent is not None and not detached and parent._deadline is not None:
            deadline = parent._deadline if deadline is None else min(deadline, parent._deadline)
        self._deadline = deadline
        if self._cancellable and parent is not None and parent._cancellable:
            with self._lock:
                if parent._err is not None:  # born cancelled, like Go's WithCancel(done)
                    self._err, self._cause = parent._err, parent._cause
                else:
                    parent._children[self] = None

    # What each runtime supplies: its clock, and a timer that looks at the context at
    # its deadline (a thread, a loop.call_at handle, a trio system task).

    def _now(self) -> float:
        raise NotImplementedError

    def _start_timer(self) -> None:
        raise NotImplementedError

    def _stop_timer(self) -> None:
        raise NotImplementedError

    # -- deriving -----------------------------------------------------------------------

    def with_cancel(self) -> Self:
        """A child cancelled by its own ``cancel()`` or when this context is done
        (Go ``WithCancelCause``)."""
        return type(self)(self)

    def with_deadline(self, when: float) -> Self:
        """A child done at ``when`` on the runtime's clock, or earlier if this context's
        own deadline is earlier (Go ``WithDeadlineCause``)."""
        return type(self)(self, deadline=when)

    def with_timeout(self, seconds: float) -> Self:
        """``with_deadline(now + seconds)`` (Go ``WithTimeout``)."""
        return type(self)(self, deadline=self._now() + seconds)

    def with_value(self, key: Hashable, value: Any) -> Self:
        """A child carrying ``key -> value`` (Go ``WithValue``). Unlike Go's, it can be
        cancelled like any other child.

        ``TypeError`` at once for a ``None`` key or one that cannot be hashed, where Go
        panics ("nil key", "key is not comparable"): such a key could never be looked up
        reliably, and the mistake belongs to this call, not to a later ``value()``.
        """
        if key is None:
            raise TypeError("with_value: the key is None (Go: nil key)")
        try:
            hash(key)
        except TypeError:
            raise TypeError(
                f"with_value: key {key!r} cannot be hashed (Go: key is not comparable)"
            ) from None
        return type(self)(self, key=key, value=value)

    def without_cancel(self) -> Self:
        """A child that keeps the values but is never done and has no deadline (Go
        ``WithoutCancel``): for work that must outlive the request, such as a log flush."""
        return type(self)(self, detached=True)

    def value(self, key: Hashable, default: Any = None) -> Any:
        """The value for ``key`` from the nearest context up the tree, else ``default``
        (Go ``Value``)."""
        node: ContextTree | None = self
        while node is not None:
            if node._key is not _NO_KEY and node._key == key:
                return node._value
            node = node._parent
        return default

    # -- state --------------------------------------------------------------------------

    @property
    def deadline(self) -> float | None:
        """The absolute deadline on the runtime's clock, or ``None`` (Go ``Deadline``)."""
        return self._deadline

    def remaining(self) -> float | None:
        """Seconds until the deadline, never negative; ``None`` without a deadline."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - self._now())

    @property
    def err(self) -> ContextError | None:
        """``None`` while running; then :class:`Canceled` or :class:`DeadlineExceeded`
        (Go ``Err``). A descendant shares its ancestor's error."""
        if self._err is None and self._deadline is not None and self._now() >= self._deadline:
            # The lazy deadline check: nobody watches the clock, whoever looks first
            # ends the context, as if a timer had fired.
            self._finish(DeadlineExceeded("context deadline exceeded"), None)
        return self._err

    @property
    def done(self) -> bool:
        """``True`` once cancelled or past the deadline (Go ``<-ctx.Done()`` is closed)."""
        return self.err is not None

    @property
    def cause(self) -> BaseException | None:
        """The cause given to the first ``cancel``, else ``err`` (Go ``Cause``)."""
        err = self.err
        return self._cause if self._cause is not None else err

    def check(self) -> None:
        """Raise ``err`` if the context is done: the cooperative cancellation point."""
        err = self.err
        if err is not None:
            # One error object is shared by the whole tree; a fresh traceback keeps every
            # raise from growing the last one's.
            raise err.with_traceback(None)

    # -- cancelling -----------------------------------------------------------------------

    def cancel(self, cause: BaseException | None = None) -> None:
        """Cancel this context and every descendant, never an ancestor (Go's
        ``CancelCauseFunc``). Idempotent: the first call's cause wins. ``ValueError`` on
        ``background()`` and ``without_cancel()`` contexts, which cannot be cancelled."""
        if not self._cancellable:
            raise ValueError(f"{self!r} cannot be cancelled: derive one with with_cancel()")
        err = Canceled("context canceled")
        if cause is not None:
            err.__cause__ = cause  # so a traceback of err shows why
        self._finish(err, cause)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Leaving a ``with`` block cancels the context: Go's ``defer cancel()``."""
        if self._cancellable:
            self.cancel()

    def _finish(self, err: ContextError, cause: BaseException | None) -> None:
        """Mark this node and its descendants done; then run their callbacks."""
        # The clock is read once, and only for a node with a deadline: a trio context
        # without one may be cancelled outside trio.run, where trio has no clock.
        now: float | None = None
        with self._lock:
            if self._err is not None:
                return
            if not (self._children or self._callbacks or self._timer_users
                    or self._deadline is not None):
                # A leaf with nothing to run (a finished job's context): no walk needed.
                self._err, self._cause = err, cause
                if self._parent is not None:
                    self._parent._children.pop(self, None)
                return
            callbacks: list[Callable[[], object]] = []
            stack = [(self, err, cause)]
            while stack:
                node, node_err, node_cause = stack.pop()
                if node._err is None:
                    if node._deadline is not None and not isinstance(node_err, DeadlineExceeded):
                        now = self._now() if now is None else now
                        if node._deadline <= now:  # it came first, unobserved: that is why
                            node_err = DeadlineExceeded("context deadline exceeded")
                            node_cause = None
                    node._err, node._cause = node_err, node_cause
                    callbacks.extend(node._callbacks.values())
                    node._callbacks.clear()
                    if node._timer_users:
                        node._timer_users = 0
                        callbacks.append(node._stop_timer)
                    children = reversed(node._children)
                    stack.extend((child, node_err, node_cause) for child in children)
                node._children.clear()
            if self._parent is not None:
                self._parent._children.pop(self, None)  # the parent no longer needs us
        # Outside the lock: a callback may cancel other contexts, or look at this one.
        errors = []
        for callback in callbacks:
            try:
                callback()
            except Exception as exc:  # one failing callback must not starve the rest
                errors.append(exc)
        if errors:
            raise errors[0]

    def after(self, fn: Callable[[], object]) -> Callable[[], bool]:
        """Call ``fn()`` once when the context is done; return ``stop`` (Go ``AfterFunc``).

        ``stop()`` returns ``True`` if it prevented the call, ``False`` if ``fn`` has run
        or was stopped already. ``fn`` runs synchronously in whatever ends the context (the
        thread or task calling ``cancel``, or the deadline timer) and must not block; if
        the context is done already, it runs at once. A context with a deadline starts one
        timer for all its ``after`` callbacks, which ends when the context is done or
        every callback is stopped.
        """
        stop = self.after_cancel(fn)
        if self._deadline is None or stop is _stopped:
            return stop
        with self._lock:
            if self._err is not None:  # ended since after_cancel: fn has run, no timer needed
                return stop
            self._timer_users += 1
            if self._timer_users == 1:
                self._start_timer()

        def stop_after() -> bool:
            stopped = stop()
            with self._lock:
                # If the context ended meanwhile, _finish has stopped the timer already.
                if stopped and self._timer_users > 0:
                    self._timer_users -= 1
                    if self._timer_users == 0:
                        self._stop_timer()
            return stopped

        return stop_after

    def after_cancel(self, fn: Callable[[], object]) -> Callable[[], bool]:
        """Call ``fn()`` once when the context is cancelled; return ``stop``.

        ``after()`` without the deadline timer: Go's ``AfterFunc`` for code that watches
        the clock itself. ``fn`` runs when ``cancel()`` reaches this context (its own, an
        ancestor's), or when somebody finds its deadline passed (``done``, ``err``,
        ``check()``...); a deadline that nobody looks at calls nothing. That is what a
        waiter wants when it already sleeps with a timeout, a socket timeout or a trio
        cancel scope bounded by the deadline: cancellation is the only news it needs, and
        no timer thread, loop handle or system task is started for it.

        If the context is done already, ``fn`` runs at once and ``stop`` is a no-op.
        ``stop()`` returns ``True`` if it prevented the call. Like ``after``, ``fn`` runs
        synchronously in whatever ends the context, and must not block.
        """
        if not self._cancellable:  # background() or without_cancel(): it is never done
            return _never_runs()
        token = object()
        with self._lock:
            done_already = self._err is not None
            if not done_already:
                self._callbacks[token] = fn
        if done_already or self.done:  # .done may end it now, running fn
            if done_already:
                fn()
            return _stopped

        def stop() -> bool:
            with self._lock:
                return self._callbacks.pop(token, None) is not None

        return stop

    def __repr__(self) -> str:
        state = "running" if self._err is None else type(self._err).__name__
        kind = "background" if self._parent is None else "context"
        return f"<{type(self).__module__}.{kind} {state} deadline={self._deadline}>"


def _stopped() -> bool:
    return False


def _never_runs() -> Callable[[], bool]:
    """``stop`` for a callback that nothing can run: ``True`` once, as Go's is."""
    stopped = False

    def stop() -> bool:
        nonlocal stopped
        first, stopped = not stopped, True
        return first

    return stop

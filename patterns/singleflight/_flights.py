"""The bookkeeping of singleflight, shared by every runtime (neutral).

This is Go's ``singleflight.go`` without the goroutines: a map from key to the call in
flight for it, and per call the callers waiting and, once it has ended, its outcome.
Each runtime's ``Group`` subclasses :class:`Flights` and supplies the lock (a real one
only for threads), how a call runs, and how a caller waits.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from patterns.singleflight import SingleflightStatistics


def _cannot_cancel() -> None:
    pass  # threads: the call runs on its first caller's thread, which never leaves


@dataclass(slots=True, eq=False)
class Call:
    """One call in flight (Go's ``call``): who waits for it, and how it ended.

    ``callers`` is Go's ``dups + 1``, less the callers that left; ``wakes`` holds one
    wake-up per waiting caller; ``cancel`` stops the call (a task's cancel in asyncio
    and trio).
    """

    key: Hashable
    callers: int = 1
    wakes: list[Callable[[], object]] = field(default_factory=list)
    cancel: Callable[[], object] = _cannot_cancel
    done: bool = False
    value: Any = None
    error: BaseException | None = None
    traceback: TracebackType | None = None
    shared: bool = False

    def outcome(self) -> tuple[Any, bool]:
        """``(value, shared)``, or raise the call's exception: the same object in every
        caller, its traceback reset to the call's own before each raise, so that it
        does not grow by every caller's frames."""
        if self.error is not None:
            raise self.error.with_traceback(self.traceback)
        return self.value, self.shared


class Flights:
    """The calls in flight, by key (Go's ``Group.m``, guarded by ``Group.mu``)."""

    _lock: AbstractContextManager[Any]  # a real lock only where threads share the group

    def __init__(self) -> None:
        self._calls: dict[Hashable, Call] = {}

    def forget(self, key: Hashable) -> None:
        """Let the next ``do(key)`` start a new call, even while one is in flight; the
        callers of that one still get its result (Go ``Forget``)."""
        with self._lock:
            self._calls.pop(key, None)

    def statistics(self) -> SingleflightStatistics:
        """A snapshot: the keys with a call in flight, and the callers sharing them (Go
        has none: trio's primitives have ``statistics()``, and so do ours)."""
        with self._lock:
            return SingleflightStatistics(len(self._calls),
                                          sum(c.callers for c in self._calls.values()))

    def __repr__(self) -> str:
        stats = self.statistics()
        return (f"<{type(self).__module__}.Group keys={stats.keys} "
                f"callers={stats.callers}>")

    # -- for the runtime modules ---------------------------------------------------------

    def _join(self, key: Hashable, wake: Callable[[], object]) -> tuple[Call, bool]:
        """The call in flight for ``key`` with this caller added, and whether the
        caller must start it. Checking the map and filling it are one step under the
        lock: two callers that both saw no call would both start one."""
        with self._lock:
            call = self._calls.get(key)
            started = call is None
            if call is None:
                call = self._calls[key] = Call(key)
            else:
                call.callers += 1
            call.wakes.append(wake)
            return call, started

    def _finish(self, call: Call, value: Any, error: BaseException | None) -> None:
        """The call has ended: keep its outcome for the callers still waiting, count
        them once (``shared``), and wake them."""
        with self._lock:
            call.value, call.error = value, error
            call.traceback = None if error is None else error.__traceback__
            call.shared = call.callers > 1
            call.done = True
            self._drop(call)
            wakes, call.wakes = call.wakes, []
        for wake in wakes:
            wake()

    def _leave(self, call: Call, wake: Callable[[], object]) -> bool:
        """A caller stops waiting. ``False`` if the call had ended first: the outcome is
        the caller's, and ``shared`` counted it. The last caller to leave cancels the
        call, and a new ``do(key)`` starts a new one."""
        with self._lock:
            if call.done:
                return False
            call.callers -= 1
            call.wakes.remove(wake)
            last = call.callers == 0
            if last:
                self._drop(call)
        if last:
            call.cancel()
        return True

    def _drop(self, call: Call) -> None:
        # Only if it is still the key's: after forget(), the key may hold a newer call.
        if self._calls.get(call.key) is call:
            del self._calls[call.key]

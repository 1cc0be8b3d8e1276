"""Go's ``x/sync/singleflight``: callers asking for the same key share one call.

``do(key, fn)`` runs ``fn`` unless a call for ``key`` is already in flight; callers who
arrive meanwhile wait for that call and get its value, or its exception (the same
object, raised in each of them), with ``shared`` saying whether more than one caller got
it. A cache that misses under load asks the database once, not once per request.
``on_threads``, ``on_asyncio`` and ``on_trio`` each define ``Group`` with the same
members; they differ in who runs the call and who may stop waiting for it:

- threads: the first caller runs ``fn`` itself, on its own thread, as Go's ``Do``
  does, and cannot leave; the others wait, and a waiter whose ``ctx`` ends leaves;
- asyncio, trio: ``async with Group() as g:`` runs each call as a task of its own in
  the group; every caller, the first included, only waits, and may leave (its ``ctx``
  ends, or it is cancelled natively). The call goes on for those who stay, and is
  cancelled when its last caller has left: nobody wants the answer any more.

``forget(key)`` makes the next ``do(key)`` start a new call even while one is in flight,
whose callers still get its result (Go's ``Forget``). Go's ``DoChan`` is there so that
a caller can stop waiting; here every caller that may leave does so through its ``ctx``
(and, in asyncio and trio, by being cancelled), so ``do`` is the one entry point.
"""

from __future__ import annotations

from dataclasses import dataclass

from patterns.runtimes import runtime_modules

__all__ = ["CallCancelled", "SingleflightStatistics"]


class CallCancelled(Exception):
    """A call was cancelled by its group, not by its callers: the group's block raised
    or was cancelled while callers outside the block still waited (asyncio, trio).

    Those callers raise this. Go has no counterpart: nothing can cancel the goroutine
    running a call there.
    """


@dataclass(frozen=True, slots=True)
class SingleflightStatistics:
    """What ``Group.statistics()`` reports (Go has none; trio's primitives do): the
    ``keys`` whose call in flight a ``do(key)`` would join, and the ``callers`` sharing
    those calls (threads: the caller running ``fn`` too). Forgotten calls are no longer
    any key's, and not counted."""

    keys: int
    callers: int


__getattr__ = runtime_modules(__name__)

"""The bookkeeping of a Go channel, shared by the threads and asyncio channels.

Go's ``hchan`` without the scheduler: a buffer of at most ``capacity`` values, a queue
of senders waiting with their value, and a queue of receivers waiting for one. A send
hands its value straight to the longest-waiting receiver, else buffers it, else waits;
a receive takes from the buffer (and lets the longest-waiting sender refill it), else
straight from a waiting sender (the rendezvous of ``capacity=0``), else waits. Not
thread-safe: the threads channel holds its lock around every call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from patterns.fanout import ChannelClosed, ChannelStatistics, EndOfChannel


@dataclass(slots=True, eq=False)
class Waiter:
    """A blocked send (with its ``item``) or receive; ``done`` once an item has passed."""

    wake: Callable[[], object]
    item: Any = None
    done: bool = False


class ChannelState:
    """A channel's buffer and wait queues; the runtime modules do the waiting."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"Channel capacity must be 0 (a rendezvous) or more, not {capacity}")
        self._capacity = capacity
        self._buffer: deque[Any] = deque()
        self._senders: deque[Waiter] = deque()
        self._receivers: deque[Waiter] = deque()
        self._closed = False

    def statistics(self) -> ChannelStatistics:
        """A snapshot: capacity, buffered, senders and receivers waiting, closed (Go has
        only ``cap(ch)`` and ``len(ch)``)."""
        return ChannelStatistics(self._capacity, len(self._buffer), len(self._senders),
                                 len(self._receivers), self._closed)

    def _try_send(self, item: Any) -> bool:
        if self._closed:
            raise ChannelClosed(f"send on a closed channel {self!r}")
        if self._receivers:
            receiver = self._receivers.popleft()
            receiver.item, receiver.done = item, True
            receiver.wake()
            return True
        if len(self._buffer) < self._capacity:
            self._buffer.append(item)
            return True
        return False

    def _try_receive(self) -> tuple[bool, Any]:
        if self._buffer:
            item = self._buffer.popleft()
            if self._senders:  # a slot opened: the longest-waiting sender fills it
                sender = self._senders.popleft()
                self._buffer.append(sender.item)
                sender.done = True
                sender.wake()
            return True, item
        if self._senders:  # the rendezvous: take it from the sender's hand
            sender = self._senders.popleft()
            sender.done = True
            sender.wake()
            return True, sender.item
        if self._closed:
            raise EndOfChannel(f"receive from a closed, drained channel {self!r}")
        return False, None

    def _drained(self) -> bool:
        """Closed with nothing buffered (close() has failed every waiting sender): every
        receive would end. A loop asks this first, so that its end raises no
        :class:`EndOfChannel` only to catch it; a worker pool's workers each end so."""
        return self._closed and not self._buffer

    def _close(self) -> list[Waiter]:
        """Close; return the waiters to wake (none of them is ``done``: senders fail,
        receivers find the end)."""
        if self._closed:
            return []
        self._closed = True
        waiters = [*self._senders, *self._receivers]
        self._senders.clear()
        self._receivers.clear()
        return waiters

    def _abandon(self, waiter: Waiter, queue: deque[Waiter]) -> None:
        """A wait was given up (cancelled). A receiver that was handed an item at the
        same moment passes it on, so no value is lost."""
        if not waiter.done:
            if waiter in queue:  # close() may have taken it off already
                queue.remove(waiter)
        elif queue is self._receivers:
            if self._receivers:
                receiver = self._receivers.popleft()
                receiver.item, receiver.done = waiter.item, True
                receiver.wake()
            else:  # may leave capacity + 1 buffered, once: better than losing it
                self._buffer.appendleft(waiter.item)

    def __repr__(self) -> str:  # in the messages of ChannelClosed and EndOfChannel
        return (f"<{type(self).__module__}.Channel capacity={self._capacity} "
                f"buffered={len(self._buffer)} closed={self._closed}>")

"""Chapter 02, threads: Go's channels, fan-out and fan-in between OS threads.

Go's ``chan T`` and the pipelines of "Go Concurrency Patterns: Pipelines and
cancellation"::

    out := make(chan int)            // a rendezvous: a send waits for a receiver
    go func() { for _, n := range nums { out <- n }; close(out) }()
    for n := range out { ... }       // ends once out is closed and drained

become::

    out = Channel()
    for n in out: ...                # ends once out is closed and drained
    with fan_out(urls, fetch, workers=8) as pages:
        for page in pages: ...
    with merge(a, b) as both:
        for x in both: ...

What threads do differently: a thread cannot be interrupted. One blocked on a channel
wakes only when the channel moves or closes, so leaving a ``fan_out`` or ``merge``
block early closes every channel its threads might be blocked on (the inputs of a
``merge`` too), then joins them. ``queue.Queue`` would not do for the channel: it
cannot be closed, and its ``maxsize=0`` means *unbounded*, the opposite of Go's
``make(chan T)``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from patterns.fanout import ChannelClosed, EndOfChannel

__all__ = ["Channel", "fan_out", "merge"]


class _Waiter:
    """A blocked send (holding its ``item``) or receive (waiting for one). ``done`` says
    whether an item passed before it was woken; a waiter woken by ``close`` is not done."""

    def __init__(self, item: Any = None) -> None:
        self.item = item
        self.done = False
        self._woken = threading.Event()

    def wake(self, *, done: bool) -> None:
        self.done = done
        self._woken.set()

    def wait(self) -> None:
        self._woken.wait()


class Channel:
    """A Go channel between threads: ``send``, ``receive``, ``close``, ``for x in ch``.

    ``capacity`` items are buffered; ``0`` is a rendezvous, where ``send`` returns only
    once a receiver has the item. After ``close()`` (idempotent), ``send`` raises
    ``ChannelClosed``, as do sends waiting at that moment (their items are dropped);
    ``receive`` drains the buffer, then raises ``EndOfChannel``, which ends a ``for``.

    Go's own channel is this shape: a buffer and two queues of waiters. A send hands its
    item straight to the longest-waiting receiver, else buffers it, else waits in line
    with it; a receive takes from the buffer (and lets the first waiting sender refill
    it), else from a waiting sender's hand, else waits in line.
    """

    def __init__(self, capacity: int = 0) -> None:
        if capacity < 0:
            raise ValueError(f"Channel capacity must be 0 (a rendezvous) or more, not {capacity}")
        self._capacity = capacity
        self._buffer: deque[Any] = deque()
        self._senders: deque[_Waiter] = deque()
        self._receivers: deque[_Waiter] = deque()
        self._closed = False
        self._lock = threading.Lock()

    def send(self, item: Any) -> None:
        """Block until ``item`` is buffered or received (Go ``ch <- item``)."""
        with self._lock:
            if self._closed:
                raise ChannelClosed("send on a closed channel")
            if self._receivers:
                receiver = self._receivers.popleft()
                receiver.item = item
                receiver.wake(done=True)
                return
            if len(self._buffer) < self._capacity:
                self._buffer.append(item)
                return
            waiter = _Waiter(item)
            self._senders.append(waiter)
        waiter.wait()
        if not waiter.done:
            raise ChannelClosed("the channel was closed while this send waited")

    def receive(self) -> Any:
        """Block until an item arrives, and return it (Go ``<-ch``)."""
        with self._lock:
            if self._buffer:
                item = self._buffer.popleft()
                if self._senders:  # room again: the first waiting sender's item moves in
                    sender = self._senders.popleft()
                    self._buffer.append(sender.item)
                    sender.wake(done=True)
                return item
            if self._senders:  # the rendezvous: straight from the sender's hand
                sender = self._senders.popleft()
                sender.wake(done=True)
                return sender.item
            if self._closed:
                raise EndOfChannel("receive from a closed, drained channel")
            waiter = _Waiter()
            self._receivers.append(waiter)
        waiter.wait()
        if not waiter.done:
            raise EndOfChannel("the channel was closed while this receive waited")
        return waiter.item

    def close(self) -> None:
        """No more items (Go ``close(ch)``); idempotent. Every waiting send raises
        ``ChannelClosed``, every waiting receive ``EndOfChannel``."""
        with self._lock:
            self._closed = True
            waiting = [*self._senders, *self._receivers]
            self._senders.clear()
            self._receivers.clear()
        for waiter in waiting:
            waiter.wake(done=False)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            return self.receive()
        except EndOfChannel:
            raise StopIteration from None


# -- the stages --------------------------------------------------------------------------


@contextmanager
def merge(*channels: Channel, capacity: int = 0) -> Iterator[Channel]:
    """Fan-in: one output channel carrying every item of ``channels``, closed once they
    all are. ``with merge(a, b) as out: for x in out: ...``

    Go counterpart: the pipelines article's ``merge``, a goroutine per input and a
    ``sync.WaitGroup`` whose ``Wait`` is followed by ``close(out)``; here the last
    forwarder to finish closes it."""
    out = Channel(capacity)
    last_one_closes = _closing_after(len(channels), out)

    def forward(channel: Channel) -> None:
        try:
            for item in channel:
                out.send(item)
        finally:
            last_one_closes()

    with _running([partial(forward, channel) for channel in channels], wake=[out, *channels]):
        yield out


@contextmanager
def fan_out(source: Iterable[Any], fn: Callable[[Any], Any], *, workers: int,
            capacity: int = 0) -> Iterator[Channel]:
    """Fan-out: ``workers`` threads apply ``fn`` to the items of ``source`` (any
    iterable, a ``Channel`` too); the output channel carries the results as they
    finish. ``with fan_out(urls, fetch, workers=8) as pages: for page in pages: ...``

    Go counterpart: a fixed number of goroutines ranging over one channel of jobs. One
    thread feeds that channel from ``source``; ``workers`` bounds the calls of ``fn``
    running at once, however long the source."""
    if workers < 1:
        raise ValueError(f"fan_out needs at least one worker, not {workers}")
    jobs, out = Channel(0), Channel(capacity)
    last_one_closes = _closing_after(workers, out)

    def feed() -> None:
        try:
            for item in source:
                jobs.send(item)
        finally:
            jobs.close()  # no more jobs: each worker's loop ends

    def work() -> None:
        try:
            for item in jobs:
                out.send(fn(item))
        finally:
            last_one_closes()

    wake = [jobs, out, *([source] if isinstance(source, Channel) else [])]
    with _running([feed, *[work] * workers], wake=wake):
        yield out


@contextmanager
def _running(stages: list[Callable[[], None]], *, wake: list[Channel]) -> Iterator[None]:
    """Run each stage on a thread of its own beside the consumer's block.

    Leaving the block closes the channels in ``wake`` (the only way to wake a thread
    blocked on one) and joins every thread: a call of ``fn`` in flight finishes, its
    send raises ``ChannelClosed``, and the thread ends. A thread's exception ends only
    that thread, so the first one is kept and raised when the block ends."""
    errors: list[Exception] = []

    def run(stage: Callable[[], None]) -> None:
        try:
            stage()
        except ChannelClosed:
            pass  # closed under it: the consumer has left, and wants nothing more
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(stage,)) for stage in stages]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for channel in wake:
            channel.close()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


def _closing_after(n: int, channel: Channel) -> Callable[[], None]:
    """A callback that closes ``channel`` the ``n``-th time it is called (at once for
    ``n == 0``): the last of a stage's threads to finish closes the stage's output, as
    Go's ``wg.Wait(); close(out)`` does."""
    left, lock = [n], threading.Lock()
    if n == 0:
        channel.close()

    def one_done() -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            channel.close()

    return one_done

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

Raise the library's own errors: ``ChannelClosed`` for a send on a closed channel,
``EndOfChannel`` for a receive from a closed, drained one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from patterns.fanout import ChannelClosed, EndOfChannel

__all__ = ["Channel", "fan_out", "merge"]


class Channel:
    """A Go channel between threads: ``send``, ``receive``, ``close``, ``for x in ch``.

    ``capacity`` items are buffered; ``0`` is a rendezvous, where ``send`` returns only
    once a receiver has the item. After ``close()`` (idempotent), ``send`` raises
    ``ChannelClosed``, as do sends waiting at that moment (their items are dropped);
    ``receive`` drains the buffer, then raises ``EndOfChannel``, which ends a ``for``.
    """

    def __init__(self, capacity: int = 0) -> None:
        if capacity < 0:
            raise ValueError(f"Channel capacity must be 0 (a rendezvous) or more, not {capacity}")
        self._capacity = capacity
        self._lock = threading.Lock()
        # TODO (task 1): what else a channel holds: a buffer, the sends waiting with their
        # items, the receives waiting for one. (task 2: and whether it is closed.)

    def send(self, item: Any) -> None:
        """Block until ``item`` is buffered or received (Go ``ch <- item``)."""
        # TODO (task 1): hand the item to a waiting receive, else buffer it if there is
        # room, else wait until a receive takes it.
        # TODO (task 2): on a closed channel, or if it closes while this send waits,
        # raise ChannelClosed.
        raise NotImplementedError("task 1: send() should pass the item to a receiver")

    def receive(self) -> Any:
        """Block until an item arrives, and return it (Go ``<-ch``)."""
        # TODO (task 1): take from the buffer (letting a waiting send refill it), else
        # from a waiting send's hand, else wait until a send comes.
        # TODO (task 2): closed and drained, or closed while this receive waits: raise
        # EndOfChannel.
        raise NotImplementedError("task 1: receive() should take an item from a sender")

    def close(self) -> None:
        """No more items (Go ``close(ch)``); idempotent. Every waiting send raises
        ``ChannelClosed``, every waiting receive ``EndOfChannel``."""
        # TODO (task 2): mark the channel closed and wake everyone waiting on it.
        raise NotImplementedError("task 2: close() should end the stream")

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        # TODO (task 2): the next item; StopIteration once receive() raises EndOfChannel.
        raise NotImplementedError("task 2: iterating a channel should receive until it ends")


@contextmanager
def merge(*channels: Channel, capacity: int = 0) -> Iterator[Channel]:
    """Fan-in: one output channel carrying every item of ``channels``, closed once they
    all are. ``with merge(a, b) as out: for x in out: ...``"""
    # TODO (task 4): an output Channel(capacity); a thread per input forwarding its items
    # to the output; the last forwarder to finish closes the output. Yield the output.
    # TODO (task 5): once the block is left, close every channel a thread may be blocked
    # on (the output and the inputs), then join the threads.
    raise NotImplementedError("task 4: merge() should forward every input to one output")
    yield  # a generator: @contextmanager runs it up to its yield


@contextmanager
def fan_out(source: Iterable[Any], fn: Callable[[Any], Any], *, workers: int,
            capacity: int = 0) -> Iterator[Channel]:
    """Fan-out: ``workers`` threads apply ``fn`` to the items of ``source`` (any
    iterable, a ``Channel`` too); the output channel carries the results as they
    finish. ``with fan_out(urls, fetch, workers=8) as pages: for page in pages: ...``"""
    # TODO (task 3): a channel of jobs fed from source by one thread (closed when the
    # source ends), `workers` threads each sending fn(job) to an output Channel(capacity),
    # the last of them closing it. Yield the output.
    # TODO (task 5): once the block is left, close the channels, then join the threads.
    raise NotImplementedError("task 3: fan_out() should start `workers` worker threads")
    yield  # a generator: @contextmanager runs it up to its yield

"""Go's pipelines on OS threads: channels, fan-out and fan-in.

``Channel`` passes values between threads with Go's semantics (``Channel(0)`` is a
rendezvous); ``merge``, ``fan_out`` and ``pipeline`` run their stages on an errgroup's
threads and hand the consumer the output channel. Go counterpart: ``chan T`` and the
pipeline patterns of "Go Concurrency Patterns: Pipelines and cancellation".

What threads do differently: a stage cannot be interrupted. A thread blocked on a
channel wakes only when the channel moves or closes, so stopping a pipeline (the first
error, or the consumer leaving the block) closes every channel in it, and a stage
checks the context before each item; a call of ``fn`` already running finishes first.
"Every channel" includes the caller's: a channel passed in as a source or to ``merge``
is closed too, since a thread blocked receiving from it has no other way to wake, and
a producer still sending to it then gets :class:`ChannelClosed` (asyncio and trio
leave it open).
Unlike ``queue.Queue`` (whose ``maxsize=0`` means unbounded), a channel can be closed,
and a receiver learns that the stream has ended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from patterns.context import Canceled
from patterns.context.on_threads import Context, background
from patterns.errgroup.on_threads import Group
from patterns.fanout import ChannelClosed, EndOfChannel
from patterns.fanout._channel import ChannelState, Waiter
from patterns.semaphore.on_threads import Semaphore

__all__ = ["Channel", "fan_out", "merge", "pipeline"]


class Channel(ChannelState):
    """A Go channel between threads: ``send``, ``receive``, ``close``, ``for x in ch``.

    ``capacity`` values are buffered; ``0`` is a rendezvous, where ``send`` returns only
    once a receiver has the value. After ``close()`` (idempotent), ``send`` raises
    :class:`ChannelClosed`, as do sends blocked at that moment; ``receive`` drains the
    buffer, then raises :class:`EndOfChannel`, which ends iteration.
    """

    def __init__(self, capacity: int = 0) -> None:
        super().__init__(capacity)
        self._lock = threading.Lock()

    def send(self, item: Any) -> None:
        """Block until ``item`` is buffered or received (Go ``ch <- item``)."""
        with self._lock:
            if self._try_send(item):
                return
            woken = _asleep()
            waiter = Waiter(woken.release, item)
            self._senders.append(waiter)
        try:
            woken.acquire()
        except BaseException:  # KeyboardInterrupt, in the main thread
            with self._lock:
                self._abandon(waiter, self._senders)
            raise
        if not waiter.done:
            raise ChannelClosed(f"send on a closed channel {self!r}")

    def receive(self) -> Any:
        """Block until a value arrives, and return it (Go ``<-ch``)."""
        with self._lock:
            ready, item = self._try_receive()
            if ready:
                return item
            woken = _asleep()
            waiter = Waiter(woken.release)
            self._receivers.append(waiter)
        try:
            woken.acquire()
        except BaseException:
            with self._lock:
                self._abandon(waiter, self._receivers)
            raise
        if not waiter.done:
            raise EndOfChannel(f"receive from a closed, drained channel {self!r}")
        return waiter.item

    def close(self) -> None:
        """No more values (Go ``close(ch)``); idempotent, and wakes every waiter."""
        with self._lock:
            waiters = self._close()
        for waiter in waiters:
            waiter.wake()

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        with self._lock:
            if self._drained():
                raise StopIteration
        try:  # it may still end while this waits
            return self.receive()
        except EndOfChannel:
            raise StopIteration from None


def _asleep() -> threading.Lock:
    """A lock already taken: a waiter blocks acquiring it until its waker releases it.
    (A ``threading.Event`` would do, at several times the cost: it is a Condition and
    two locks. Each waiter is woken once, so one release is all it gets.)"""
    lock = threading.Lock()
    lock.acquire()
    return lock


# -- the stages --------------------------------------------------------------------------

Fn = Callable[[Any], Any]
Stage = Fn | tuple[Fn, int]
Source = Iterable[Any] | Channel


@contextmanager
def merge(*channels: Channel, capacity: int = 0) -> Iterator[Channel]:
    """Fan-in: one output channel carrying every value of ``channels``, closed when they
    all are. ``with merge(a, b) as out: for x in out: ...``

    Go counterpart: the pipelines article's ``merge``, a goroutine per input and a
    ``sync.WaitGroup`` that closes the output once they are all done. Stopping early
    (an error, or leaving the block) closes the inputs as well: a thread blocked
    receiving from one has no other way to wake."""
    out = Channel(capacity)
    with _running([*channels, out]) as g:
        last_closes = _closing_after(len(channels), out)
        for channel in channels:
            g.go(_run_stage, g.ctx, _work, g.ctx, _same, channel, out, last_closes)
        yield out


@contextmanager
def fan_out(
    source: Source, fn: Fn, *, workers: int, ordered: bool = False, capacity: int = 0,
) -> Iterator[Channel]:
    """Fan-out: ``workers`` threads apply ``fn`` to the items of ``source``; the output
    channel carries the results, in completion order or, with ``ordered=True``, input
    order (a reorder window of ``workers + capacity`` items bounds how far ahead the
    others may run while the oldest is slow).

    Go counterpart: errgroup's pipeline example, a fixed number of goroutines ranging
    over one channel of jobs, in one group (Go has no ordered variant)."""
    if workers < 1:
        raise ValueError(f"fan_out needs at least one worker, not {workers}")
    jobs, finished, out = Channel(0), Channel(0), Channel(capacity)
    window = Semaphore(workers + capacity) if ordered else None

    def numbered(job: tuple[int, Any]) -> tuple[int, Any]:
        return job[0], fn(job[1])

    with _running([*_if_channel(source), jobs, finished, out]) as g:
        g.go(_run_stage, g.ctx, _feed, g.ctx, source, jobs, True, window)
        last_closes = _closing_after(workers, finished)
        for _ in range(workers):
            g.go(_run_stage, g.ctx, _work, g.ctx, numbered, jobs, finished, last_closes)
        g.go(_run_stage, g.ctx, _emit, finished, out, window)
        yield out


@contextmanager
def pipeline(source: Source, *stages: Stage, capacity: int = 0) -> Iterator[Channel]:
    """A chain of stages: each is ``fn`` or ``(fn, workers)``, reading the channel before
    it and writing the next, with ``capacity`` buffered between stages. Results leave
    in completion order.

    Go counterpart: the pipelines article's ``gen`` and ``sq`` stages, each ranging over
    its inbound channel and closing its outbound one when done."""
    channels = [Channel(capacity) for _ in range(len(stages) + 1)]
    with _running([*_if_channel(source), *channels]) as g:
        g.go(_run_stage, g.ctx, _feed, g.ctx, source, channels[0], False, None)
        for stage, inbox, outbox in zip(stages, channels, channels[1:], strict=False):
            fn, workers = stage if isinstance(stage, tuple) else (stage, 1)
            last_closes = _closing_after(workers, outbox)
            for _ in range(workers):
                g.go(_run_stage, g.ctx, _work, g.ctx, fn, inbox, outbox, last_closes)
        yield channels[-1]


@contextmanager
def _running(channels: list[Channel]) -> Iterator[Group]:
    """The stages' errgroup, beside the consumer's block.

    Its context ends on the first error, or when the block is left (``stop``); either
    way every channel closes, the input channels too: closing is the only thing that
    wakes a thread blocked on a channel, and it ends the consumer's loop. Leaving early
    is not an error: the ``Canceled`` it causes is dropped.
    """
    stop = background().with_cancel()
    try:
        with Group(stop) as g:
            g.ctx.after(lambda: _close_all(channels))
            try:
                yield g
            finally:
                stop.cancel()  # whatever still runs is no longer wanted
    except Canceled as exc:
        if exc is not stop.err:
            raise


def _run_stage(ctx: Context, stage: Callable[..., None], *args: Any) -> None:
    """Run one stage. Once the stages stop, nothing it raises is an error: the first
    error is already kept, or the consumer has left and wants none of this work (a call
    of ``fn`` that was running finishes, and may fail, after the block has moved on)."""
    try:
        stage(*args)
    except Exception:
        if not ctx.done:
            raise


def _feed(ctx: Context, source: Source, outbox: Channel, numbered: bool,
          window: Semaphore | None) -> None:
    try:
        for index, item in enumerate(source):
            if window is not None:
                window.acquire(ctx=ctx)  # the reorder window: wait for the oldest
            ctx.check()  # stopping: read no more of the source
            outbox.send((index, item) if numbered else item)
    finally:
        outbox.close()


def _work(ctx: Context, fn: Fn, inbox: Channel, outbox: Channel,
          done: Callable[[], None]) -> None:
    try:
        for item in inbox:
            ctx.check()  # stopping: start nothing new
            outbox.send(fn(item))
    finally:
        done()


def _emit(finished: Channel, out: Channel, window: Semaphore | None) -> None:
    """Pass results on, in input order when there is a reorder ``window``."""
    waiting: dict[int, Any] = {}
    next_index = 0
    try:
        for index, result in finished:
            if window is None:
                out.send(result)
                continue
            waiting[index] = result
            while next_index in waiting:
                out.send(waiting.pop(next_index))
                window.release()
                next_index += 1
    finally:
        out.close()


def _closing_after(n: int, channel: Channel) -> Callable[[], None]:
    """A callback that closes ``channel`` the ``n``-th time it is called: the last of a
    stage's workers closes the stage's output."""
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


def _close_all(channels: list[Channel]) -> None:
    for channel in channels:
        channel.close()


def _same(item: Any) -> Any:
    return item


def _if_channel(source: object) -> list[Channel]:
    return [source] if isinstance(source, Channel) else []

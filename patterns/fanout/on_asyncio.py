"""Go's pipelines on asyncio: channels, fan-out and fan-in.

``Channel`` passes values between tasks with Go's semantics (``Channel(0)`` is a
rendezvous); ``merge``, ``fan_out`` and ``pipeline`` run their stages as an errgroup's
tasks and hand the consumer the output channel. Go counterpart: ``chan T`` and the
pipeline patterns of "Go Concurrency Patterns: Pipelines and cancellation".

What asyncio does differently: a stage can be cancelled at any ``await``, so stopping a
pipeline (the first error, or the consumer leaving the block) cancels its tasks, even
mid-``fn``; only the output channel needs closing, so that the consumer's loop ends.
Mind the trap: ``asyncio.Queue(0)`` is *unbounded*, nothing like Go's ``make(chan T)``;
this ``Channel(0)`` is a rendezvous, and it can be closed.

The stages, below the ``Channel``, are the same text as ``on_trio``'s: given a channel,
an errgroup and a semaphore that cancel natively, a pipeline has one shape, and that
sameness is the lesson. Set them beside ``on_threads`` to see what native cancellation
saves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from patterns.context import Canceled
from patterns.context.on_asyncio import Context, background
from patterns.errgroup.on_asyncio import Group
from patterns.fanout import ChannelClosed, EndOfChannel
from patterns.fanout._channel import ChannelState, Waiter
from patterns.semaphore.on_asyncio import Semaphore

__all__ = ["Channel", "fan_out", "merge", "pipeline"]


class Channel(ChannelState):
    """A Go channel between asyncio tasks: ``await send``, ``await receive``, ``close``,
    ``async for x in ch``.

    ``capacity`` values are buffered; ``0`` is a rendezvous, where ``send`` returns only
    once a receiver has the value. After ``close()`` (idempotent), ``send`` raises
    :class:`ChannelClosed`, as do sends waiting at that moment; ``receive`` drains the
    buffer, then raises :class:`EndOfChannel`, which ends iteration. A cancelled
    ``receive`` never loses a value; a cancelled ``send`` may have delivered its value,
    when the hand-over and the cancellation land in the same step.
    """

    def __init__(self, capacity: int = 0) -> None:
        super().__init__(capacity)

    async def send(self, item: Any) -> None:
        """Wait until ``item`` is buffered or received (Go ``ch <- item``)."""
        if self._try_send(item):
            return
        woken = asyncio.get_running_loop().create_future()
        waiter = Waiter(partial(_wake, woken), item)
        self._senders.append(waiter)
        try:
            await woken
        except BaseException:  # cancelled
            self._abandon(waiter, self._senders)
            raise
        if not waiter.done:
            raise ChannelClosed(f"send on a closed channel {self!r}")

    async def receive(self) -> Any:
        """Wait until a value arrives, and return it (Go ``<-ch``)."""
        ready, item = self._try_receive()
        if ready:
            return item
        woken = asyncio.get_running_loop().create_future()
        waiter = Waiter(partial(_wake, woken))
        self._receivers.append(waiter)
        try:
            await woken
        except BaseException:  # cancelled: pass on a value handed over meanwhile
            self._abandon(waiter, self._receivers)
            raise
        if not waiter.done:
            raise EndOfChannel(f"receive from a closed, drained channel {self!r}")
        return waiter.item

    def close(self) -> None:
        """No more values (Go ``close(ch)``); idempotent, and wakes every waiter."""
        for waiter in self._close():
            waiter.wake()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        if self._drained():
            raise StopAsyncIteration
        try:  # it may still end while this waits
            return await self.receive()
        except EndOfChannel:
            raise StopAsyncIteration from None


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # it may have been cancelled with its task
        future.set_result(None)


# -- the stages --------------------------------------------------------------------------

Fn = Callable[[Any], Awaitable[Any]]
Stage = Fn | tuple[Fn, int]
Source = Iterable[Any] | AsyncIterable[Any]


@asynccontextmanager
async def merge(*channels: Channel, capacity: int = 0) -> AsyncIterator[Channel]:
    """Fan-in: one output channel carrying every value of ``channels``, closed when they
    all are. ``async with merge(a, b) as out: async for x in out: ...``

    Go counterpart: the pipelines article's ``merge``, a goroutine per input and a
    ``sync.WaitGroup`` that closes the output once they are all done."""
    out = Channel(capacity)
    async with _running(out) as g:
        last_closes = _closing_after(len(channels), out)
        for channel in channels:
            await g.go(_run_stage, g.ctx, _work, g.ctx, _same, channel, out, last_closes)
        yield out


@asynccontextmanager
async def fan_out(
    source: Source, fn: Fn, *, workers: int, ordered: bool = False, capacity: int = 0,
) -> AsyncIterator[Channel]:
    """Fan-out: ``workers`` tasks apply ``fn`` to the items of ``source``; the output
    channel carries the results, in completion order or, with ``ordered=True``, input
    order (a reorder window of ``workers + capacity`` items bounds how far ahead the
    others may run while the oldest is slow).

    Go counterpart: errgroup's pipeline example, a fixed number of goroutines ranging
    over one channel of jobs, in one group (Go has no ordered variant)."""
    if workers < 1:
        raise ValueError(f"fan_out needs at least one worker, not {workers}")
    jobs, finished, out = Channel(0), Channel(0), Channel(capacity)
    window = Semaphore(workers + capacity) if ordered else None

    async def numbered(job: tuple[int, Any]) -> tuple[int, Any]:
        return job[0], await fn(job[1])

    async with _running(out) as g:
        await g.go(_run_stage, g.ctx, _feed, g.ctx, source, jobs, True, window)
        last_closes = _closing_after(workers, finished)
        for _ in range(workers):
            await g.go(_run_stage, g.ctx, _work, g.ctx, numbered, jobs, finished, last_closes)
        await g.go(_run_stage, g.ctx, _emit, finished, out, window)
        yield out


@asynccontextmanager
async def pipeline(source: Source, *stages: Stage, capacity: int = 0) -> AsyncIterator[Channel]:
    """A chain of stages: each is ``fn`` or ``(fn, workers)``, reading the channel before
    it and writing the next, with ``capacity`` buffered between stages. Results leave
    in completion order.

    Go counterpart: the pipelines article's ``gen`` and ``sq`` stages, each ranging over
    its inbound channel and closing its outbound one when done."""
    channels = [Channel(capacity) for _ in range(len(stages) + 1)]
    async with _running(channels[-1]) as g:
        await g.go(_run_stage, g.ctx, _feed, g.ctx, source, channels[0], False, None)
        for stage, inbox, outbox in zip(stages, channels, channels[1:], strict=False):
            fn, workers = stage if isinstance(stage, tuple) else (stage, 1)
            last_closes = _closing_after(workers, outbox)
            for _ in range(workers):
                await g.go(_run_stage, g.ctx, _work, g.ctx, fn, inbox, outbox, last_closes)
        yield channels[-1]


@asynccontextmanager
async def _running(out: Channel) -> AsyncIterator[Group]:
    """The stages' errgroup, beside the consumer's block.

    Its context ends on the first error, or when the block is left (``stop``); the
    tasks are cancelled natively, and only the output needs closing, to end the
    consumer's loop. Leaving early is not an error: the ``Canceled`` it causes is
    dropped.
    """
    stop = background().with_cancel()
    try:
        async with Group(stop) as g:
            g.ctx.after(out.close)
            try:
                yield g
            finally:
                stop.cancel()  # whatever still runs is no longer wanted
    except Canceled as exc:
        if exc is not stop.err:
            raise


async def _run_stage(ctx: Context, stage: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run one stage. Once the stages stop, nothing it raises is an error: the first
    error is already kept, or the consumer has left and wants none of this work."""
    try:
        await stage(*args)
    except Exception:
        if not ctx.done:
            raise


async def _feed(ctx: Context, source: Source, outbox: Channel, numbered: bool,
                window: Semaphore | None) -> None:
    index = 0

    async def put(item: Any) -> None:  # one body for both kinds of source
        nonlocal index
        if window is not None:
            await window.acquire(ctx=ctx)  # the reorder window: wait for the oldest
        await outbox.send((index, item) if numbered else item)
        index += 1

    try:
        if isinstance(source, AsyncIterable):
            async for item in source:
                await put(item)
        else:
            for item in source:
                await put(item)
    finally:
        outbox.close()


async def _work(ctx: Context, fn: Fn, inbox: Channel, outbox: Channel,
                done: Callable[[], None]) -> None:
    try:
        async for item in inbox:  # no ctx.check(): a cancelled task stops at its await
            await outbox.send(await fn(item))
    finally:
        done()


async def _emit(finished: Channel, out: Channel, window: Semaphore | None) -> None:
    """Pass results on, in input order when there is a reorder ``window``."""
    waiting: dict[int, Any] = {}
    next_index = 0
    try:
        async for index, result in finished:
            if window is None:
                await out.send(result)
                continue
            waiting[index] = result
            while next_index in waiting:
                await out.send(waiting.pop(next_index))
                window.release()
                next_index += 1
    finally:
        out.close()


def _closing_after(n: int, channel: Channel) -> Callable[[], None]:
    """A callback that closes ``channel`` the ``n``-th time it is called: the last of a
    stage's workers closes the stage's output. (One event loop, so no lock.)"""
    left = [n]
    if n == 0:
        channel.close()

    def one_done() -> None:
        left[0] -= 1
        if left[0] == 0:
            channel.close()

    return one_done


async def _same(item: Any) -> Any:
    return item

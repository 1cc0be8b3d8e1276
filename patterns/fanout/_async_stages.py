"""The stages of an async pipeline, written once for asyncio and trio (runtime-neutral).

``merge``, ``fan_out`` and ``pipeline`` read the same in asyncio and trio, because
everything the runtimes do differently (how a channel waits, how a task is cancelled)
lives in the four pieces a runtime hands to :class:`AsyncStages`: its ``Channel``, its
errgroup ``Group``, its ``Semaphore`` and its ``background()``. That is itself the
lesson: given the primitives, a pipeline has one shape. The threads version is in
``on_threads``, since a thread's stages are plain functions and must close channels
to stop.

The stages run as one errgroup beside the consumer's block. Its context ends on the
first error or when the block is left; the tasks are then cancelled natively, and the
output closes so that the consumer's loop ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from patterns.context import Canceled

Fn = Callable[[Any], Awaitable[Any]]
Stage = Fn | tuple[Fn, int]
Source = Iterable[Any] | AsyncIterable[Any]


class AsyncStages:
    """``merge``, ``fan_out`` and ``pipeline`` over one async runtime's ``Channel``,
    errgroup ``Group``, ``Semaphore`` and ``background``."""

    def __init__(self, channel: Any, group: Any, semaphore: Any,
                 background: Callable[[], Any]) -> None:
        self._channel, self._group, self._semaphore = channel, group, semaphore
        self._background = background

    @asynccontextmanager
    async def merge(self, *channels: Any, capacity: int = 0) -> AsyncIterator[Any]:
        """Fan-in: one output channel carrying every value of ``channels``, closed when they
        all are. ``async with merge(a, b) as out: async for x in out: ...``"""
        out = self._channel(capacity)
        async with self._running(out) as g:
            last_closes = _closing_after(len(channels), out)
            for channel in channels:
                await g.go(_run_stage, g.ctx, _work, g.ctx, _same, channel, out, last_closes)
            yield out

    @asynccontextmanager
    async def fan_out(
        self, source: Source, fn: Fn, *, workers: int, ordered: bool = False, capacity: int = 0,
    ) -> AsyncIterator[Any]:
        """Fan-out: ``workers`` tasks apply ``fn`` to the items of ``source``; the output
        channel carries the results, in completion order or, with ``ordered=True``, input
        order (a reorder window of ``workers + capacity`` items bounds how far ahead the
        others may run while the oldest is slow)."""
        if workers < 1:
            raise ValueError(f"fan_out needs at least one worker, not {workers}")
        jobs, finished, out = self._channel(0), self._channel(0), self._channel(capacity)
        window = self._semaphore(workers + capacity) if ordered else None

        async def numbered(job: tuple[int, Any]) -> tuple[int, Any]:
            return job[0], await fn(job[1])

        async with self._running(out) as g:
            await g.go(_run_stage, g.ctx, _feed, g.ctx, source, jobs, True, window)
            last_closes = _closing_after(workers, finished)
            for _ in range(workers):
                await g.go(_run_stage, g.ctx, _work, g.ctx, numbered, jobs, finished, last_closes)
            await g.go(_run_stage, g.ctx, _emit, finished, out, window)
            yield out

    @asynccontextmanager
    async def pipeline(
        self, source: Source, *stages: Stage, capacity: int = 0,
    ) -> AsyncIterator[Any]:
        """A chain of stages: each is ``fn`` or ``(fn, workers)``, reading the channel before
        it and writing the next, with ``capacity`` buffered between stages. Results leave
        in completion order."""
        channels = [self._channel(capacity) for _ in range(len(stages) + 1)]
        async with self._running(channels[-1]) as g:
            await g.go(_run_stage, g.ctx, _feed, g.ctx, source, channels[0], False, None)
            for stage, inbox, outbox in zip(stages, channels, channels[1:], strict=False):
                fn, workers = stage if isinstance(stage, tuple) else (stage, 1)
                last_closes = _closing_after(workers, outbox)
                for _ in range(workers):
                    await g.go(_run_stage, g.ctx, _work, g.ctx, fn, inbox, outbox, last_closes)
            yield channels[-1]

    @asynccontextmanager
    async def _running(self, out: Any) -> AsyncIterator[Any]:
        """The stages' errgroup, beside the consumer's block.

        Its context ends on the first error, or when the block is left (``stop``); the
        tasks are cancelled natively, and the output closes so that the consumer's loop
        ends. Leaving early is not an error: the ``Canceled`` it causes is dropped.
        """
        stop = self._background().with_cancel()
        try:
            async with self._group(stop) as g:
                g.ctx.after(out.close)
                try:
                    yield g
                finally:
                    stop.cancel()  # whatever still runs is no longer wanted
        except Canceled as exc:
            if exc is not stop.err:
                raise


async def _run_stage(ctx: Any, stage: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run one stage. Once the stages stop, nothing it raises is an error: the first
    error is already kept, or the consumer has left and wants none of this work."""
    try:
        await stage(*args)
    except Exception:
        if not ctx.done:
            raise


async def _feed(ctx: Any, source: Source, outbox: Any, numbered: bool, window: Any) -> None:
    index = 0

    async def put(item: Any) -> None:
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


async def _work(ctx: Any, fn: Fn, inbox: Any, outbox: Any, done: Callable[[], None]) -> None:
    try:
        async for item in inbox:
            await outbox.send(await fn(item))
    finally:
        done()


async def _emit(finished: Any, out: Any, window: Any) -> None:
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


def _closing_after(n: int, channel: Any) -> Callable[[], None]:
    """A callback that closes ``channel`` the ``n``-th time it is called: the last of a
    stage's workers closes the stage's output."""
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

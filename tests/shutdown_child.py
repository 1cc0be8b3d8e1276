"""The program ``test_shutdown.py`` sends real signals to: a worker pool under
``notify_context``, run as ``python shutdown_child.py RUNTIME MODE [GRACE]``.

It says on stdout, a line each and flushed at once, what the test synchronises on:
``done N`` as each fast job finishes, ``ready`` once every fast job has and every slow
one has started (a slow job still queued would end ``Canceled`` without starting, and a
stubborn drain would then have nothing to wait for), ``cancelled`` when the first signal has
cancelled the context, and ``canceled N`` for each slow job that the cancel stopped.
It exits as a program should that a signal stopped: ``128 +`` the signal, which it
reads from the context's cause (``Signaled``) or from the ``Signaled`` the block raised.

``MODE`` is ``cooperative`` (the slow jobs wait on their context, so the first signal
drains the pool at once) or ``stubborn``: the drain ignores the context and would take
30 s. In threads the slow jobs themselves ignore it (``time.sleep``). In asyncio and
trio a pool's job cannot (its context's scope interrupts it whatever it does), so there
the block's last step ignores it: an ``await sleep(30)`` after the pool. Only a second
signal, or ``GRACE`` seconds, can end a stubborn drain.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from patterns.context import Canceled, Signaled

FAST, SLOW = 2, 2  # jobs that finish at once, and jobs still running when a signal comes
DRAIN_S = 30.0  # what a stubborn drain would take: far longer than any test waits


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Report:
    """Prints each result as it comes, and ``ready`` once the fast jobs have finished and
    the slow ones have started (jobs call :meth:`started`, from any thread)."""

    def __init__(self) -> None:
        self.done = 0
        self.running = 0
        self._lock = threading.Lock()  # the slow jobs of threads start on their own threads

    def started(self) -> None:
        with self._lock:
            self.running += 1
            self._ready_yet()

    def __call__(self, result: Any) -> None:
        if result.ok:
            say(f"done {result.item}")
            with self._lock:
                self.done += 1
                self._ready_yet()
        elif isinstance(result.error, Canceled):
            say(f"canceled {result.item}")
        else:
            say(f"failed {result.item}: {result.error!r}")

    def _ready_yet(self) -> None:
        if (self.done, self.running) == (FAST, SLOW):
            say("ready")


def run_threads(stubborn: bool, grace: float | None) -> BaseException | None:
    from patterns.context.on_threads import Context, notify_context
    from patterns.workerpool.on_threads import WorkerPool

    def job(ctx: Context, item: int) -> int:
        if item >= FAST:
            report.started()
            if stubborn:
                time.sleep(DRAIN_S)  # ignores its context: nothing can stop this thread
            else:
                ctx.sleep(DRAIN_S)  # raises Canceled as soon as a signal cancels ctx
        return item

    report = Report()
    with notify_context(grace=grace) as ctx:
        ctx.after_cancel(lambda: say("cancelled"))
        with WorkerPool(job, workers=FAST + SLOW, ctx=ctx) as pool:
            for result in pool.map(range(FAST + SLOW)):
                report(result)
    return ctx.cause


async def run_asyncio(stubborn: bool, grace: float | None) -> BaseException | None:
    import asyncio

    from patterns.context.on_asyncio import Context, notify_context
    from patterns.workerpool.on_asyncio import WorkerPool

    async def job(ctx: Context, item: int) -> int:
        if item >= FAST:
            report.started()
            await ctx.sleep(DRAIN_S)
        return item

    report = Report()
    async with notify_context(grace=grace) as ctx:
        ctx.after_cancel(lambda: say("cancelled"))
        async with WorkerPool(job, workers=FAST + SLOW, ctx=ctx) as pool:
            async for result in pool.map(range(FAST + SLOW)):
                report(result)
        if stubborn:
            await asyncio.sleep(DRAIN_S)  # a last step that ignores the context
    return ctx.cause


async def run_trio(stubborn: bool, grace: float | None) -> BaseException | None:
    import trio

    from patterns.context.on_trio import Context, notify_context
    from patterns.workerpool.on_trio import WorkerPool

    async def job(ctx: Context, item: int) -> int:
        if item >= FAST:
            report.started()
            await ctx.sleep(DRAIN_S)
        return item

    report = Report()
    async with notify_context(grace=grace) as ctx:
        ctx.after_cancel(lambda: say("cancelled"))
        async with WorkerPool(job, workers=FAST + SLOW, ctx=ctx) as pool:
            async for result in pool.map(range(FAST + SLOW)):
                report(result)
        if stubborn:
            await trio.sleep(DRAIN_S)  # a last step that ignores the context
    return ctx.cause


def main(runtime: str, mode: str, grace: float | None) -> int:
    stubborn = mode == "stubborn"
    try:
        if runtime == "threads":
            cause = run_threads(stubborn, grace)
        elif runtime == "asyncio":
            import asyncio

            cause = asyncio.run(run_asyncio(stubborn, grace))
        else:
            import trio

            cause = trio.run(run_trio, stubborn, grace)
    except Signaled as stop:  # a second signal, or the grace, cut the block short
        say("cut short")
        return 128 + stop.signal
    if isinstance(cause, Signaled):
        say("drained")
        return 128 + cause.signal
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else None))

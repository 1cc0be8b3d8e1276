"""The three primitives at work, once per runtime: ``python -m patterns``.

Six pages are fetched, at most two at a time (a semaphore), in an errgroup under a
two-second deadline (a context). Page 3 fails; the group cancels its context, so the
page being fetched alongside it stops early and the one still queued for the
semaphore never starts. The same story is told three times, and the three functions
below have the same shape: that is the lesson.

Typical output (timings vary)::

    threads  fetched [0, 1, 2]  failed [3]  cancelled [4, 5]  raised PageError('page 3: HTTP 503')
    asyncio  fetched [0, 1, 2]  failed [3]  cancelled [4, 5]  raised PageError('page 3: HTTP 503')
    trio     fetched [0, 1, 2]  failed [3]  cancelled [4, 5]  raised PageError('page 3: HTTP 503')
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

PAGES = 6
FAILING_PAGE = 3
PARALLEL = 2
STEP_S = 0.05  # page i takes (i + 1) * STEP_S to fetch


class PageError(Exception):
    """A fetch that failed."""


class Log:
    """Which pages ended how."""

    def __init__(self) -> None:
        self.fetched: list[int] = []
        self.failed: list[int] = []
        self.cancelled: list[int] = []

    def line(self, runtime: str, raised: BaseException | None, seconds: float) -> str:
        return (f"{runtime:<8} fetched {sorted(self.fetched)}  failed {sorted(self.failed)}  "
                f"cancelled {sorted(self.cancelled)}  raised {raised!r} after {seconds:.2f} s")


def _check_page(page: int) -> None:
    if page == FAILING_PAGE:
        raise PageError(f"page {page}: HTTP 503")


# -- threads: tasks are told to stop through ctx, and must look ---------------------------

def fetch_on_threads(ctx: Any, sem: Any, page: int, log: Log) -> None:
    try:
        with sem.hold(ctx=ctx):
            ctx.sleep((page + 1) * STEP_S)  # a stand-in for I/O that watches ctx
            _check_page(page)
    except PageError:
        log.failed.append(page)
        raise
    except BaseException:  # ctx.err, or the runtime's own cancellation
        log.cancelled.append(page)
        raise
    log.fetched.append(page)


def demo_threads() -> str:
    from patterns.context import on_threads as context
    from patterns.errgroup import on_threads as errgroup
    from patterns.semaphore import on_threads as semaphore

    log, sem, raised = Log(), semaphore.Semaphore(PARALLEL), None
    start = time.monotonic()
    with context.background().with_timeout(2.0) as ctx:
        try:
            with errgroup.Group(ctx) as g:
                for page in range(PAGES):
                    g.go(fetch_on_threads, g.ctx, sem, page, log)
        except PageError as exc:
            raised = exc
    return log.line("threads", raised, time.monotonic() - start)


# -- asyncio: the group cancels the tasks natively ----------------------------------------

async def fetch_on_asyncio(ctx: Any, sem: Any, page: int, log: Log) -> None:
    try:
        async with sem.hold(ctx=ctx):
            await asyncio.sleep((page + 1) * STEP_S)  # interrupted natively on cancel
            _check_page(page)
    except PageError:
        log.failed.append(page)
        raise
    except BaseException:  # ctx.err, or the runtime's own cancellation
        log.cancelled.append(page)
        raise
    log.fetched.append(page)


async def demo_asyncio() -> str:
    from patterns.context import on_asyncio as context
    from patterns.errgroup import on_asyncio as errgroup
    from patterns.semaphore import on_asyncio as semaphore

    log, sem, raised = Log(), semaphore.Semaphore(PARALLEL), None
    start = time.monotonic()
    with context.background().with_timeout(2.0) as ctx:
        try:
            async with errgroup.Group(ctx) as g:
                for page in range(PAGES):
                    await g.go(fetch_on_asyncio, g.ctx, sem, page, log)
        except PageError as exc:
            raised = exc
    return log.line("asyncio", raised, time.monotonic() - start)


# -- trio: the same, with trio's cancel scopes underneath ----------------------------------

async def fetch_on_trio(ctx: Any, sem: Any, page: int, log: Log) -> None:
    import trio

    try:
        async with sem.hold(ctx=ctx):
            await trio.sleep((page + 1) * STEP_S)  # interrupted natively on cancel
            _check_page(page)
    except PageError:
        log.failed.append(page)
        raise
    except BaseException:  # ctx.err, or the runtime's own cancellation
        log.cancelled.append(page)
        raise
    log.fetched.append(page)


async def demo_trio() -> str:
    from patterns.context import on_trio as context
    from patterns.errgroup import on_trio as errgroup
    from patterns.semaphore import on_trio as semaphore

    log, sem, raised = Log(), semaphore.Semaphore(PARALLEL), None
    start = time.monotonic()
    with context.background().with_timeout(2.0) as ctx:
        try:
            async with errgroup.Group(ctx) as g:
                for page in range(PAGES):
                    await g.go(fetch_on_trio, g.ctx, sem, page, log)
        except PageError as exc:
            raised = exc
    return log.line("trio", raised, time.monotonic() - start)


def main() -> None:
    import trio

    print(__doc__.split("\n\n")[1].replace("\n", " "))
    print()
    print(demo_threads())
    print(asyncio.run(demo_asyncio()))
    print(trio.run(demo_trio))


if __name__ == "__main__":
    main()

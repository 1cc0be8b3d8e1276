"""What a Dask worker runs for :mod:`patterns.probe.cluster`: one shard of a scan, as one
runtime's own ``scan``, and the hook that stops it when the scan no longer wants it.

A :class:`Shard` is a job, and :func:`run_shard` runs it: ``on_threads.scan(...)``,
``asyncio.run(on_asyncio.scan(...))`` or ``trio.run(...)`` of the shard's targets with
its ``workers`` and ``timeout``, in the Dask worker's task thread, so each shard is the
same worker pool a scan on one machine is. Go counterpart: the function a job queue's
consumer runs per job.

**Stopping a running shard.** Dask cannot interrupt a task that runs: ``client.cancel``
only tells the worker to forget the task, and the thread running it goes on to the end.
So each running shard leaves a way to cancel its scan's context, under the task's key,
and :class:`StopReleasedShards`, a worker plugin, calls it when the worker's task moves
from ``executing`` to ``released`` or ``cancelled``: the scan's client cancelled it, or
went away. The context is then cancelled as each runtime allows from another thread:
directly in threads (contexts are thread-safe), through ``loop.call_soon_threadsafe`` in
asyncio, and through the run's ``TrioToken`` in trio. The shard's probes in flight stop,
the scan returns, and Dask drops the shard's (short) result. Go counterpart: a context
cancelled across a process boundary, as gRPC does when a client cancels its call.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from dask.typing import Key
from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from patterns.probe import ProbeResult, Target
from patterns.probe.tls import TlsConfig
from patterns.runtimes import RuntimeName

__all__ = ["Shard", "StopReleasedShards", "run_shard"]


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard of a cluster scan: ``targets`` probed in ``runtime``, ``workers`` at a
    time, each within ``timeout`` seconds, at most ``rate`` starting a second if it is
    given, every ``https`` probe trusting ``tls`` (``None``: the worker's system store).
    Picklable: it travels to a Dask worker as the task's argument (``TlsConfig`` is data,
    not an ``ssl.SSLContext``, for this reason)."""

    runtime: RuntimeName
    targets: tuple[Target, ...]
    workers: int
    timeout: float
    rate: float | None = None
    tls: TlsConfig | None = None

    def options(self) -> dict[str, Any]:
        """The keyword arguments of the runtime's ``scan``."""
        return {"workers": self.workers, "timeout": self.timeout, "rate": self.rate,
                "tls": self.tls}


def run_shard(shard: Shard) -> list[ProbeResult]:
    """Scan ``shard``'s targets in its runtime and return one result per target, in
    order: what one Dask task of a cluster scan computes.

    In a Dask worker, the shard stops early (and returns the results that finished)
    when the worker releases its task (:class:`StopReleasedShards`); called anywhere
    else it is a plain scan.
    """
    key = _current_task()
    if shard.runtime == "threads":
        return _run_threads(shard, key)
    if shard.runtime == "asyncio":
        return asyncio.run(_run_asyncio(shard, key))
    if shard.runtime == "trio":
        import trio  # only the runtime the shard names is imported

        return trio.run(_run_trio, shard, key)
    raise ValueError(f"unknown runtime {shard.runtime!r}")


def _run_threads(shard: Shard, key: Key | None) -> list[ProbeResult]:
    from patterns.context.on_threads import background
    from patterns.probe.on_threads import scan

    with background().with_cancel() as ctx, _stoppable(key, ctx.cancel):
        return scan(shard.targets, ctx=ctx, **shard.options())


async def _run_asyncio(shard: Shard, key: Key | None) -> list[ProbeResult]:
    from patterns.context.on_asyncio import background
    from patterns.probe.on_asyncio import scan

    loop = asyncio.get_running_loop()
    with background().with_cancel() as ctx, \
            _stoppable(key, lambda: loop.call_soon_threadsafe(ctx.cancel)):
        return await scan(shard.targets, ctx=ctx, **shard.options())


async def _run_trio(shard: Shard, key: Key | None) -> list[ProbeResult]:
    import trio

    from patterns.context.on_trio import background
    from patterns.probe.on_trio import scan

    token = trio.lowlevel.current_trio_token()
    with background().with_cancel() as ctx, \
            _stoppable(key, lambda: token.run_sync_soon(ctx.cancel)):
        return await scan(shard.targets, ctx=ctx, **shard.options())


# -- stopping a shard whose task the worker releases ------------------------------------

_lock = threading.Lock()  # the worker's event loop thread and its task threads share _stops
_stops: dict[Key, Callable[[], object]] = {}


def _current_task() -> Key | None:
    """The key of the Dask task this thread runs, or ``None`` outside a Dask worker."""
    try:
        return get_worker().get_current_task()
    except ValueError:  # "No worker found": called directly, not as a task
        return None


@contextlib.contextmanager
def _stoppable(key: Key | None, stop: Callable[[], object]) -> Iterator[None]:
    """While the block runs, :class:`StopReleasedShards` may call ``stop()`` for ``key``.
    It is called under the same lock that ends the block, so never after the block (and
    the event loop it wakes) is gone; ``stop`` must not block."""
    if key is None:
        yield
        return
    with _lock:
        _stops[key] = stop
    try:
        yield
    finally:
        with _lock:
            del _stops[key]


class StopReleasedShards(WorkerPlugin):
    """A Dask worker plugin that stops a running shard once its task is released: the
    scan's client cancelled it (Ctrl-C) or left. ``scan`` registers it on the cluster
    under one name; Dask installs it on every worker, and on workers that join later."""

    idempotent = True  # a second scan's registration keeps the one already there

    def transition(self, key: Key, start: str, finish: str, **kwargs: Any) -> None:
        # Runs in the worker's event loop thread at every change of a task's state. A
        # task that leaves "executing" for anything but a result is no longer wanted.
        if start == "executing" and finish in ("released", "cancelled"):
            with _lock:
                stop = _stops.get(key)
                if stop is not None:
                    stop()

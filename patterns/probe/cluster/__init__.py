"""Scans beyond one machine: a scan's targets in shards, each shard one runtime's scan,
run as the tasks of a Dask distributed cluster (``scan --cluster ADDRESS``).

The worker pool's shape, one level up. :func:`scan` splits the targets into shards (runs
of consecutive targets) and submits each shard as one Dask task, in input order; the
cluster's task slots (one thread of a Dask worker each) take the next shard as they
free, as a pool's workers take the next target, and each shard is one runtime's own
``scan(targets, workers=W, timeout=T)`` (:mod:`patterns.probe.cluster.shard`): W probes
at a time inside it. Shards over machines, as probes over workers: a scan on S slots
has up to S x W probes in flight, on as many machines as the cluster has, and its
results come back in input order, exactly one per target. Go counterpart: none in the
standard library; a job queue consumed by many machines, each running a worker pool.

**When.** One machine's sockets or cores are not enough (a scan of tens of thousands of
hosts, each probe a connection and some CPU), or the targets are in network zones that
only machines inside them can reach: a Dask worker in each zone probes from there.

**Shards.** :func:`shard_ranges`: ``SHARDS_PER_SLOT`` (4) shards for each slot, and
never a shard smaller than one pool of ``workers`` (a smaller one would leave its pool's
workers idle), unless the whole scan is. Four, not one: every shard ends with a tail
(its last probes run while its pool's other workers idle), so a few big shards waste
least, but a slot that meets slow hosts should be able to hand work to the others, and
a dead worker should cost little. With four a slot, a slot's bad luck is a quarter of
its share, and so is what a dead worker's slots must probe again. A slot should take
the next shard only once it is free, as a pool's worker does: the ``local`` cluster's
scheduler runs with ``distributed.scheduler.worker-saturation`` at 1.0, which hands a
worker no more shards than it has threads while more than twice the slots' number
wait. Dask's default, 1.1, lets a worker of one thread hold a second shard queued
behind the one it runs, until Dask's work stealing moves it to an idle worker, or not:
give your scheduler 1.0 too (``DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=1.0``).

**A dead worker.** Dask reschedules the tasks of a worker that died (its process killed,
its machine gone) on the workers that remain, and gives a task up, as
``KilledWorker``, only once ``distributed.scheduler.allowed-failures`` workers (3 by
default, a setting of the scheduler) have died running it and one more does: so a shard
runs at most four times, and :func:`scan` raises :class:`ClusterError` at the fourth
death. Task
*retries* (``client.submit(..., retries=N)``) are another thing, for a task that
*raised*, and are not used: a shard reports every failure of a host as a result, so an
exception is a bug or a worker without ``patterns``, which a retry would meet again.
Each shard has one future, and its result is taken once, as it arrives, then released
(so that a worker dying later cannot make Dask compute it again): every target gets
exactly one result, from one run of its shard. A shard run again probes its hosts again;
a probe asks and changes nothing, so that is safe.

**Stopping.** Cancelling ``ctx`` (Ctrl-C on ``scan --cluster``) cancels the shards'
futures (``client.cancel``); the shards that finished keep their results, which
:func:`scan` returns, in input order, and ``ctx.err`` says the list is short. A running
shard is told too, by a worker plugin (:class:`~patterns.probe.cluster.shard.StopReleasedShards`):
its probes in flight stop, as on one machine. Dask cannot stop a running task by itself.

**Addresses.** ``tcp://HOST:PORT`` connects to a running Dask scheduler (``dask
scheduler``; ``dask worker tcp://HOST:PORT`` on each machine). The scheduler and every
worker need this version of ``patterns`` installed: the scheduler reads each task's
description, and the workers run it. ``local`` starts a ``LocalCluster`` on this
machine for the scan and stops it after: one worker process per CPU this process may
use (or ``local_workers``), one thread each, every process and port on 127.0.0.1, no
dashboard. Only :func:`connect` and :func:`scan` need ``distributed`` (``pip install
'patterns[cluster]'``); the rest of this module imports without it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from patterns.context.on_threads import Context, background
from patterns.probe import ProbeResult, Target
from patterns.probe.tls import TlsConfig
from patterns.runtimes import RuntimeName

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["CONNECT_TIMEOUT_S", "KEY_PREFIX", "LOCAL", "SHARDS_PER_SLOT", "ClusterError", "connect",
           "parse_address", "scan", "shard_ranges"]

SHARDS_PER_SLOT = 4
"""Shards per task slot of the cluster (see the module docstring: why four)."""
CONNECT_TIMEOUT_S = 10.0
"""How long :func:`connect` waits for the scheduler, and for its first worker."""
LOCAL = "local"
"""The address that starts a ``LocalCluster`` on this machine."""
KEY_PREFIX = "probe-shard"
"""Each shard's Dask key is ``(f"{KEY_PREFIX}-{scan}", n)``: ``n`` counts the scan's
shards from 0, in input order, and ``scan`` is unique to each :func:`scan`."""
STOP_PLUGIN = "patterns-probe-stop-released-shards"
LOCAL_WORKER_SETUP = "patterns.probe.cluster.local"  # a Dask preload: ignore Ctrl-C
INSTALL_HINT = "pip install 'patterns[cluster]'"


class ClusterError(Exception):
    """The cluster cannot do the scan: ``distributed`` is not installed, the address is
    not one, no scheduler answers there, it has no workers, or a shard was lost for good
    (its workers died ``allowed-failures + 1`` times) or raised. The message is one line
    and says which."""


def parse_address(text: str) -> str:
    """``text`` as a cluster address: :data:`LOCAL`, or ``tcp://HOST:PORT`` with a port
    from 1 to 65535 (an IPv6 host in brackets). ``ValueError`` for anything else.

    >>> parse_address("tcp://127.0.0.1:8786")
    'tcp://127.0.0.1:8786'
    >>> parse_address("tcp://[::1]:8786")
    'tcp://[::1]:8786'
    >>> parse_address("local")
    'local'
    >>> parse_address("127.0.0.1:8786")
    Traceback (most recent call last):
    ...
    ValueError: '127.0.0.1:8786' is not a cluster address (tcp://HOST:PORT or local)
    """
    if text == LOCAL:
        return text
    bad = ValueError(f"{text!r} is not a cluster address (tcp://HOST:PORT or {LOCAL})")
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:  # not a number, or out of 0-65535
        raise bad from None
    if (parts.scheme != "tcp" or not parts.hostname or not port or parts.path
            or parts.query or parts.fragment or parts.username is not None):
        raise bad
    return text


def shard_ranges(count: int, *, slots: int, workers: int) -> list[range]:
    """How :func:`scan` splits ``count`` targets for a cluster of ``slots`` task slots,
    each shard scanned ``workers`` at a time: consecutive runs of targets, as even as can
    be, ``SHARDS_PER_SLOT`` a slot, none smaller than ``workers`` (unless ``count`` is).

    >>> [len(r) for r in shard_ranges(10_000, slots=2, workers=100)]
    [1250, 1250, 1250, 1250, 1250, 1250, 1250, 1250]
    >>> shard_ranges(10, slots=2, workers=4)
    [range(0, 5), range(5, 10)]
    >>> shard_ranges(3, slots=2, workers=20)
    [range(0, 3)]
    """
    if count < 1:
        return []
    shards = max(1, min(SHARDS_PER_SLOT * max(slots, 1), count // workers))
    size, extra = divmod(count, shards)  # the first `extra` shards take one more
    starts = [n * size + min(n, extra) for n in range(shards + 1)]
    return [range(start, stop) for start, stop in itertools.pairwise(starts)]


def _distributed() -> ModuleType:
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"Dask's distributed is not installed: {INSTALL_HINT}") from None
    return distributed


@contextlib.contextmanager
def connect(address: str, *, timeout: float = CONNECT_TIMEOUT_S,
            local_workers: int | None = None) -> Iterator[Client]:
    """``with connect(address) as client:`` a ``distributed.Client`` of the cluster at
    ``address`` (see :func:`parse_address`), closed on the way out; for :data:`LOCAL`, a
    ``LocalCluster`` of ``local_workers`` processes (default: one per CPU) that is
    stopped on the way out too, its log lines below ERROR silenced (its processes share
    this one's stderr). The block starts once the cluster has a worker.

    :class:`ClusterError` if ``distributed`` is missing, ``address`` is not an address,
    or no scheduler, or no worker, answers within ``timeout`` seconds.
    """
    try:
        address = parse_address(address)
    except ValueError as exc:
        raise ClusterError(str(exc)) from None
    distributed = _distributed()
    with contextlib.ExitStack() as stack:
        if address == LOCAL:
            import dask

            # The scheduler reads its settings as it starts: a worker is handed a shard
            # only when a thread of it is free (see "Shards" above).
            try:
                with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
                    cluster = stack.enter_context(distributed.LocalCluster(
                        n_workers=local_workers or _cpus(), threads_per_worker=1,
                        processes=True, host="127.0.0.1", dashboard_address=None,
                        # No dashboard, but the scheduler's HTTP server (health,
                        # metrics) runs anyway: on a free port of 127.0.0.1, not 8787.
                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                        silence_logs=logging.ERROR, preload=[LOCAL_WORKER_SETUP]))
            except (OSError, RuntimeError) as exc:  # a process or a port it could not have
                raise ClusterError(f"the local cluster did not start: {_one_line(exc)}") \
                    from None
            address = cluster.scheduler_address
        else:
            _dial(address, timeout)
        try:
            client = stack.enter_context(distributed.Client(address, timeout=timeout))
        except OSError:  # it listens, but it does not speak Dask
            raise ClusterError(f"no Dask scheduler answered at {address} within "
                               f"{timeout:g} s") from None
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise ClusterError(f"the Dask scheduler at {address} has no workers (waited "
                               f"{timeout:g} s)") from None
        yield client


def _cpus() -> int:
    """The CPUs this process may run on (fewer than the machine's, in a container)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _dial(address: str, timeout: float) -> None:
    """Connect to ``address`` and hang up: ``ClusterError`` at once if nobody listens.

    Dask's own connect tries a refused address again and again until its timeout, and a
    ``Client`` that fails to connect leaves its event loop's thread running for the
    rest of the process. So a plain TCP connect goes first (the scheduler logs, at its
    INFO level, a connection that closed before its handshake)."""
    parts = urlsplit(address)
    assert parts.hostname is not None and parts.port is not None  # parse_address said so
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=timeout).close()
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise ClusterError(f"no Dask scheduler answered at {address}: {why}") from None


def scan(targets: Iterable[Target], *, client: Client, runtime: RuntimeName = "threads",
         workers: int, timeout: float, ctx: Context | None = None,
         on_result: Callable[[ProbeResult], object] | None = None,
         rate: float | None = None, tls: TlsConfig | None = None) -> list[ProbeResult]:
    """Probe every target on the cluster of ``client``, in shards, each shard a scan in
    ``runtime`` with ``workers`` workers, each probe within ``timeout`` seconds; return
    the results in the order of ``targets``, exactly one per target.

    Blocks this thread until every shard is done. ``on_result(result)`` is called in
    this thread for each result of a shard as the shard finishes (shards finish in any
    order; results within one in input order). Cancelling ``ctx`` (a threads context)
    cancels the shards that have not finished and returns the results of those that
    had; ``ctx.err`` says the list is short. ``rate`` (probes a second, for the whole
    scan) is shared evenly among the shards that can run at once, the cluster's task
    slots when the scan starts: at most ``slots + rate * t`` probes start in any ``t``
    seconds. ``tls`` is what every shard's ``https`` probes trust (``None``: each
    worker's system store).

    :class:`ClusterError` if a shard is lost for good (its workers died) or raised; the
    shards still running are cancelled first.
    """
    distributed = _distributed()
    targets = list(targets)
    parent = ctx if ctx is not None else background()
    if not targets or parent.done:
        return []
    from patterns.probe.cluster.shard import Shard, StopReleasedShards, run_shard

    # (Some of Client's and Future's methods have no annotations: hence the ignores.)
    slots = max(1, sum(client.nthreads().values()))  # type: ignore[no-untyped-call]
    ranges = shard_ranges(len(targets), slots=slots, workers=workers)
    shard_rate = None if rate is None else rate / min(slots, len(ranges))
    try:
        client.register_plugin(StopReleasedShards(), name=STOP_PLUGIN)
    except Exception as exc:  # a worker's error, raised here: the workers lack our code
        raise ClusterError(f"the Dask workers cannot load the shards' code: "
                           f"{_one_line(exc)} (the scheduler and every worker need this "
                           f"version of patterns installed)") from None
    name = f"{KEY_PREFIX}-{uuid.uuid4().hex}"
    futures: dict[Future[list[ProbeResult]], int] = {}
    for n, indices in enumerate(ranges):  # in input order: Dask runs them first in, first out
        shard = Shard(runtime, tuple(targets[indices.start:indices.stop]), workers, timeout,
                      shard_rate, tls)
        futures[client.submit(run_shard, shard, key=(name, n), retries=0)] = n

    def cancel_unfinished() -> None:
        # Runs in the thread that cancels ctx (a signal's watcher), and must not raise
        # there: a client that is closing has nothing left to cancel.
        with contextlib.suppress(Exception):
            unfinished = [future for future in futures
                          if not future.done()]  # type: ignore[no-untyped-call]
            client.cancel(unfinished)  # type: ignore[no-untyped-call]

    finished: dict[int, list[ProbeResult]] = {}
    stop = parent.after_cancel(cancel_unfinished)
    try:
        for future in distributed.as_completed(futures):
            n = futures[future]
            if future.cancelled():  # ctx was cancelled: it has nothing to give
                continue
            if future.status == "error":
                raise ClusterError(_why_lost(distributed, n, ranges, future.exception()))
            results: list[ProbeResult] = future.result()
            future.release()  # its result is ours now: nothing may compute it again
            expected = targets[ranges[n].start:ranges[n].stop]
            if [result.target for result in results] != expected:
                raise ClusterError(f"shard {_shard_name(n, ranges)} returned results for "
                                   f"other targets than its own")
            finished[n] = results
            if on_result is not None:
                for result in results:
                    on_result(result)
    finally:
        stop()
        cancel_unfinished()  # after an error, or an exception in on_result: no orphans
    return [result for n in sorted(finished) for result in finished[n]]


def _shard_name(n: int, ranges: list[range]) -> str:
    return (f"{n + 1} of {len(ranges)} (targets {ranges[n].start + 1} to "
            f"{ranges[n].stop})")


def _why_lost(distributed: Any, n: int, ranges: list[range], exc: BaseException) -> str:
    if isinstance(exc, distributed.KilledWorker):
        return (f"shard {_shard_name(n, ranges)} was lost: {exc.allowed_failures + 1} "
                f"Dask workers died running it")
    return (f"shard {_shard_name(n, ranges)} failed on the cluster: "
            f"{type(exc).__name__}: {_one_line(exc)}")

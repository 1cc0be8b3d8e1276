"""What each worker process of a ``local`` cluster runs as it starts: it ignores SIGINT.

A Ctrl-C at a terminal goes to every process in the terminal's foreground group: the
scan's, and the worker processes of the ``LocalCluster`` it started. It is the scan's
to handle (it cancels the shards and prints what finished, :mod:`patterns.probe.cli`);
in a worker it would raise ``KeyboardInterrupt`` in the middle of Dask, which prints
the traceback. So a worker process ignores SIGINT. Its nanny stops it with SIGTERM, then
SIGKILL, never SIGINT, and the cluster is stopped when the scan ends, however it ends.

:func:`~patterns.probe.cluster.connect` names this module as the workers' Dask
*preload*: Dask imports it in each worker process and calls ``dask_setup(worker)``
before the worker takes a task, in the process's main thread (where its event loop
runs, and where a signal handler can be set), a restarted worker's process too. A
worker of a ``tcp://`` cluster is left alone: its Ctrl-C belongs to whoever started it.
"""

from __future__ import annotations

import signal

__all__ = ["dask_setup"]


def dask_setup(worker: object) -> None:
    """Dask's preload hook: ignore SIGINT in this worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

"""The Dask cluster ``test_cluster.py`` scans on, run as ``python cluster_child.py``: the
one ``scan --cluster local`` starts (:func:`patterns.probe.cluster.connect`), of two
worker processes, one thread each, every process and port on 127.0.0.1.

It prints the scheduler's address on stdout, one line, once the workers are up, and
stops the cluster when its stdin reaches end of file: when the test closes it, or when
the test's process dies, however it dies (the kernel closes the pipe).

Why a process of its own: a ``LocalCluster``'s scheduler runs in the process that
starts it, and opens and closes connections to its workers as it pleases (a heartbeat, a
broadcast); in the tests' process, the leak check would count them against whichever
test was running. The tests' own clients, which they open and close, are all that is
left there.
"""

from __future__ import annotations

import sys

from patterns.probe.cluster import LOCAL, connect

WORKERS = 2


def main() -> None:
    # The worker processes start by "spawn", which imports this file again as
    # __mp_main__: hence main() and the __name__ guard.
    with connect(LOCAL, local_workers=WORKERS) as client:
        print(client.scheduler.address, flush=True)
        sys.stdin.read()  # until end of file


if __name__ == "__main__":
    main()

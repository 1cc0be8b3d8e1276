"""``watch``'s eyes: one step per save of the learner's files.

:func:`saves` asks the operating system to say when a file changes, through
``watchfiles`` (inotify on Linux, FSEvents on macOS). That can fail where the checker
still has to work: ``watchfiles`` not installed, no inotify watches left, a network
file system that sends no events. Then it falls back to :func:`polled`, which looks at
the files' modification times twice a second: slower to notice, never silent.

Both yield once as soon as they watch, before any save: the caller checks then, so a
save made while that first check runs is seen too, not lost between the check and the
start of the watching. The files to watch are asked for again at every event
(``wanted()``), because ``watch`` moves on to the next chapter once one passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["POLL_INTERVAL_S", "polled", "saves"]

POLL_INTERVAL_S = 0.5  # the fallback's look at the files: a save is seen within this
READY_AFTER_MS = 200  # watchfiles' first quiet spell this long says it is watching

Snapshot = dict[Path, tuple[int, int] | None]  # path -> (mtime in ns, size), None: no file


def saves(root: Path, wanted: Callable[[], set[Path]], *,
          on_fallback: Callable[[str], object] = lambda why: None) -> Iterator[None]:
    """Yield once when watching has begun, then once each time one of ``wanted()``
    (paths under ``root``) is saved, until the caller stops or Ctrl-C raises
    :class:`KeyboardInterrupt`. ``on_fallback(why)`` is called if the file system's
    events cannot be had and polling takes over (which begins with a yield of its own)."""
    try:
        import watchfiles
    except ImportError:
        on_fallback("watchfiles is not installed")
        yield from polled(wanted)
        return

    def relevant(change: object, path: str) -> bool:
        return Path(path) in wanted()

    try:
        watching = False
        # With yield_on_timeout, watchfiles yields an empty set after each quiet spell:
        # the first says the watch is in place; the others are nothing to check.
        for changes in watchfiles.watch(root, watch_filter=relevant, raise_interrupt=True,
                                        yield_on_timeout=True, rust_timeout=READY_AFTER_MS):
            if changes or not watching:
                watching = True
                yield
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # whatever the platform's watcher raises: poll instead
        on_fallback(f"watchfiles failed ({type(exc).__name__}: {exc})".splitlines()[0])
        yield from polled(wanted)


def snapshot(paths: set[Path]) -> Snapshot:
    """What polling compares: each file's modification time and size."""
    seen: Snapshot = {}
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            seen[path] = None
        else:
            seen[path] = (stat.st_mtime_ns, stat.st_size)
    return seen


def polled(wanted: Callable[[], set[Path]], *, interval: float = POLL_INTERVAL_S,
           sleep: Callable[[float], object] = time.sleep) -> Iterator[None]:
    """Yield once at once, then each time the modification time or the size of one of
    ``wanted()`` changes (or a file comes or goes), looking every ``interval`` seconds."""
    before = snapshot(wanted())
    yield
    while True:
        sleep(interval)
        now = snapshot(wanted())
        if now != before:
            before = now
            yield
            if set(wanted()) != set(before):  # the caller has moved on to other files
                before = snapshot(wanted())

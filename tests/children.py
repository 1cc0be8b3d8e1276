"""Child processes a test starts (the CLI, ``serve``): read what they say on stderr,
within a deadline, and stop them so that nothing outlives the test."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time


def read_until(process: subprocess.Popen[bytes], needle: bytes, timeout: float, *,
               lines: int = 1) -> bytes:
    """What ``process`` wrote to stderr up to and including the line holding ``needle``,
    and on until at least ``lines`` whole lines have come; ``AssertionError`` saying what
    came if that takes longer than ``timeout`` seconds or stderr ends first."""
    assert process.stderr is not None
    fd = process.stderr.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data or not data.endswith(b"\n") or data.count(b"\n") < lines:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no {needle!r} on stderr within {timeout} s: {data!r}")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise AssertionError(f"stderr ended without {needle!r}: {data!r}")
        data += chunk
    return data


def stop(process: subprocess.Popen[bytes], *, grace: float | None = None) -> None:
    """Stop ``process`` if it still runs and close its pipes. With ``grace``, SIGTERM
    first and up to that many seconds to go (a server that cleans up after itself);
    then, or at once, kill."""
    if process.poll() is None and grace is not None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    if process.poll() is None:
        process.kill()
        process.wait()
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()

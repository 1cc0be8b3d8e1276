"""The rows of ``compare``: the scans it can time, and the command that runs each one's round.

A row is one scan of the fleet: ``threads``, ``asyncio`` and ``trio`` (this library's
three), ``uvloop`` (the asyncio scan on uvloop's event loop) and ``go`` (the same scan in
Go, ``reference/go``). Every row's round is a fresh process that speaks one protocol,
:mod:`patterns.probe.compare.round`'s: a JSON request on stdin, one JSON line out. The
Python rows run that module; ``go`` runs the reference program, built once.

:data:`ROWS` maps each row to a function that returns its round's command, or raises
:class:`Unavailable` with one line on how to get what the row lacks. Another scan that
speaks the protocol is one more entry in a copy of it, handed to
:class:`~patterns.probe.compare.RoundRunner` (the tests add a stub this way).

>>> list(ROWS)
['threads', 'asyncio', 'trio', 'uvloop', 'go']
>>> python_round()[1:]
['-m', 'patterns.probe.compare.round']
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable

from patterns.runtimes import RUNTIMES

__all__ = ["HOW_TO_GET", "ROWS", "Unavailable", "default_runtimes", "go_toolchain",
           "python_round", "uvloop_installed"]


class Unavailable(Exception):
    """A row that cannot run here; its message is one line on how to get it."""


HOW_TO_GET = {
    "uvloop": "uvloop is not installed: pip install uvloop",
    "go": "no Go toolchain on PATH: install Go from https://go.dev/dl/ "
          "(Debian: apt install golang-go)",
}
"""The line each optional row is left out with, when what it needs is missing."""


def uvloop_installed() -> bool:
    """Whether ``import uvloop`` would work (without importing it here)."""
    return importlib.util.find_spec("uvloop") is not None


def go_toolchain() -> str | None:
    """The ``go`` command's path, or ``None`` where there is none."""
    return shutil.which("go")


def python_round() -> list[str]:
    """This library's round process: :mod:`patterns.probe.compare.round`, in this
    interpreter."""
    return [sys.executable, "-m", "patterns.probe.compare.round"]


def _uvloop_round() -> list[str]:
    # The round process runs the asyncio scan on uvloop's loop when its request says
    # "uvloop"; it only has to be importable there.
    if not uvloop_installed():
        raise Unavailable(HOW_TO_GET["uvloop"])
    return python_round()


def _go_round() -> list[str]:
    from patterns.probe.compare import go  # runs the go command: only when the row is asked

    try:
        return go.round_command()  # builds once, then the cached binary
    except go.GoUnavailable as exc:
        raise Unavailable(str(exc)) from None


ROWS: dict[str, Callable[[], list[str]]] = {
    **{name: python_round for name in RUNTIMES},
    "uvloop": _uvloop_round,
    "go": _go_round,
}
"""Row name -> its round's command (:class:`Unavailable` where it cannot run), in the
order the tables list them."""


def default_runtimes() -> tuple[list[str], dict[str, str]]:
    """The rows ``compare`` runs when not told which: threads, asyncio and trio, plus
    ``uvloop`` where it is installed and ``go`` where a Go toolchain is found; and the
    optional rows it leaves out, each with one line on how to get it."""
    rows: list[str] = list(RUNTIMES)
    left_out: dict[str, str] = {}
    for name, here in (("uvloop", uvloop_installed()), ("go", go_toolchain() is not None)):
        if here:
            rows.append(name)
        else:
            left_out[name] = HOW_TO_GET[name]
    return rows, left_out

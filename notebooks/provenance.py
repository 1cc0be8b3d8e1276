"""What every notebook prints first, and where its figures go.

A figure is only worth what you know about the run behind it, so each notebook opens
with one line: the command that reproduces it, the date, and the machine (CPUs,
Python, the runtimes' versions). ``figure_path`` names a PNG in ``docs/figures/``, the
folder the book and the README show them from.
"""

from __future__ import annotations

import datetime
import os
import platform
from importlib.metadata import version
from pathlib import Path

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"


def provenance(notebook: str) -> str:
    """The line a notebook prints first: ``python notebooks/01-pool-timeline.py`` on
    which date, on which machine."""
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, trio {version('trio')}, "
        f"anyio {version('anyio')}"
    )
    return f"command: python notebooks/{notebook}.py | date: {today} | machine: {machine}"


def figure_path(name: str) -> Path:
    """``docs/figures/<name>.png``, the folder made if it is missing."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    return FIGURES / f"{name}.png"


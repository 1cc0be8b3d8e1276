"""The real programs some tests run (Prometheus, promtool, nginx, Go): found, or the test
skips with the reason and the Debian package that brings the program.

CI installs the packages and sets ``PATTERNS_REQUIRED_PROGRAMS`` (names separated by
spaces, or ``all``): there a missing program fails the test instead of skipping it, so
those tests cannot pass by not running.
"""

from __future__ import annotations

import os
import shutil

import pytest

PACKAGES = {"prometheus": "prometheus", "promtool": "prometheus", "nginx": "nginx-light",
            "go": "golang-go golang-golang-x-sync-dev"}
"""Program -> the Debian package that installs it."""

# Debian puts nginx in /usr/sbin, which is not on every user's PATH.
_SEARCH_PATH = os.pathsep.join(filter(None, [os.environ.get("PATH"), "/usr/sbin", "/sbin"]))


def required(name: str) -> bool:
    """Whether this run must have ``name`` (``PATTERNS_REQUIRED_PROGRAMS`` names it)."""
    wanted = os.environ.get("PATTERNS_REQUIRED_PROGRAMS", "").split()
    return name in wanted or "all" in wanted


def program(name: str) -> str:
    """The path of the program ``name``; else skip the test (or fail it where
    :func:`required`), saying which package brings it."""
    path = shutil.which(name, path=_SEARCH_PATH)
    if path is None:
        reason = f"no {name} here: apt-get install {PACKAGES.get(name, name)}"
        if required(name):
            pytest.fail(f"PATTERNS_REQUIRED_PROGRAMS names {name}, but {reason}",
                        pytrace=False)
        pytest.skip(reason)
    return path

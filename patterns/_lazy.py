"""Lazy access to a pattern's runtime modules.

``import patterns.context`` must not import trio or asyncio for a program that only
uses threads, yet ``patterns.context.on_trio`` should work without a separate import.
PEP 562's module ``__getattr__`` gives both: a runtime module is imported the first
time it is named.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

RUNTIMES = ("on_threads", "on_asyncio", "on_trio")


def runtime_modules(package: str) -> Callable[[str], ModuleType]:
    """Return a module ``__getattr__`` that imports ``package.on_<runtime>`` on first use."""

    def __getattr__(name: str) -> ModuleType:
        if name in RUNTIMES:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__

"""The three runtimes, named once, and lazy access to a pattern's runtime modules.

Every pattern is written three times, as ``on_threads``, ``on_asyncio`` and
``on_trio``; :data:`RUNTIMES` is that list, in that order, for everything that has to
name them (the probe CLI, ``compare``, the benchmarks, the tests).

``import patterns.context`` must not import trio or asyncio for a program that only
uses threads, yet ``patterns.context.on_trio`` should work without a separate import.
PEP 562's module ``__getattr__`` gives both: a runtime module is imported the first
time it is named.

>>> RUNTIMES
('threads', 'asyncio', 'trio')
>>> import patterns.context
>>> patterns.context.on_threads.__name__
'patterns.context.on_threads'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Literal

__all__ = ["RUNTIMES", "RuntimeName", "runtime_modules"]

RuntimeName = Literal["threads", "asyncio", "trio"]
RUNTIMES: tuple[RuntimeName, ...] = ("threads", "asyncio", "trio")
"""The runtimes every pattern is written in, in the order the docs and tables use."""

_MODULES = tuple(f"on_{name}" for name in RUNTIMES)


def runtime_modules(package: str) -> Callable[[str], ModuleType]:
    """Return a module ``__getattr__`` that imports ``package.on_<runtime>`` on first use."""

    def __getattr__(name: str) -> ModuleType:
        if name in _MODULES:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__

"""The house rule, checked: no module of ``patterns`` reaches into another package's
private names.

A package's underscore names (``_tree.py``, ``Context._finish``...) are its own
business; what another package needs is public and documented (``Context.after_cancel``
is the public cancel hook). Two ways to break the rule, both found by walking the AST
of every module under ``patterns/``:

- importing a private module or name of another package
  (``from patterns.context._tree import ContextTree`` outside ``patterns.context``);
- reaching for a private attribute that another package defines
  (``ctx._on_done(...)`` outside ``patterns.context``). Attributes no package of ours
  defines (the standard library's ``sys._current_frames``) are not ours to police.

A "package" is the folder a module sits in: ``patterns.probe.fleet`` is a package of its
own, so the probe's tooling keeps out of the fleet's internals too.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "patterns"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    return module_name(path.parent / "__init__.py")


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


MODULES = sorted(ROOT.rglob("*.py"))
TREES = {path: ast.parse(path.read_text(), filename=str(path)) for path in MODULES}


def private_names_defined() -> dict[str, set[str]]:
    """Private name -> the packages that define it (as a function, a method, a class
    attribute, a ``self._x`` assignment or a ``__slots__`` entry)."""
    owners: dict[str, set[str]] = defaultdict(set)
    for path, tree in TREES.items():
        package = package_of(path)
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.append(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.append(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.append(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.append(node.value)  # __slots__ entries are strings
            owners_of = (n for n in names if is_private(n))
            for name in owners_of:
                owners[name].add(package)
    return owners


OWNERS = private_names_defined()


def violations(path: Path) -> list[str]:
    package = package_of(path)
    tree = TREES[path]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            for depth, part in enumerate(parts):
                if is_private(part) and ".".join(parts[:depth]) != package:
                    found.append(f"line {node.lineno}: imports {node.module}")
                    break
            else:
                if node.module != package:
                    found.extend(f"line {node.lineno}: imports {alias.name} from {node.module}"
                                 for alias in node.names if is_private(alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if any(is_private(p) and ".".join(parts[:d]) != package
                       for d, p in enumerate(parts)):
                    found.append(f"line {node.lineno}: imports {alias.name}")
        elif isinstance(node, ast.Attribute) and is_private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            owners = OWNERS.get(node.attr, set())
            if owners and package not in owners:
                found.append(f"line {node.lineno}: uses .{node.attr}, private to "
                             f"{', '.join(sorted(owners))}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_no_module_reaches_into_another_packages_private_names(path: Path) -> None:
    found = violations(path)
    assert not found, f"{path.relative_to(ROOT.parent)}: " + "; ".join(found)


def test_the_check_catches_a_reach_into_another_package(tmp_path: Path) -> None:
    """The walk above finds both kinds of reach when they are there."""
    source = ("from patterns.context._tree import ContextTree\n"
              "def f(ctx):\n    return ctx._finish\n")
    bad = ROOT / "semaphore" / "on_threads.py"
    saved = TREES[bad]
    TREES[bad] = ast.parse(source)
    try:
        found = violations(bad)
    finally:
        TREES[bad] = saved
    assert any("patterns.context._tree" in f for f in found), found
    assert any("._finish" in f for f in found), found


# -- signal handlers: patterns.context's notify_context is the one place --------------------

SIGNAL_CALLS = {"signal", "add_signal_handler", "open_signal_receiver", "set_wakeup_fd"}


def signal_handlers_installed(tree: ast.AST) -> list[str]:
    """The calls in ``tree`` that install a signal handler, except those that only tell
    a process to ignore one (``signal.signal(SIGINT, signal.SIG_IGN)``: no handler runs)."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in SIGNAL_CALLS):
            continue
        if node.func.attr == "signal" and not (
                isinstance(node.func.value, ast.Name) and node.func.value.id == "signal"):
            continue  # some other object's .signal(), not the module's
        if (node.func.attr == "signal" and len(node.args) == 2
                and isinstance(node.args[1], ast.Attribute) and node.args[1].attr == "SIG_IGN"):
            continue
        found.append(f"line {node.lineno}: {ast.unparse(node.func)}()")
    return found


def test_only_notify_context_installs_signal_handlers() -> None:
    """Every command that stops on a signal does it through ``notify_context`` (Go's
    ``signal.NotifyContext``): a handler of its own elsewhere would be a second, subtly
    different answer to "what does Ctrl-C do" (and one that might take a lock)."""
    found = {str(path.relative_to(ROOT.parent)): calls for path, tree in TREES.items()
             if package_of(path) != "patterns.context"
             and (calls := signal_handlers_installed(tree))}
    assert not found, found


def test_the_signal_check_catches_a_handler() -> None:
    tree = ast.parse("import signal\nsignal.signal(signal.SIGTERM, print)\n"
                     "loop.add_signal_handler(2, print)\nsignal.signal(2, signal.SIG_IGN)\n")
    assert signal_handlers_installed(tree) == ["line 2: signal.signal()",
                                               "line 3: loop.add_signal_handler()"]

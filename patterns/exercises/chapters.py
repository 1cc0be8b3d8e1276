"""The chapters as data: what each one asks, where its files are, which library module
it rebuilds.

A chapter is a folder, ``NN-name/``, under the chapters root (``exercises/`` in a clone;
the same files ship inside the installed package, so a learner needs no clone)::

    NN-name/
      README.md                 the Go original, the lesson, the numbered tasks
      chapter.toml              title, library module, tasks and their hints, buggy variants
      starter/on_<runtime>.py   what the learner starts from (TODOs)
      solution/on_<runtime>.py  a reference solution
      buggy/<name>/on_<runtime>.py   an anti-pattern the tests must catch
      tests/test_*.py           the grading tests, each marked ``@pytest.mark.task(N)``
      show.py                   optional: what ``check`` prints once the chapter passes

``chapter.toml`` is read with :mod:`tomllib`::

    title = "The worker pool: bounded parallelism, backpressure"
    library = "patterns.workerpool"        # the tests pass on <library>.on_<runtime> too
                                           # (a list for a chapter that rebuilds two)
    library_extra = ["patterns.probe.cli.formats"]  # optional: runtime-free modules too
    [files]                                # optional: the learner's file per runtime
    asyncio = "on_anyio.py"
    [[task]]
    title = "never more than `workers` jobs at once"
    hints = ["a first nudge", "a closer one", "nearly the answer"]
    [[buggy]]
    name = "task-per-item"
    why = "a task per item: nothing bounds how many run at once"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from patterns.runtimes import RUNTIMES

__all__ = ["Buggy", "Chapter", "ChapterError", "Task", "chapters", "chapters_root", "find"]


class ChapterError(LookupError):
    """An unknown chapter or runtime, or a chapter folder that does not hold together."""


@dataclass(frozen=True)
class Task:
    """One numbered task of a chapter, with its hints, gentlest first."""

    number: int
    title: str
    hints: tuple[str, ...]


@dataclass(frozen=True)
class Buggy:
    """A variant that must fail the chapter's tests: ``why`` names the anti-pattern."""

    name: str
    why: str
    folder: Path

    def runtimes(self, chapter: Chapter) -> list[str]:
        """The runtimes this variant has a file for."""
        return [rt for rt in chapter.runtimes if (self.folder / chapter.files[rt]).exists()]


@dataclass(frozen=True)
class Chapter:
    """A chapter: its folder name (``03-workerpool``) is its name and its place."""

    name: str
    title: str
    folder: Path
    library: tuple[str, ...]
    library_extra: tuple[str, ...]
    files: dict[str, str]  # runtime -> the learner's file for it
    tasks: tuple[Task, ...]
    buggy: tuple[Buggy, ...]

    @property
    def runtimes(self) -> list[str]:
        return [rt for rt in RUNTIMES if rt in self.files]

    @property
    def file_names(self) -> list[str]:
        """The learner's files, each once (07's one anyio file serves two runtimes)."""
        return sorted(set(self.files.values()))

    def library_module(self, runtime: str) -> str:
        """The library's module(s) for ``runtime``, as the plugin's target names them."""
        modules = [f"{package}.on_{runtime}" for package in self.library]
        return "+".join([*modules, *self.library_extra])

    def runtime(self, name: str | None) -> list[str]:
        """``[name]``, checked against this chapter; all its runtimes for ``None``."""
        if name is None:
            return self.runtimes
        if name not in self.files:
            raise ChapterError(
                f"chapter {self.name} has no {name!r} version (it has: "
                f"{', '.join(self.runtimes)})"
            )
        return [name]

    @classmethod
    def load(cls, folder: Path) -> Chapter:
        with (folder / "chapter.toml").open("rb") as f:
            spec = tomllib.load(f)
        files = spec.get("files") or {rt: f"on_{rt}.py" for rt in RUNTIMES}
        tasks = tuple(
            Task(number, task["title"], tuple(task.get("hints", ())))
            for number, task in enumerate(spec.get("task", []), start=1)
        )
        buggy = tuple(
            Buggy(b["name"], b["why"], folder / "buggy" / b["name"]) for b in spec.get("buggy", [])
        )
        library = spec["library"]
        packages = (library,) if isinstance(library, str) else tuple(library)
        return cls(folder.name, spec["title"], folder, packages,
                   tuple(spec.get("library_extra", ())), dict(files), tasks, buggy)


def chapters_root() -> Path:
    """Where the chapters are: the package's copy when installed, ``exercises/`` in a
    clone (an editable install has no copy, so the clone's folder is the one)."""
    shipped = Path(str(resources.files("patterns.exercises"))) / "chapters"
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[2] / "exercises"


@cache
def chapters() -> tuple[Chapter, ...]:
    """Every chapter, in order."""
    root = chapters_root()
    return tuple(
        Chapter.load(folder)
        for folder in sorted(root.iterdir())
        if (folder / "chapter.toml").is_file()
    )


def find(name: str) -> Chapter:
    """A chapter by its folder name (``03-workerpool``) or its number (``3``, ``03``)."""
    for chapter in chapters():
        number = chapter.name.split("-", 1)[0]
        if name in (chapter.name, number) or (name.isdigit() and int(name) == int(number)):
            return chapter
    known = ", ".join(c.name for c in chapters())
    raise ChapterError(f"no chapter {name!r} (the chapters: {known})")

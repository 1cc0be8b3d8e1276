"""A learner's workspace: the folder ``init`` makes, where they write their versions.

::

    patterns-exercises/
      progress.txt              what is done (see patterns.exercises.progress)
      01-spawn/
        README.md               the chapter: the Go original, the lesson, the tasks
        on_threads.py           the learner's files, starters to begin with
        on_asyncio.py
        on_trio.py
      02-.../

Only the learner's files live here; the tests, the hints and the solutions stay in the
installed package, so a workspace is small, and a newer version of the package grades
an older workspace without copying anything again. A folder is a workspace when it
holds ``progress.txt``: that is how the commands find one.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from patterns.exercises.chapters import Chapter, chapters
from patterns.exercises.progress import FILE_NAME, Progress

__all__ = ["DEFAULT_FOLDER", "Status", "Workspace", "WorkspaceError"]

DEFAULT_FOLDER = "patterns-exercises"


class WorkspaceError(Exception):
    """No workspace where one was asked for, or one that cannot be made: one line that
    says what to do instead."""


class Status(StrEnum):
    """Where the learner is with one runtime of one chapter, as ``list`` shows it."""

    DONE = "done"  # check passed (progress.txt says so)
    FAILING = "failing"  # the last check failed, and the file is no longer the starter
    STARTED = "started"  # edited, not checked since
    NOT_STARTED = "not started"  # the file is still the starter, byte for byte
    MISSING = "missing"  # no file: deleted, or a chapter newer than the workspace


@dataclass
class Workspace:
    """A workspace folder and its progress."""

    root: Path
    progress: Progress

    # -- finding, opening, making ------------------------------------------------------

    @classmethod
    def open(cls, root: Path) -> tuple[Workspace, list[str]]:
        """The workspace at ``root``, and the warnings its ``progress.txt`` earned."""
        root = root.resolve()
        state = root / FILE_NAME
        if not state.is_file():
            raise WorkspaceError(f"{root} is not a workspace (it has no {FILE_NAME}); "
                                 "'init' makes one")
        progress, warnings = Progress.load(state, chapters())
        return cls(root, progress), warnings

    @classmethod
    def find(cls, given: str | None, *, prog: str) -> tuple[Workspace, list[str]]:
        """``--workspace DIR`` if given, else the current folder if it is a workspace."""
        if given is not None:
            return cls.open(Path(given))
        here = Path.cwd()
        if (here / FILE_NAME).is_file():
            return cls.open(here)
        inside = next((p for p in here.parents if (p / FILE_NAME).is_file()), None)
        if inside is not None:
            raise WorkspaceError(f"this folder is inside the workspace {inside}: run the "
                                 f"command there, or pass --workspace {inside}")
        raise WorkspaceError(f"no workspace here (no {FILE_NAME} in {here}): "
                             f"'{prog} init' makes one, or pass --workspace DIR")

    @classmethod
    def create(cls, root: Path) -> Workspace:
        """A new workspace at ``root``: every chapter's README and starters, and an
        empty progress. ``root`` may exist only as an empty folder: nothing is ever
        overwritten."""
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"{root} is a file, not a folder: nothing written")
        if root.is_dir() and any(root.iterdir()):
            what = "a workspace already" if (root / FILE_NAME).exists() else "not empty"
            raise WorkspaceError(f"{root} is {what}: nothing written (choose a new folder)")
        try:
            root.mkdir(parents=True, exist_ok=True)
            workspace = cls(root.resolve(), Progress(root.resolve() / FILE_NAME))
            for chapter in chapters():
                folder = workspace.folder(chapter)
                folder.mkdir()
                shutil.copyfile(chapter.folder / "README.md", folder / "README.md")
                for name in chapter.file_names:
                    shutil.copyfile(chapter.folder / "starter" / name, folder / name)
            workspace.progress.save()  # last: a folder without it is no workspace yet
        except OSError as exc:
            raise WorkspaceError(f"{root}: cannot write: {exc.strerror or exc}") from None
        return workspace

    # -- the learner's files -----------------------------------------------------------

    def folder(self, chapter: Chapter) -> Path:
        return self.root / chapter.name

    def file(self, chapter: Chapter, runtime: str) -> Path:
        """The learner's file for ``runtime`` (07's one ``on_anyio.py`` serves two)."""
        return self.folder(chapter) / chapter.files[runtime]

    def files(self, chapter: Chapter, runtimes: list[str]) -> list[Path]:
        """The learner's files for ``runtimes``, each once."""
        return sorted({self.file(chapter, rt) for rt in runtimes})

    def relative(self, path: Path) -> str:
        """``path`` as the learner sees it from the workspace: ``01-spawn/on_trio.py``."""
        return path.relative_to(self.root).as_posix()

    @staticmethod
    def starter(chapter: Chapter, runtime: str) -> Path:
        return chapter.folder / "starter" / chapter.files[runtime]

    @staticmethod
    def solution(chapter: Chapter, runtime: str) -> Path:
        return chapter.folder / "solution" / chapter.files[runtime]

    def is_untouched(self, chapter: Chapter, runtime: str) -> bool:
        """The learner's file is still the starter, byte for byte."""
        mine = self.file(chapter, runtime)
        return mine.is_file() and mine.read_bytes() == self.starter(chapter, runtime).read_bytes()

    def status(self, chapter: Chapter, runtime: str) -> Status:
        if self.progress.is_done(chapter.name, runtime):
            return Status.DONE
        if not self.file(chapter, runtime).is_file():
            return Status.MISSING
        if self.is_untouched(chapter, runtime):
            return Status.NOT_STARTED
        if (chapter.name, runtime) in self.progress.failing:
            return Status.FAILING
        return Status.STARTED

    def reset(self, chapter: Chapter, runtime: str) -> Path | None:
        """Put the starter back, and forget the runtime's progress; the learner's
        version, if it was not the starter, is kept beside it as ``<file>.bak``, which
        is returned."""
        mine = self.file(chapter, runtime)
        backup = None
        if mine.is_file() and not self.is_untouched(chapter, runtime):
            backup = mine.with_name(mine.name + ".bak")
            shutil.copyfile(mine, backup)
        mine.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.starter(chapter, runtime), mine)
        self.progress.forget(chapter.name, runtime)
        return backup

    # -- what comes next ---------------------------------------------------------------

    def unfinished(self, chapter: Chapter) -> list[str]:
        """The chapter's runtimes not done yet."""
        return [rt for rt in chapter.runtimes if not self.progress.is_done(chapter.name, rt)]

    def first_unfinished(self) -> Chapter | None:
        return next((c for c in chapters() if self.unfinished(c)), None)

    def next_runtime(self, chapter: Chapter) -> str | None:
        """The runtime to work on next in ``chapter``: the first unfinished one the
        learner has started, else the first unfinished one."""
        left = self.unfinished(chapter)
        started = [rt for rt in left if self.status(chapter, rt) in (Status.FAILING,
                                                                       Status.STARTED)]
        return next(iter(started or left), None)

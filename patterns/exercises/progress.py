"""``progress.txt``: what a learner has done, kept in the workspace beside their files.

It is a plain text file, one fact a line, so that it can be read, fixed by hand, kept
in git, or copied to another machine with the workspace (``list`` needs nothing else
to show what is done there)::

    # comments and blank lines are kept out of the way
    done 01-spawn threads                  check passed, for this chapter and runtime
    failing 01-spawn trio task 2           check failed; task 2 was the first to fail
    hints 01-spawn trio task 2 seen 1      hint has shown 1 of task 2's hints

``check`` writes the ``done`` and ``failing`` lines, ``hint`` the ``hints`` lines,
``reset`` drops all three for what it puts back. A chapter may be named by its number
(``done 1 threads``); it is written back by its folder name.

A line that does not read as one of those (a typo, a chapter this version does not
have, a runtime the chapter has no file for) is not an error: it earns one warning
naming the file and the line, is ignored, and the next save keeps its text as a
comment (``# ignored: ...``), so nothing the learner wrote is lost and the warning is
not repeated.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from patterns.exercises.chapters import Chapter

__all__ = ["FILE_NAME", "Progress"]

FILE_NAME = "progress.txt"

HEADER = """\
# Your progress through the patterns exercises: `python -m patterns.exercises list`
# reads it, `check` and `hint` write it. Copy it along with your workspace to carry
# on elsewhere. One fact a line:
#   done CHAPTER RUNTIME                   check passed
#   failing CHAPTER RUNTIME task N         check failed, first at task N
#   hints CHAPTER RUNTIME task N seen K    K of task N's hints shown
"""

Key = tuple[str, str]  # (chapter name, runtime)


@dataclass
class Progress:
    """The facts of one ``progress.txt``; :meth:`load` reads it, :meth:`save` writes it
    back whole (a new file moved into place, so a crash never leaves half of one)."""

    path: Path
    done: set[Key] = field(default_factory=set)
    failing: dict[Key, int | None] = field(default_factory=dict)  # -> first failing task
    hints: dict[tuple[str, str, int], int] = field(default_factory=dict)  # -> hints seen
    ignored: list[str] = field(default_factory=list)  # lines that did not read

    @classmethod
    def load(cls, path: Path, chapters: Sequence[Chapter]) -> tuple[Progress, list[str]]:
        """The progress in ``path``, and a warning per line that was ignored."""
        progress = cls(path)
        warnings = []
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if line.startswith("# ignored: "):
                progress.ignored.append(line.removeprefix("# ignored: "))
                continue
            if not line or line.startswith("#"):
                continue
            problem = progress._read(line.split(), chapters)
            if problem:
                warnings.append(f"{path}:{number}: {problem}; line ignored")
                progress.ignored.append(line)
        return progress, warnings

    def _read(self, words: list[str], chapters: Sequence[Chapter]) -> str | None:
        """Take in one line's words; what is wrong with them, or ``None``."""
        shapes = {"done": "done CHAPTER RUNTIME",
                  "failing": "failing CHAPTER RUNTIME [task N]",
                  "hints": "hints CHAPTER RUNTIME task N seen K"}
        kind = words[0]
        if kind not in shapes:
            return f"{kind!r} is not one of: {', '.join(shapes)}"
        if len(words) < 3:
            return f"want {shapes[kind]!r}"
        chapter = _chapter(words[1], chapters)
        if chapter is None:
            return f"no chapter {words[1]!r}"
        runtime = words[2]
        if runtime not in chapter.files:
            return f"chapter {chapter.name} has no {runtime!r} version"
        key = (chapter.name, runtime)
        rest = words[3:]
        if kind == "done" and not rest:
            self.done.add(key)
            self.failing.pop(key, None)
        elif kind == "failing" and (not rest or (len(rest) == 2 and rest[0] == "task"
                                                 and rest[1].isdigit())):
            self.failing[key] = int(rest[1]) if rest else None
            self.done.discard(key)
        elif (kind == "hints" and len(rest) == 4 and rest[0] == "task" and rest[2] == "seen"
              and rest[1].isdigit() and rest[3].isdigit()):
            self.hints[(*key, int(rest[1]))] = int(rest[3])
        else:
            return f"want {shapes[kind]!r}"
        return None

    # -- what the commands ask and record ---------------------------------------------

    def is_done(self, chapter: str, runtime: str) -> bool:
        return (chapter, runtime) in self.done

    def record(self, chapter: str, runtime: str, *, passed: bool,
               first_failing_task: int | None = None) -> None:
        """What ``check`` found for one runtime of one chapter."""
        key = (chapter, runtime)
        if passed:
            self.done.add(key)
            self.failing.pop(key, None)
        else:
            self.done.discard(key)
            self.failing[key] = first_failing_task

    def hints_seen(self, chapter: str, runtime: str, task: int) -> int:
        return self.hints.get((chapter, runtime, task), 0)

    def saw_hint(self, chapter: str, runtime: str, task: int) -> None:
        key = (chapter, runtime, task)
        self.hints[key] = self.hints.get(key, 0) + 1

    def forget(self, chapter: str, runtime: str) -> None:
        """Everything about one runtime of one chapter: ``reset`` starts it over."""
        self.done.discard((chapter, runtime))
        self.failing.pop((chapter, runtime), None)
        for key in [k for k in self.hints if k[:2] == (chapter, runtime)]:
            del self.hints[key]

    def save(self) -> None:
        lines = [f"done {c} {rt}" for c, rt in sorted(self.done)]
        for (c, rt), task in sorted(self.failing.items()):
            lines.append(f"failing {c} {rt}" + ("" if task is None else f" task {task}"))
        lines += [f"hints {c} {rt} task {task} seen {seen}"
                  for (c, rt, task), seen in sorted(self.hints.items())]
        lines += [f"# ignored: {line}" for line in self.ignored]
        text = HEADER + "".join(f"{line}\n" for line in lines)
        fresh = self.path.with_name(f".{self.path.name}.new")
        fresh.write_text(text, encoding="utf-8")
        os.replace(fresh, self.path)


def _chapter(name: str, chapters: Sequence[Chapter]) -> Chapter | None:
    """The chapter a line names, by folder name or by number (``01-spawn``, ``1``)."""
    for chapter in chapters:
        number = chapter.name.split("-", 1)[0]
        if name == chapter.name or (name.isdigit() and int(name) == int(number)):
            return chapter
    return None

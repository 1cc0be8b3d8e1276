"""``verify``: the proof, for maintainers and CI, that every chapter grades what it says.

For each chapter, one run of its tests on every module it ships: every starter fails
(its tests run and fail: a module that does not load proves nothing), every solution
passes, every buggy variant fails, the library's own module passes; and every task has
a hint, every starter a ``TODO``.
"""

from __future__ import annotations

from collections.abc import Iterable

from patterns.exercises.chapters import Chapter
from patterns.exercises.runner import Graded, grade

__all__ = ["problems_of", "targets_of"]


def targets_of(chapter: Chapter) -> dict[str, tuple[str, str]]:
    """Every module the chapter ships, by label: ``starter/trio``, ``buggy/name/trio``..."""
    targets: dict[str, tuple[str, str]] = {}
    for rt in chapter.runtimes:
        file = chapter.files[rt]
        targets[f"starter/{rt}"] = (str(chapter.folder / "starter" / file), rt)
        targets[f"solution/{rt}"] = (str(chapter.folder / "solution" / file), rt)
        targets[f"library/{rt}"] = (chapter.library_module(rt), rt)
        for buggy in chapter.buggy:
            if buggy.runtimes(chapter).count(rt):
                targets[f"buggy/{buggy.name}/{rt}"] = (str(buggy.folder / file), rt)
    return targets


def problems_of(chapter: Chapter) -> list[str]:
    """What is wrong with ``chapter``, one line each; empty when it holds."""
    problems = list(_static_problems(chapter))
    for label, graded in grade(chapter, targets_of(chapter)).items():
        kind = label.split("/", 1)[0]
        if kind in ("solution", "library") and not graded.passed:
            problems.append(f"{label} does not pass: {_why(graded)}")
        if kind in ("starter", "buggy") and not graded.failed_by_tests:
            problems.append(f"{label} is not caught by the tests: {_why(graded)}")
    return [f"{chapter.name}: {p}" for p in problems]


def _static_problems(chapter: Chapter) -> Iterable[str]:
    if not (chapter.folder / "README.md").is_file():
        yield "no README.md"
    if not chapter.tasks:
        yield "no tasks in chapter.toml"
    if not chapter.buggy:
        yield "no buggy variant"
    for task in chapter.tasks:
        if not task.hints:
            yield f"task {task.number} has no hint"
    for name in chapter.file_names:
        starter = chapter.folder / "starter" / name
        if not starter.is_file():
            yield f"no starter/{name}"
        elif "TODO" not in starter.read_text():
            yield f"starter/{name} has no TODO"
    for buggy in chapter.buggy:
        if not buggy.runtimes(chapter):
            yield f"buggy/{buggy.name} holds no runtime's file"


def _why(graded: Graded) -> str:
    if graded.problems:
        return graded.problems[0]
    if not graded.tasks:
        return "no test ran"
    errors = [t for t in graded.tasks.values() if t.errors]
    if errors:
        return f"its module did not load: {errors[0].first_failure}"
    first = graded.first_failure()
    if first is None:
        return "every test passed"
    number, outcome = first
    return f"task {number}, {outcome.test}: {outcome.first_failure}"

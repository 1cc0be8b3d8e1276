"""Run a chapter's tests on some modules, in a fresh pytest process, and read back what
passed: the one place ``check`` and ``verify`` grade through.

A fresh process per run, because a learner's module may do anything to the one it runs
in (leave a thread blocked, install a signal handler, never return), and the checker
must live on to say so; and because the learner edits files between runs, which a
long-lived process would have cached.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from patterns.exercises.chapters import Chapter, chapters_root

__all__ = ["RUN_LIMIT_S", "Graded", "TaskOutcome", "grade"]

RUN_LIMIT_S = 600.0  # one pytest run of a chapter; every scenario has its own, shorter limit


@dataclass(frozen=True)
class TaskOutcome:
    """One task's tests on one module."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    first_failure: str | None = None
    test: str | None = None

    @property
    def ok(self) -> bool:
        """Nothing failed, and something ran. A test that skips (``pytest.skip("threads:
        acquire() cannot be cancelled")``) does not apply in this runtime, so a task
        whose every test skips there is done there."""
        return (self.passed > 0 or self.skipped > 0) and not self.failed and not self.errors


@dataclass
class Graded:
    """One module's grade: a :class:`TaskOutcome` per task number (0: tests with no
    task marker), and what kept tests from running at all."""

    label: str
    tasks: dict[int, TaskOutcome] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every test ran, and passed."""
        return bool(self.tasks) and not self.problems and all(t.ok for t in self.tasks.values())

    @property
    def failed_by_tests(self) -> bool:
        """The tests ran, and some failed: what a starter or a buggy variant must do (a
        module that does not even load has not been caught by the tests)."""
        outcomes = self.tasks.values()
        return (not self.problems and any(t.failed for t in outcomes)
                and not any(t.errors for t in outcomes))

    def first_failure(self) -> tuple[int, TaskOutcome] | None:
        for number in sorted(self.tasks):
            if not self.tasks[number].ok:
                return number, self.tasks[number]
        return None


def grade(chapter: Chapter, targets: dict[str, tuple[str, str]], *,
          keyword: str | None = None) -> dict[str, Graded]:
    """Run ``chapter``'s tests once for all ``targets`` (label -> (source, runtime)):
    a ``.py`` path or a module name, and the runtime it is for."""
    with tempfile.TemporaryDirectory(prefix="patterns-exercises-") as tmp:
        report = Path(tmp) / "report.json"
        command = [
            sys.executable, "-m", "pytest", str(chapter.folder / "tests"),
            "-c", str(chapters_root() / "pytest.ini"), "--rootdir", str(chapter.folder),
            "-p", "patterns.exercises.plugin", "-p", "no:cacheprovider",
            # The grades come from the report; drawing tracebacks through anyio and trio
            # would cost half a run and be read by nobody.
            "-q", "--no-header", "-rN", "--tb=no", f"--exercise-report={report}",
        ]
        for label, (source, runtime) in targets.items():
            command.append(f"--exercise-target={label}={source}@{runtime}")
        if keyword:
            command += ["-k", keyword]
        # Only the grading plugin: the many a dev install carries (benchmark, memray,
        # hypothesis...) cost a second of start-up each run and grade nothing.
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        try:
            run = subprocess.run(command, capture_output=True, text=True, env=env,
                                 timeout=RUN_LIMIT_S, cwd=chapter.folder)
        except subprocess.TimeoutExpired:
            return {label: Graded(label, problems=[f"the tests did not end in {RUN_LIMIT_S:g} s"])
                    for label in targets}
        if not report.exists():
            tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
            return {label: Graded(label, problems=[f"pytest did not run: {tail[0]}"])
                    for label in targets}
        data = json.loads(report.read_text())
    graded = {}
    for label in targets:
        tasks = {int(n): TaskOutcome(**cell) for n, cell in data["targets"].get(label, {}).items()}
        graded[label] = Graded(label, tasks, list(data["collection_errors"]))
    return graded

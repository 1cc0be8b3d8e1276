"""Tests of chapter 09's ``show.py``, what ``check 09`` prints once the chapter passes.

Not grading tests (those are in the chapter's ``tests/``, which the checker runs): these
run real scans of a small real fleet in fresh processes, a few seconds' worth, and hold
the invariants between the figures, never a timing.

The learner's rows are chapter 08's solutions, loaded by path as a learner's would be.
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rich.console import Console

from patterns.exercises.chapters import find
from patterns.exercises.runner import Graded, TaskOutcome
from patterns.runtimes import RUNTIMES

CHAPTER = find("09").folder
SMALL = {"hosts": 6, "workers": 3, "rounds": 2, "profile": "ideal"}  # ideal: 50 ms a host


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # the solution's dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


show = load(CHAPTER / "show.py", "chapter09_show")
solution = load(CHAPTER / "solution" / "compare.py", "chapter09_solution")


def aggregator_files() -> dict[str, Path]:
    """Chapter 08's solutions, loaded by path as a learner's files would be."""
    chapter = find("08")
    return {rt: chapter.folder / "solution" / chapter.files[rt] for rt in chapter.runtimes}


def recording() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, color_system=None), out


def test_six_rows_each_right_each_measured_with_the_learners_code() -> None:
    console, out = recording()
    figures = show.side_by_side(console, solution, aggregator_files(), **SMALL)
    text = out.getvalue()
    assert [(c.runtime, c.whose) for c in figures] == [
        (rt, whose) for rt in RUNTIMES for whose in ("yours", "library")], text
    for c, f in figures.items():
        assert isinstance(f, solution.RuntimeFigures)  # the learner's figures, not compare's
        assert len(f.rounds) == SMALL["rounds"], c
        assert f.correct == f.hosts == SMALL["hosts"], (c, f.rounds[0].mistakes)
        assert f.efficiency == pytest.approx(f.ideal_s / f.median_s)
        # No schedule beats the lower bound (but for rounding), and a real scan cannot beat
        # the ideal pool by more than the clocks' disagreement.
        assert f.lower_bound_s <= f.ideal_s * (1 + 1e-9) and f.ideal_s <= f.median_s * 1.01
        assert f.peak_memory_bytes > 1 << 20
    ideal = next(iter(figures.values())).ideal_s
    assert text.count("yours") >= 3 and text.count("library") >= 3, text
    assert f"{ideal:.3f} s" in text and "6/6" in text, text
    assert "WRITE-UP" in text and text.count("____") >= 5, text
    assert "wrong in its worst round" not in text, text


def test_a_runtime_without_a_passing_chapter_08_is_skipped_with_a_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """threads: a file that fails chapter 08; asyncio: no file; trio: a file that passes.
    Grading itself is chapter 08's business (``verify`` proves it), so the grade is
    given here, and only what ``show`` makes of it is checked."""
    chapter = find("08")
    mine = tmp_path / chapter.name
    mine.mkdir()
    for rt in ("threads", "trio"):
        shutil.copy(chapter.folder / "starter" / chapter.files[rt], mine / chapter.files[rt])
    grades = {
        "yours/threads": Graded("yours/threads", {1: TaskOutcome(failed=1,
                                first_failure="NotImplementedError: task 1")}),
        "yours/trio": Graded("yours/trio", {1: TaskOutcome(passed=1)}),
    }
    asked: list[set[str]] = []

    def graded(of: Any, targets: dict[str, Any]) -> dict[str, Graded]:
        asked.append(set(targets))
        return {label: grades[label] for label in targets}

    monkeypatch.setattr(show, "grade", graded)
    scans, skipped = show.aggregators(tmp_path)
    assert asked == [{"yours/threads", "yours/trio"}]
    assert scans == {"trio": mine / chapter.files["trio"]}
    text = "\n".join(skipped)
    assert "threads (yours): skipped, chapter" in text and "does not pass" in text, text
    assert "task 1: NotImplementedError" in text, text
    assert "asyncio (yours): skipped," in text and "is not there" in text, text


def test_the_write_up_fills_in_the_figures_and_leaves_the_blanks() -> None:
    def figures(runtime: str, walls: list[float], correct: int = 10,
                peak: int = 20 << 20) -> Any:
        rounds = [solution.Round(runtime, w, 0.1, peak, correct, (), None) for w in walls]
        return solution.RuntimeFigures(runtime, 10, 1.0, 0.8, rounds)

    ran = {show.Contestant("threads", Path("on_threads.py")): figures("threads", [1.25]),
           show.Contestant("threads"): figures("threads", [1.1]),
           show.Contestant("trio", Path("on_trio.py")): figures("trio", [2.0], correct=9),
           show.Contestant("trio"): figures("trio", [1.2], peak=30 << 20)}
    text = show.write_up(ran, "10 hosts", rounds=1, workers=4)
    assert "Of mine, threads came closest to the ideal, at an efficiency of 0.80" in text
    assert "trio furthest, at 0.50 (2.000 s)" in text
    assert "trio 9 of 10" in text
    assert "In threads, mine took 1.250 s to the library's 1.100 s (1.14x its time)" in text
    assert "peaked at 20.0 MiB to its 30.0 MiB" in text
    assert text.count("____") >= 6
    words = len(text.split())
    assert 200 <= words <= 400, words

"""The grading adapter and plugin: what a chapter's tests rely on when the code under
test is a learner's, which may wait forever or do nothing at all.

Contract: :mod:`patterns.exercises.grading` (``Runtime.run``'s ``timeout`` and
``waiting_for``, ``Runtime.settled``, ``Runtime.until``, ``ScenarioThread``) and
:mod:`patterns.exercises.plugin` (a test that skips in a runtime does not fail its task).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from runtimes import POLL_LIMIT_S, Runtime

from patterns.exercises.chapters import Chapter
from patterns.exercises.grading import SETTLE_S, StillWaiting
from patterns.exercises.runner import grade

LIMIT_S = 0.05  # the scenario's limit in these tests: real seconds in threads and asyncio


def test_a_scenario_past_its_limit_says_what_it_was_waiting_for(rt: Runtime) -> None:
    gate = rt.event()

    async def scenario(rt: Runtime) -> None:
        await gate.wait()

    with pytest.raises(StillWaiting) as failure:
        rt.run(scenario, timeout=LIMIT_S, waiting_for="the gate to open")
    gate.set()  # a thread cannot be cancelled: let the scenario's own thread end
    assert str(failure.value) == f"still waiting after {LIMIT_S:g} s for the gate to open"


def test_a_scenario_past_its_limit_without_a_reason_names_the_usual_suspects(
    rt: Runtime,
) -> None:
    gate = rt.event()

    async def scenario(rt: Runtime) -> None:
        await gate.wait()

    with pytest.raises(StillWaiting, match="a deadlock"):
        rt.run(scenario, timeout=LIMIT_S)
    gate.set()


def test_settled_sees_a_state_another_task_reaches(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> bool:
        go, done = rt.event(), []

        async def other() -> None:
            await go.wait()
            done.append(True)

        async with rt.task_group() as tg:
            tg.start_soon(other)
            go.set()
            reached = await rt.settled(lambda: bool(done))
        return reached

    assert rt.run(scenario) is True


def test_settled_gives_up_once_its_time_has_passed_on_the_runtimes_clock(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> tuple[bool, float]:
        start = rt.now()
        reached = await rt.settled(lambda: False, within=LIMIT_S)
        return reached, rt.now() - start

    reached, waited = rt.run(scenario)
    assert reached is False
    assert waited >= LIMIT_S


def test_until_on_trios_mock_clock_fails_without_waiting_in_real_time() -> None:
    """The clock moves while every task is blocked, so a condition that never comes
    true runs out the limit on the mock clock: no wall time."""
    rt = Runtime("trio")

    async def scenario(rt: Runtime) -> float:
        start = rt.now()
        with pytest.raises(AssertionError, match="condition never came true"):
            await rt.until(lambda: False)
        return rt.now() - start

    assert rt.run(scenario) >= POLL_LIMIT_S
    assert SETTLE_S < POLL_LIMIT_S  # settled's default gives up before until does


# -- the plugin: tasks, skips, failures --------------------------------------------------------

CHAPTER_TOML = """\
title = "A chapter for the grader's own tests"
library = "patterns.errgroup"
[[task]]
title = "the answer"
[[task]]
title = "interrupting a task"
"""

CHAPTER_TESTS = '''\
from typing import Any

import pytest


@pytest.mark.task(1)
def test_the_answer(impl: Any, rt: Any) -> None:
    assert impl.ANSWER == 42, f"the answer is {impl.ANSWER}, not 42"


@pytest.mark.task(2)
def test_interrupting(impl: Any, rt: Any) -> None:
    if not rt.is_async:
        pytest.skip("threads: a thread cannot be interrupted")
    assert impl.INTERRUPTS, "nothing interrupts a task"
'''


@pytest.fixture
def tiny_chapter(tmp_path: Path) -> Chapter:
    folder = tmp_path / "01-tiny"
    (folder / "tests").mkdir(parents=True)
    (folder / "chapter.toml").write_text(CHAPTER_TOML)
    (folder / "tests" / "test_tiny.py").write_text(CHAPTER_TESTS)
    return Chapter.load(folder)


def module(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_a_task_whose_tests_skip_in_a_runtime_is_done_there(
    tiny_chapter: Chapter, tmp_path: Path
) -> None:
    right = module(tmp_path, "right.py", "ANSWER = 42\nINTERRUPTS = False\n")
    graded = grade(tiny_chapter, {"threads": (right, "threads"), "trio": (right, "trio")})
    threads: Any = graded["threads"]
    assert threads.tasks[2].skipped == 1 and threads.tasks[2].ok
    assert threads.passed
    # The same module in a runtime where the test applies: it runs, and fails.
    trio: Any = graded["trio"]
    assert not trio.tasks[2].ok
    assert trio.tasks[2].first_failure == "nothing interrupts a task"
    assert trio.tasks[1].ok and not trio.passed


def test_a_failed_task_reports_the_tests_own_sentence(tiny_chapter: Chapter,
                                                      tmp_path: Path) -> None:
    wrong = module(tmp_path, "wrong.py", "ANSWER = 41\nINTERRUPTS = True\n")
    graded: Any = grade(tiny_chapter, {"asyncio": (wrong, "asyncio")})["asyncio"]
    assert graded.first_failure()[0] == 1
    assert graded.tasks[1].first_failure == "the answer is 41, not 42"
    assert graded.failed_by_tests and graded.tasks[2].ok

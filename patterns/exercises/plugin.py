"""The pytest plugin that grades: it runs a chapter's tests on the modules named on the
command line and writes, per module and task, what passed and the first failure.

The runner (:mod:`patterns.exercises.runner`) starts pytest with ``-p
patterns.exercises.plugin`` and one ``--exercise-target LABEL=SOURCE@RUNTIME`` per module
to grade: ``SOURCE`` is a ``.py`` file (the learner's, a starter, a solution) or a module
name (the library's own), so every test runs once per target. A test asks for:

- ``impl``: the module under test, loaded from its file under a name of its own;
- ``rt``: the :class:`~patterns.exercises.grading.Runtime` it runs in, whose ``run``
  bounds the scenario with :data:`LIMIT_S`, so a learner's deadlock fails with a
  sentence instead of hanging the checker.

Each test is marked ``@pytest.mark.task(N)``. The first line of a failed assertion's
message is what the learner reads, so tests write it in the learner's terms ("12 jobs
ran at once; the pool has 4 workers"). A module that cannot be loaded is an *error*,
not a failure: ``verify`` insists that a starter's tests run and fail.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from patterns.exercises.grading import Runtime, ScenarioThread

LIMIT_S = 2.0  # a scenario still running after this long waits forever: it fails
# (every solution ends in milliseconds; trio's mock clock jumps to the limit at once)
THREAD_GRACE_S = 2.0  # how long a finished test's threads may take to exit


@dataclass(frozen=True)
class Target:
    """One module to grade: ``label`` names it in the report (``starter/trio``)."""

    label: str
    source: str  # a path to a .py file, or a module name
    runtime: str

    @classmethod
    def parse(cls, text: str) -> Target:
        label, _, rest = text.partition("=")
        source, _, runtime = rest.rpartition("@")
        if not (label and source and runtime):
            raise pytest.UsageError(f"--exercise-target {text!r}: want LABEL=SOURCE@RUNTIME")
        return cls(label, source, runtime)

    def __str__(self) -> str:
        return f"{self.label}={self.source}@{self.runtime}"

    def load(self) -> ModuleType:
        if not self.source.endswith(".py"):
            return _library(self.source.split("+"))
        # A name of its own per file: starter, solution and the learner's copy of
        # on_trio.py are three modules in one session.
        name = "exercise_" + hashlib.sha1(self.source.encode()).hexdigest()[:12]
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, self.source)
        assert spec is not None and spec.loader is not None, self.source
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module


def _library(names: list[str]) -> ModuleType:
    """The library's modules for a chapter that rebuilds more than one package (04's
    group and semaphore): one module holding the public names of them all."""
    if len(names) == 1:
        return importlib.import_module(names[0])
    merged = ModuleType("+".join(names))
    for name in names:
        module = importlib.import_module(name)
        for public in getattr(module, "__all__", ()):
            setattr(merged, public, getattr(module, public))
    return merged


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("exercises")
    group.addoption("--exercise-target", action="append", default=[], metavar="L=SRC@RT",
                    help="a module to grade (repeatable)")
    group.addoption("--exercise-report", metavar="FILE", help="write the outcomes as JSON")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "task(n): the chapter's task this test grades")
    targets = [Target.parse(t) for t in config.getoption("--exercise-target")]
    config.pluginmanager.register(Grader(targets, config.getoption("--exercise-report")))


class Grader:
    """The session's bookkeeping: per target label, per task, what passed and the
    first failure; and what could not be collected."""

    def __init__(self, targets: list[Target], report: str | None) -> None:
        self.targets = targets
        self.report = report
        self.outcomes: dict[str, dict[int, dict[str, Any]]] = {t.label: {} for t in targets}
        self.collection_errors: list[str] = []

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "exercise_target" in metafunc.fixturenames:
            metafunc.parametrize("exercise_target", self.targets,
                                 ids=[t.label for t in self.targets])

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        marker = item.get_closest_marker("task")
        item.user_properties.append(("task", marker.args[0] if marker else 0))
        # The target is a parameter of the test, beside any of the test's own, so it is
        # read from the call spec, not from the end of the test's id.
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "exercise_target" in callspec.params:
            item.user_properties.append(("target", callspec.params["exercise_target"].label))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            last = (report.longreprtext.strip().splitlines() or ["?"])[-1]
            self.collection_errors.append(f"{report.nodeid}: {last}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not (report.when == "call" or report.failed or report.skipped):
            return
        properties = dict(report.user_properties)
        label = properties.get("target")
        if not isinstance(label, str):
            return
        cell = self.outcomes[label].setdefault(
            int(str(properties.get("task", 0))),
            {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "first_failure": None,
             "test": None})
        if report.passed:
            cell["passed"] += 1
        elif report.skipped:
            cell["skipped"] += 1  # pytest.skip(): the test does not apply in this runtime
        elif report.failed:
            # A setup failure means the module did not load: an error, not a wrong answer.
            cell["errors" if report.when == "setup" else "failed"] += 1
            if cell["first_failure"] is None:
                cell["first_failure"] = properties.get("message", "failed")
                cell["test"] = report.nodeid.split("::")[-1].split("[")[0]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.report:
            Path(self.report).write_text(json.dumps(
                {"targets": self.outcomes, "collection_errors": self.collection_errors}))

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # A learner's thread still blocked (a worker nobody closed the queue of) would
        # keep this process from exiting, and the checker waiting: the grades are
        # written by now, and the test that left it has failed, so go.
        stuck = [t for t in threading.enumerate()
                 if t is not threading.main_thread() and not t.daemon and t.is_alive()]
        if stuck:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)


@pytest.fixture
def exercise_target(request: pytest.FixtureRequest) -> Target:
    target: Target = request.param
    return target


@pytest.fixture
def impl(exercise_target: Target) -> ModuleType:
    """The module under test."""
    return exercise_target.load()


@pytest.fixture
def rt(exercise_target: Target) -> Runtime:
    """The runtime the module runs in; ``rt.run`` bounds every scenario."""
    return GradingRuntime(exercise_target.runtime)


class GradingRuntime(Runtime):
    """A :class:`Runtime` whose ``run`` gives up after :data:`LIMIT_S` unless told
    otherwise: a learner's code may wait forever, and the checker must not."""

    def run(self, scenario: Any, *args: Any, mock_clock: bool = True,
            timeout: float | None = LIMIT_S, waiting_for: str | None = None) -> Any:
        return super().run(scenario, *args, mock_clock=mock_clock, timeout=timeout,
                           waiting_for=waiting_for)


@pytest.fixture(autouse=True)
def no_threads_left() -> Iterator[None]:
    """A test fails if the code it graded leaves threads running."""
    before = set(threading.enumerate())
    yield
    # The tests' own threads outlive a scenario that never ended, which has failed
    # already: only the code under test's threads are counted.
    before |= {t for t in threading.enumerate() if isinstance(t, ScenarioThread)}
    limit = time.monotonic() + THREAD_GRACE_S
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=max(0.0, limit - time.monotonic()))
    left = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not left, (
        f"{len(left)} thread(s) still running after the test ({', '.join(sorted(left))}): "
        "something was started and never joined"
    )


def message_of(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """What the learner reads: an assertion's own message, without pytest's rewrite of
    the expression; any other exception as ``Type: text``."""
    exc = excinfo.value
    if isinstance(exc, AssertionError):
        text = str(exc).split("\nassert ", 1)[0].strip()
        return text.splitlines()[0] if text else "an assertion failed"
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.excinfo is not None:
        # A new list: the report shares the item's, which the next phase reports too.
        report.user_properties = [*report.user_properties, ("message", message_of(call.excinfo))]
    return report

"""Tests for the exercises' checker, ``python -m patterns.exercises``: the learner's
journey as a real process, and the pieces that journey cannot reach fast.

The contract is the one the docstring of :mod:`patterns.exercises.cli` states: exit 0
when every graded task passes, 1 when some fails, 2 for bad usage with one line on
stderr and never a traceback; ``progress.txt`` as :mod:`patterns.exercises.progress`
describes it. Only chapter 01 is assumed to exist: every other chapter may come and go
without a test here changing.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rich.console import Console

from patterns.exercises import cli, watch
from patterns.exercises.chapters import chapters, find
from patterns.exercises.progress import FILE_NAME, Progress
from patterns.exercises.runner import Graded, TaskOutcome

ROOT = Path(__file__).resolve().parents[1]
SPAWN = find("01")
RUN_TIMEOUT_S = 60.0  # a check of chapter 01 takes a few seconds; init and list, less than one


def exercises(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the checker to the end in ``cwd``, with no terminal (stdin is empty)."""
    return subprocess.run([sys.executable, "-m", "patterns.exercises", *args], cwd=cwd,
                          env=environment(), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S, check=False)


def environment() -> dict[str, str]:
    """This checkout's ``patterns`` first, whatever is installed; and a wide terminal,
    so that rich folds no line a test looks for."""
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "200"}


def words(text: str) -> str:
    """``text`` with its line breaks and runs of spaces made single spaces: rich folds
    long lines to the width of the terminal it thinks it has."""
    return " ".join(text.split())


def one_line_error(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.endswith("\n"), run.stderr
    return run.stderr


def listing(workspace: Path) -> dict[str, Any]:
    run = exercises("list", "--json", cwd=workspace)
    assert run.returncode == 0, run.stderr
    data: dict[str, Any] = json.loads(run.stdout)
    return data


def spawn_in(data: dict[str, Any]) -> dict[str, str | None]:
    entry = next(c for c in data["chapters"] if c["chapter"] == SPAWN.name)
    runtimes: dict[str, str | None] = entry["runtimes"]
    return runtimes


def read_until(fd: int, needle: str, timeout: float, *, line: bool = True) -> str:
    """What ``fd`` (a pipe, a pty) gave up to and including the line holding ``needle``
    (with ``line=False``, up to ``needle``: a question waits on its line's end)."""
    data = b""
    deadline = time.monotonic() + timeout
    while needle.encode() not in data or (line and not data.endswith(b"\n")):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no {needle!r} within {timeout} s: {data!r}")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise AssertionError(f"the stream ended without {needle!r}: {data!r}")
        data += chunk
    return data.decode()


@pytest.fixture
def workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A fresh workspace, made by ``init`` (in this process: the journey runs it as a
    learner does, in a process of its own)."""
    assert cli.main(["init", str(tmp_path / "ws")]) == 0
    capsys.readouterr()
    return tmp_path / "ws"


def copy_solutions(workspace: Path) -> None:
    for name in SPAWN.file_names:
        shutil.copyfile(SPAWN.folder / "solution" / name, workspace / SPAWN.name / name)


# -- the journey ------------------------------------------------------------------------


def test_init_copies_every_chapters_readme_and_starters(workspace: Path) -> None:
    assert (workspace / FILE_NAME).is_file()
    for chapter in chapters():
        folder = workspace / chapter.name
        assert (folder / "README.md").read_bytes() == (chapter.folder / "README.md").read_bytes()
        for name in chapter.file_names:
            assert (folder / name).read_bytes() == (
                chapter.folder / "starter" / name).read_bytes()
    assert not list(workspace.rglob("solution*")), "the solutions stay in the package"


def test_the_learners_journey(workspace: Path) -> None:
    """init, list (nothing done), check the untouched starters (1), write the chapter
    (here: copy its solutions in), check again (0), list (done)."""
    grid = exercises("list", cwd=workspace)
    assert grid.returncode == 0, grid.stderr
    assert "0/" in grid.stdout and "not started" in grid.stdout, grid.stdout
    fresh = listing(workspace)
    assert fresh["done"] == 0
    assert fresh["next"] == {"chapter": SPAWN.name, "runtime": "threads"}
    assert set(spawn_in(fresh).values()) == {"not started"}

    untouched = exercises("check", "01", cwd=workspace)
    assert untouched.returncode == 1, untouched.stdout + untouched.stderr
    assert "failed" in untouched.stdout and "NotImplementedError" in untouched.stdout
    assert "failing 01-spawn threads task 1" in (workspace / FILE_NAME).read_text()

    copy_solutions(workspace)
    assert set(spawn_in(listing(workspace)).values()) == {"failing"}, "until checked again"
    solved = exercises("check", "01", "--no-show", "--json", cwd=workspace)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    report = json.loads(solved.stdout)
    assert report["passed"] and set(report["runtimes"]) == set(SPAWN.runtimes)
    assert all(task["passed"] for rt in report["runtimes"].values() for task in rt["tasks"])

    done = listing(workspace)
    assert set(spawn_in(done).values()) == {"done"}
    assert done["done"] == len(SPAWN.runtimes)
    assert done["next"] is None or done["next"]["chapter"] != SPAWN.name


def test_check_says_which_task_fails_and_why(workspace: Path) -> None:
    """A Group whose block does not wait (chapter 01's own buggy variant) passes task 1
    and fails task 2, with the test's sentence."""
    buggy = SPAWN.folder / "buggy" / "never-joins" / "on_threads.py"
    shutil.copyfile(buggy, workspace / SPAWN.name / "on_threads.py")
    run = exercises("check", "1", "--runtime", "threads", cwd=workspace)
    assert run.returncode == 1, run.stdout + run.stderr
    text = words(run.stdout)
    assert "task 1 passed" in text and "task 2 failed" in text, run.stdout
    assert "the block ended while" in text, run.stdout
    assert "asyncio" not in text.split("threads · ", 1)[1].split("stuck?")[0]
    assert "failing 01-spawn threads task 2" in (workspace / FILE_NAME).read_text()
    assert spawn_in(listing(workspace))["threads"] == "failing"


# -- bad usage --------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "says"), [
    (["check", "99"], "no chapter '99'"),
    (["check", "01", "--runtime", "go"], "has no 'go' version"),
    (["hint", "spawn-of-nothing"], "no chapter"),
    (["solution", "01", "--runtime", "fibers"], "has no 'fibers' version"),
    (["check", "--frobnicate"], "unrecognized arguments"),
])
def test_bad_usage_exits_2_with_one_line(workspace: Path, args: list[str], says: str) -> None:
    assert says in one_line_error(exercises(*args, cwd=workspace))


@pytest.mark.parametrize("command", ["list", "check", "hint 01", "watch", "reset 01 --yes",
                                     "solution 01"])
def test_no_workspace_exits_2_with_one_line(tmp_path: Path, command: str) -> None:
    error = one_line_error(exercises(*command.split(), cwd=tmp_path))
    assert "no workspace here" in error and "init" in error


def test_a_folder_inside_a_workspace_names_the_workspace(workspace: Path) -> None:
    error = one_line_error(exercises("list", cwd=workspace / SPAWN.name))
    assert str(workspace) in error


def test_workspace_flag_works_from_anywhere(workspace: Path, tmp_path: Path) -> None:
    before = exercises("list", "--json", "--workspace", str(workspace), cwd=tmp_path)
    after = exercises("--workspace", str(workspace), "list", "--json", cwd=tmp_path)
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert json.loads(before.stdout) == json.loads(after.stdout)
    error = one_line_error(exercises("list", "--workspace", str(tmp_path), cwd=tmp_path))
    assert "is not a workspace" in error


def test_init_refuses_a_folder_in_use_and_writes_nothing(workspace: Path) -> None:
    mine = workspace / SPAWN.name / "on_trio.py"
    mine.write_text("# my work\n")
    state = (workspace / FILE_NAME).read_bytes()
    assert "a workspace already" in one_line_error(exercises("init", str(workspace),
                                                             cwd=workspace.parent))
    assert mine.read_text() == "# my work\n"
    assert (workspace / FILE_NAME).read_bytes() == state
    other = workspace.parent / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me\n")
    assert "not empty" in one_line_error(exercises("init", str(other), cwd=workspace.parent))
    assert [p.name for p in other.iterdir()] == ["todo.txt"]


# -- hint, reset, solution --------------------------------------------------------------


def test_hint_gives_the_next_hint_each_time_then_says_there_are_no_more(
        workspace: Path) -> None:
    task = SPAWN.tasks[0]
    for number, hint in enumerate(task.hints, start=1):
        run = exercises("hint", "01", "--runtime", "trio", cwd=workspace)
        assert run.returncode == 0, run.stderr
        assert f"hint {number} of {len(task.hints)}: {words(hint)}" in words(run.stdout)
    assert (f"hints 01-spawn trio task 1 seen {len(task.hints)}"
            in (workspace / FILE_NAME).read_text())
    last = exercises("hint", "01", "--runtime", "trio", cwd=workspace)
    assert last.returncode == 0 and "no more hints for task 1" in words(last.stdout)
    other = exercises("hint", "01", "--runtime", "asyncio", cwd=workspace)
    assert f"hint 1 of {len(task.hints)}" in other.stdout, "each runtime counts its own"


def test_hint_follows_the_task_the_last_check_stopped_at(workspace: Path) -> None:
    (workspace / FILE_NAME).write_text("failing 01-spawn threads task 2\n")
    (workspace / SPAWN.name / "on_threads.py").write_text("# begun\n")
    run = exercises("hint", "01", "--runtime", "threads", cwd=workspace)
    assert f"task 2: {SPAWN.tasks[1].title}" in words(run.stdout), run.stdout


def test_reset_puts_the_starter_back_and_keeps_the_learners_version(workspace: Path) -> None:
    mine = workspace / SPAWN.name / "on_threads.py"
    mine.write_text("# my work\n")
    with (workspace / FILE_NAME).open("a") as state:
        state.write("done 01-spawn threads\nhints 01-spawn threads task 1 seen 2\n")
    refused = one_line_error(exercises("reset", "01", "--runtime", "threads", cwd=workspace))
    assert "--yes" in refused and mine.read_text() == "# my work\n"

    run = exercises("reset", "01", "--runtime", "threads", "--yes", cwd=workspace)
    assert run.returncode == 0, run.stderr
    assert mine.read_bytes() == (SPAWN.folder / "starter" / "on_threads.py").read_bytes()
    assert mine.with_name("on_threads.py.bak").read_text() == "# my work\n"
    state = (workspace / FILE_NAME).read_text()
    assert "done 01-spawn threads" not in state and "hints 01-spawn threads" not in state
    assert spawn_in(listing(workspace))["threads"] == "not started"


def reset_on_a_terminal(workspace: Path, answer: bytes) -> tuple[int, str]:
    """``reset 01 --runtime trio`` with a terminal to ask on (a pty), answered with
    ``answer``; the exit code and what the terminal showed."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "patterns.exercises", "reset", "01", "--runtime", "trio"],
            cwd=workspace, env=environment(), stdin=terminal, stdout=terminal, stderr=terminal)
        os.close(terminal)
        try:
            shown = read_until(controller, "[y/N]", RUN_TIMEOUT_S, line=False)
            os.write(controller, answer)
            code = process.wait(timeout=RUN_TIMEOUT_S)
            while select.select([controller], [], [], 0)[0]:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the child has ended and the terminal is gone
                    break
                if not chunk:
                    break
                shown += chunk.decode()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    finally:
        os.close(controller)
    return code, shown.replace("\r", "")


def test_reset_asks_first_on_a_terminal(workspace: Path) -> None:
    mine = workspace / SPAWN.name / "on_trio.py"
    mine.write_text("# my work\n")
    code, shown = reset_on_a_terminal(workspace, b"n\n")
    assert code == 1 and "nothing reset" in shown, shown
    assert mine.read_text() == "# my work\n"
    code, shown = reset_on_a_terminal(workspace, b"y\n")
    assert code == 0 and "the starter is back" in shown, shown
    assert mine.read_bytes() == (SPAWN.folder / "starter" / "on_trio.py").read_bytes()


def test_solution_is_shown_only_once_the_runtime_passes(workspace: Path) -> None:
    refused = exercises("solution", "01", "--runtime", "threads", cwd=workspace)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "not yet" in refused.stderr
    solution = (SPAWN.folder / "solution" / "on_threads.py").read_text()
    forced = exercises("solution", "01", "--runtime", "threads", "--force", cwd=workspace)
    assert forced.returncode == 0 and solution in forced.stdout
    with (workspace / FILE_NAME).open("a") as state:
        state.write("done 01-spawn threads\n")
    earned = exercises("solution", "01", "--runtime", "threads", cwd=workspace)
    assert earned.returncode == 0 and earned.stdout.endswith(solution)
    whole = exercises("solution", "01", cwd=workspace)
    assert whole.returncode == 1, "the chapter is not done in asyncio and trio"


# -- progress.txt -----------------------------------------------------------------------


def test_progress_survives_a_save_and_reads_chapters_by_number(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_text("done 1 threads\nfailing 01-spawn trio task 3\n"
                    "hints 01 asyncio task 2 seen 1\n\n# a note of mine\n")
    progress, warnings = Progress.load(path, chapters())
    assert warnings == []
    assert progress.done == {(SPAWN.name, "threads")}
    assert progress.failing == {(SPAWN.name, "trio"): 3}
    assert progress.hints == {(SPAWN.name, "asyncio", 2): 1}
    progress.save()
    again, _ = Progress.load(path, chapters())
    assert (again.done, again.failing, again.hints) == (
        progress.done, progress.failing, progress.hints)
    assert "done 01-spawn threads" in path.read_text()


def test_a_bad_line_is_one_warning_naming_the_line_and_is_kept_as_a_comment(
        tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_text("done 01-spawn threads\ndone 01-spawn fibers\nfinished everything\n"
                    "hints 01-spawn trio task two seen 1\ndone 42-nothing trio\n")
    progress, warnings = Progress.load(path, chapters())
    assert progress.done == {(SPAWN.name, "threads")}
    assert [w.split(": ")[0] for w in warnings] == [f"{path}:{n}" for n in (2, 3, 4, 5)]
    assert all(w.endswith("line ignored") for w in warnings)
    progress.save()
    text = path.read_text()
    assert "# ignored: finished everything" in text
    assert Progress.load(path, chapters())[1] == [], "said once: the next read is quiet"


def test_list_warns_about_a_bad_line_and_carries_on(workspace: Path) -> None:
    with (workspace / FILE_NAME).open("a") as state:
        state.write("done 01-spawn threads\nthis is not a fact\n")
    run = exercises("list", "--json", cwd=workspace)
    assert run.returncode == 0
    assert run.stderr.count("\n") == 1 and f"{FILE_NAME}:" in run.stderr, run.stderr
    assert spawn_in(json.loads(run.stdout))["threads"] == "done"


# -- watch ------------------------------------------------------------------------------


def as_from_a_terminal() -> None:
    """Ctrl-C's default, as a shell gives a command it runs in the foreground: a suite
    started in the background (``cmd &``, nohup) ignores SIGINT, a child inherits that,
    and Python then leaves it ignored, so the watch would never hear the Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_watch_checks_again_on_save_and_ctrl_c_ends_it(workspace: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "patterns.exercises", "watch", "01", "--no-show"],
        cwd=workspace, env=environment(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=as_from_a_terminal)
    try:
        assert process.stdout is not None and process.stderr is not None
        read_until(process.stderr.fileno(), "watching", RUN_TIMEOUT_S)
        shutil.copyfile(SPAWN.folder / "solution" / "on_threads.py",
                        workspace / SPAWN.name / "on_threads.py")
        read_until(process.stdout.fileno(), "(passes in threads)", RUN_TIMEOUT_S)
        read_until(process.stderr.fileno(), "watching", RUN_TIMEOUT_S)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=RUN_TIMEOUT_S) == 0
        # (A watch started just after init may check once more, for an event about the
        # files init wrote: whatever came before, the last line is the one that counts.)
        rest = process.stderr.read().decode()
        assert rest.endswith("stopped watching\n") and "Traceback" not in rest, rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_polling_sees_a_save_without_sleeping(tmp_path: Path) -> None:
    mine = tmp_path / "on_threads.py"
    mine.write_text("one\n")
    looks = []

    def sleep(seconds: float) -> None:  # the save happens during the second look
        looks.append(seconds)
        if len(looks) == 2:
            mine.write_text("one, and two\n")

    changes = watch.polled(lambda: {mine}, interval=0.25, sleep=sleep)
    next(changes)
    assert looks == [], "the first yield says it is watching, before any look"
    next(changes)
    assert looks == [0.25, 0.25]


def test_without_watchfiles_watch_polls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "watchfiles", None)  # import watchfiles fails
    polled = []

    def fake_polled(wanted: Any) -> Iterator[None]:
        polled.append(wanted())
        yield

    monkeypatch.setattr(watch, "polled", fake_polled)
    reasons: list[str] = []
    saves = watch.saves(tmp_path, lambda: {tmp_path / "a.py"}, on_fallback=reasons.append)
    next(saves)
    assert reasons == ["watchfiles is not installed"]
    assert polled == [{tmp_path / "a.py"}]


def test_when_watchfiles_fails_watch_polls(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    import watchfiles

    def broken(*args: Any, **kwargs: Any) -> Iterator[Any]:
        raise OSError(28, "inotify watch limit reached")
        yield

    monkeypatch.setattr(watchfiles, "watch", broken)
    monkeypatch.setattr(watch, "polled", lambda wanted: iter([None]))
    reasons: list[str] = []
    next(watch.saves(tmp_path, set, on_fallback=reasons.append))
    assert len(reasons) == 1 and "inotify watch limit reached" in reasons[0]


# -- show, and check's call of it -------------------------------------------------------


def load_show() -> ModuleType:
    spec = importlib.util.spec_from_file_location("spawn_show", SPAWN.folder / "show.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spawn_show_measures_the_learners_group_in_each_runtime(tmp_path: Path) -> None:
    (tmp_path / SPAWN.name).mkdir()
    copy_solutions(tmp_path)
    (tmp_path / SPAWN.name / "on_trio.py").write_text("Group = None\n")
    output = io.StringIO()
    load_show().show(tmp_path, Console(file=output, width=120), functions=200)
    rows = {line.split()[1]: line for line in output.getvalue().splitlines()
            if line.startswith("│ ") and line.split()[1] != "│"}  # not a folded cell's 2nd line
    assert set(rows) == {"threads", "asyncio", "trio"}, output.getvalue()
    for runtime in ("threads", "asyncio"):
        figures = [float(f) for f in rows[runtime].replace("│", " ").split()[1:]]
        assert len(figures) == 3 and figures[0] > 0, rows[runtime]
    assert "could not measure: TypeError" in rows["trio"]


def test_check_shows_the_chapter_once_it_passes(monkeypatch: pytest.MonkeyPatch,
                                               workspace: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """In-process, with the grader and the chapter's show.py stood in for: the 10,000
    threads of the real one are not for the suite."""
    def all_pass(chapter: Any, targets: dict[str, Any], **kwargs: Any) -> dict[str, Graded]:
        return {label: Graded(label, {t.number: TaskOutcome(passed=1) for t in chapter.tasks})
                for label in targets}

    shown: list[Path] = []
    stand_in = ModuleType("show")
    stand_in.show = lambda workspace, console: shown.append(workspace)  # type: ignore[attr-defined]
    monkeypatch.setattr(cli, "grade", all_pass)
    monkeypatch.setattr(cli, "_load", lambda path, name: stand_in)
    argv = ["check", "01", "--workspace", str(workspace)]
    assert cli.main([*argv, "--runtime", "threads"]) == 0
    assert shown == [], "not before every runtime of the chapter passes"
    assert cli.main(argv) == 0
    assert shown == [workspace.resolve()]
    assert cli.main([*argv, "--no-show"]) == 0 and len(shown) == 1
    capsys.readouterr()


# -- verify -----------------------------------------------------------------------------


def test_verify_lists_what_breaks_and_exits_1(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import patterns.exercises.verify as verify

    monkeypatch.setattr(verify, "problems_of",
                        lambda chapter: [f"{chapter.name}: solution/trio does not pass"])
    assert cli.main(["verify", "01"]) == 1
    out = words(capsys.readouterr().out)
    assert "01-spawn: solution/trio does not pass" in out and "1 problem in 1 of 1" in out
    monkeypatch.setattr(verify, "problems_of", lambda chapter: [])
    assert cli.main(["verify", "01"]) == 0
    assert "01-spawn holds (" in words(capsys.readouterr().out)


# -- packaging --------------------------------------------------------------------------


def test_the_console_script_is_the_same_main() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    assert project["scripts"]["patterns-exercises"] == "patterns.exercises.cli:main"
    needed = {d.split(">=")[0] for d in project["dependencies"]}
    assert {"pytest", "watchfiles", "rich"} <= needed


# show.py and what it runs (09's show_round.py): what check prints once a chapter passes.
SHIPPED_KINDS = ("README.md", "chapter.toml", "show", "starter/", "solution/", "buggy/",
                 "tests/")


def test_the_wheel_ships_the_chapters_as_package_data(tmp_path: Path) -> None:
    builders = pytest.importorskip("hatchling.builders.wheel",
                                   reason="hatchling (the build backend) is not installed")
    wheel = next(iter(builders.WheelBuilder(str(ROOT)).build(directory=str(tmp_path),
                                                               versions=["standard"])))
    prefix = "patterns/exercises/chapters/"
    with zipfile.ZipFile(wheel) as archive:
        names = [n[len(prefix):] for n in archive.namelist() if n.startswith(prefix)]
    assert "pytest.ini" in names
    for chapter in chapters():
        for needed in ("README.md", "chapter.toml",
                       *(f"{kind}/{name}" for kind in ("starter", "solution")
                         for name in chapter.file_names)):
            assert f"{chapter.name}/{needed}" in names, (chapter.name, needed)
        assert any(n.startswith(f"{chapter.name}/tests/test_") for n in names)
    strays = [n for n in names if n not in ("pytest.ini", "README.md")
              and not n.split("/", 1)[-1].startswith(SHIPPED_KINDS)]
    assert not strays, f"not a learner's file nor what grading needs: {strays}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]

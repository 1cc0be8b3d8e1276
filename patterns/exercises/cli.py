"""The exercises' command line: ``python -m patterns.exercises`` or ``patterns-exercises``.

A learner's session, start to end::

    patterns-exercises init                # ./patterns-exercises: READMEs and starters
    cd patterns-exercises
    patterns-exercises list                # the chapters, by runtime, and what is next
    patterns-exercises watch               # re-checks the chapter at every save
    patterns-exercises hint 01             # stuck: one more hint each time
    patterns-exercises solution 01         # once it passes: the reference, to compare

Commands (``--help`` on each lists its flags); every one takes ``--workspace DIR``,
which defaults to the current folder when it holds ``progress.txt``:

- ``init [DIR]``: a new workspace (default ``./patterns-exercises``), never over an
  existing folder that is not empty;
- ``list [--json]``: every chapter by runtime (done, failing, started, not started, or
  "—" where it has no such runtime), how far along, and what is next. Fast: "done"
  comes from ``progress.txt``, "not started" from comparing a file with its starter;
- ``check [CHAPTER] [--runtime R] [--json] [--no-show]``: grade a chapter (default:
  the first unfinished) on the workspace's files, task by task, with the first
  failure's message, and record the outcome; once a chapter passes, its ``show.py``
  (if it has one) shows what the learner built, 01's what a thread and a task cost;
- ``hint CHAPTER [--runtime R]``: the next hint of the first unfinished task;
- ``watch [CHAPTER] [--no-show]``: ``check`` again at every save, until Ctrl-C;
- ``reset CHAPTER [--runtime R] [--yes]``: the starter back, the learner's version kept
  as ``<file>.bak``; asks first, and without a terminal to ask on, wants ``--yes``;
- ``solution CHAPTER [--runtime R] [--force]``: the reference solution, once the
  chapter (or runtime) passes;
- ``verify [CHAPTER...]``: for maintainers and CI, every chapter's proof that it grades
  what it says (:mod:`patterns.exercises.verify`).

A chapter is named by its folder (``01-spawn``) or its number (``1``, ``01``).

**Exit codes.** 0: done, every graded task passes; 1: some task fails (``check``,
``watch`` never), a ``verify`` problem, a ``solution`` not yet earned, a ``reset``
declined; 2: bad usage (an unknown chapter or runtime, no workspace, ``init`` over a
folder in use), always one line on stderr and never a traceback; 130: Ctrl-C, except
in ``watch``, which it ends as asked (0).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.progress_bar import ProgressBar
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from patterns.exercises.chapters import Chapter, ChapterError, chapters, find
from patterns.exercises.runner import Graded, grade
from patterns.exercises.workspace import DEFAULT_FOLDER, Status, Workspace, WorkspaceError
from patterns.runtimes import RUNTIMES

__all__ = ["EXIT_FAILING", "EXIT_OK", "EXIT_USAGE", "InputError", "main"]

PROG = "patterns-exercises"

EXIT_OK = 0
"""Every graded task passes; or the command did what was asked."""
EXIT_FAILING = 1
"""Some task fails; a ``verify`` problem; a solution not yet earned; a reset declined."""
EXIT_USAGE = 2
"""Bad usage: a flag, a chapter, a runtime, a workspace; argparse uses 2 as well."""
EXIT_INTERRUPTED = 130

STYLES = {Status.DONE: "green", Status.FAILING: "red", Status.STARTED: "yellow",
          Status.NOT_STARTED: "dim", Status.MISSING: "magenta"}
NO_SUCH_RUNTIME = "—"
BAR_WIDTH = 40


class InputError(Exception):
    """Bad usage that ends the command with one line on stderr and exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line (the usage is what ``--help`` is for)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


class Session:
    """What every command works with: the command's name for messages, and the two
    consoles (results on stdout, warnings and progress on stderr)."""

    def __init__(self, prog: str, workspace: str | None) -> None:
        self.prog = prog
        self.given_workspace = workspace
        self.out = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)

    def workspace(self) -> Workspace:
        """The workspace, its ``progress.txt`` read afresh (another command may have
        written it since, ``hint`` in a second terminal while ``watch`` runs)."""
        try:
            workspace, warnings = Workspace.find(self.given_workspace, prog=self.prog)
        except WorkspaceError as exc:
            raise InputError(str(exc)) from None
        for warning in warnings:
            self.warn(warning)
        return workspace

    def warn(self, text: str) -> None:
        """One line on stderr, however long (soft_wrap: the terminal folds it, not rich)."""
        self.err.print(Text(f"{self.prog}: warning: {text}", style="yellow"), soft_wrap=True)

    def command(self, words: str) -> str:
        """A command line to suggest: ``'patterns-exercises check 01'``."""
        return f"'{self.prog} {words}'"


def _chapter(name: str) -> Chapter:
    try:
        return find(name)
    except ChapterError as exc:
        raise InputError(str(exc)) from None


def _runtimes(chapter: Chapter, runtime: str | None) -> list[str]:
    try:
        return chapter.runtime(runtime)
    except ChapterError as exc:
        raise InputError(str(exc)) from None


def _number(chapter: Chapter) -> str:
    return chapter.name.split("-", 1)[0]


# -- init -------------------------------------------------------------------------------


def _init(session: Session, args: argparse.Namespace) -> int:
    if args.dir and args.workspace and Path(args.dir) != Path(args.workspace):
        raise InputError(f"two folders given, {args.dir} and --workspace {args.workspace}: "
                         "name one")
    root = Path(args.dir or args.workspace or DEFAULT_FOLDER)
    try:
        workspace = Workspace.create(root)
    except WorkspaceError as exc:
        raise InputError(str(exc)) from None
    every = chapters()
    files = sum(len(c.file_names) for c in every)
    first = every[0]
    session.out.print(Text(
        f"a workspace in {workspace.root}: {len(every)} chapter{'s' if len(every) != 1 else ''}"
        f", {files} files to write, progress in progress.txt"))
    session.out.print(Text(
        f"next: cd {root}, read {first.name}/README.md, write your versions there, and "
        f"{session.command('check ' + _number(first))} them (or {session.command('watch')}: "
        "a check at every save)"))
    return EXIT_OK


# -- list -------------------------------------------------------------------------------


def _list(session: Session, args: argparse.Namespace) -> int:
    workspace = session.workspace()
    every = chapters()
    grid: dict[str, dict[str, Status | None]] = {
        c.name: {rt: (workspace.status(c, rt) if rt in c.files else None) for rt in RUNTIMES}
        for c in every}
    total = sum(len(c.runtimes) for c in every)
    done = sum(s is Status.DONE for row in grid.values() for s in row.values())
    upcoming = workspace.first_unfinished()
    runtime = workspace.next_runtime(upcoming) if upcoming else None
    if args.json:
        print(json.dumps({
            "workspace": str(workspace.root), "done": done, "total": total,
            "next": {"chapter": upcoming.name, "runtime": runtime} if upcoming else None,
            "chapters": [{"chapter": c.name, "title": c.title,
                          "runtimes": {rt: (None if s is None else str(s))
                                       for rt, s in grid[c.name].items()}}
                         for c in every],
        }, indent=2))
        return EXIT_OK
    name_width = max(len(c.name) for c in every)
    status_width = max(len(s) for s in Status)
    # The titles get what the grid leaves of the line, cut short with an ellipsis (a
    # table of rich's would fold them onto a second line instead).
    title_width = session.out.width - name_width - len(RUNTIMES) * (status_width + 2) - 2
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("chapter", no_wrap=True, min_width=name_width)
    for rt in RUNTIMES:
        table.add_column(rt, no_wrap=True, min_width=status_width)
    table.add_column("", style="dim", no_wrap=True)
    for c in every:
        cells = [Text(NO_SUCH_RUNTIME, style="dim") if s is None else Text(s, style=STYLES[s])
                 for s in grid[c.name].values()]
        title = Text(c.title)
        title.truncate(max(title_width, 0), overflow="ellipsis")
        table.add_row(c.name, *cells, title)
    bar = Table.grid(padding=(0, 1))
    drawn = ProgressBar(total=total, completed=done, width=BAR_WIDTH)
    if session.out.color_system is None:  # uncoloured, the bar's unfilled part is blank
        bar.add_row(Text("["), drawn, Text("]"), Text(f"{done}/{total} done"))
    else:
        bar.add_row(drawn, Text(f"{done}/{total} done"))
    session.out.print(Group(table, Text(""), bar))
    if upcoming is None or runtime is None:
        session.out.print("every chapter is done, in every runtime")
    else:
        file = workspace.relative(workspace.file(upcoming, runtime))
        session.out.print(Text(f"next: {upcoming.name} in {runtime}: write {file}, then "
                               f"{session.command('check ' + _number(upcoming))}"))
    missing = [workspace.relative(workspace.file(c, rt)) for c in every for rt in c.runtimes
               if grid[c.name][rt] is Status.MISSING]
    if missing:
        session.warn(f"no {', '.join(sorted(set(missing)))}: 'reset CHAPTER' puts the "
                     "starter there")
    return EXIT_OK


# -- check ------------------------------------------------------------------------------


def _first_failing_task(graded: Graded) -> int | None:
    """The task to work on: the first numbered one that fails (``None`` when the
    file does not even load, or only unnumbered tests fail)."""
    return next((n for n in sorted(graded.tasks) if n >= 1 and not graded.tasks[n].ok), None)


def check_chapter(session: Session, workspace: Workspace, chapter: Chapter,
                  runtimes: list[str], *, as_json: bool = False, show: bool = True) -> int:
    """Grade ``runtimes`` of ``chapter`` on the workspace's files, say how it went,
    record it in ``progress.txt``; the exit code."""
    present = [rt for rt in runtimes if workspace.file(chapter, rt).is_file()]
    untouched = {rt for rt in present if workspace.is_untouched(chapter, rt)}
    targets = {rt: (str(workspace.file(chapter, rt)), rt) for rt in present}
    if targets:
        if as_json:
            graded = grade(chapter, targets)
        else:
            with session.err.status(f"checking {chapter.name} ({', '.join(present)})…"):
                graded = grade(chapter, targets)
    else:
        graded = {}
    for rt, outcome in graded.items():
        workspace.progress.record(chapter.name, rt, passed=outcome.passed,
                                  first_failing_task=_first_failing_task(outcome))
    workspace.progress.save()
    passed = bool(graded) and len(graded) == len(runtimes) and all(
        g.passed for g in graded.values())
    if as_json:
        print(json.dumps(_check_json(workspace, chapter, runtimes, graded), indent=2))
    else:
        _render_check(session, workspace, chapter, runtimes, graded, untouched)
    if passed and not workspace.unfinished(chapter) and show and not as_json:
        _show(session, workspace, chapter)
    return EXIT_OK if passed else EXIT_FAILING


def _check_json(workspace: Workspace, chapter: Chapter, runtimes: list[str],
                graded: dict[str, Graded]) -> dict[str, Any]:
    report: dict[str, Any] = {"chapter": chapter.name, "passed": False, "runtimes": {}}
    for rt in runtimes:
        outcome = graded.get(rt)
        entry: dict[str, Any] = {
            "file": workspace.relative(workspace.file(chapter, rt)),
            "passed": bool(outcome and outcome.passed),
            "status": str(workspace.status(chapter, rt)),
            "problems": (list(outcome.problems) if outcome else
                         ["no such file: 'reset' puts the starter there"]),
            "tasks": [],
        }
        for task in chapter.tasks:
            cell = outcome.tasks.get(task.number) if outcome else None
            entry["tasks"].append({
                "task": task.number, "title": task.title, "passed": bool(cell and cell.ok),
                "message": cell.first_failure if cell else None,
                "test": cell.test if cell else None,
            })
        report["runtimes"][rt] = entry
    report["passed"] = all(e["passed"] for e in report["runtimes"].values())
    return report


def _render_check(session: Session, workspace: Workspace, chapter: Chapter,
                  runtimes: list[str], graded: dict[str, Graded], untouched: set[str]) -> None:
    out = session.out
    out.print(Text.assemble((chapter.name, "bold"), f" · {chapter.title}"))
    for rt in runtimes:
        file = workspace.relative(workspace.file(chapter, rt))
        out.print()
        heading = Text.assemble((rt, "bold"), f" · {file}")
        if rt in untouched:
            heading.append(" (still the starter)", style="dim")
        out.print(heading)
        outcome = graded.get(rt)
        if outcome is None:
            reset = session.command(f"reset {_number(chapter)} --runtime {rt}")
            out.print(Text(f"  no such file: {reset} puts the starter there", style="red"))
            continue
        for problem in outcome.problems:
            out.print(Text(f"  the tests could not run: {problem}", style="red"))
        loading = next((t.first_failure for t in outcome.tasks.values() if t.errors), None)
        if loading:
            out.print(Text(f"  {file} does not load: {loading}", style="red"))
        rows = Table.grid(padding=(0, 1))
        rows.add_column(no_wrap=True)
        rows.add_column(no_wrap=True)
        rows.add_column()
        told = bool(loading or outcome.problems)
        extra = outcome.tasks.get(0)
        numbered = [(t.number, t.title) for t in chapter.tasks]
        if extra is not None:
            numbered.append((0, "the chapter's other tests"))
        for number, title in numbered:
            cell = outcome.tasks.get(number)
            ok = cell is not None and cell.ok
            rows.add_row(f"  task {number}" if number else "  other",
                         Text("passed", style="green") if ok else Text("failed", style="red"),
                         title)
            if not ok and not told:
                told = True
                message = cell.first_failure if cell and cell.first_failure else (
                    "no test of this task ran")
                rows.add_row("", "", Text(message, style="red"))
        out.print(rows)
    out.print()
    passing = [rt for rt in runtimes if rt in graded and graded[rt].passed]
    failing = [rt for rt in runtimes if rt not in passing]
    if not failing:
        out.print(Text(f"{chapter.name} passes in {', '.join(passing)}", style="bold green"))
        left = workspace.unfinished(chapter)
        if left:
            out.print(Text(f"still to do in {chapter.name}: {', '.join(left)}"))
        else:
            following = workspace.first_unfinished()
            out.print(Text(
                f"compare with the reference: {session.command('solution ' + _number(chapter))}"
                + (f"; next: {following.name}" if following else "; that was every chapter")))
        return
    summary = f"{chapter.name} fails in {', '.join(failing)}"
    if passing:
        summary += f" (passes in {', '.join(passing)})"
    hint = session.command(f"hint {_number(chapter)} --runtime {failing[0]}")
    out.print(Text(f"{summary}; stuck? {hint}", style="bold"))


def _show(session: Session, workspace: Workspace, chapter: Chapter) -> None:
    """The chapter's ``show(workspace, console)``, if it has a ``show.py``: its failure
    is said in one line, and never turns a passed check into a failed one."""
    path = chapter.folder / "show.py"
    if not path.is_file():
        return
    session.out.print()
    try:
        _load(path, f"patterns_exercises_show_{chapter.name.replace('-', '_')}").show(
            workspace.root, session.out)
    except Exception as exc:
        session.warn(f"{chapter.name}'s show.py could not show its results: "
                     f"{type(exc).__name__}: {exc}".splitlines()[0])


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(session: Session, args: argparse.Namespace) -> int:
    workspace = session.workspace()
    if args.chapter is None:
        chapter = workspace.first_unfinished()
        if chapter is None:
            session.out.print("every chapter is done, in every runtime: name one to check it "
                              "again")
            return EXIT_OK
    else:
        chapter = _chapter(args.chapter)
    runtimes = _runtimes(chapter, args.runtime)
    return check_chapter(session, workspace, chapter, runtimes, as_json=args.json,
                         show=not args.no_show)


# -- hint -------------------------------------------------------------------------------


def _hint(session: Session, args: argparse.Namespace) -> int:
    workspace = session.workspace()
    chapter = _chapter(args.chapter)
    runtime = _runtimes(chapter, args.runtime)[0] if args.runtime else (
        workspace.next_runtime(chapter))
    if runtime is None or workspace.progress.is_done(chapter.name, runtime):
        which = f"in {runtime}" if args.runtime else "in every runtime"
        session.out.print(Text(f"{chapter.name} passes {which}: no hint needed; "
                               f"{session.command('solution ' + _number(chapter))} shows "
                               "the reference"))
        return EXIT_OK
    task_number = _task_to_hint(session, workspace, chapter, runtime)
    if task_number is None:
        session.out.print(Text(f"{chapter.name} passes in {runtime} now: no hint needed"))
        return EXIT_OK
    task = next((t for t in chapter.tasks if t.number == task_number), chapter.tasks[0])
    seen = workspace.progress.hints_seen(chapter.name, runtime, task.number)
    heading = Text.assemble((f"{chapter.name} · {runtime} · task {task.number}", "bold"),
                            f": {task.title}")
    session.out.print(heading)
    if not task.hints:
        session.out.print(f"task {task.number} has no hints")
    elif seen >= len(task.hints):
        session.out.print(Text(f"no more hints for task {task.number}: you have seen all "
                               f"{len(task.hints)}, here they are again:"))
        again = Table.grid(padding=(0, 1))
        again.add_column(no_wrap=True)
        again.add_column()
        for number, text in enumerate(task.hints, start=1):
            again.add_row(f"  {number}.", Text(text))
        session.out.print(again)
    else:
        session.out.print(Text(f"hint {seen + 1} of {len(task.hints)}: {task.hints[seen]}"))
        workspace.progress.saw_hint(chapter.name, runtime, task.number)
        workspace.progress.save()
        if seen + 1 == len(task.hints):
            session.out.print(Text("that was the last one", style="dim"))
    return EXIT_OK


def _task_to_hint(session: Session, workspace: Workspace, chapter: Chapter,
                  runtime: str) -> int | None:
    """The first unfinished task: task 1 on an untouched starter, else the one the last
    check stopped at; a file edited since no check looked at it is checked now."""
    status = workspace.status(chapter, runtime)
    if status in (Status.NOT_STARTED, Status.MISSING):
        return chapter.tasks[0].number
    if status is Status.FAILING:
        return workspace.progress.failing[(chapter.name, runtime)] or chapter.tasks[0].number
    target = {runtime: (str(workspace.file(chapter, runtime)), runtime)}
    with session.err.status(f"checking {workspace.relative(workspace.file(chapter, runtime))}"
                            " to see which task is next…"):
        graded = grade(chapter, target)[runtime]
    first = _first_failing_task(graded)
    workspace.progress.record(chapter.name, runtime, passed=graded.passed,
                              first_failing_task=first)
    workspace.progress.save()
    if graded.passed:
        return None
    return first or chapter.tasks[0].number


# -- watch ------------------------------------------------------------------------------


def _watch(session: Session, args: argparse.Namespace) -> int:
    from patterns.exercises.watch import POLL_INTERVAL_S, saves

    workspace = session.workspace()
    chapter = _chapter(args.chapter) if args.chapter else workspace.first_unfinished()
    if chapter is None:
        session.out.print("every chapter is done, in every runtime: name one to watch it")
        return EXIT_OK
    current = chapter

    def wanted() -> set[Path]:
        return set(workspace.files(current, current.runtimes))

    def fell_back(why: str) -> None:
        session.warn(f"{why}: looking at the files every {POLL_INTERVAL_S:g} s instead")

    def announce() -> None:
        files = ", ".join(workspace.relative(p) for p in sorted(wanted()))
        session.err.print(Text(f"watching {files}: every save checks {current.name} "
                               "again; Ctrl-C to stop", style="dim"), soft_wrap=True)

    checks = 0
    try:
        for _ in saves(workspace.root, wanted, on_fallback=fell_back):  # first: watching
            if checks and session.out.is_terminal:
                session.out.clear()
            checks += 1
            workspace = session.workspace()
            code = check_chapter(session, workspace, current, current.runtimes,
                                 show=not args.no_show)
            while code == EXIT_OK and args.chapter is None:  # on to the next, at once
                following = workspace.first_unfinished()
                if following is None:
                    session.out.print("every chapter is done, in every runtime")
                    return EXIT_OK
                current = following
                session.out.print()
                code = check_chapter(session, workspace, current, current.runtimes,
                                     show=not args.no_show)
            announce()
    except KeyboardInterrupt:
        session.err.print("stopped watching")
        return EXIT_OK
    return EXIT_OK


# -- reset ------------------------------------------------------------------------------


def _reset(session: Session, args: argparse.Namespace) -> int:
    workspace = session.workspace()
    chapter = _chapter(args.chapter)
    files = workspace.files(chapter, _runtimes(chapter, args.runtime))
    # 07's one file serves two runtimes: putting it back starts both over.
    runtimes = [rt for rt in chapter.runtimes if workspace.file(chapter, rt) in files]
    names = ", ".join(workspace.relative(f) for f in files)
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError(f"reset would put the starter over {names}: pass --yes (there "
                             "is no terminal to ask on)")
        try:
            starts = "starts" if len(runtimes) == 1 else "start"
            answer = input(f"put the starter back in {names} ({', '.join(runtimes)} {starts} "
                           "over; a changed file is kept as <file>.bak)? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            session.out.print("nothing reset")
            return EXIT_FAILING
    backups = {}
    for rt in runtimes:
        file = workspace.file(chapter, rt)
        if file not in backups:
            backups[file] = workspace.reset(chapter, rt)
        else:
            workspace.progress.forget(chapter.name, rt)
    workspace.progress.save()
    for file, backup in backups.items():
        kept = f" (yours is in {workspace.relative(backup)})" if backup else ""
        session.out.print(Text(f"{workspace.relative(file)}: the starter is back{kept}"))
    return EXIT_OK


# -- solution ---------------------------------------------------------------------------


def _solution(session: Session, args: argparse.Namespace) -> int:
    workspace = session.workspace()
    chapter = _chapter(args.chapter)
    runtimes = _runtimes(chapter, args.runtime)
    not_yet = [rt for rt in runtimes if not workspace.progress.is_done(chapter.name, rt)]
    if not_yet and not args.force:
        session.err.print(Text(
            f"{session.prog}: not yet: {chapter.name} does not pass in {', '.join(not_yet)}; "
            f"the solution is there once {session.command('check ' + _number(chapter))} "
            "passes (or with --force)"), soft_wrap=True)
        return EXIT_FAILING
    shown: set[Path] = set()
    for rt in runtimes:
        path = workspace.solution(chapter, rt)
        if path in shown:
            continue
        shown.add(path)
        text = path.read_text(encoding="utf-8")
        heading = f"# {chapter.name}/solution/{path.name}"
        if session.out.is_terminal:
            session.out.print(Text(heading, style="bold"))
            session.out.print(Syntax(text, "python", background_color="default"))
        else:  # plain, so that it can be saved to a file or piped
            sys.stdout.write(f"{heading}\n{text}")
            if not text.endswith("\n"):
                sys.stdout.write("\n")
    return EXIT_OK


# -- verify -----------------------------------------------------------------------------


def _verify(session: Session, args: argparse.Namespace) -> int:
    from patterns.exercises.verify import problems_of, targets_of

    selected = [_chapter(name) for name in args.chapters] or list(chapters())
    started = time.perf_counter()
    found: list[tuple[Chapter, list[str], float]] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=session.err, transient=True) as bar:
        task = bar.add_task("verifying", total=len(selected))
        for chapter in selected:
            bar.update(task, description=f"verifying {chapter.name}")
            began = time.perf_counter()
            problems = problems_of(chapter)
            found.append((chapter, problems, time.perf_counter() - began))
            bar.advance(task)
    elapsed = time.perf_counter() - started
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in (("chapter", "left"), ("modules", "right"), ("problems", "right"),
                          ("seconds", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for chapter, problems, seconds in found:
        table.add_row(chapter.name, str(len(targets_of(chapter))),
                      Text(str(len(problems)), style="red" if problems else "green"),
                      f"{seconds:.1f}")
    session.out.print(table)
    broken = [p for _, problems, _ in found for p in problems]
    for problem in broken:
        session.out.print(Text(problem, style="red"))
    chapters_broken = sum(bool(problems) for _, problems, _ in found)
    if broken:
        summary = (f"{len(broken)} problem{'s' if len(broken) != 1 else ''} in "
                   f"{chapters_broken} of {len(found)} chapters")
    else:
        summary = f"all {len(found)} chapters hold" if len(found) > 1 else (
            f"{found[0][0].name} holds")
    session.out.print(Text(f"{summary} ({elapsed:.1f} s)", style="bold"))
    return EXIT_FAILING if broken else EXIT_OK


# -- the parser -------------------------------------------------------------------------


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description="Rebuild Go's concurrency patterns in threads, "
                     "asyncio and trio, chapter by chapter, and have them checked.")
    workspace_help = ("the workspace folder (default: the current folder, if it holds "
                      "progress.txt)")
    parser.add_argument("--workspace", metavar="DIR", help=workspace_help)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # On each command too, after its name; SUPPRESS keeps one given before the name.
    common = _Parser(add_help=False)
    common.add_argument("--workspace", metavar="DIR", default=argparse.SUPPRESS,
                        help=workspace_help)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(
            name, help=summary, description=summary, parents=[common])
        return sub

    def runtime_flag(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--runtime", metavar="R",
                         help=f"one of {', '.join(RUNTIMES)} (default: every one the "
                              "chapter has)")

    init = command("init", "make a workspace: every chapter's README and starters")
    init.add_argument("dir", nargs="?", metavar="DIR",
                      help=f"a new or empty folder (default: ./{DEFAULT_FOLDER})")
    init.set_defaults(run=_init)

    listing = command("list", "every chapter by runtime: done, failing, not started")
    listing.add_argument("--json", action="store_true", help="as JSON, for graders")
    listing.set_defaults(run=_list)

    check = command("check", "grade a chapter on your files, task by task")
    check.add_argument("chapter", nargs="?", metavar="CHAPTER",
                       help="a name or number (default: the first unfinished)")
    runtime_flag(check)
    check.add_argument("--json", action="store_true", help="as JSON, for graders")
    check.add_argument("--no-show", action="store_true",
                       help="once the chapter passes, skip what its show.py shows")
    check.set_defaults(run=_check)

    hint = command("hint", "the next hint of the first unfinished task")
    hint.add_argument("chapter", metavar="CHAPTER", help="a name or number")
    hint.add_argument("--runtime", metavar="R",
                      help="default: the first unfinished runtime you have started")
    hint.set_defaults(run=_hint)

    watch = command("watch", "check again at every save, until Ctrl-C")
    watch.add_argument("chapter", nargs="?", metavar="CHAPTER",
                       help="a name or number (default: the first unfinished, then the "
                            "next as each passes)")
    watch.add_argument("--no-show", action="store_true",
                       help="once a chapter passes, skip what its show.py shows")
    watch.set_defaults(run=_watch)

    reset = command("reset", "put the starter back (yours is kept as .bak)")
    reset.add_argument("chapter", metavar="CHAPTER", help="a name or number")
    runtime_flag(reset)
    reset.add_argument("--yes", action="store_true", help="do not ask first")
    reset.set_defaults(run=_reset)

    solution = command("solution", "the reference solution, once yours passes")
    solution.add_argument("chapter", metavar="CHAPTER", help="a name or number")
    runtime_flag(solution)
    solution.add_argument("--force", action="store_true", help="show it before passing")
    solution.set_defaults(run=_solution)

    verify = command("verify", "maintainers, CI: prove every chapter grades what it says")
    verify.add_argument("chapters", nargs="*", metavar="CHAPTER",
                        help="names or numbers (default: every chapter)")
    verify.set_defaults(run=_verify)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Bad usage (:class:`InputError`, argparse's own errors) exits 2 with one line on
    stderr; Ctrl-C exits 130 with one line, except in ``watch`` (0).
    """
    args = _parser(prog).parse_args(argv)
    session = Session(prog, args.workspace)
    try:
        code: int = args.run(session, args)
    except InputError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code

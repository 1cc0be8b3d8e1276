"""Tests for ``python -m patterns.probe compare``: the runtime comparison.

The contract is the one the docstring of :mod:`patterns.probe.compare` states: one
fleet, the rows asked for (the three runtimes, uvloop, go, or any program speaking the
round protocol), and per row under ``"runtimes"`` the keys ``median_s``, ``ideal_s``,
``lower_bound_s``, ``efficiency`` (``ideal_s / median_s``), ``correct``, ``hosts``,
``peak_memory_bytes`` and ``cpu_s``. The figures themselves are timings, so these tests
hold the invariants between them and never a timing; the fleets are small, so a run
takes seconds. Tests that are not about which rows run name the three runtimes, so
that a machine with uvloop and Go runs the same tests as one without.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_probe_cli import read_until, start_cli, stop

import patterns.probe.compare.rows as rows
from patterns.probe.compare import Comparison, Round, RoundRunner, RuntimeFigures, compare
from patterns.probe.compare.go import SOURCE as GO_SOURCE
from patterns.probe.compare.report import CLOSING, as_markdown, as_table, code_lines, go_code_lines
from patterns.probe.compare.rows import HOW_TO_GET, ROWS, Unavailable, default_runtimes
from patterns.runtimes import RUNTIMES

CONTRACT_KEYS = {"median_s", "ideal_s", "lower_bound_s", "efficiency", "correct", "hosts",
               "peak_memory_bytes", "cpu_s"}
RUN_TIMEOUT_S = 50.0  # a handful of scans of a dozen hosts, each process started afresh
STOP_WITHIN_S = 5.0  # from a signal to the exit: the round's process is killed, not awaited
THREE = ",".join(RUNTIMES)  # --runtimes for the tests that are not about the rows
STUB = Path(__file__).with_name("round_stub.py")  # a row that is a program of its own


def compare_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "patterns.probe", "compare", *args],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)


def test_json_has_the_design_keys_for_each_runtime_and_every_host_right() -> None:
    done = compare_cli("--hosts", "12", "--workers", "4", "--rounds", "2", "--runtimes",
                       THREE, "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["hosts"], report["workers"], report["profile"]) == (12, 4, "standard")
    assert set(report["runtimes"]) == set(RUNTIMES)
    for name, figures in report["runtimes"].items():
        assert set(figures) >= CONTRACT_KEYS, name
        assert figures["hosts"] == figures["correct"] == 12, (name, figures["mistakes"])
        assert figures["rounds"] == 2 and len(figures["wall_s"]) == 2
        assert figures["efficiency"] == pytest.approx(figures["ideal_s"] / figures["median_s"])
        # No schedule beats the lower bound, and a real scan cannot beat the ideal pool
        # by more than the clocks' disagreement.
        assert figures["lower_bound_s"] <= figures["ideal_s"] <= figures["median_s"] * 1.01
        assert figures["peak_memory_bytes"] > 1 << 20 and figures["cpu_s"] > 0


def test_the_tls_fleet_is_compared_with_its_ca_passed_to_every_round() -> None:
    # Each round runs in a fresh process: it gets the fleet's CA with its targets, or
    # every https host would be a tls_error there.
    done = compare_cli("--hosts", "10", "--workers", "10", "--profile", "tls", "--rounds", "1",
                       "--runtimes", THREE, "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["profile"] == "tls"
    for name, figures in report["runtimes"].items():
        assert figures["hosts"] == figures["correct"] == 10, (name, figures["mistakes"])


def test_the_table_has_a_row_per_runtime_and_the_fleets_headroom() -> None:
    done = compare_cli("--hosts", "6", "--workers", "6", "--profile", "ideal",
                       "--rounds", "1", "--runtimes", THREE)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("compare: 6 hosts (ideal profile, seed 0), 6 workers")
    assert lines[1].split()[:3] == ["RUNTIME", "MEDIAN", "IDEAL"]
    assert [line.split()[0] for line in lines[2:5]] == list(RUNTIMES)
    assert all("6/6" in line.split() for line in lines[2:5])  # the CORRECT column
    assert lines[5].startswith("fleet: ")
    assert done.stderr.startswith("comparing threads, asyncio, trio")


def test_markdown_is_the_written_comparison_with_the_hostile_fleet() -> None:
    done = compare_cli("--hosts", "10", "--workers", "10", "--rounds", "1",
                       "--runtimes", THREE, "--format", "markdown")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("# threads, asyncio and trio on one fleet")
    assert "`python -m patterns.probe compare --hosts 10 --workers 10 --profile standard " \
           "--rounds 1 --seed 0 --timeout 1 --runtimes threads,asyncio,trio " \
           "--format markdown`" in text
    for heading in ("## Code", "## Throughput", "## Memory", "## Against Go",
                    "## Under failure: the hostile fleet"):
        assert f"\n{heading}\n" in text, heading
    # go was not asked for: its section is the one line on how to add it.
    assert "\n## Against Go\n\ngo: not compared, add it with " \
           "`--runtimes threads,asyncio,trio,go`\n\n" in text
    assert "Every runtime classified all 10 hosts as the fleet's truth says" in text
    assert text.rstrip().endswith(CLOSING)


def test_a_rounds_process_imports_no_runtime_and_nothing_of_the_fleet() -> None:
    # What a round imports before it scans counts in its peak memory: the fleet's
    # package brings asyncio, which would weigh on the threads and trio rounds too.
    code = ("import sys, patterns.probe.compare.round; print(sorted("
            "{'trio', 'asyncio', 'patterns.probe.fleet', 'patterns.probe.cli'} "
            "& set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=RUN_TIMEOUT_S, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("args", [["--rounds", "0"], ["--profile", "nope"],
                                  ["--hosts", "many"], ["--format", "yaml"],
                                  ["--runtimes", "threads,nope"], ["--runtimes", ","],
                                  ["--runtimes", "trio,trio"]],
                         ids=["rounds", "profile", "hosts", "format", "runtime-unknown",
                              "runtimes-none", "runtime-twice"])
def test_bad_flags_exit_2_with_one_line(args: list[str]) -> None:
    done = compare_cli(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    if args[0] == "--runtimes":
        assert "--runtimes" in done.stderr  # it names the flag at fault


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_comparison(signum: int) -> None:
    process = start_cli("compare", "--hosts", "10", "--rounds", "50", "--runtimes", THREE)
    try:
        read_until(process, b"comparing", RUN_TIMEOUT_S)
        process.send_signal(signum)
        _, err = process.communicate(timeout=STOP_WITHIN_S)
        assert process.returncode == 128 + signum
        assert f"interrupted by {signal.Signals(signum).name}" in err.decode()
        assert b"Traceback" not in err
    finally:
        stop(process)


# -- the figures and the report, without a fleet -------------------------------------------


def comparison(walls: dict[str, list[float]], *, correct: int = 10) -> Comparison:
    figures = {}
    for name, times in walls.items():
        f = RuntimeFigures(name, 10, ideal_s=1.0, lower_bound_s=0.8)
        f.rounds = [Round(name, wall, wall / 10, (40 + i) << 20, correct, (), 0.002)
                    for i, wall in enumerate(times)]
        figures[name] = f
    return Comparison(10, 5, "standard", 3, 0, 1.0, "2026-01-01", figures)


def test_figures_are_the_median_the_worst_and_the_peak() -> None:
    c = comparison({"threads": [1.3, 1.1, 1.2], "asyncio": [1.05, 1.5, 1.0],
                    "trio": [2.0, 1.25, 1.25]})
    threads = c.runtimes["threads"]
    assert threads.median_s == 1.2 and threads.efficiency == pytest.approx(1 / 1.2)
    assert threads.peak_memory_bytes == 42 << 20 and threads.cpu_s == pytest.approx(0.12)
    assert c.fleet_cpu_per_request_s == pytest.approx(0.0002)
    assert c.fleet_headroom_at_100 == pytest.approx(5000 / 2000)
    table = as_table(c)
    assert "asyncio  1.050 s  1.000 s  0.800 s      0.95" in table
    text = as_markdown(c, command="python -m patterns.probe compare --format markdown")
    assert "asyncio came closest, at 0.95 (1.050 s), and trio furthest, at 0.80" in text
    assert "Under failure" not in text  # no hostile run was given


def test_code_lines_leave_out_docstrings_comments_and_blank_lines(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(textwrap.dedent('''\
        """A module docstring,
        on two lines."""

        import os  # a comment after code counts as code


        def f(x):
            """A docstring."""
            # a comment alone
            return (x +
                    1)
    '''), encoding="utf-8")
    assert code_lines(module) == 4  # import, def, and the return's two lines


def test_go_code_lines_leave_out_comment_lines_blocks_and_blank_lines(
        tmp_path: Path) -> None:
    source = tmp_path / "pool.go"
    source.write_text(textwrap.dedent("""\
        // Package pool is a doc comment.
        package pool

        /* A block
           on two lines */
        import "fmt" // a comment after code counts as code

        /* a block */ var url = "http://host/" // a "//" in a string is code
        func f() {
        \t// a comment alone
        \tfmt.Println(url)
        }
    """), encoding="utf-8")
    assert go_code_lines(source) == 6  # package, import, var, func, Println, the brace


def go_comparison(**rows: tuple[float, float, int]) -> Comparison:
    """Rows of one round each over 100 hosts: name=(wall s, CPU s, peak MiB); ideal 1 s."""
    figures = {}
    for name, (wall, cpu, mib) in rows.items():
        f = RuntimeFigures(name, 100, ideal_s=1.0, lower_bound_s=0.8)
        f.rounds = [Round(name, wall, cpu, mib << 20, 100, (), 0.01)]
        figures[name] = f
    return Comparison(100, 20, "standard", 1, 0, 1.0, "2026-12-07", figures)


def section(text: str, heading: str) -> str:
    """The body of one ``## heading`` of the Markdown, up to the next heading or the end."""
    body = text.split(f"\n## {heading}\n", 1)[1]
    return body.split("\n## ", 1)[0].replace(CLOSING, "").strip()


def test_against_go_sets_every_python_row_over_go_in_words_its_figures_pick() -> None:
    # go: efficiency 1.00, 0.03 s of CPU over 100 hosts (300 µs a probe), 10 MiB.
    c = go_comparison(threads=(1.02, 0.30, 40), asyncio=(1.25, 0.028, 8), go=(1.0, 0.03, 10))
    text = as_markdown(c, command="compare")
    against = section(text, "Against Go")
    assert "| threads | 0.98 | 0.98x | 3,000 µs | 10.00x | 40.0 MiB | 4.00x |" in against
    assert "| asyncio | 0.80 | 0.80x | 280 µs | 0.93x | 8.0 MiB | 0.80x |" in against
    assert "| go | 1.00 | 1.00x | 300 µs | 1.00x | 10.0 MiB | 1.00x |" in against
    # Within 10 % of go's is a match; the rest trail or beat it, as their ratios say.
    assert ("Efficiency, over go's 1.00: threads matches Go, at 0.98x; asyncio trails Go, "
            "at 0.80x. Where the efficiencies match, the wall time is the hosts' latency"
            ) in against
    assert ("CPU per probe, over go's 300 µs: asyncio matches Go, at 0.93x; threads trails "
            "Go, at 10.00x.") in against
    assert ("Peak memory, over go's 10.0 MiB: threads trails Go, at 4.00x; asyncio beats "
            "Go, at 0.80x.") in against
    # Several in one standing: named with the smallest and the largest ratio.
    c = go_comparison(threads=(1.0, 0.30, 40), asyncio=(1.0, 0.12, 30), trio=(1.0, 0.2, 35),
                      go=(1.0, 0.03, 10))
    against = section(as_markdown(c, command="compare"), "Against Go")
    assert ("CPU per probe, over go's 300 µs: asyncio, trio and threads trail Go, from "
            "4.00x (asyncio) to 10.00x (threads).") in against
    assert "Efficiency, over go's 1.00: threads, asyncio and trio match Go, all at 1.00x." \
        in against


def test_the_go_code_row_and_the_against_go_section_come_only_with_a_go_row() -> None:
    go_row = (f"| go | {go_code_lines(GO_SOURCE / 'pool.go')} lines | "
              f"{go_code_lines(GO_SOURCE / 'probe.go')} lines |")
    with_go = as_markdown(go_comparison(threads=(1.0, 0.3, 40), go=(1.0, 0.03, 10)),
                          command="compare")
    assert go_row in section(with_go, "Code")
    assert "| go |" in section(with_go, "Against Go")
    # Go could not run: the section is the unavailable line, and the code table has no go.
    without = go_comparison(threads=(1.0, 0.3, 40), trio=(1.0, 0.2, 35))
    without.unavailable = {"go": HOW_TO_GET["go"]}
    text = as_markdown(without, command="compare")
    assert "| go |" not in section(text, "Code")
    assert section(text, "Against Go") == f"go: not compared, {HOW_TO_GET['go']}"
    # Go was not asked for: the line says how to ask.
    without.unavailable = {}
    assert section(as_markdown(without, command="compare"), "Against Go") == \
        "go: not compared, add it with `--runtimes threads,trio,go`"


# -- the rows: which run, and a row that is a program of its own ------------------------


@pytest.mark.parametrize(("uvloop", "go"), [(False, False), (True, False), (False, True),
                                            (True, True)],
                         ids=["neither", "uvloop", "go", "both"])
def test_the_default_rows_are_the_three_and_uvloop_and_go_where_they_can_run(
        monkeypatch: pytest.MonkeyPatch, uvloop: bool, go: bool) -> None:
    monkeypatch.setattr(rows, "uvloop_installed", lambda: uvloop)
    monkeypatch.setattr(rows, "go_toolchain", lambda: "/usr/bin/go" if go else None)
    names, left_out = default_runtimes()
    assert names == [*RUNTIMES, *(["uvloop"] if uvloop else []), *(["go"] if go else [])]
    # Each row left out has its one line on how to get it.
    assert left_out == {name: HOW_TO_GET[name] for name, here in
                        (("uvloop", uvloop), ("go", go)) if not here}
    assert all(len(line.splitlines()) == 1 for line in left_out.values())


def test_a_row_that_cannot_run_is_left_out_with_its_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rows, "uvloop_installed", lambda: False)
    runner = RoundRunner()
    assert runner.prepare(["threads", "uvloop"]) == {"uvloop": HOW_TO_GET["uvloop"]}
    assert "pip install uvloop" in HOW_TO_GET["uvloop"]
    with pytest.raises(ValueError, match="unknown runtime 'nope'"):
        runner.prepare(["nope"])


@pytest.mark.skipif(not rows.uvloop_installed(), reason="uvloop is not installed")
def test_uvloop_runs_beside_threads_with_every_key() -> None:
    done = compare_cli("--hosts", "8", "--workers", "4", "--rounds", "2",
                       "--runtimes", "threads,uvloop", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert list(report["runtimes"]) == ["threads", "uvloop"]
    assert report["unavailable"] == {}
    for name, figures in report["runtimes"].items():
        assert set(figures) >= CONTRACT_KEYS, name
        assert figures["hosts"] == figures["correct"] == 8, (name, figures["mistakes"])
        assert figures["rounds"] == 2


def test_without_go_the_table_says_how_to_get_it_and_the_other_rows_run() -> None:
    # A child whose go row cannot run, whatever this machine has: its ROWS say so, as
    # they do where there is no Go toolchain or no reference/go.
    code = ("import sys\n"
            "import patterns.probe.compare.rows as rows\n"
            "def no_go(): raise rows.Unavailable(rows.HOW_TO_GET['go'])\n"
            "rows.ROWS['go'] = no_go\n"
            "from patterns.probe.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    args = ["compare", "--hosts", "6", "--workers", "6", "--profile", "ideal", "--rounds", "1",
            "--runtimes", "threads,go,trio"]
    table = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                           text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert [line.split()[0] for line in lines[2:4]] == ["threads", "trio"]
    assert lines[4] == f"go: not compared, {HOW_TO_GET['go']}"  # right under the table
    assert lines[5].startswith("fleet: ")
    assert table.stderr.startswith("comparing threads, trio:")
    as_json = subprocess.run([sys.executable, "-c", code, *args, "--format", "json"],
                             capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                             check=False)
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert list(report["runtimes"]) == ["threads", "trio"]
    assert report["unavailable"] == {"go": HOW_TO_GET["go"]}


def test_go_is_unavailable_in_one_line_where_reference_go_is_not_here() -> None:
    # Before reference/go is part of the library, and where it cannot be built, the go
    # row is one line, never an exception.
    try:
        command = ROWS["go"]()
    except Unavailable as exc:
        assert len(str(exc).splitlines()) == 1 and str(exc)
    else:
        assert command  # built: a command that speaks the round protocol


def test_a_row_of_its_own_program_runs_in_the_same_interleaved_rounds(
        tmp_path: Path) -> None:
    log = tmp_path / "stub.log"
    runner = RoundRunner({**ROWS, "stub": lambda: [sys.executable, str(STUB), str(log)]})
    order: list[str] = []
    c = compare(hosts=6, workers=3, profile="ideal", rounds=2, runtimes=["threads", "stub"],
                runner=runner, on_round=lambda done: order.append(done.runtime))
    # Round 2 starts one row further on, and the stub was asked for its own row.
    assert order == ["threads", "stub", "stub", "threads"]
    assert log.read_text(encoding="utf-8").split() == ["stub", "stub"]
    report = json.loads(c.as_json())
    assert list(report["runtimes"]) == ["threads", "stub"]
    stub = report["runtimes"]["stub"]
    assert set(stub) >= CONTRACT_KEYS and stub["rounds"] == 2
    assert stub["hosts"] == stub["correct"] == 6, stub["mistakes"]
    assert set(stub) == set(report["runtimes"]["threads"])
    table = as_table(c).splitlines()
    assert [line.split()[0] for line in table[2:4]] == ["threads", "stub"]
    assert len(table[3].split()) == len(table[2].split())  # every column
    text = as_markdown(c, command="compare")
    assert text.startswith("# threads and stub on one fleet")
    assert "\n| stub | " in text


def test_the_benchmark_report_sets_each_row_against_go() -> None:
    spec = importlib.util.spec_from_file_location(
        "benchmarks_report", Path(__file__).parents[1] / "benchmarks" / "report.py")
    assert spec is not None and spec.loader is not None
    bench_report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_report)
    c = comparison({"threads": [1.25], "uvloop": [1.0], "go": [1.0]})
    c.runtimes["go"].rounds[0] = Round("go", 1.0, 0.025, 10 << 20, 10, (), None)
    lines = bench_report.compare_report(c.as_dict())
    threads = next(line.split() for line in lines if line.split()[0] == "threads")
    # threads: efficiency 0.80 to go's 1.00, and 12.5 ms of CPU per probe to go's 2.5 ms
    assert threads == ["threads", "0.80", "0.80x", "12500", "µs", "5.00x"]
    del c.runtimes["go"]
    c.unavailable = {"go": HOW_TO_GET["go"]}
    assert bench_report.compare_report(c.as_dict())[-1] == f"no go row: {HOW_TO_GET['go']}"

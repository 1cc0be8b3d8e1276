"""Tests for ``python -m patterns.probe compare``: the runtime comparison.

The contract is the one the docstring of :mod:`patterns.probe.compare` states: one
fleet, the three runtimes, and per runtime under ``"runtimes"`` the keys ``median_s``,
``ideal_s``, ``lower_bound_s``, ``efficiency`` (``ideal_s / median_s``), ``correct``,
``hosts``, ``peak_memory_bytes`` and ``cpu_s``. The figures themselves are timings, so
these tests hold the invariants between them and never a timing; the fleets are small,
so a run takes seconds.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_probe_cli import read_until, start_cli, stop

from patterns.probe.compare import Comparison, Round, RuntimeFigures
from patterns.probe.compare.report import CLOSING, as_markdown, as_table, code_lines
from patterns.runtimes import RUNTIMES

CONTRACT_KEYS = {"median_s", "ideal_s", "lower_bound_s", "efficiency", "correct", "hosts",
               "peak_memory_bytes", "cpu_s"}
RUN_TIMEOUT_S = 50.0  # a handful of scans of a dozen hosts, each process started afresh
STOP_WITHIN_S = 5.0  # from a signal to the exit: the round's process is killed, not awaited


def compare_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "patterns.probe", "compare", *args],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)


def test_json_has_the_design_keys_for_each_runtime_and_every_host_right() -> None:
    done = compare_cli("--hosts", "12", "--workers", "4", "--rounds", "2", "--format", "json")
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
                       "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["profile"] == "tls"
    for name, figures in report["runtimes"].items():
        assert figures["hosts"] == figures["correct"] == 10, (name, figures["mistakes"])


def test_the_table_has_a_row_per_runtime_and_the_fleets_headroom() -> None:
    done = compare_cli("--hosts", "6", "--workers", "6", "--profile", "ideal",
                       "--rounds", "1")
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
                       "--format", "markdown")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("# threads, asyncio and trio on one fleet")
    assert "`python -m patterns.probe compare --hosts 10 --workers 10 --profile standard " \
           "--rounds 1 --seed 0 --timeout 1 --format markdown`" in text
    for heading in ("## Code", "## Throughput", "## Memory",
                    "## Under failure: the hostile fleet"):
        assert f"\n{heading}\n" in text, heading
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
                                  ["--hosts", "many"], ["--format", "yaml"]],
                         ids=["rounds", "profile", "hosts", "format"])
def test_bad_flags_exit_2_with_one_line(args: list[str]) -> None:
    done = compare_cli(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_comparison(signum: int) -> None:
    process = start_cli("compare", "--hosts", "10", "--rounds", "50")
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

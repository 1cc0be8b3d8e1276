"""Chapter 09's grading: the yardstick, the figures, and the order and truth of the rounds.

Nothing here is timed. ``compare`` gets a fake fleet (no process, fixed latencies and a
fixed truth, put in place of :class:`patterns.probe.fleet.Fleet`) and a fake round runner
(no process either: it writes down which runtime each round was for, and answers with the
wall time planned for that round and the fleet's truth, but for the hosts planned wrong).
The library's ``patterns.probe.compare`` and ``patterns.probe.schedule`` pass these tests
too.
"""

from __future__ import annotations

import math
import os
from typing import Any

import pytest

import patterns.probe.fleet
from patterns.probe import Target
from patterns.runtimes import RUNTIMES

# The fake fleet: six hosts, one that never answers. With a 1 s timeout its costs are
# 0.2 0.2 0.2 1.0 0.2 0.5, and a FIFO pool of two workers takes 1.2 s over them (the
# lower bound is 1.15 s).
LATENCY = [0.2, 0.2, 0.2, math.inf, 0.2, 0.5]
TRUTH = ["ok", "ok", "refused", "timeout", "ok", "bad_status"]
HOSTS, WORKERS, TIMEOUT, IDEAL = len(LATENCY), 2, 1.0, 1.2

# The wall time of each runtime's rounds, in the order the fake runner hands them out.
WALLS = {"threads": [1.31, 1.32, 1.33, 1.34], "asyncio": [1.41, 1.42, 1.43, 1.44],
         "trio": [1.51, 1.52, 1.53, 1.54]}


class FakeFleet:
    """:class:`~patterns.probe.fleet.Fleet`'s shape, without its process."""

    def __init__(self, hosts: int = HOSTS, profile: str = "standard", seed: int = 0,
                 **options: Any) -> None:
        self.targets = [Target.http(f"127.0.0.{i + 1}", 8080, "/health")
                        for i in range(len(LATENCY))]
        self.latency = dict(zip(self.targets, LATENCY, strict=True))
        self.truth = dict(zip(self.targets, TRUTH, strict=True))
        self.pid: int | None = os.getpid()  # compare reads the fleet's CPU time by pid
        self.ca_pem: str | None = None  # no https hosts, so no CA for the rounds to trust

    def __enter__(self) -> FakeFleet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.pid = None


class FakeRunner:
    """:class:`~patterns.probe.compare.RoundRunner`'s shape, without its process.

    ``run(request)`` records ``request["runtime"]`` and answers at once: the planned wall
    time of that runtime's n-th round, and the fleet's truth as outcomes, except for the
    hosts ``wrong[(runtime, n)]`` lists (n counts from 0), which come back ``reset``."""

    stopped = False

    def __init__(self, wrong: dict[tuple[str, int], list[int]] | None = None) -> None:
        self.calls: list[str] = []
        self.wrong = wrong or {}
        fleet = FakeFleet()
        self.truth = {str(t): fleet.truth[t] for t in fleet.targets}

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        runtime = request["runtime"]
        n = self.calls.count(runtime)
        self.calls.append(runtime)
        outcomes = [self.truth[line] for line in request["targets"]]
        for host in self.wrong.get((runtime, n), []):
            outcomes[host] = "reset"
        return {"wall_s": WALLS[runtime][n], "cpu_s": 0.1, "peak_memory_bytes": 20 << 20,
                "outcomes": outcomes}


@pytest.fixture
def fake_fleet(impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``compare`` starts the fake fleet instead of a real one."""
    monkeypatch.setattr(patterns.probe.fleet, "Fleet", FakeFleet)
    if hasattr(impl, "Fleet"):  # a module that imports Fleet at its top
        monkeypatch.setattr(impl, "Fleet", FakeFleet)


def run_compare(impl: Any, runner: FakeRunner, rounds: int) -> Any:
    return impl.compare(hosts=HOSTS, workers=WORKERS, rounds=rounds, timeout=TIMEOUT,
                        runner=runner)


def a_round(impl: Any, wall_s: float, *, correct: int = 10) -> Any:
    return impl.Round(runtime="threads", wall_s=wall_s, cpu_s=0.1,
                      peak_memory_bytes=20 << 20, correct=correct, mistakes=(),
                      fleet_cpu_s=None)


def figures(impl: Any, walls: list[float], *, ideal_s: float = 1.2,
            correct: list[int] | None = None) -> Any:
    correct = correct or [10] * len(walls)
    return impl.RuntimeFigures("threads", 10, ideal_s, 1.0,
                               [a_round(impl, w, correct=c)
                                for w, c in zip(walls, correct, strict=True)])


def seconds(values: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in values) + " s"


# -- task 1: the yardstick ---------------------------------------------------------------


def check_ideal(impl: Any, costs: list[float], workers: int, want: float, why: str) -> None:
    got = impl.ideal_makespan(list(costs), workers)
    assert got == pytest.approx(want), (
        f"ideal_makespan({costs}, workers={workers}) is {got:g}; a FIFO pool takes "
        f"{want:g} s: {why}"
    )


@pytest.mark.task(1)
def test_a_slow_host_last_waits_for_a_free_worker(impl: Any) -> None:
    check_ideal(impl, [1, 1, 1, 1, 5], 2, 7.0,
                "the 5 s host starts when a worker frees, at 2 s (sum / workers, or the "
                "longest cost, is the lower bound, which a FIFO pool need not reach)")


@pytest.mark.task(1)
def test_a_slow_host_first_hides_behind_the_others(impl: Any) -> None:
    check_ideal(impl, [5, 1, 1, 1, 1], 2, 5.0,
                "the other worker takes the four 1 s hosts while the first is busy "
                "(take the costs in their order: do not sort them)")


@pytest.mark.task(1)
def test_each_cost_goes_to_the_worker_that_frees_first(impl: Any) -> None:
    check_ideal(impl, [3, 1, 1, 1], 2, 3.0,
                "the next cost goes to the worker that frees first, not to the next "
                "worker in turn")


@pytest.mark.task(1)
def test_more_workers_than_hosts_and_no_hosts_at_all(impl: Any) -> None:
    check_ideal(impl, [0.25, 0.5], 8, 0.5, "every host has a worker of its own")
    check_ideal(impl, [0.5, 0.25, 0.25], 1, 1.0, "one worker takes them one after another")
    check_ideal(impl, [], 4, 0.0, "no hosts, no time")


# -- task 2: the figures -----------------------------------------------------------------


@pytest.mark.task(2)
def test_the_median_is_the_middle_round(impl: Any) -> None:
    walls = [2.0, 1.0, 9.0, 1.5, 1.2]
    got = figures(impl, walls).median_s
    assert got == pytest.approx(1.5), (
        f"median_s is {got:g} for rounds of {seconds(walls)}; the median is 1.5 s, the "
        "middle round: one slow round must not move the figure"
    )
    walls = [1.0, 2.0, 3.0, 10.0]
    got = figures(impl, walls).median_s
    assert got == pytest.approx(2.5), (
        f"median_s is {got:g} for rounds of {seconds(walls)}; an even number of rounds "
        "has two in the middle, and the median is their mean: 2.5 s"
    )


@pytest.mark.task(2)
def test_efficiency_is_ideal_over_median(impl: Any) -> None:
    got = figures(impl, [1.5, 1.5, 1.5], ideal_s=1.2).efficiency
    assert got == pytest.approx(0.8), (
        f"efficiency is {got:.2f} with an ideal of 1.2 s and a median of 1.5 s; it is "
        "ideal / median, 0.80: at most about 1, where 1.0 is a pool that costs nothing"
    )


@pytest.mark.task(2)
def test_correct_is_the_worst_rounds(impl: Any) -> None:
    got = figures(impl, [1.0, 1.1, 1.2, 1.3], correct=[10, 10, 7, 10]).correct
    assert got == 7, (
        f"correct is {got} but round 3 got only 7 of 10 hosts right: the figure is the "
        "worst round's, since a scan that is sometimes wrong cannot be trusted"
    )


# -- task 3: interleaved rounds ----------------------------------------------------------


@pytest.mark.task(3)
@pytest.mark.usefixtures("fake_fleet")
def test_the_rounds_are_interleaved(impl: Any) -> None:
    runner = FakeRunner()
    run_compare(impl, runner, rounds=4)
    order = ", ".join(runner.calls)
    want = 4 * len(RUNTIMES)
    assert len(runner.calls) == want, (
        f"compare ran {len(runner.calls)} rounds ({order}); 4 rounds of each of "
        f"{len(RUNTIMES)} runtimes is {want}"
    )
    for start in range(0, want, len(RUNTIMES)):
        turn = runner.calls[start:start + len(RUNTIMES)]
        assert sorted(turn) == sorted(RUNTIMES), (
            f"the rounds ran in the order {order}: interleave them, every runtime once "
            "before any runs again (threads, asyncio, trio, then again), so a machine "
            "that slows down for a while slows every runtime alike"
        )


@pytest.mark.task(3)
@pytest.mark.usefixtures("fake_fleet")
def test_each_runtime_keeps_its_own_rounds(impl: Any) -> None:
    comparison = run_compare(impl, FakeRunner(), rounds=3)
    for name in RUNTIMES:
        got = [r.wall_s for r in comparison.runtimes[name].rounds]
        assert got == WALLS[name][:3], (
            f"{name}'s figures hold rounds of {seconds(got)}; its three rounds took "
            f"{seconds(WALLS[name][:3])}: each round belongs to the runtime it ran in"
        )


# -- task 4: each round held against the fleet -------------------------------------------


@pytest.mark.task(4)
@pytest.mark.usefixtures("fake_fleet")
def test_the_ideal_counts_a_silent_host_as_one_timeout(impl: Any) -> None:
    comparison = run_compare(impl, FakeRunner(), rounds=1)
    got = comparison.runtimes["threads"].ideal_s
    assert not math.isinf(got), (
        "ideal_s is inf: a host that never answers (its latency is inf) costs a probe "
        f"one timeout ({TIMEOUT:g} s), not forever; cap each host's cost at the timeout"
    )
    assert got == pytest.approx(IDEAL), (
        f"ideal_s is {got:g}; the fleet's latencies, each capped at the {TIMEOUT:g} s "
        f"timeout, take a FIFO pool of {WORKERS} workers {IDEAL:g} s (ideal_makespan)"
    )


@pytest.mark.task(4)
@pytest.mark.usefixtures("fake_fleet")
def test_a_round_counts_the_outcomes_that_match_the_truth(impl: Any) -> None:
    wrong = {("asyncio", 1): [0, 4], ("trio", 0): [2]}
    comparison = run_compare(impl, FakeRunner(wrong), rounds=3)
    for name in RUNTIMES:
        for n, done in enumerate(comparison.runtimes[name].rounds):
            mistaken = len(wrong.get((name, n), []))
            assert done.correct == HOSTS - mistaken, (
                f"{name}'s round {n + 1} had {mistaken} of {HOSTS} outcomes unlike the "
                f"fleet's truth, yet it counts {done.correct} correct: count the "
                "outcomes that match fleet.truth for their target"
            )
            assert len(done.mistakes) == mistaken, (
                f"{name}'s round {n + 1} lists {len(done.mistakes)} mistakes; it had "
                f"{mistaken}: one (target, outcome, truth) for each outcome that is wrong"
            )
    got = comparison.runtimes["asyncio"].correct
    assert got == HOSTS - 2, (
        f"asyncio's figures say {got} correct; its worst round got {HOSTS - 2} right"
    )

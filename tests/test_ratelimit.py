"""Behavioural suite for ``patterns.ratelimit`` (Go ``x/time/rate``), in three runtimes.

The contract is the one the docstrings of :mod:`patterns.ratelimit` and of each
runtime's ``Limiter`` state: a bucket of ``burst`` tokens, full at the start, that
gains ``rate`` a second; ``allow`` only when the tokens are there and nobody is owed
them; ``wait`` first come, first served, refusing at once a deadline it cannot make,
and giving its reservation back when it is cancelled; ``reserve`` and ``cancel`` with
Go's arithmetic.

Clocks: trio runs under ``MockClock(autojump_threshold=0)``, where waiting costs no
wall time, so its scenarios use slow rates; threads and asyncio run on real clocks, at
rates whose waits last milliseconds. No test sleeps to synchronise: a waiter's arrival
is seen in the bucket (:func:`owed`), and what is asserted is a bound (nobody served
before its turn, no more tokens than ``burst + rate * elapsed``), never a duration.
The arithmetic itself is checked on :class:`~patterns.ratelimit._bucket.Bucket` with a
clock of the test's own, which covers it for every runtime at once.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runtimes import Runtime, background

from patterns.context import Canceled, ContextError, DeadlineExceeded
from patterns.probe import ProbeResult, Target
from patterns.ratelimit import parse_rate
from patterns.ratelimit._bucket import Bucket, Grant

REAL_RATE = 50.0  # tokens a second where the clock is real (threads, asyncio): 20 ms each
MOCK_RATE = 5.0  # on trio's mock clock a wait is free, so rates read like real ones
EPS = 1e-6  # clock reads and float arithmetic
AT_ONCE_S = 0.25  # "at once" on a real clock, with room for a loaded machine
NO_NATIVE_CANCEL = "threads: a blocked thread cannot be interrupted; it stops through its ctx"


def limiter(rt: Runtime, rate: float, burst: int = 1) -> Any:
    return rt.module("ratelimit").Limiter(rate, burst)


def waiting_rate(rt: Runtime) -> float:
    """A rate for scenarios that really wait: real seconds are dear, mock ones free."""
    return MOCK_RATE if rt.name == "trio" else REAL_RATE


def owed(lim: Any, since: float, now: float) -> float:
    """How many tokens have been reserved since the bucket was empty at ``since``: what
    it gained meanwhile, less what it has. A waiter has arrived once this counts it
    (valid until the bucket fills again, which no scenario here lets happen)."""
    tokens = lim.tokens
    return lim.rate * (now - since) - tokens


def over_the_bound(grants: list[tuple[float, int]], rate: float, burst: int, *,
                   since: float | None = None) -> str | None:
    """The first window of ``(time, tokens)`` grants that holds more than ``burst + rate
    * window`` tokens, described; ``None`` if every window keeps the bound. With
    ``since``, only the windows from ``since`` on: the bound over the whole run."""
    grants = sorted(grants)
    starts = [(since, 0)] if since is not None else grants
    for start, _ in starts:
        taken = 0
        for end, n in grants:
            if end < start:
                continue
            taken += n
            allowed = burst + rate * (end - start)
            if taken > allowed + 1e-6 * max(1.0, allowed):
                return (f"{taken} tokens granted from {start:.6f} to {end:.6f}: rate {rate:g}/s "
                        f"with burst {burst} allows {allowed:.3f}")
    return None


class Waiter:
    """One task (or thread) in ``wait(n)``: it records when it got its tokens
    (``got_at``, on the runtime's clock) or what it raised (``error``). It waits with a
    ctx of its own, so that a test can stop it; in asyncio and trio it runs in a cancel
    scope, ``scope``, so that a test can cancel it natively. It never raises."""

    def __init__(self, rt: Runtime, lim: Any, n: int = 1, *, name: object = None,
                 log: list[object] | None = None) -> None:
        self.rt, self.lim, self.n, self.name, self.log = rt, lim, n, name, log
        self.ctx = background(rt).with_cancel()
        self.got_at: float | None = None
        self.error: BaseException | None = None
        self.interrupted = False
        self.scope: Any = None
        self.finished = rt.event()

    async def run(self) -> None:
        try:
            if self.rt.is_async:
                with anyio.CancelScope() as self.scope:
                    await self._wait()
                self.interrupted = self.scope.cancelled_caught
            else:
                await self._wait()
        finally:
            self.finished.set()

    async def _wait(self) -> None:
        try:
            await self.rt.call(self.lim.wait, self.n, ctx=self.ctx)
        except ContextError as exc:
            self.error = exc
            return
        self.got_at = self.rt.now()
        if self.log is not None:
            self.log.append(self.name)


# -- parse_rate ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "per_second"), [
    ("50/s", 50.0), ("3/m", 0.05), ("10/h", 10 / 3600), ("2.5", 2.5), (" 7/s ", 7.0),
    (".5/s", 0.5), ("1.", 1.0),
])
def test_parse_rate_reads_a_count_per_unit_of_time(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("text", [
    "", "fast", "50/d", "50/sec", "/s", "-1/s", "0", "0/s", "inf", "nan", "1e3", "5 per s",
    "50//s", "s/50",
])
def test_parse_rate_refuses_anything_else_naming_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="is not a rate") as refused:
        parse_rate(text)
    assert repr(text) in str(refused.value)


# -- counters, arguments, the edges of the rate -------------------------------------------------


def test_a_new_limiter_is_full(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        lim = limiter(rt, 2.0, burst=3)
        assert (lim.rate, lim.burst, lim.tokens) == (2.0, 3, 3.0)
        assert [lim.allow() for _ in range(4)] == [True, True, True, False]
        assert lim.tokens == pytest.approx(0.0, abs=0.05)

    rt.run(scenario)


@pytest.mark.parametrize(("rate", "burst"), [(-1.0, 1), (math.nan, 1), (1.0, -1), (1.0, 1.5)])
def test_a_bad_rate_or_burst_is_a_value_error(rt: Runtime, rate: float, burst: Any) -> None:
    async def scenario(rt: Runtime) -> None:
        with pytest.raises(ValueError):
            limiter(rt, rate, burst)
        lim = limiter(rt, 1.0)
        with pytest.raises(ValueError):
            if rate != 1.0:
                lim.set_rate(rate)
            else:
                lim.set_burst(burst)
        assert (lim.rate, lim.burst) == (1.0, 1)

    rt.run(scenario)


def test_n_beyond_the_burst_is_a_value_error_for_wait_and_reserve_and_no_for_allow(
        rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        lim = limiter(rt, 1.0, burst=2)
        assert lim.allow(3) is False
        with pytest.raises(ValueError, match="exceeds the burst"):
            lim.reserve(3)
        with (background(rt).with_timeout(1.0) as fail_safe,
              pytest.raises(ValueError, match="exceeds the burst")):
            await rt.call(lim.wait, 3, ctx=fail_safe)
        for bad in (0, -1):
            with pytest.raises(ValueError):
                lim.allow(bad)
            with pytest.raises(ValueError):
                lim.reserve(bad)
        assert lim.tokens == 2.0  # nothing was taken

    rt.run(scenario)


def test_an_infinite_rate_is_no_limit(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        lim = limiter(rt, math.inf, burst=1)
        assert all(lim.allow(5) for _ in range(100))  # beyond the burst too
        before = rt.now()
        for _ in range(100):
            await rt.call(lim.wait, 7)
        assert rt.now() - before < AT_ONCE_S
        reservation = lim.reserve(9)
        assert (reservation.ok, reservation.delay) == (True, 0.0)
        reservation.cancel()
        assert lim.tokens == 1.0

    rt.run(scenario)


def test_rate_zero_is_the_burst_then_nothing(rt: Runtime) -> None:
    """Go's choice, kept: a wait that no deadline could make raises at once."""

    async def scenario(rt: Runtime) -> None:
        lim = limiter(rt, 0.0, burst=2)
        assert lim.allow() and lim.allow()
        assert not lim.allow()
        reservation = lim.reserve()
        assert (reservation.ok, reservation.delay) == (False, math.inf)
        reservation.cancel()  # not ok: nothing to give back, and no error
        before = rt.now()
        with pytest.raises(DeadlineExceeded, match="never"):
            await rt.call(lim.wait)
        assert rt.now() - before < AT_ONCE_S
        assert lim.tokens == 0.0
        lim.set_rate(MOCK_RATE if rt.name == "trio" else 1000.0)
        await rt.call(lim.wait)  # a rate again: the next token comes

    rt.run(scenario)


def test_set_rate_and_set_burst(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        lim = limiter(rt, 1.0, burst=5)
        lim.set_burst(2)
        assert (lim.burst, lim.tokens) == (2, 2.0)  # never more than the burst
        assert lim.allow(3) is False
        lim.set_rate(math.inf)
        assert lim.rate == math.inf and lim.allow(100)
        lim.set_rate(1.0)
        assert lim.tokens == 2.0  # an unlimited bucket is a full one
        assert lim.allow(2) and not lim.allow()

    rt.run(scenario)


# -- reserve and cancel: Go's arithmetic ---------------------------------------------------------


def test_reservations_queue_up_and_cancel_gives_back_only_what_nobody_after_used(
        rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        lim = limiter(rt, 2.0, burst=1)
        first, second, third = lim.reserve(), lim.reserve(), lim.reserve()
        assert [r.ok for r in (first, second, third)] == [True] * 3
        assert first.delay == 0.0
        assert second.delay == pytest.approx(0.5, abs=0.05)
        assert third.delay == pytest.approx(1.0, abs=0.05)
        assert lim.tokens == pytest.approx(-2.0, abs=0.05)
        assert not lim.allow(), "allow() took a token that two reservations are owed"
        second.cancel()  # third was counted against its token: nothing comes back
        assert lim.tokens == pytest.approx(-2.0, abs=0.05)
        third.cancel()  # the last one: its token comes back
        assert lim.tokens == pytest.approx(-1.0, abs=0.05)
        third.cancel()  # a second cancel does nothing (Go's would give back again)
        first.cancel()  # its time has come: it is used
        assert lim.tokens == pytest.approx(-1.0, abs=0.05)
        assert lim.reserve().delay == pytest.approx(1.0, abs=0.05)

    rt.run(scenario)


# -- wait: first come, first served, no barging --------------------------------------------------


def test_waiters_are_served_in_arrival_order_none_before_its_turn(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        rate = waiting_rate(rt)
        lim = limiter(rt, rate, burst=1)
        # The token goes between these two readings: the turns' lower bounds count from
        # the first, which cannot be late; owed() counts from the second.
        taken_after = rt.now()
        assert lim.allow()
        empty_at = rt.now()
        log: list[object] = []
        waiters = [Waiter(rt, lim, name=i, log=log) for i in range(5)]
        async with rt.task_group() as tg:
            for i, waiter in enumerate(waiters):
                tg.start_soon(waiter.run)
                await rt.until(lambda i=i: owed(lim, empty_at, rt.now()) > i + 0.5)
        for i, waiter in enumerate(waiters):
            assert waiter.got_at is not None, f"waiter {i} never got its token: {waiter.error}"
            turn = taken_after + (i + 1) / rate
            assert waiter.got_at >= turn - EPS, (
                f"waiter {i} was served {turn - waiter.got_at:.4f} s before its turn")
        if rt.is_async:  # threads wake in the order the OS runs them, a hair apart
            assert log == list(range(5)), f"served in the order {log}"

    rt.run(scenario)


def test_allow_takes_nothing_a_waiter_is_owed(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        lim = limiter(rt, 2.0, burst=1)
        assert lim.allow()
        empty_at = rt.now()
        waiter = Waiter(rt, lim)
        async with rt.task_group() as tg:
            tg.start_soon(waiter.run)
            await rt.until(lambda: owed(lim, empty_at, rt.now()) > 0.5)
            try:
                assert lim.tokens < 0, "a queued waiter's debt should make the count negative"
                assert not lim.allow(), "allow() took the token a queued waiter is owed"
            finally:
                waiter.ctx.cancel()
        assert isinstance(waiter.error, Canceled)

    rt.run(scenario)


@pytest.mark.parametrize("how", ["ctx", "native"])
def test_a_cancelled_wait_gives_its_token_back(rt: Runtime, how: str) -> None:
    """The next one to come is served when the cancelled one would have been: at
    ``0.5 s`` after the bucket emptied, not ``1.0 s``."""
    if how == "native" and not rt.is_async:
        pytest.skip(NO_NATIVE_CANCEL)

    async def scenario(rt: Runtime) -> None:
        lim = limiter(rt, 2.0, burst=1)
        assert lim.allow()
        empty_at = rt.now()
        waiter = Waiter(rt, lim)
        async with rt.task_group() as tg:
            tg.start_soon(waiter.run)
            await rt.until(lambda: owed(lim, empty_at, rt.now()) > 0.5)
            if how == "ctx":
                waiter.ctx.cancel()
            else:
                waiter.scope.cancel()
        assert waiter.got_at is None
        assert waiter.interrupted if how == "native" else isinstance(waiter.error, Canceled)
        later = lim.reserve()
        served_at = rt.now() + later.delay - empty_at
        assert served_at == pytest.approx(0.5, abs=0.1), (
            f"the next reservation acts {served_at:.3f} s after the bucket emptied; with the "
            "cancelled wait's token given back it is 0.5 s, with it kept 1.0 s")
        later.cancel()

    rt.run(scenario)


# -- wait with a context ----------------------------------------------------------------------


def test_a_deadline_before_the_tokens_raises_at_once_and_takes_nothing(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        lim = limiter(rt, 1.0, burst=1)
        assert lim.allow()  # the next token comes in 1 s
        with background(rt).with_timeout(0.5) as ctx:
            before = rt.now()
            with pytest.raises(DeadlineExceeded, match="would exceed"):
                await rt.call(lim.wait, ctx=ctx)
            waited = rt.now() - before
            assert waited < AT_ONCE_S if rt.name != "trio" else waited == 0.0, (
                f"wait() waited {waited:.3f} s for a deadline it could never make")
            assert not ctx.done
        later = lim.reserve()
        assert later.delay == pytest.approx(1.0, abs=0.1), "the refused wait took a token"
        later.cancel()

    rt.run(scenario)


def test_a_deadline_after_the_tokens_waits_for_them(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        rate = waiting_rate(rt)
        lim = limiter(rt, rate, burst=1)
        taken_after = rt.now()  # before allow(): a reading after it may come late
        assert lim.allow()
        with background(rt).with_timeout(10.0) as ctx:
            await rt.call(lim.wait, ctx=ctx)
        assert rt.now() >= taken_after + 1 / rate - EPS

    rt.run(scenario)


def test_a_done_ctx_raises_and_takes_nothing(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        lim = limiter(rt, 1.0, burst=1)
        ctx = background(rt).with_cancel()
        ctx.cancel()
        with pytest.raises(Canceled):
            await rt.call(lim.wait, ctx=ctx)
        assert lim.tokens == 1.0

    rt.run(scenario)


def test_a_native_cancellation_of_a_wait_with_a_ctx_passes_through(rt: Runtime) -> None:
    if not rt.is_async:
        pytest.skip(NO_NATIVE_CANCEL)

    async def scenario(rt: Runtime) -> None:
        lim = limiter(rt, 1.0, burst=1)
        assert lim.allow()
        with anyio.CancelScope() as scope:
            scope.cancel()
            await rt.call(lim.wait, ctx=background(rt).with_cancel())
        assert scope.cancelled_caught
        assert lim.tokens == pytest.approx(0.0, abs=0.05)

    rt.run(scenario)


# -- properties: the bound, under any mix of waits, cancels and rate changes ----------------------


@st.composite
def bucket_programs(draw: st.DrawFn) -> tuple[float, int, list[tuple[str, float]]]:
    rate = draw(st.sampled_from([0.5, 1.0, 3.0, 10.0]))
    burst = draw(st.integers(1, 4))
    op = st.one_of(
        st.tuples(st.sampled_from(["reserve", "allow"]), st.integers(1, 4).map(float)),
        st.tuples(st.just("cancel"), st.integers(0, 5).map(float)),
        st.tuples(st.just("tick"), st.sampled_from([0.0, 0.01, 0.1, 0.3, 1.0, 2.5])),
        st.tuples(st.just("rate"), st.sampled_from([0.0, 0.5, 1.0, 3.0, 10.0])),
        st.tuples(st.just("burst"), st.integers(1, 4).map(float)),
    )
    return rate, burst, draw(st.lists(op, min_size=5, max_size=40))


@given(program=bucket_programs(), cancels=st.booleans(), changes=st.booleans())
def test_the_bucket_never_grants_more_than_burst_plus_rate_times_elapsed(
        program: tuple[float, int, list[tuple[str, float]]], cancels: bool,
        changes: bool) -> None:
    """On the arithmetic itself, with a clock of our own: the tokens of every grant that
    was not given back in time, by the time each may act, keep the bound in every
    window, cancels or not.

    Without cancels or changes, also: grants act in the order they were made (first
    come, first served), and ``allow`` says no while a reservation waits (no barging).
    A cancel frees what no later reservation was counted against, and a newcomer may
    take it at once, ahead of those later ones, which keep their times: nobody is
    served later for someone who came after it. With rate and burst changes the bound
    holds over the run, from its start, for the largest rate and burst, not in every
    window: as in Go, a change does not move the reservations made before it, so after
    a rise a newcomer's time may fall among theirs."""
    rate, burst, ops = program
    strict = not (cancels or changes)
    start = now = 100.0
    bucket = Bucket(rate, burst)
    grants: list[Grant] = []
    given_back: set[int] = set()
    top_rate, top_burst = rate, burst
    for op, value in ops:
        if op == "tick":
            now += value
        elif op == "reserve" and value <= bucket.burst:
            grant = bucket.reserve(now, int(value))
            assert grant.ok or bucket.rate == 0
            if grant.ok:
                grants.append(grant)
        elif op == "allow":
            pending = any(g.act_at > now for i, g in enumerate(grants) if i not in given_back)
            grant = bucket.reserve(now, int(value), act_by=now)
            if grant.ok:
                assert not (pending and strict), "allow took tokens a reservation is owed"
                grants.append(grant)
        elif op == "cancel" and grants and cancels:
            index = int(value) % len(grants)
            if bucket.cancel(grants[index], now):
                given_back.add(index)
        elif op == "rate" and changes:
            bucket.set_rate(now, value)
            top_rate = max(top_rate, value)
        elif op == "burst" and changes:
            bucket.set_burst(now, int(value))
            top_burst = max(top_burst, int(value))
    kept = [g for i, g in enumerate(grants) if i not in given_back]
    problem = over_the_bound([(g.act_at, g.n) for g in kept], top_rate, top_burst,
                             since=start if changes else None)
    assert problem is None, problem
    if strict:
        acts = [g.act_at for g in kept]
        assert acts == sorted(acts), "a later reservation acts before an earlier one"


TRIO_OPS = st.one_of(
    st.tuples(st.just("wait"), st.integers(1, 3)),
    st.tuples(st.just("allow"), st.integers(1, 3)),
    st.tuples(st.sampled_from(["cancel", "interrupt"]), st.integers(0, 7)),
    st.tuples(st.just("sleep"), st.integers(0, 4)),
    st.tuples(st.just("rate"), st.integers(1, 8)),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(burst=st.integers(1, 3), ops=st.lists(TRIO_OPS, min_size=5, max_size=30))
def test_waits_never_get_more_than_burst_plus_rate_times_elapsed_on_trio(
        burst: int, ops: list[tuple[str, int]]) -> None:
    """Real waits on trio's mock clock: tasks that wait (each cancellable through its
    ctx or natively), ``allow``, sleeps and rate changes in any order. Every token that
    was handed out, counted when its ``wait`` returned or ``allow`` said yes, keeps the
    bound over the run for its largest rate (in every window, if the rate never
    changed); without rate changes or cancels, the waits are served in the order they
    came."""
    rt = Runtime("trio")

    async def scenario(rt: Runtime) -> None:
        rate = 2.0
        lim = limiter(rt, rate, burst)
        began = trio.current_time()
        granted: list[tuple[float, int]] = []
        top_rate = rate
        waiters: list[Waiter] = []

        async def wait_and_record(waiter: Waiter) -> None:
            await waiter.run()
            if waiter.got_at is not None:
                granted.append((waiter.got_at, waiter.n))

        async with trio.open_nursery() as nursery:
            for op, value in ops:
                if op == "wait":
                    waiter = Waiter(rt, lim, min(value, burst))
                    waiters.append(waiter)
                    nursery.start_soon(wait_and_record, waiter)
                    await trio.testing.wait_all_tasks_blocked()
                elif op == "allow" and lim.allow(value):
                    granted.append((trio.current_time(), value))
                elif op in ("cancel", "interrupt") and waiters:
                    waiter = waiters[value % len(waiters)]
                    if op == "cancel":
                        waiter.ctx.cancel()
                    elif waiter.scope is not None:
                        waiter.scope.cancel()
                    await trio.testing.wait_all_tasks_blocked()
                elif op == "sleep":
                    await trio.sleep(value / 4)
                elif op == "rate":
                    lim.set_rate(float(value))
                    top_rate = max(top_rate, value)
        changed = any(op == "rate" for op, _ in ops)
        problem = over_the_bound(granted, top_rate, burst, since=began if changed else None)
        assert problem is None, problem
        if not changed and not any(op in ("cancel", "interrupt") for op, _ in ops):
            served = [w.got_at for w in waiters if w.got_at is not None]
            assert served == sorted(served), "a later waiter was served before an earlier one"

    rt.run(scenario)


# -- the probe's scan --rate -----------------------------------------------------------------


def fake_probe(rt: Runtime, starts: list[float]) -> Any:
    """A driver's ``probe`` that records when it starts, and asks nothing."""

    async def probe(ctx: Any, target: Target, *, tls: Any = None) -> ProbeResult:
        starts.append(rt.now())
        return ProbeResult(target, "ok", None, 0.0, None, rt.name)

    return rt.callback(probe)


@pytest.fixture
def fleet_of_ten() -> Iterator[list[Target]]:
    yield [Target.tcp("127.0.0.1", 1000 + i) for i in range(10)]


def test_a_rate_limited_scan_starts_no_more_probes_than_the_bucket_allows(
        rt: Runtime, fleet_of_ten: list[Target], monkeypatch: pytest.MonkeyPatch) -> None:
    """``scan(..., rate=R)``: probes start at most ``1 + R * t`` in the first ``t``
    seconds (burst 1), whatever the workers; each starts once it has its token, so a
    late start can only make the count smaller. On trio's clock, exactly in every
    window."""
    starts: list[float] = []
    monkeypatch.setattr(rt.module("probe"), "probe", fake_probe(rt, starts))
    rate = waiting_rate(rt) * 2

    async def scenario(rt: Runtime) -> list[ProbeResult]:
        began = rt.now()
        results: list[ProbeResult] = await rt.call(
            rt.module("probe").scan, fleet_of_ten, workers=4, timeout=1.0, rate=rate)
        for k, start in enumerate(sorted(starts)):
            assert start >= began + k / rate - EPS, (
                f"{k + 1} probes started in the first {start - began:.4f} s; rate "
                f"{rate:g}/s with burst 1 allows {1 + rate * (start - began):.2f}")
        if rt.name == "trio":
            problem = over_the_bound([(s, 1) for s in starts], rate, 1)
            assert problem is None, problem
        return results

    results = rt.run(scenario)
    assert [r.target for r in results] == fleet_of_ten
    assert len(starts) == len(fleet_of_ten)


def test_cancelling_a_rate_limited_scan_ends_the_waits(
        rt: Runtime, fleet_of_ten: list[Target], monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow rate, and a cancel once the first probe has started: the scan returns
    at once, with the results of the probes that started, and starts nothing more."""
    starts: list[float] = []
    monkeypatch.setattr(rt.module("probe"), "probe", fake_probe(rt, starts))

    async def scenario(rt: Runtime) -> tuple[list[ProbeResult], float]:
        ctx = background(rt).with_cancel()
        results: list[ProbeResult] = []

        async def scan() -> None:
            results.extend(await rt.call(rt.module("probe").scan, fleet_of_ten, workers=4,
                                         timeout=1.0, ctx=ctx, rate=1.0))

        async with rt.task_group() as tg:
            tg.start_soon(scan)
            await rt.until(lambda: len(starts) >= 1)  # the burst; the next in a second
            cancelled_at = rt.now()
            ctx.cancel()
        return results, rt.now() - cancelled_at

    results, took = rt.run(scenario)
    assert 1 <= len(results) == len(starts) < len(fleet_of_ten)
    assert took < 0.5, f"the cancelled scan took {took:.2f} s to return"


ROOT = Path(__file__).resolve().parents[1]


def test_scan_rate_on_the_command_line(tmp_path: Path) -> None:
    """``scan --rate 4/s`` of three hosts lasts at least half a second from its first
    line on (the third probe starts 0.5 s after the first; unlimited, the scan of the
    ideal fleet takes one round trip of 50 ms); a bad rate is one line and exit 2."""
    from patterns.probe.fleet import Fleet

    command = [sys.executable, "-m", "patterns.probe", "scan", "--format", "json", "--targets"]
    with Fleet(hosts=3, profile="ideal") as fleet:
        hosts = tmp_path / "hosts.txt"
        hosts.write_text("".join(f"{t}\n" for t in fleet.targets), encoding="utf-8")
        process = subprocess.Popen([*command, str(hosts), "--rate", "4/s"], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert process.stderr is not None
            first = process.stderr.readline()  # said once the scan is about to start
            began = time.monotonic()
            out, err = process.communicate(timeout=20)
            took = time.monotonic() - began
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, first + err
    assert "at most 4/s" in first, first
    # The third probe starts 0.5 s after the first; unlimited, the scan takes some 50 ms.
    # The margin is for this process, which may read the first line late on a busy
    # machine (that only shortens ``took``).
    assert took >= 0.3, f"three probes at 4/s took {took:.2f} s from the first"
    assert len(out.splitlines()) > 1
    bad = subprocess.run([*command, str(hosts), "--rate", "fast"], cwd=ROOT,
                         capture_output=True, text=True, timeout=20, check=False)
    lines = bad.stderr.splitlines()
    assert bad.returncode == 2 and len(lines) == 1 and not bad.stdout, bad.stderr
    assert "--rate" in lines[0] and "'fast' is not a rate" in lines[0], lines

"""Chapter 12's grading: a token bucket that starts full, refills at ``rate`` and never
holds more than ``burst``; ``wait`` serves its waiters in arrival order, and ``allow``
never takes what they are owed; a deadline the tokens cannot make is refused at once;
a cancelled wait gives its tokens back.

Every scenario is written once and run in the chapter's runtime (``rt``), on the
learner's module (``impl``); the library's ``patterns.ratelimit`` passes them too.
trio runs on a mock clock, where time passes only when every task waits, so its
scenarios use rates that read like real ones (5 a second); threads and asyncio run on
real clocks, at rates whose waits last milliseconds. What is asserted is a bound (no
more tokens than ``burst + rate * elapsed``, nobody before its turn), never a duration.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import anyio
import pytest

from patterns.context import Canceled, ContextError, DeadlineExceeded
from patterns.exercises.grading import background, let_others_block

EPS = 1e-6  # clock reads and float arithmetic
SOON_S = 0.25  # "at once", on a real clock of a busy machine


def waiting_rate(rt: Any) -> float:
    """Tokens a second for scenarios that really wait: mock seconds are free."""
    return 5.0 if rt.name == "trio" else 50.0


async def pass_time(rt: Any, seconds: float) -> None:
    """Let ``seconds`` go by on the runtime's clock (at once on trio's mock clock)."""
    if rt.is_async:
        await anyio.sleep(seconds)
    else:
        time.sleep(seconds)


def owed(lim: Any, rate: float, since: float, now: float) -> float:
    """Tokens reserved since the bucket was empty at ``since``: what it gained meanwhile,
    less what it has (a waiter that has arrived is in debt)."""
    tokens: float = lim.tokens
    return rate * (now - since) - tokens


class Waiter:
    """A task (or thread) in ``wait(n)``, with a ctx of its own, in a cancel scope in
    asyncio and trio. It records when it got its tokens, or what stopped it; it never
    raises, so that a test reports the assertion that matters."""

    def __init__(self, rt: Any, lim: Any, n: int = 1, *, name: object = None,
                 log: list[object] | None = None) -> None:
        self.rt, self.lim, self.n, self.name, self.log = rt, lim, n, name, log
        self.ctx = background(rt).with_cancel()
        self.got_at: float | None = None
        self.error: BaseException | None = None
        self.scope: Any = None
        self.interrupted = False

    async def run(self) -> None:
        if self.rt.is_async:
            with anyio.CancelScope() as self.scope:
                await self._wait()
            self.interrupted = self.scope.cancelled_caught
        else:
            await self._wait()

    async def _wait(self) -> None:
        try:
            await self.rt.call(self.lim.wait, self.n, ctx=self.ctx)
        except (ContextError, NotImplementedError, ValueError) as exc:
            self.error = exc
            return
        self.got_at = self.rt.now()
        if self.log is not None:
            self.log.append(self.name)


async def arrived(rt: Any, lim: Any, rate: float, since: float, count: int, what: str) -> None:
    """Wait until ``count`` tokens are owed to waiters; fail saying so if they never are."""
    assert await rt.settled(lambda: owed(lim, rate, since, rt.now()) > count - 0.5), (
        f"{what}: the bucket shows no debt for it; wait() should take its tokens at once, "
        "in debt, so that the count goes negative")


# -- task 1: the bucket ---------------------------------------------------------------------------


@pytest.mark.task(1)
def test_a_new_limiter_is_full_and_allow_takes_the_burst(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        lim = impl.Limiter(1.0, burst=3)
        assert lim.tokens == pytest.approx(3.0), (
            f"a new Limiter(1, burst=3) has {lim.tokens} tokens")
        got = [lim.allow() for _ in range(4)]
        assert got == [True, True, True, False], (
            f"allow() four times on a full bucket of 3 said {got}")
        assert lim.allow(2) is False, "allow(2) on an empty bucket said yes"

    rt.run(scenario)


@pytest.mark.task(1)
def test_the_bucket_refills_at_its_rate(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        rate, burst = waiting_rate(rt), 2
        lim = impl.Limiter(rate, burst)
        start = rt.now()
        granted = 0
        while rt.now() - start < 10 / rate:
            granted += lim.allow()
            await pass_time(rt, 0.05 / rate)
        elapsed = rt.now() - start
        most = burst + rate * elapsed
        assert granted <= most + EPS, (
            f"{granted} tokens granted in the first {elapsed:.3f} s; rate {rate:g}/s with "
            f"burst {burst} allows {most:.0f} at most")
        assert granted >= burst + 10 - 2, (
            f"only {granted} tokens granted in {elapsed:.3f} s; rate {rate:g}/s with burst "
            f"{burst} gives about {most:.0f}: does the bucket refill?")

    rt.run(scenario, timeout=5)


@pytest.mark.task(1)
def test_an_idle_bucket_never_holds_more_than_its_burst(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        rate, burst = waiting_rate(rt), 2
        lim = impl.Limiter(rate, burst)
        assert lim.allow(2)
        await pass_time(rt, 20 / rate)  # idle long enough for 20 tokens
        granted = 0
        while lim.allow() and granted < 100:
            granted += 1
        assert granted <= burst, (
            f"{granted} tokens granted at once after the bucket sat idle; burst {burst} "
            f"allows {burst} at most (tokens must stop at the burst)")
        assert lim.tokens <= burst + EPS, f"the bucket holds {lim.tokens:g} tokens"

    rt.run(scenario, timeout=5)


# -- task 2: wait, first come, first served --------------------------------------------------------


@pytest.mark.task(2)
def test_wait_takes_each_token_as_it_comes(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        rate = waiting_rate(rt)
        lim = impl.Limiter(rate, burst=1)
        start = rt.now()
        for k in range(5):
            await rt.call(lim.wait)
            turn = k / rate
            took = rt.now() - start
            assert took >= turn - EPS, (
                f"wait number {k + 1} returned {took:.3f} s after the start; rate {rate:g}/s "
                f"with burst 1 gives token {k + 1} at {turn:.3f} s")

    rt.run(scenario, timeout=5, waiting_for="five waits for tokens")


@pytest.mark.task(2)
def test_wait_beyond_the_burst_is_a_value_error(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        lim = impl.Limiter(1.0, burst=2)
        with pytest.raises(ValueError):
            await rt.call(lim.wait, 3)
        assert lim.allow(2), "wait(3) on a burst of 2 took tokens before it refused"

    rt.run(scenario, timeout=2, waiting_for="wait(3) on a burst of 2 to refuse")


@pytest.mark.task(2)
def test_waiters_are_served_in_arrival_order(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        rate = waiting_rate(rt)
        lim = impl.Limiter(rate, burst=1)
        assert lim.allow()
        empty_at = rt.now()
        log: list[object] = []
        waiters = [Waiter(rt, lim, name=i + 1, log=log) for i in range(4)]
        async with rt.task_group() as tg:
            try:
                for i, waiter in enumerate(waiters):
                    tg.start_soon(waiter.run)
                    await arrived(rt, lim, rate, empty_at, i + 1, f"waiter {i + 1}")
            finally:
                if len(log) < len(waiters):
                    await rt.settled(lambda: len(log) == len(waiters), 20 / rate)
                for waiter in waiters:
                    waiter.ctx.cancel()
        for i, waiter in enumerate(waiters):
            assert waiter.got_at is not None, f"waiter {i + 1} was never served: {waiter.error!r}"
            turn = empty_at + (i + 1) / rate
            assert waiter.got_at >= turn - EPS, (
                f"waiter {i + 1} was served {turn - waiter.got_at:.3f} s before its turn")
        if rt.is_async:  # threads wake as the OS runs them, a hair apart
            for earlier, later in itertools.pairwise(log):
                assert earlier < later, f"waiter {later} was served before waiter {earlier}"

    rt.run(scenario, timeout=5)


@pytest.mark.task(2)
def test_allow_takes_nothing_a_waiter_is_owed(impl: Any, rt: Any) -> None:
    """A waiter for 2 tokens, due at 1.0 s; at 0.6 s the bucket has gained 1.2, all of
    them owed to it: ``allow()`` must say no."""

    async def scenario(rt: Any) -> None:
        lim = impl.Limiter(2.0, burst=2)
        assert lim.allow(2)
        waiter = Waiter(rt, lim, 2)
        async with rt.task_group() as tg:
            tg.start_soon(waiter.run)
            try:
                await let_others_block(rt)
                await pass_time(rt, 0.6)
                took = lim.allow()
            finally:
                waiter.ctx.cancel()
        assert waiter.error is None or isinstance(waiter.error, Canceled), repr(waiter.error)
        assert not took, (
            "allow() took a token that a queued waiter was owed: the waiter for 2 arrived "
            "first, and the 1.2 tokens gained by 0.6 s are on their way to it")

    rt.run(scenario, timeout=5)


# -- task 3: a context, and its deadline ----------------------------------------------------------


@pytest.mark.task(3)
def test_a_deadline_before_the_tokens_is_refused_at_once(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        lim = impl.Limiter(1.0, burst=1)
        assert lim.allow()  # the next token comes in 1 s
        with background(rt).with_timeout(0.5) as ctx:
            before = rt.now()
            with pytest.raises(DeadlineExceeded):
                await rt.call(lim.wait, ctx=ctx)
            waited = rt.now() - before
        assert waited < SOON_S and (rt.name != "trio" or waited == 0), (
            f"wait() slept {waited:.3f} s for a token due after its deadline; it should "
            "raise DeadlineExceeded at once")
        assert lim.tokens > -0.5, (
            f"the refused wait took its token anyway: the bucket holds {lim.tokens:.2f}")

    rt.run(scenario, timeout=2, waiting_for="a wait whose deadline comes before its token")


@pytest.mark.task(3)
def test_a_deadline_after_the_tokens_is_no_obstacle(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        rate = waiting_rate(rt)
        lim = impl.Limiter(rate, burst=1)
        assert lim.allow()
        with background(rt).with_timeout(10.0) as ctx:
            await rt.call(lim.wait, ctx=ctx)

    rt.run(scenario, timeout=5)


@pytest.mark.task(3)
def test_a_done_ctx_raises_its_error_and_takes_nothing(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any) -> None:
        lim = impl.Limiter(1.0, burst=1)
        ctx = background(rt).with_cancel()
        ctx.cancel()
        with pytest.raises(Canceled):
            await rt.call(lim.wait, ctx=ctx)
        assert lim.allow(), "a wait with a cancelled ctx took the token"

    rt.run(scenario, timeout=2)


# -- task 4: a cancelled wait gives its tokens back ----------------------------------------------


@pytest.mark.task(4)
@pytest.mark.parametrize("how", ["ctx", "native"])
def test_a_cancelled_wait_gives_its_token_back(impl: Any, rt: Any, how: str) -> None:
    if how == "native" and not rt.is_async:
        pytest.skip("threads: a blocked thread cannot be interrupted; it stops through its ctx")

    async def scenario(rt: Any) -> None:
        lim = impl.Limiter(2.0, burst=1)
        assert lim.allow()
        empty_at = rt.now()
        waiter = Waiter(rt, lim)
        async with rt.task_group() as tg:
            tg.start_soon(waiter.run)
            try:
                await arrived(rt, lim, 2.0, empty_at, 1, "the waiter")
            finally:
                if how == "ctx" or waiter.scope is None:
                    waiter.ctx.cancel()
                else:
                    waiter.scope.cancel()
        assert waiter.got_at is None, "the cancelled waiter got its token anyway"
        assert waiter.interrupted or isinstance(waiter.error, Canceled), (
            f"the cancelled wait ended with {waiter.error!r}")
        tokens, since = lim.tokens, rt.now() - empty_at
        assert tokens > -0.5, (
            f"{since:.2f} s after the bucket emptied it holds {tokens:.2f} tokens: the "
            "cancelled wait kept its token (given back, the count is back near 0)")

    rt.run(scenario, timeout=5)

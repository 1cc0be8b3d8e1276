"""Behavioural suite for ``patterns.fanout`` (Go pipelines: fan-out, fan-in), in three runtimes.

Each test is one scenario run in threads, asyncio and trio (see ``runtimes.py``). The
contract is the one the docstrings of :mod:`patterns.fanout` and of each runtime's
``Channel``, ``merge``, ``fan_out`` and ``pipeline`` state:

- ``Channel(capacity=0)`` is a rendezvous as in Go and trio (``asyncio.Queue(0)`` is
  unbounded: the trap); a buffered channel takes ``capacity`` sends without a receiver;
  FIFO; after ``close()`` (idempotent) ``send`` raises ``ChannelClosed``, ``receive``
  drains what is buffered and then raises ``EndOfChannel``, blocked senders raise
  ``ChannelClosed`` (their item is dropped) and blocked receivers ``EndOfChannel``;
  iteration ends once closed and drained; ``statistics()`` is a frozen record.
- ``merge``, ``fan_out`` and ``pipeline`` are context managers that yield the output
  channel and own their threads or tasks. The output closes once every input is
  processed; the first error closes it, cancels the rest and is raised by the block
  itself; leaving early cancels the remaining work instead of waiting for it (threads:
  calls of ``fn`` in flight finish, no new item starts). ``fan_out`` never runs ``fn``
  more than ``workers`` at once; ``ordered=True`` keeps input order, and ``fn`` never
  starts more than ``workers + capacity`` items past the oldest unfinished one.

``fn`` is written once as an instrumented ``async def`` (:class:`Bench`) and given to
threads through ``runtimes.drive``. Nothing sleeps: tests wait for states with
:func:`wait_for` (a spinning ``rt.until`` that never parks every task, so trio's mock
clock does not jump) and let the runtime settle with :func:`until_steady`. In asyncio and trio
every scenario runs under a fail-safe deadline, so a deadlock fails instead of hanging
(under trio's autojumping mock clock, at once, unless a helper is spinning); in threads a
rescuer closes the output of a block that should have ended, see :meth:`Harness.rescue`.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from contextlib import aclosing, asynccontextmanager, nullcontext
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runtimes import POLL_LIMIT_S, Runtime, drive

from patterns.fanout import ChannelClosed, EndOfChannel

FAIL_SAFE_S = 8.0  # asyncio / trio: a scenario that takes longer has deadlocked
NO_INTERRUPT = "threads: a thread blocked in fn cannot be interrupted"
NO_ASYNC_SOURCE = "threads: an async iterable needs an event loop; threads take iterables"
BIG = 10**6  # a "large" source: reading all of it would be the bug

HEALTH = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


class Boom(Exception):
    """The error a failing item raises."""


class BodyError(Exception):
    """Raised by the body of the ``with`` / ``async with`` block."""


def fanout(rt: Runtime) -> Any:
    return rt.module("fanout")


def channel(rt: Runtime, capacity: int = 0) -> Any:
    return fanout(rt).Channel(capacity)


def result(i: int) -> int:
    """What the default ``fn`` makes of item ``i``: injective, so results name their item."""
    return 10 * i + 1


def run(rt: Runtime, scenario: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
    """``rt.run(scenario, *args)``; in asyncio and trio under a fail-safe deadline."""

    async def guarded(rt: Runtime, *args: Any) -> Any:
        if not rt.is_async:
            return await scenario(rt, *args)
        with anyio.fail_after(FAIL_SAFE_S):
            return await scenario(rt, *args)

    return rt.run(guarded, *args)


# -- waiting without sleeping ----------------------------------------------------------------------


async def wait_for(rt: Runtime, condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition()`` holds, passing checkpoints (threads: yielding the GIL).

    Unlike ``rt.until`` it never parks every task at once: under trio's mock clock that
    would let the clock jump to the fail-safe deadline."""
    limit = time.monotonic() + POLL_LIMIT_S
    while not condition():
        assert time.monotonic() < limit, f"never came true: {what}"
        await rt.checkpoint()


async def until_steady(rt: Runtime, signature: Callable[[], object], quiet: int = 12) -> None:
    """Pass checkpoints until ``signature()`` has not changed for ``quiet`` of them: the
    runtime has done what it can without us. Exact enough in asyncio and trio; only a
    hint for threads, so no assertion may depend on it there."""
    last, calm = signature(), 0
    for _ in range(5000):
        await rt.checkpoint()
        now = signature()
        if now == last:
            calm += 1
            if calm >= quiet:
                return
        else:
            last, calm = now, 0


async def consume(rt: Runtime, out: Any, limit: int | None = None) -> list[Any]:
    """Iterate ``out`` (``for`` / ``async for``) and return what came, breaking out of the
    loop after ``limit`` items when given."""
    got: list[Any] = []
    if limit == 0:
        return got
    async with aclosing(rt.aiter(out)) as items:
        async for item in items:
            got.append(item)
            if len(got) == limit:
                break
    return got


def snapshot_threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def assert_no_threads_left(rt: Runtime, before: set[threading.Thread], what: str) -> None:
    """Threads: the block owns its threads, so none of them outlives it. (Threads the
    scenario starts itself are named ``scenario-N`` by ``ThreadGroup``.)"""
    if rt.is_async:
        return
    left = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.name.startswith("scenario-")
    ]
    assert not left, f"{what} returned while its threads still ran: {left}"


# -- an instrumented fn ----------------------------------------------------------------------------


class Bench:
    """An instrumented ``fn``: records which items started and finished, counts calls in
    flight (now and at peak), can hold items at gates until released, and fails the
    items in ``fail`` with the given error.

    With ``bound``, each start checks the reorder-buffer bound: an item never starts more
    than ``bound`` items past the oldest unfinished one (items are ``0, 1, 2, ...``).
    """

    def __init__(
        self,
        rt: Runtime,
        *,
        result: Callable[[Any], Any] = result,
        hold: Callable[[Any], bool] = lambda item: False,
        fail: dict[Any, BaseException] | None = None,
        bound: int | None = None,
    ) -> None:
        self.rt = rt
        self._result, self._hold, self._fail = result, hold, dict(fail or {})
        self.bound = bound
        self._lock = threading.Lock()
        self.now = self.peak = 0
        self.started: list[Any] = []
        self.finished: set[Any] = set()
        self.cancelled: list[Any] = []  # natively cancelled (asyncio / trio)
        self.holding: set[Any] = set()  # waiting at a gate nobody has opened yet
        self.violations: list[tuple[Any, Any]] = []  # (item, oldest unfinished) past bound
        self._gates: dict[Any, Any] = {}
        self._release_all = False
        self._oldest = 0

    @property
    def fn(self) -> Callable[[Any], Any]:
        """What ``fan_out`` / ``pipeline`` take: a sync function in threads."""
        if self.rt.is_async:
            return self.call

        def call(item: Any) -> Any:
            return drive(self.call(item))

        return call

    async def call(self, item: Any) -> Any:
        gate = None
        with self._lock:
            self.started.append(item)
            if self.bound is not None:
                while self._oldest in self.finished:
                    self._oldest += 1
                if item - self._oldest > self.bound:
                    self.violations.append((item, self._oldest))
            self.now += 1
            self.peak = max(self.peak, self.now)
            if self._hold(item) and not self._release_all:
                gate = self._gates[item] = self.rt.event()
                self.holding.add(item)
        try:
            if gate is not None:
                await gate.wait()
            else:
                await self.rt.checkpoint()
            error = self._fail.get(item)
            if error is not None:
                raise error
            return self._result(item)
        except BaseException as exc:
            if self.rt.is_async and isinstance(exc, anyio.get_cancelled_exc_class()):
                self.cancelled.append(item)
            raise
        finally:
            with self._lock:
                self.now -= 1
                self.finished.add(item)
                self.holding.discard(item)

    def waiting(self) -> list[Any]:
        with self._lock:
            return sorted(self.holding)

    def progress(self) -> tuple[int, int, int]:
        return len(self.started), len(self.finished), len(self.holding)

    def release(self, item: Any) -> None:
        with self._lock:
            self.holding.discard(item)
            gate = self._gates[item]
        gate.set()

    def release_everything(self) -> None:
        """Open every gate, and let items that start from now on pass at once."""
        with self._lock:
            self._release_all = True
            self.holding.clear()
            gates = list(self._gates.values())
        for gate in gates:
            gate.set()


POLICIES = ("oldest-first", "newest-first", "random")


async def control(rt: Runtime, bench: Bench, stop: Any, policy: str, seed: int) -> None:
    """Open ``bench``'s gates one at a time until ``stop`` is set.

    ``newest-first`` holds the oldest item as long as anything else can run: the reorder
    buffer fills up to its bound. Every policy always opens some gate, so it never
    deadlocks an implementation that honours the contract."""
    rng = random.Random(seed)
    while True:
        await wait_for(rt, lambda: stop.is_set() or bool(bench.holding), "an item at a gate")
        if stop.is_set():
            bench.release_everything()
            return
        await until_steady(rt, bench.progress)
        waiting = bench.waiting()
        if not waiting:
            continue
        if policy == "oldest-first":
            pick = waiting[0]
        elif policy == "newest-first":
            pick = waiting[-1]
        else:
            pick = rng.choice(waiting)
        bench.release(pick)


# -- sources ---------------------------------------------------------------------------------------


class Counted:
    """A sync iterator over ``iterable`` that counts the items read from it."""

    def __init__(self, iterable: Iterable[Any]) -> None:
        self._it = iter(iterable)
        self._lock = threading.Lock()
        self.reads = 0

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        with self._lock:
            item = next(self._it)
            self.reads += 1
            return item


class AsyncCounted:
    """An async iterator over ``iterable`` that counts reads. A class, not an async
    generator: an abandoned async generator is finalised by the event loop's hooks,
    which is not what these tests are about."""

    def __init__(self, iterable: Iterable[Any]) -> None:
        self._it = iter(iterable)
        self.reads = 0

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        await anyio.lowlevel.checkpoint()
        try:
            item = next(self._it)
        except StopIteration:
            raise StopAsyncIteration from None
        self.reads += 1
        return item


async def agen(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        await anyio.lowlevel.checkpoint()
        yield item


FINITE_SOURCES = ("list", "generator", "async-iterable", "channel")
ENDLESS_SOURCES = ("count", "big-range", "async-count", "channel")


def sources_for(rt: Runtime, kinds: Iterable[str]) -> list[str]:
    return [k for k in kinds if rt.is_async or not k.startswith("async")]


class Feed:
    """A ``Channel`` source: a task sends the items and closes it. ``reads`` counts the
    items the channel took. The harness closes it on exit, which ends an endless feed."""

    def __init__(self, rt: Runtime, items: Iterable[Any], capacity: int) -> None:
        self.rt = rt
        self.channel = channel(rt, capacity)
        self._items = items
        self.reads = 0

    async def run(self) -> None:
        try:
            for item in self._items:
                await self.rt.call(self.channel.send, item)
                self.reads += 1
        except ChannelClosed:
            pass  # closed by the harness: the consumer has gone
        finally:
            self.channel.close()


class Harness:
    """The tasks around a scenario: feeds, gate controllers, helpers. On exit it stops
    them all (sets ``stop``, opens gates, closes feeds) before joining them, so a
    failing scenario cannot leave a thread blocked forever."""

    def __init__(self, rt: Runtime, tg: Any) -> None:
        self.rt, self.tg = rt, tg
        self.stop = rt.event()
        self.fired: list[str] = []  # what the rescuer had to unblock
        self._cleanups: list[Callable[[], None]] = []

    def start(self, afn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        self.tg.start_soon(afn, *args)

    def at_exit(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def source(self, kind: str, items: Iterable[Any], capacity: int = 0) -> tuple[Any, Any]:
        """``(source, counter)``: a source of ``kind`` over ``items``; ``counter.reads``
        counts the items read from it (``None`` for kinds that cannot count)."""
        if kind == "list":
            return list(items), None
        if kind == "generator":
            return (item for item in items), None
        if kind == "async-iterable":
            return agen(items), None
        if kind in ("count", "big-range"):
            counted = Counted(itertools.count() if kind == "count" else range(BIG))
            return counted, counted
        if kind == "async-count":
            acounted = AsyncCounted(itertools.count())
            return acounted, acounted
        assert kind == "channel", kind
        feed = Feed(self.rt, items, capacity)
        self.at_exit(feed.channel.close)
        self.start(feed.run)
        return feed.channel, feed

    def rescue(self, what: str, unblock: Callable[[], None]) -> None:
        """Threads: if the harness is still open after ``POLL_LIMIT_S``, record ``what``
        in ``fired`` and call ``unblock`` (close the output, say), so that a consumer
        thread stuck in a loop the implementation should have ended fails the test
        instead of hanging it. (asyncio / trio have the fail-safe deadline.)"""
        if not self.rt.is_async:
            self.start(rescuer, self.stop, what, unblock, self.fired)

    def control(self, bench: Bench, policy: str, seed: int = 0) -> None:
        self.at_exit(bench.release_everything)
        self.start(control, self.rt, bench, self.stop, policy, seed)

    def close(self) -> None:
        self.stop.set()
        for cleanup in reversed(self._cleanups):
            cleanup()


async def rescuer(stop: Any, what: str, unblock: Callable[[], None], fired: list[str]) -> None:
    limit = time.monotonic() + POLL_LIMIT_S
    while not stop.is_set():
        if time.monotonic() > limit:
            fired.append(what)
            unblock()
            return
        time.sleep(0)


@asynccontextmanager
async def harness(rt: Runtime) -> AsyncIterator[Harness]:
    async with rt.task_group() as tg:
        h = Harness(rt, tg)
        try:
            yield h
        finally:
            h.close()
    assert not h.fired, f"a thread had to be rescued: {h.fired}"


# -- Channel: rendezvous and buffering -------------------------------------------------------------


def test_a_rendezvous_send_completes_only_when_a_receiver_takes_the_item(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ch = channel(rt)
        sent = rt.event()

        async def sender() -> None:
            await rt.call(ch.send, "x")
            sent.set()

        async with rt.task_group() as tg:
            tg.start_soon(sender)
            try:
                await wait_for(rt, lambda: ch.statistics().senders_waiting == 1, "sender blocks")
                await until_steady(rt, ch.statistics)
                assert not sent.is_set(), "a capacity-0 send completed with no receiver"
                stats = ch.statistics()
                assert (stats.capacity, stats.buffered, stats.receivers_waiting) == (0, 0, 0)
                assert await rt.call(ch.receive) == "x"
                await wait_for(rt, sent.is_set, "the send completes once received")
                assert ch.statistics().senders_waiting == 0
            finally:
                ch.close()  # a failing test must not leave the sender blocked

    run(rt, scenario)


def test_a_rendezvous_receive_waits_for_a_sender(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ch = channel(rt)
        got: list[Any] = []

        async def receiver() -> None:
            got.append(await rt.call(ch.receive))

        async with rt.task_group() as tg:
            tg.start_soon(receiver)
            try:
                await wait_for(
                    rt, lambda: ch.statistics().receivers_waiting == 1, "receiver blocks"
                )
                assert got == []
                await rt.call(ch.send, "x")  # completes: a receiver is there to take it
                await wait_for(rt, lambda: got == ["x"], "the receiver has the item")
                assert ch.statistics().receivers_waiting == 0
            finally:
                ch.close()

    run(rt, scenario)


@pytest.mark.parametrize("capacity", [1, 2, 5])
def test_a_buffered_channel_takes_exactly_capacity_sends_without_a_receiver(
    rt: Runtime, capacity: int
) -> None:
    async def scenario(rt: Runtime) -> None:
        ch = channel(rt, capacity)
        sent: list[int] = []

        async def sender() -> None:
            for i in range(capacity + 1):
                await rt.call(ch.send, i)
                sent.append(i)

        async with rt.task_group() as tg:
            tg.start_soon(sender)
            try:
                await wait_for(
                    rt,
                    lambda: ch.statistics().senders_waiting == 1 or len(sent) > capacity,
                    "the sender fills the buffer",
                )
                await until_steady(rt, ch.statistics)
                assert sent == list(range(capacity)), "the send past capacity did not block"
                stats = ch.statistics()
                assert (stats.capacity, stats.buffered, stats.senders_waiting) == (
                    capacity,
                    capacity,
                    1,
                )
                got = [await rt.call(ch.receive) for _ in range(capacity + 1)]
                assert got == list(range(capacity + 1))  # the blocked item comes last
                await wait_for(rt, lambda: len(sent) == capacity + 1, "the last send completes")
            finally:
                ch.close()

    run(rt, scenario)


def test_negative_capacity_is_a_value_error(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        with pytest.raises(ValueError):
            channel(rt, -1)

    run(rt, scenario)


def test_statistics_is_a_frozen_snapshot(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ch = channel(rt, 2)
        await rt.call(ch.send, "a")
        stats = ch.statistics()
        assert (stats.capacity, stats.buffered, stats.senders_waiting) == (2, 1, 0)
        assert (stats.receivers_waiting, stats.closed) == (0, False)
        for name in ("capacity", "buffered", "senders_waiting", "receivers_waiting"):
            assert type(getattr(stats, name)) is int, name
        assert type(stats.closed) is bool
        with pytest.raises(AttributeError):
            stats.buffered = 0
        await rt.call(ch.send, "b")
        ch.close()
        assert (stats.buffered, stats.closed) == (1, False)  # a record, not a live view
        assert (ch.statistics().buffered, ch.statistics().closed) == (2, True)

    run(rt, scenario)


@settings(HEALTH)
@given(capacity=st.integers(0, 4), items=st.lists(st.integers(), max_size=20))
def test_one_channel_delivers_in_fifo_order_and_iteration_ends_on_close(
    rt: Runtime, capacity: int, items: list[int]
) -> None:
    async def scenario(rt: Runtime) -> None:
        ch = channel(rt, capacity)

        async def sender() -> None:
            try:
                for item in items:
                    await rt.call(ch.send, item)
            finally:
                ch.close()

        async with rt.task_group() as tg:
            tg.start_soon(sender)
            got = [item async for item in rt.aiter(ch)]
        assert got == items

    run(rt, scenario)


# -- Channel: close --------------------------------------------------------------------------------


def test_close_is_a_plain_idempotent_call_and_send_after_it_raises(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ch = channel(rt, 1)
        assert ch.close() is None  # a plain call, not a coroutine, in every runtime
        assert ch.close() is None
        assert ch.statistics().closed
        with pytest.raises(ChannelClosed):
            await rt.call(ch.send, "late")
        assert ch.statistics().buffered == 0
        with pytest.raises(EndOfChannel):
            await rt.call(ch.receive)

    run(rt, scenario)


def test_receive_drains_buffered_items_after_close_then_raises_end_of_channel(
    rt: Runtime,
) -> None:
    async def scenario(rt: Runtime) -> None:
        ch = channel(rt, 3)
        for item in ("a", "b"):
            await rt.call(ch.send, item)
        ch.close()
        with pytest.raises(ChannelClosed):
            await rt.call(ch.send, "c")
        assert await rt.call(ch.receive) == "a"
        assert await rt.call(ch.receive) == "b"
        for _ in range(2):  # and keeps saying so
            with pytest.raises(EndOfChannel):
                await rt.call(ch.receive)

    run(rt, scenario)


def test_iteration_drains_a_closed_channel(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        ch = channel(rt, 3)
        for item in range(3):
            await rt.call(ch.send, item)
        ch.close()
        assert [item async for item in rt.aiter(ch)] == [0, 1, 2]
        assert [item async for item in rt.aiter(ch)] == []

    run(rt, scenario)


@pytest.mark.parametrize("capacity", [0, 1])
@pytest.mark.parametrize("blocked", [1, 3])
def test_senders_blocked_at_close_raise_channel_closed_and_their_items_are_dropped(
    rt: Runtime, capacity: int, blocked: int
) -> None:
    async def scenario(rt: Runtime) -> None:
        ch = channel(rt, capacity)
        kept = [f"kept-{i}" for i in range(capacity)]
        for item in kept:
            await rt.call(ch.send, item)  # fills the buffer
        outcomes: list[object] = []

        async def sender(i: int) -> None:
            try:
                await rt.call(ch.send, f"lost-{i}")
                outcomes.append("sent")
            except ChannelClosed as exc:
                outcomes.append(exc)

        async with rt.task_group() as tg:
            for i in range(blocked):
                tg.start_soon(sender, i)
            try:
                await wait_for(
                    rt, lambda: ch.statistics().senders_waiting == blocked, "senders block"
                )
            finally:
                ch.close()
            await wait_for(rt, lambda: len(outcomes) == blocked, "blocked senders return")
        assert all(isinstance(o, ChannelClosed) for o in outcomes), outcomes
        assert [item async for item in rt.aiter(ch)] == kept  # no "lost-" item
        assert ch.statistics().senders_waiting == 0

    run(rt, scenario)


@pytest.mark.parametrize("capacity", [0, 2])
@pytest.mark.parametrize("blocked", [1, 3])
def test_receivers_blocked_on_an_empty_channel_raise_end_of_channel_at_close(
    rt: Runtime, capacity: int, blocked: int
) -> None:
    async def scenario(rt: Runtime) -> None:
        ch = channel(rt, capacity)
        outcomes: list[object] = []

        async def receiver() -> None:
            try:
                outcomes.append(await rt.call(ch.receive))
            except EndOfChannel as exc:
                outcomes.append(exc)

        async with rt.task_group() as tg:
            for _ in range(blocked):
                tg.start_soon(receiver)
            try:
                await wait_for(
                    rt, lambda: ch.statistics().receivers_waiting == blocked, "receivers block"
                )
            finally:
                ch.close()
        assert len(outcomes) == blocked
        assert all(isinstance(o, EndOfChannel) for o in outcomes), outcomes

    run(rt, scenario)


# -- Channel: many senders and receivers -----------------------------------------------------------


@settings(HEALTH)
@given(
    capacity=st.integers(0, 3),
    sends=st.lists(st.integers(0, 8), min_size=1, max_size=4),
    receivers=st.integers(1, 4),
)
def test_many_senders_and_receivers_every_item_is_received_exactly_once(
    rt: Runtime, capacity: int, sends: list[int], receivers: int
) -> None:
    """Sender ``s`` sends ``(s, 0), (s, 1), ...``; the last sender to finish closes the
    channel. Every item arrives exactly once, and each receiver sees each sender's items
    in the order sent (FIFO)."""

    async def scenario(rt: Runtime) -> None:
        ch = channel(rt, capacity)
        lock = threading.Lock()
        remaining = [len(sends)]
        got: list[list[tuple[int, int]]] = [[] for _ in range(receivers)]

        async def sender(s: int, count: int) -> None:
            try:
                for j in range(count):
                    await rt.call(ch.send, (s, j))
            finally:
                with lock:
                    remaining[0] -= 1
                    last = remaining[0] == 0
                if last:
                    ch.close()

        async def receiver(r: int) -> None:
            async for item in rt.aiter(ch):
                got[r].append(item)

        async with rt.task_group() as tg:
            for r in range(receivers):
                tg.start_soon(receiver, r)
            for s, count in enumerate(sends):
                tg.start_soon(sender, s, count)
        everything = [item for mine in got for item in mine]
        expected = [(s, j) for s, count in enumerate(sends) for j in range(count)]
        assert sorted(everything) == expected
        for mine in got:
            for s in range(len(sends)):
                seen = [j for (t, j) in mine if t == s]
                assert seen == sorted(seen), f"sender {s}'s items out of order: {seen}"
        stats = ch.statistics()
        assert (stats.buffered, stats.senders_waiting, stats.receivers_waiting) == (0, 0, 0)

    run(rt, scenario)


def test_asyncio_queue_of_size_zero_is_unbounded_but_a_channel_of_capacity_zero_is_a_rendezvous(
    rt: Runtime,
) -> None:
    """The trap the docs point out: ``maxsize <= 0`` means *unbounded* to asyncio."""

    async def scenario(rt: Runtime) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue(0)
        for i in range(1000):
            queue.put_nowait(i)  # never QueueFull: no backpressure at all
        assert queue.qsize() == 1000 and not queue.full()

        ch = channel(rt, 0)
        sent = rt.event()

        async def sender() -> None:
            await rt.call(ch.send, 0)
            sent.set()

        async with rt.task_group() as tg:
            tg.start_soon(sender)
            try:
                await wait_for(rt, lambda: ch.statistics().senders_waiting == 1, "sender blocks")
                await until_steady(rt, ch.statistics)
                assert not sent.is_set() and ch.statistics().buffered == 0
                assert await rt.call(ch.receive) == 0
            finally:
                ch.close()

    run(rt, scenario)


# -- merge (fan-in) --------------------------------------------------------------------------------


@settings(HEALTH)
@given(
    inputs=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 6)), max_size=4),
    capacity=st.integers(0, 2),
)
def test_merge_delivers_the_union_of_its_inputs_and_closes_when_all_are_closed(
    rt: Runtime, inputs: list[tuple[int, int]], capacity: int
) -> None:
    async def scenario(rt: Runtime) -> None:
        async with harness(rt) as h:
            channels = [
                h.source("channel", [(c, j) for j in range(count)], cap)[0]
                for c, (cap, count) in enumerate(inputs)
            ]
            async with rt.enter(fanout(rt).merge(*channels, capacity=capacity)) as out:
                got = await consume(rt, out)
                assert out.statistics().closed
        expected = [(c, j) for c, (_, count) in enumerate(inputs) for j in range(count)]
        assert Counter(got) == Counter(expected)

    run(rt, scenario)


def test_merge_stays_open_while_any_input_is_open(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        a, b = channel(rt), channel(rt)
        try:
            async with rt.enter(fanout(rt).merge(a, b)) as out:
                a.close()
                await until_steady(rt, out.statistics)
                assert not out.statistics().closed
                await rt.call(b.send, "b")  # the merge takes it from b ...
                assert await rt.call(out.receive) == "b"  # ... and hands it on
                assert not out.statistics().closed
                b.close()
                assert await consume(rt, out) == []  # ends: every input is closed
                assert out.statistics().closed
        finally:
            a.close()
            b.close()

    run(rt, scenario)


def test_merge_of_no_channels_is_closed_at_once(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        async with rt.enter(fanout(rt).merge()) as out:
            assert await consume(rt, out) == []

    run(rt, scenario)


# -- fan_out ---------------------------------------------------------------------------------------


@st.composite
def fan_out_plans(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "n": draw(st.integers(0, 24)),
        "workers": draw(st.integers(1, 4)),
        "capacity": draw(st.integers(0, 3)),
        "ordered": draw(st.booleans()),
        "gated": draw(st.booleans()),
        "policy": draw(st.sampled_from(POLICIES)),
        "seed": draw(st.integers(0, 2**16)),
    }


@settings(HEALTH)
@given(plan=fan_out_plans(), data=st.data())
def test_fan_out_applies_fn_to_every_item_once_within_its_bounds(
    rt: Runtime, plan: dict[str, Any], data: st.DataObject
) -> None:
    """Unordered: the multiset of results; ordered: input order. Each item is started
    exactly once, never more than ``workers`` calls at once, and with ``ordered=True``
    never more than ``workers + capacity`` items past the oldest unfinished one. With
    ``gated``, a controller finishes items out of order (see :func:`control`)."""
    kind = data.draw(st.sampled_from(sources_for(rt, FINITE_SOURCES)), label="source")
    n, workers, capacity, ordered = plan["n"], plan["workers"], plan["capacity"], plan["ordered"]

    async def scenario(rt: Runtime) -> None:
        bench = Bench(
            rt, hold=lambda item: plan["gated"], bound=workers + capacity if ordered else None
        )
        async with harness(rt) as h:
            source, _ = h.source(kind, range(n))
            if plan["gated"]:
                h.control(bench, plan["policy"], plan["seed"])
            fan_out = fanout(rt).fan_out(
                source, bench.fn, workers=workers, ordered=ordered, capacity=capacity
            )
            async with rt.enter(fan_out) as out:
                got = await consume(rt, out)
                assert out.statistics().closed  # closed once all input is processed
        expected = [result(i) for i in range(n)]
        assert (got == expected) if ordered else (sorted(got) == expected)
        assert sorted(bench.started) == list(range(n)), "an item started twice or never"
        assert bench.peak <= workers
        assert not bench.violations, f"started past the reorder bound: {bench.violations}"

    run(rt, scenario)


@pytest.mark.parametrize("ordered", [False, True], ids=["unordered", "ordered"])
@pytest.mark.parametrize("workers", [1, 2, 4])
def test_fan_out_runs_workers_calls_at_once_never_more(
    rt: Runtime, workers: int, ordered: bool
) -> None:
    n = 2 * workers + 1

    async def scenario(rt: Runtime) -> None:
        bench = Bench(rt, hold=lambda item: True)
        async with harness(rt) as h:
            h.at_exit(bench.release_everything)
            fan_out = fanout(rt).fan_out(range(n), bench.fn, workers=workers, ordered=ordered)
            async with rt.enter(fan_out) as out:
                try:
                    await wait_for(rt, lambda: bench.now == workers, f"{workers} calls at once")
                    await until_steady(rt, bench.progress)
                    assert bench.now == workers  # and no more start while they are busy
                finally:
                    bench.release_everything()  # threads: the block waits for these calls
                got = await consume(rt, out)
        assert (got == [result(i) for i in range(n)]) if ordered else (len(got) == n)
        assert bench.peak == workers

    run(rt, scenario)


@pytest.mark.parametrize("ordered", [False, True], ids=["unordered", "ordered"])
@pytest.mark.parametrize("kind", FINITE_SOURCES)
def test_fan_out_takes_an_iterable_an_async_iterable_or_a_channel(
    rt: Runtime, kind: str, ordered: bool
) -> None:
    if kind.startswith("async") and not rt.is_async:
        pytest.skip(NO_ASYNC_SOURCE)
    n = 12

    async def scenario(rt: Runtime) -> None:
        bench = Bench(rt)
        async with harness(rt) as h:
            source, _ = h.source(kind, range(n))
            fan_out = fanout(rt).fan_out(source, bench.fn, workers=3, ordered=ordered)
            async with rt.enter(fan_out) as out:
                got = await consume(rt, out)
        expected = [result(i) for i in range(n)]
        assert (got == expected) if ordered else (sorted(got) == expected)

    run(rt, scenario)


@pytest.mark.parametrize(("workers", "capacity"), [(1, 0), (2, 0), (3, 1), (2, 3)])
def test_ordered_fan_out_never_starts_more_than_workers_plus_capacity_past_the_oldest(
    rt: Runtime, workers: int, capacity: int
) -> None:
    """The oldest item is held as long as anything else can run, so the reorder buffer
    fills to whatever bound the implementation has; it must be within the contract's."""
    n = 30

    async def scenario(rt: Runtime) -> None:
        bench = Bench(rt, hold=lambda item: True, bound=workers + capacity)
        async with harness(rt) as h:
            h.control(bench, "newest-first")
            fan_out = fanout(rt).fan_out(
                range(n), bench.fn, workers=workers, ordered=True, capacity=capacity
            )
            async with rt.enter(fan_out) as out:
                got = await consume(rt, out)
        assert got == [result(i) for i in range(n)]
        assert not bench.violations, f"started past the reorder bound: {bench.violations}"
        assert bench.peak <= workers

    run(rt, scenario)


@pytest.mark.parametrize("construct", ["merge", "fan_out", "pipeline"])
@pytest.mark.parametrize("capacity", [0, 2])
def test_the_output_is_a_channel_with_the_given_capacity(
    rt: Runtime, construct: str, capacity: int
) -> None:
    async def scenario(rt: Runtime) -> None:
        m = fanout(rt)
        bench = Bench(rt)
        async with harness(rt) as h:
            if construct == "merge":
                source, _ = h.source("channel", range(3))
                cm = m.merge(source, capacity=capacity)
            elif construct == "fan_out":
                cm = m.fan_out(range(3), bench.fn, workers=2, capacity=capacity)
            else:
                cm = m.pipeline(range(3), bench.fn, (bench.fn, 2), capacity=capacity)
            async with rt.enter(cm) as out:
                assert isinstance(out, m.Channel)
                assert out.statistics().capacity == capacity
                assert len(await consume(rt, out)) == 3

    run(rt, scenario)


# -- pipeline --------------------------------------------------------------------------------------


def stage_fn(k: int) -> Callable[[int], int]:
    """Stage ``k``'s function: injective and different per stage, so results compose."""
    return lambda x: 3 * x + k + 1


def compose(stages: int, x: int) -> int:
    for k in range(stages):
        x = stage_fn(k)(x)
    return x


@settings(HEALTH)
@given(
    stages=st.lists(st.none() | st.integers(1, 3), min_size=1, max_size=3),
    n=st.integers(0, 16),
    capacity=st.integers(0, 2),
    data=st.data(),
)
def test_pipeline_composes_its_stages_each_within_its_workers(
    rt: Runtime, stages: list[int | None], n: int, capacity: int, data: st.DataObject
) -> None:
    """A stage is ``fn`` (``None`` here: one worker) or ``(fn, workers)``."""
    kind = data.draw(st.sampled_from(sources_for(rt, ("list", "async-iterable", "channel"))))

    async def scenario(rt: Runtime) -> None:
        benches = [Bench(rt, result=stage_fn(k)) for k in range(len(stages))]
        specs = [
            bench.fn if workers is None else (bench.fn, workers)
            for bench, workers in zip(benches, stages, strict=True)
        ]
        async with harness(rt) as h:
            source, _ = h.source(kind, range(n))
            async with rt.enter(fanout(rt).pipeline(source, *specs, capacity=capacity)) as out:
                got = await consume(rt, out)
                assert out.statistics().closed
        assert sorted(got) == sorted(compose(len(stages), i) for i in range(n))
        for k, (bench, workers) in enumerate(zip(benches, stages, strict=True)):
            assert len(bench.started) == n, f"stage {k} ran {len(bench.started)} times"
            assert bench.peak <= (workers or 1), f"stage {k}: peak {bench.peak}"

    run(rt, scenario)


# -- errors: the first one closes the output, cancels the rest, and is raised ----------------------


@settings(HEALTH)
@given(
    n=st.integers(1, 20),
    position=st.floats(0, 1, exclude_max=True),
    workers=st.integers(1, 4),
    capacity=st.integers(0, 3),
    ordered=st.booleans(),
    data=st.data(),
)
def test_a_failing_item_makes_fan_out_raise_exactly_its_error(
    rt: Runtime,
    n: int,
    position: float,
    workers: int,
    capacity: int,
    ordered: bool,
    data: st.DataObject,
) -> None:
    kind = data.draw(st.sampled_from(sources_for(rt, FINITE_SOURCES)), label="source")
    failing = int(position * n)

    async def scenario(rt: Runtime) -> None:
        boom = Boom(failing)
        bench = Bench(rt, fail={failing: boom})
        got: list[Any] = []
        loop_ended = False
        async with harness(rt) as h:
            source, _ = h.source(kind, range(n))
            fan_out = fanout(rt).fan_out(
                source, bench.fn, workers=workers, ordered=ordered, capacity=capacity
            )
            before = snapshot_threads()
            with pytest.raises(Boom) as raised:
                async with rt.enter(fan_out) as out:
                    h.rescue("the error did not end the consumer's loop", out.close)
                    async for item in rt.aiter(out):  # ends: the error closes the output
                        got.append(item)
                    loop_ended = True  # (asyncio / trio may cancel the body instead)
            assert_no_threads_left(rt, before, "fan_out")
        assert raised.value is boom  # the error itself, not an ExceptionGroup
        assert rt.is_async or loop_ended
        assert len(set(got)) == len(got)
        assert set(got) <= {result(i) for i in range(n) if i != failing}
        if ordered:
            assert got == [result(i) for i in range(len(got))] and len(got) <= failing

    run(rt, scenario)


@settings(HEALTH)
@given(
    stages=st.lists(st.integers(1, 3), min_size=2, max_size=3),
    n=st.integers(1, 12),
    where=st.tuples(st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True)),
    capacity=st.integers(0, 2),
)
def test_a_failing_stage_makes_the_pipeline_raise_exactly_its_error(
    rt: Runtime, stages: list[int], n: int, where: tuple[float, float], capacity: int
) -> None:
    failing_stage, failing_item = int(where[0] * len(stages)), int(where[1] * n)

    async def scenario(rt: Runtime) -> None:
        boom = Boom(failing_stage, failing_item)
        benches = [
            Bench(
                rt,
                result=stage_fn(k),
                fail={compose(k, failing_item): boom} if k == failing_stage else None,
            )
            for k in range(len(stages))
        ]
        specs = [(bench.fn, workers) for bench, workers in zip(benches, stages, strict=True)]
        got: list[Any] = []
        loop_ended = False
        async with harness(rt) as h:
            before = snapshot_threads()
            with pytest.raises(Boom) as raised:
                pipeline = fanout(rt).pipeline(range(n), *specs, capacity=capacity)
                async with rt.enter(pipeline) as out:
                    h.rescue("the error did not end the consumer's loop", out.close)
                    async for item in rt.aiter(out):
                        got.append(item)
                    loop_ended = True
            assert_no_threads_left(rt, before, "pipeline")
        assert raised.value is boom
        assert rt.is_async or loop_ended
        assert len(set(got)) == len(got)
        assert set(got) <= {compose(len(stages), i) for i in range(n) if i != failing_item}

    run(rt, scenario)


@pytest.mark.parametrize("construct", ["fan_out", "pipeline"])
def test_the_first_error_cancels_calls_in_flight_natively(rt: Runtime, construct: str) -> None:
    """fan_out: two calls block, a third fails. pipeline: the first stage's call for
    item 1 blocks, the second stage fails on item 0. The blocked calls are cancelled."""
    if not rt.is_async:
        pytest.skip(NO_INTERRUPT)

    async def scenario(rt: Runtime) -> None:
        boom = Boom()
        blocked: list[int] = []
        cancelled: list[int] = []
        never = rt.event()
        must_block = [0, 1] if construct == "fan_out" else [1]

        async def blocking(i: int) -> int:
            if i not in must_block:
                if construct == "fan_out":  # the failing call: once the others block
                    await wait_for(rt, lambda: blocked == must_block, "calls blocked")
                    raise boom
                return i  # the pipeline's first stage passes item 0 on
            blocked.append(i)
            try:
                await never.wait()
            except anyio.get_cancelled_exc_class():
                cancelled.append(i)
                raise
            return i

        async def failing(i: int) -> int:
            await wait_for(rt, lambda: blocked == must_block, "the first stage blocks")
            raise boom

        m = fanout(rt)
        if construct == "fan_out":
            cm = m.fan_out(range(10), blocking, workers=3)
        else:
            cm = m.pipeline(range(10), (blocking, 2), failing)
        with pytest.raises(Boom) as raised:
            async with rt.enter(cm) as out:
                await consume(rt, out)
        assert raised.value is boom
        assert sorted(cancelled) == must_block

    run(rt, scenario)


@pytest.mark.parametrize("construct", ["fan_out", "pipeline"])
def test_an_exception_from_the_body_propagates_and_cancels_the_work(
    rt: Runtime, construct: str
) -> None:
    async def scenario(rt: Runtime) -> None:
        error = BodyError()
        m = fanout(rt)
        bench = Bench(rt)
        source = Counted(itertools.count())
        if construct == "fan_out":
            cm = m.fan_out(source, bench.fn, workers=3, capacity=1)
        else:
            cm = m.pipeline(source, (bench.fn, 2), (bench.fn, 3), capacity=1)
        async with harness(rt) as h:
            before = snapshot_threads()
            with pytest.raises(BodyError) as raised:
                async with rt.enter(cm) as out:
                    h.rescue("the body's exception did not cancel the work", out.close)
                    await rt.call(out.receive)
                    raise error
            assert_no_threads_left(rt, before, construct)
        assert raised.value is error
        stages = [(3, 1)] if construct == "fan_out" else [(2, 1), (3, 1)]
        assert source.reads <= read_ahead(1, stages)

    run(rt, scenario)


# -- leaving early: the remaining work is cancelled, not waited for --------------------------------


def read_ahead(k: int, stages: Iterable[tuple[int, int]]) -> int:
    """How many items a source may have been read once the consumer has taken ``k``:
    backpressure bounds each stage by its workers and channels (generous slack: the
    contract bounds it, this suite does not pin down the constant)."""
    return k + sum(4 * (workers + capacity) + 4 for workers, capacity in stages)


def assert_read_no_further(kind: str, counter: Any, reads_at_exit: int, bound: int) -> None:
    """Once the harness has closed: nothing was read from the source after the block
    returned, and no more than ``bound`` items in all. A ``Feed`` counts an item once its
    ``send`` has returned, which may be just after the block did; so for a ``Channel``
    source the final count (the feed has ended) is the one to compare."""
    if kind != "channel":
        assert counter.reads == reads_at_exit, "the source was read after the block returned"
    assert counter.reads <= bound, f"read {counter.reads} items, bound {bound}"


@settings(HEALTH)
@given(
    k=st.integers(0, 8),
    workers=st.integers(1, 4),
    capacity=st.integers(0, 3),
    ordered=st.booleans(),
    data=st.data(),
)
def test_leaving_fan_out_early_stops_reading_an_endless_source(
    rt: Runtime, k: int, workers: int, capacity: int, ordered: bool, data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(sources_for(rt, ENDLESS_SOURCES)), label="source")

    async def scenario(rt: Runtime) -> None:
        bench = Bench(rt)
        async with harness(rt) as h:
            source, counter = h.source(kind, itertools.count())
            before = snapshot_threads()
            fan_out = fanout(rt).fan_out(
                source, bench.fn, workers=workers, ordered=ordered, capacity=capacity
            )
            async with rt.enter(fan_out) as out:
                h.rescue("leaving did not cancel the work", out.close)
                got = await consume(rt, out, limit=k)
            assert_no_threads_left(rt, before, "fan_out")
            reads_at_exit = counter.reads
        assert len(got) == k
        if ordered:
            assert got == [result(i) for i in range(k)]
        assert_read_no_further(kind, counter, reads_at_exit, read_ahead(k, [(workers, capacity)]))
        assert bench.peak <= workers

    run(rt, scenario)


@pytest.mark.parametrize("kind", ENDLESS_SOURCES)
def test_leaving_a_pipeline_early_stops_reading_an_endless_source(rt: Runtime, kind: str) -> None:
    if kind.startswith("async") and not rt.is_async:
        pytest.skip(NO_ASYNC_SOURCE)
    k, stages = 5, [(2, 1), (1, 1), (3, 1)]

    async def scenario(rt: Runtime) -> None:
        benches = [Bench(rt, result=stage_fn(i)) for i in range(len(stages))]
        specs = [(bench.fn, workers) for bench, (workers, _) in zip(benches, stages, strict=True)]
        async with harness(rt) as h:
            source, counter = h.source(kind, itertools.count())
            before = snapshot_threads()
            async with rt.enter(fanout(rt).pipeline(source, *specs, capacity=1)) as out:
                h.rescue("leaving did not cancel the work", out.close)
                got = await consume(rt, out, limit=k)
            assert_no_threads_left(rt, before, "pipeline")
            reads_at_exit = counter.reads
        assert len(got) == k
        assert_read_no_further(kind, counter, reads_at_exit, read_ahead(k, stages))

    run(rt, scenario)


def test_leaving_merge_early_does_not_wait_for_its_inputs(rt: Runtime) -> None:
    async def scenario(rt: Runtime) -> None:
        async with harness(rt) as h:
            inputs = [h.source("channel", itertools.count(), 1)[0] for _ in range(3)]
            before = snapshot_threads()
            async with rt.enter(fanout(rt).merge(*inputs)) as out:
                h.rescue("leaving did not cancel the work", out.close)
                got = await consume(rt, out, limit=4)
            assert_no_threads_left(rt, before, "merge")
        assert len(got) == 4

    run(rt, scenario)


@pytest.mark.parametrize("how", ["leaving", "error"])
@pytest.mark.parametrize("ordered", [False, True], ids=["unordered", "ordered"])
@pytest.mark.parametrize("workers", [1, 3])
def test_stopping_starts_no_new_item_and_settles_the_calls_in_flight(
    rt: Runtime, workers: int, ordered: bool, how: str
) -> None:
    """Items from ``k`` on are held in ``fn``. Once every worker holds one, the consumer
    leaves the block (``leaving``), or item ``k`` is let go and fails (``error``).
    asyncio / trio: the other calls in flight are cancelled. Threads: they cannot be, so
    a helper lets them finish once the block is being left, or once the error has closed
    the output; either way no new item starts."""
    k = 2
    boom = Boom(k)

    async def scenario(rt: Runtime) -> None:
        bench = Bench(rt, hold=lambda item: item >= k, fail={k: boom} if how == "error" else {})
        stopping = rt.event()
        box: list[Any] = []  # the output channel, for the helper

        def stopped() -> bool:
            if how == "leaving":
                return stopping.is_set()
            return bool(box) and box[0].statistics().closed

        async def opener() -> None:  # threads only: what finishes the calls in flight
            await wait_for(rt, lambda: stopped() or h.stop.is_set(), "stopping")
            bench.release_everything()

        async with harness(rt) as h:
            h.at_exit(bench.release_everything)
            if not rt.is_async:
                h.start(opener)
            fan_out = fanout(rt).fan_out(
                itertools.count(), bench.fn, workers=workers, ordered=ordered
            )
            with pytest.raises(Boom) if how == "error" else nullcontext() as raised:
                async with rt.enter(fan_out) as out:
                    box.append(out)
                    try:
                        got = await consume(rt, out, limit=k)
                        await wait_for(rt, lambda: len(bench.waiting()) == workers, "busy")
                        await until_steady(rt, bench.progress)
                        in_flight = bench.waiting()
                        started = sorted(bench.started)
                        if how == "error":
                            bench.release(k)
                            got += await consume(rt, out)  # ends: the error closes it
                    finally:
                        stopping.set()
            assert sorted(bench.started) == started, "an item started after stopping"
        assert sorted(got) == [result(i) for i in range(k)]
        assert in_flight == list(range(k, k + workers))
        if how == "error":
            assert raised.value is boom
        settled = [i for i in in_flight if not (how == "error" and i == k)]
        if rt.is_async:
            assert sorted(bench.cancelled) == settled
        else:
            assert bench.cancelled == [] and set(in_flight) <= bench.finished

    run(rt, scenario)

"""Chapter 02's grading: a ``Channel`` with Go's semantics (a rendezvous at capacity 0,
``close`` ends the stream), ``fan_out`` bounded by its workers, ``merge`` closing its
output once every input is closed, and leaving a block early stopping the rest.

Every scenario is written once and run in the chapter's runtime (``rt``), on the
learner's module (``impl``); the library's ``patterns.fanout`` passes them too. Jobs
are written once as ``async def`` and handed over with ``rt.callback``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import pytest

from patterns.exercises.grading import ScenarioThread, StillWaiting, let_others_block
from patterns.fanout import ChannelClosed, EndOfChannel

Rescue = list[Callable[[], object]]


def result(item: int) -> int:
    """What the tests' ``fn`` makes of an item: one result per item, naming it."""
    return 10 * item + 1


# -- running a scenario -------------------------------------------------------------------


def run(rt: Any, scenario: Callable[..., Coroutine[Any, Any, Any]], *args: Any,
        waiting_for: str) -> Any:
    """``rt.run(scenario, rescue, *args)``, failing with ``waiting_for`` if it never ends.

    A thread cannot be cancelled: a scenario that never ends would leave the tests'
    helper threads blocked, and keep the checker from exiting. ``rescue`` collects what
    unblocks them (a channel's ``close``, an event's ``set``), called if the scenario
    is given up on. asyncio and trio cancel their tasks themselves."""
    rescue: Rescue = []
    try:
        return rt.run(scenario, rescue, *args, waiting_for=waiting_for)
    except StillWaiting:
        if not rt.is_async:
            helper = ScenarioThread(lambda: _call_all(rescue), name="rescue")
            helper.start()
            helper.join(1.0)
        raise


def _call_all(calls: Rescue) -> None:
    for call in calls:
        with suppress(Exception):  # a broken close() must not hide the failure itself
            call()


@asynccontextmanager
async def helpers(rt: Any) -> AsyncIterator[Any]:
    """``rt.task_group()`` for the scenario's own tasks (feeders, a waiting sender). If
    something fails, the block raises one error, not an exception group: the block's own
    if it raised, else the first task's. The learner reads ``NotImplementedError: task
    4: ...``, not "errors in scenario threads"."""
    body_error: BaseException | None = None
    try:
        async with rt.task_group() as group:
            try:
                yield group
            except BaseException as exc:
                if not (rt.is_async and isinstance(exc, anyio.get_cancelled_exc_class())):
                    body_error = exc  # its own error, not the group cancelling it
                raise
    except BaseExceptionGroup as errors:
        raise (body_error if body_error is not None else _first(errors)) from None


def _first(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def raised(rt: Any, fn: Callable[..., Any], *args: Any) -> BaseException | None:
    """What ``fn(*args)`` raised, or ``None`` if it returned."""
    try:
        await rt.call(fn, *args)
    except Exception as exc:
        return exc
    return None


def did(error: BaseException | None) -> str:
    return "returned" if error is None else f"raised {type(error).__name__}"


async def feed(rt: Any, channel: Any, items: Iterable[Any]) -> None:
    """Send ``items`` on ``channel``, then close it; stop quietly if it is closed first
    (a long feed ends that way once the consumer has gone)."""
    try:
        for item in items:
            await rt.call(channel.send, item)
    except ChannelClosed:
        pass
    finally:
        channel.close()


async def drain(rt: Any, channel: Any) -> list[Any]:
    """Every item until the channel is closed: the consumer's loop."""
    return [item async for item in rt.aiter(channel)]


async def take(rt: Any, channel: Any, n: int, what: str) -> list[Any]:
    """Exactly ``n`` items; an early end of the channel fails with ``what`` in it."""
    got: list[Any] = []
    try:
        for _ in range(n):
            got.append(await rt.call(channel.receive))
    except EndOfChannel:
        raise AssertionError(f"{what} closed after {len(got)} of {n} items") from None
    return got


class Gauge:
    """Counts the calls of ``fn`` running now, and at the peak."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self.now -= 1


class Counted:
    """An iterator over ``items`` that counts how many were read from it."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = iter(items)
        self._lock = threading.Lock()
        self.reads = 0

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        with self._lock:
            item = next(self._items)
            self.reads += 1
            return item


def threads_started_since(before: set[threading.Thread]) -> list[str]:
    """Threads alive now that were not before, other than the tests' own."""
    return sorted(t.name for t in threading.enumerate()
                  if t not in before and t.is_alive() and not isinstance(t, ScenarioThread))


def exactly_once(got: list[Any], n: int, what: str) -> None:
    """``got`` holds ``result(i)`` once for each ``i`` in ``range(n)``, and nothing else."""
    counts = Counter(got)
    expected = {result(i): i for i in range(n)}
    strange = [x for x in counts if x not in expected]
    assert not strange, f"{strange[0]!r} came out of {what}, which no item makes"
    twice = [i for i in range(n) if counts[result(i)] > 1]
    assert not twice, f"item {twice[0]} came out of {what} {counts[result(twice[0])]} times"
    missing = [i for i in range(n) if counts[result(i)] == 0]
    assert not missing, (f"item {missing[0]} never came out of {what} "
                         f"({len(missing)} of {n} missing)")


# -- task 1: a rendezvous, and a buffer -----------------------------------------------------


@pytest.mark.task(1)
def test_a_send_waits_until_a_receiver_takes_the_item(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any, rescue: Rescue) -> None:
        ch = impl.Channel()
        rescue.append(ch.close)
        sent = rt.event()

        async def sender() -> None:
            await rt.call(ch.send, "x")
            sent.set()

        async with helpers(rt) as group:
            group.start_soon(sender)
            await let_others_block(rt)
            early = sent.is_set()
            got = await rt.call(ch.receive)
            await sent.wait()
        assert not early, ("send() returned while nobody was receiving: Channel() is a "
                           "rendezvous, a send waits until a receiver has its item")
        assert got == "x", f"receive() returned {got!r}; the sender sent 'x'"

    run(rt, scenario, waiting_for="a send and a receive on one Channel() to meet")


@pytest.mark.task(1)
def test_a_receive_waits_until_an_item_is_sent(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any, rescue: Rescue) -> None:
        ch = impl.Channel(0)
        rescue.append(ch.close)
        got: list[Any] = []
        received = rt.event()

        async def receiver() -> None:
            got.append(await rt.call(ch.receive))
            received.set()

        async with helpers(rt) as group:
            group.start_soon(receiver)
            await let_others_block(rt)
            early = list(got)
            await rt.call(ch.send, "x")
            await received.wait()
        assert not early, f"receive() returned {early[0]!r} before anything was sent"
        assert got == ["x"], f"receive() returned {got[0]!r}; the sender sent 'x'"

    run(rt, scenario, waiting_for="a receive and a send on one Channel(0) to meet")


@pytest.mark.task(1)
def test_a_buffered_channel_takes_capacity_sends_then_a_send_waits(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any, rescue: Rescue, capacity: int) -> None:
        ch = impl.Channel(capacity)
        rescue.append(ch.close)
        for i in range(capacity):
            await rt.call(ch.send, i)  # room in the buffer: no receiver needed
        sent = rt.event()

        async def one_more() -> None:
            await rt.call(ch.send, capacity)
            sent.set()

        async with helpers(rt) as group:
            group.start_soon(one_more)
            await let_others_block(rt)
            early = sent.is_set()
            got = [await rt.call(ch.receive) for _ in range(capacity + 1)]
            await sent.wait()
        assert not early, (f"a send on a full Channel({capacity}) returned with nobody "
                           f"receiving: the buffer holds {capacity}, the next send waits")
        sent_as = list(range(capacity + 1))
        assert got == sent_as, f"items came out as {got}, sent as {sent_as}: first in, first out"

    for capacity in (1, 3):
        run(rt, scenario, capacity, waiting_for=f"{capacity} sends on a Channel({capacity}) to "
            "go into its buffer without a receiver, then a receiver to take them")


# -- task 2: close ends the stream -------------------------------------------------------------


@pytest.mark.task(2)
def test_closing_ends_the_consumers_loop(impl: Any, rt: Any) -> None:
    """A producer sends ten items on a rendezvous channel and closes it; the consumer's
    loop gets all ten, then ends."""
    n = 10

    async def scenario(rt: Any, rescue: Rescue) -> list[Any]:
        ch = impl.Channel()
        rescue.append(ch.close)
        async with helpers(rt) as group:
            group.start_soon(feed, rt, ch, range(n))
            return await drain(rt, ch)

    got = run(rt, scenario, waiting_for="the consumer's loop to end once the producer had "
              "closed the channel")
    assert got == list(range(n)), f"the loop got {got}; the producer sent {list(range(n))}"


@pytest.mark.task(2)
def test_a_closed_channel_drains_its_buffer_then_says_so(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any, rescue: Rescue) -> None:
        ch = impl.Channel(3)
        rescue.append(ch.close)
        await rt.call(ch.send, "a")
        await rt.call(ch.send, "b")
        first, second = ch.close(), ch.close()
        assert first is None and second is None, (
            "close() returned something to await: it must be a plain call, in every runtime")
        late = await raised(rt, ch.send, "late")
        assert isinstance(late, ChannelClosed), (
            f"send() on a closed channel {did(late)}; it must raise ChannelClosed")
        got = await drain(rt, ch)
        assert got == ["a", "b"], f"a closed Channel(3) holding 'a', 'b' gave {got}"
        again = await drain(rt, ch)
        assert again == [], f"a closed, drained channel gave {again} on a second loop"
        end = await raised(rt, ch.receive)
        assert isinstance(end, EndOfChannel), (
            f"receive() on a closed, drained channel {did(end)}; it must raise EndOfChannel")

    run(rt, scenario, waiting_for="a closed channel's loop to end once its buffer was drained")


@pytest.mark.task(2)
def test_close_wakes_a_waiting_receive_and_a_waiting_send(impl: Any, rt: Any) -> None:
    async def scenario(rt: Any, rescue: Rescue) -> None:
        empty, full = impl.Channel(), impl.Channel()
        rescue += [empty.close, full.close]
        outcomes: dict[str, BaseException | None] = {}

        async def receiver() -> None:
            outcomes["receive"] = await raised(rt, empty.receive)

        async def sender() -> None:
            outcomes["send"] = await raised(rt, full.send, "dropped")

        async with helpers(rt) as group:
            group.start_soon(receiver)
            group.start_soon(sender)
            await let_others_block(rt)
            empty.close()
            full.close()
        assert isinstance(outcomes["receive"], EndOfChannel), (
            f"a receive waiting when its channel closed {did(outcomes['receive'])}; "
            "it must raise EndOfChannel")
        assert isinstance(outcomes["send"], ChannelClosed), (
            f"a send waiting when its channel closed {did(outcomes['send'])}; "
            "it must raise ChannelClosed")
        left = await drain(rt, full)
        assert left == [], (f"the item of a send that failed at close() came out later: "
                            f"{left}; close() drops it")

    run(rt, scenario, waiting_for="close() to wake a receive and a send waiting on their "
        "channels")


# -- task 3: fan_out --------------------------------------------------------------------------


@pytest.mark.task(3)
def test_fan_out_runs_workers_calls_of_fn_at_once_never_more(impl: Any, rt: Any) -> None:
    """Every call of ``fn`` waits at a gate. Once ``workers`` of them wait, nothing
    else may start until the gate opens."""

    async def scenario(rt: Any, rescue: Rescue, workers: int) -> tuple[int, int]:
        n = 3 * workers
        gauge, gate = Gauge(), rt.event()
        rescue.append(gate.set)

        async def fn(item: int) -> int:
            with gauge:
                await gate.wait()
            return result(item)

        async with rt.enter(impl.fan_out(range(n), rt.callback(fn), workers=workers)) as out:
            try:
                await rt.until(lambda: gauge.now >= workers)
                await let_others_block(rt)
                running = gauge.now
            finally:
                gate.set()
            got = await take(rt, out, n, "fan_out's output")
        exactly_once(got, n, "fan_out")
        return running, gauge.peak

    for workers in (1, 4):
        running, peak = run(rt, scenario, workers, waiting_for=f"{workers} calls of fn to run "
                            f"at once: does fan_out(..., workers={workers}) start {workers} "
                            "workers?")
        worst = max(running, peak)
        assert worst <= workers, (f"{worst} calls of fn ran at once; fan_out has {workers} "
                                  f"worker{'s' if workers > 1 else ''}")


@pytest.mark.task(3)
def test_fan_out_gives_every_result_exactly_once_then_closes_its_output(impl: Any, rt: Any) -> None:
    n, workers = 20, 3

    async def scenario(rt: Any, rescue: Rescue, source: str, capacity: int) -> list[Any]:
        async def fn(item: int) -> int:
            await rt.checkpoint()
            return result(item)

        async with helpers(rt) as group:
            items: Any = range(n)
            if source == "a generator":
                items = (i for i in range(n))
            elif source == "a Channel":
                items = impl.Channel()
                rescue.append(items.close)
                group.start_soon(feed, rt, items, range(n))
            fan_out = impl.fan_out(items, rt.callback(fn), workers=workers, capacity=capacity)
            async with rt.enter(fan_out) as out:
                return await drain(rt, out)

    for source, capacity in (("a range", 0), ("a generator", 2), ("a Channel", 0)):
        got = run(rt, scenario, source, capacity, waiting_for=f"the output of fan_out over "
                  f"{source} to close once every item was out: does the last worker to finish "
                  "close it?")
        exactly_once(got, n, f"fan_out over {source}")


# -- task 4: merge ---------------------------------------------------------------------------


@pytest.mark.task(4)
def test_merge_gives_every_item_of_every_input_exactly_once(impl: Any, rt: Any) -> None:
    sizes, capacities = [5, 0, 8, 3], [0, 1, 0, 2]
    total = sum(sizes)

    async def scenario(rt: Any, rescue: Rescue, capacity: int) -> list[Any]:
        inputs = [impl.Channel(c) for c in capacities]
        rescue += [ch.close for ch in inputs]
        async with helpers(rt) as group:
            for c, (ch, size) in enumerate(zip(inputs, sizes, strict=True)):
                group.start_soon(feed, rt, ch, [(c, j) for j in range(size)])
            async with rt.enter(impl.merge(*inputs, capacity=capacity)) as out:
                return await take(rt, out, total, "merge's output (while inputs were still "
                                  "open: it must stay open until every input is closed)")

    for capacity in (0, 2):
        got = run(rt, scenario, capacity, waiting_for=f"{total} items to come out of merge")
        counts = Counter(got)
        for c, size in enumerate(sizes):
            for j in range(size):
                assert counts[(c, j)] != 0, f"item {j} of input {c} never came out of merge"
                assert counts[(c, j)] == 1, (
                    f"item {j} of input {c} came out of merge {counts[(c, j)]} times")


@pytest.mark.task(4)
def test_merge_closes_its_output_once_every_input_is_closed_not_before(
    impl: Any, rt: Any
) -> None:
    async def scenario(rt: Any, rescue: Rescue) -> None:
        async with rt.enter(impl.merge()) as out:
            nothing = await drain(rt, out)
        assert nothing == [], f"merge() of no channels gave {nothing}"

        a, b = impl.Channel(), impl.Channel()
        rescue += [a.close, b.close]
        async with rt.enter(impl.merge(a, b)) as out:
            a.close()
            await rt.call(b.send, "b")
            first = await take(rt, out, 1, "merge's output (once input a was closed, while b "
                               "was still open: it must stay open until every input is)")
            assert first == ["b"], f"merge gave {first[0]!r}; input b sent 'b'"
            b.close()
            rest = await drain(rt, out)
        assert rest == [], f"merge gave {rest} after its inputs had closed"

    run(rt, scenario, waiting_for="merge's output to close once every input was closed: "
        "does the last forwarder to finish close it (and merge() of nothing at once)?")


# -- task 5: leaving early --------------------------------------------------------------------


@pytest.mark.task(5)
def test_leaving_fan_out_early_stops_the_work(impl: Any, rt: Any) -> None:
    """The consumer takes ``k`` results from a long source and leaves. The block must
    end at once, with nothing left running (asyncio, trio: calls of ``fn`` still
    waiting are cancelled; threads cannot be, so there ``fn`` returns at once), and
    read no more of the source than the work in flight needs."""
    k, workers, capacity, long = 5, 3, 1, 200
    bound = k + 2 * (workers + capacity) + 2

    async def scenario(rt: Any, rescue: Rescue) -> None:
        source = Counted(range(long))
        never = rt.event()
        rescue.append(never.set)
        waiting: list[int] = []
        interrupted: list[int] = []

        async def fn(item: int) -> int:
            if rt.is_async and item >= k:  # still running when the consumer leaves
                waiting.append(item)
                try:
                    await never.wait()
                except BaseException:
                    interrupted.append(item)
                    raise
            await rt.checkpoint()
            return result(item)

        before = set(threading.enumerate())
        fan_out = impl.fan_out(source, rt.callback(fn), workers=workers, capacity=capacity)
        async with rt.enter(fan_out) as out:
            await take(rt, out, k, "fan_out's output")
            if rt.is_async:
                await rt.until(lambda: len(waiting) >= workers)
        left = threads_started_since(before)
        reads = source.reads
        await let_others_block(rt)
        assert not left, (f"leaving fan_out's block returned while {len(left)} of its threads "
                          "still ran: it must stop them and join them")
        assert reads <= bound, (f"fan_out read {reads} items of the source for the {k} "
                                f"results taken; leaving the block must stop reading it")
        assert source.reads == reads, "fan_out read its source after its block had ended"
        assert sorted(interrupted) == sorted(waiting), (
            "leaving fan_out's block left calls of fn running: it must cancel them")

    run(rt, scenario, waiting_for="fan_out's block to end once the consumer had left it: "
        "does leaving it stop the work still running?")


@pytest.mark.task(5)
def test_leaving_merge_early_does_not_wait_for_its_inputs(impl: Any, rt: Any) -> None:
    """Three long inputs; the consumer takes four items and leaves, while every input
    is still open. The block must end at once. (Long, not endless: on a channel whose
    send never waits, an endless feeder would never let anything else run.)"""
    long = 200

    async def scenario(rt: Any, rescue: Rescue) -> None:
        inputs = [impl.Channel() for _ in range(3)]
        rescue += [ch.close for ch in inputs]
        async with helpers(rt) as group:
            for ch in inputs:
                group.start_soon(feed, rt, ch, range(long))
            before = set(threading.enumerate())
            try:
                async with rt.enter(impl.merge(*inputs)) as out:
                    await take(rt, out, 4, "merge's output (while every input was open)")
                left = threads_started_since(before)
            finally:
                for ch in inputs:
                    ch.close()  # the feeders end
        assert not left, (f"leaving merge's block returned while {len(left)} of its threads "
                          "still ran: it must stop them and join them")

    run(rt, scenario, waiting_for="merge's block to end once the consumer had left it, its "
        "inputs still open: does leaving it stop the forwarders?")

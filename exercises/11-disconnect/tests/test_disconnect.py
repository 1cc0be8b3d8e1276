"""Chapter 11's grading: ``run_until_hangup(ctx, client, fn)`` runs ``fn(work)`` under a
context ``work`` that the client's hang-up cancels, and nothing else.

Every scenario holds a real TCP connection on loopback (:class:`Line`): the handler's
end is what ``run_until_hangup`` watches, and the test is the client at the other end,
which hangs up (closes), resets, sends more bytes or stays. Real sockets, so trio runs on
the real clock (``mock_clock=False``). The work is the test's own: it waits on its
context (``work.wait()``), so it stops as soon as the context is cancelled, or at the
context's deadline, :data:`WORK_LIMIT_S`, which a correct version never reaches. The
library's ``patterns.probe.serve`` passes every test here.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from patterns.context import Canceled, DeadlineExceeded
from patterns.exercises.grading import background
from patterns.probe.serve import ClientGone

WORK_LIMIT_S = 0.3  # the work's own deadline: a hang-up must cancel it long before
QUIET_S = 0.15  # how long a client that sent bytes and stayed must leave the work alone
CALL_LIMIT_S = 1.0  # a scenario still running after this waits for something that never comes
PIPELINED = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"  # a second request, early


class Boom(Exception):
    """What the work raises, in the test that checks it comes back as itself."""


class Line:
    """A TCP connection on loopback: ``server`` is the handler's end (what
    ``run_until_hangup`` watches), ``client`` the test's (a blocking socket)."""

    def __init__(self) -> None:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            self.client = socket.create_connection(listener.getsockname())
            self.server, _ = listener.accept()

    def handler_end(self, rt: Any) -> Any:
        """The handler's end as ``rt``'s ``run_until_hangup`` takes it: a blocking
        socket (threads), a non-blocking one (asyncio), a trio socket."""
        if rt.name == "asyncio":
            self.server.setblocking(False)
        elif rt.name == "trio":
            return trio.socket.from_stdlib_socket(self.server)
        return self.server

    def hang_up(self) -> None:
        self.client.close()

    def reset(self) -> None:
        """Close with a TCP reset instead of a FIN (``SO_LINGER`` of 0 seconds)."""
        self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.client.close()

    def close(self) -> None:
        self.client.close()
        self.server.close()


@pytest.fixture
def line() -> Iterator[Line]:
    connection = Line()
    try:
        yield connection
    finally:
        connection.close()


async def run_until_hangup(rt: Any, impl: Any, ctx: Any, line: Line, work: Any) -> Any:
    """``impl.run_until_hangup(ctx, <the handler's end>, work)``, ``work`` written once
    as ``async def work(ctx)``."""
    return await rt.call(impl.run_until_hangup, ctx, line.handler_end(rt), rt.callback(work))


def described(outcome: object) -> str:
    if isinstance(outcome, BaseException):
        return f"{type(outcome).__name__}: {outcome}"
    return f"returned {outcome!r}"


def living(rt: Any) -> int:
    """Threads (threads) or tasks (asyncio, trio) alive right now."""
    if rt.name == "threads":
        return threading.active_count()
    if rt.name == "asyncio":
        return len(asyncio.all_tasks())
    return int(trio.lowlevel.current_statistics().tasks_living)


def run(rt: Any, scenario: Any, waiting_for: str) -> Any:
    return rt.run(scenario, mock_clock=False, timeout=CALL_LIMIT_S, waiting_for=waiting_for)


# -- task 1: a hang-up cancels the work's context, with ClientGone as its cause ------------------


def hang_up_scenario(impl: Any, line: Line, how: str) -> Any:
    async def scenario(rt: Any) -> tuple[Any, Any, list[object], bool]:
        ctx = background(rt).with_timeout(WORK_LIMIT_S)
        started = rt.event()
        given: list[Any] = []
        outcome: list[object] = []

        async def work(work_ctx: Any) -> str:
            given.append(work_ctx)
            started.set()
            await rt.call(work_ctx.wait)  # until the context is done: cancelled, or late
            work_ctx.check()
            return "finished"

        async def handler() -> None:
            try:
                outcome.append(await run_until_hangup(rt, impl, ctx, line, work))
            except Exception as exc:  # looked at below
                outcome.append(exc)

        async with rt.task_group() as tg:
            tg.start_soon(handler)
            await started.wait()  # the work runs: now the client leaves
            line.hang_up() if how == "close" else line.reset()
        return ctx, given[0], outcome, ctx.done

    return scenario


def check_cancelled_by_the_hangup(ctx: Any, given: Any, outcome: list[object],
                                  parent_done: bool, how: str) -> None:
    (ended,) = outcome
    assert not isinstance(ended, DeadlineExceeded), (
        f"the client {how} and the work ran on to its own deadline ({WORK_LIMIT_S:g} s): "
        "nothing cancelled its context (is anything watching the client's socket?)")
    assert not isinstance(ended, BaseExceptionGroup), (
        f"run_until_hangup raised {described(ended)}: raise the work's own exception, "
        "itself (a TaskGroup or a nursery wraps what its block raises)")
    assert isinstance(ended, Canceled), (
        f"the client {how}, and run_until_hangup {described(ended)}; the work should "
        "have been stopped by its cancelled context (Canceled)")
    assert given is not ctx, (
        "fn was given ctx itself: give it a child (ctx.with_cancel()), so that the "
        "hang-up cancels this work and never the caller's context")
    assert not parent_done, "the hang-up cancelled the caller's ctx too; cancel only a child"
    assert isinstance(given.cause, ClientGone), (
        f"the work's context was cancelled with cause {given.cause!r}; cancel it with "
        "ClientGone(...) as the cause, so ctx.cause says that the client left")


@pytest.mark.task(1)
def test_a_client_that_hangs_up_cancels_the_work(impl: Any, rt: Any, line: Line) -> None:
    ctx, given, outcome, parent_done = run(
        rt, hang_up_scenario(impl, line, "close"),
        "the work to end after the client hung up (it waits on its context)")
    check_cancelled_by_the_hangup(ctx, given, outcome, parent_done, "hung up")


@pytest.mark.task(1)
def test_a_client_that_resets_cancels_the_work(impl: Any, rt: Any, line: Line) -> None:
    ctx, given, outcome, parent_done = run(
        rt, hang_up_scenario(impl, line, "reset"),
        "the work to end after the client reset the connection (it waits on its context)")
    check_cancelled_by_the_hangup(ctx, given, outcome, parent_done,
                                  "reset the connection (ConnectionResetError, not b'')")


# -- task 2: bytes are not a hang-up; what the work returns or raises comes back ------------------


@pytest.mark.task(2)
def test_bytes_from_a_client_that_stays_are_not_a_hangup(
        impl: Any, rt: Any, line: Line) -> None:
    async def scenario(rt: Any) -> tuple[bool, list[object]]:
        ctx = background(rt).with_timeout(WORK_LIMIT_S)
        started, release = rt.event(), rt.event()
        given: list[Any] = []
        outcome: list[object] = []

        async def work(work_ctx: Any) -> str:
            given.append(work_ctx)
            stop = work_ctx.after(release.set)  # a cancel ends the wait too
            started.set()
            try:
                await release.wait()
            finally:
                stop()
            work_ctx.check()
            return "answered"

        async def handler() -> None:
            try:
                outcome.append(await run_until_hangup(rt, impl, ctx, line, work))
            except Exception as exc:  # looked at below
                outcome.append(exc)

        async with rt.task_group() as tg:
            tg.start_soon(handler)
            await started.wait()
            line.client.sendall(PIPELINED)  # more bytes, and the client stays
            cancelled = await rt.settled(lambda: given[0].done, within=QUIET_S)
            release.set()
        return cancelled, outcome

    cancelled, outcome = run(rt, scenario, "the work to end once released")
    assert not cancelled, (
        "the client sent more bytes (a pipelined request) and stayed, and the work's "
        "context was cancelled: only end of file (b'') or a reset is a hang-up")
    assert outcome == ["answered"], f"run_until_hangup {described(outcome[0])}"


@pytest.mark.task(2)
def test_the_works_value_and_exception_come_back_as_themselves(
        impl: Any, rt: Any, line: Line) -> None:
    async def scenario(rt: Any) -> list[object]:
        outcome: list[object] = []

        async def answers(work_ctx: Any) -> int:
            return 42

        async def fails(work_ctx: Any) -> int:
            raise Boom("the host said no")

        for work in (answers, fails):
            ctx = background(rt).with_timeout(WORK_LIMIT_S)
            try:
                outcome.append(await run_until_hangup(rt, impl, ctx, line, work))
            except Exception as exc:  # looked at below
                outcome.append(exc)
        return outcome

    value, error = run(rt, scenario, "run_until_hangup to return once the work has")
    assert value == 42, f"the work returned 42, and run_until_hangup {described(value)}"
    assert isinstance(error, Boom), (
        f"the work raised Boom, and run_until_hangup {described(error)}: raise the "
        "work's own exception, itself (a TaskGroup or a nursery wraps what its block "
        "raises in an ExceptionGroup: keep it, and raise it after the block)")


# -- task 3: the watcher ends when the work does ----------------------------------------------


@pytest.mark.task(3)
def test_the_watcher_ends_when_the_work_does(impl: Any, rt: Any, line: Line) -> None:
    async def scenario(rt: Any) -> None:
        before = living(rt)
        ctx = background(rt).with_timeout(WORK_LIMIT_S)

        async def work(work_ctx: Any) -> str:
            return "done"

        value = await run_until_hangup(rt, impl, ctx, line, work)
        assert value == "done", f"run_until_hangup {described(value)}"
        # The client is still connected: only the watcher's end can end the watch.
        gone = await rt.settled(lambda: living(rt) <= before)
        what = "thread" if rt.name == "threads" else "task"
        assert gone, (
            f"{living(rt) - before} {what}(s) still running after run_until_hangup "
            f"returned, the client still connected: the watcher outlived the request "
            f"(end it when the work ends)")

    run(rt, scenario, "run_until_hangup to return once the work had, the client still "
        "connected: does the call wait for its watcher, which waits for the client?")

"""Go's pipelines: channels, fan-out and fan-in.

A channel passes values between tasks, with Go's semantics: ``Channel(0)`` is a
rendezvous (a send completes when a receiver takes the value), ``Channel(n)`` buffers
``n``; ``close()`` ends the stream, and a receiver drains what is buffered, then stops.
``merge`` (fan-in), ``fan_out`` and ``pipeline`` wire stages together with channels and
run them as one errgroup: the first error closes the output, cancels every stage and
is raised when the block ends. ``on_threads``, ``on_asyncio`` and ``on_trio`` each
define ``Channel``, ``merge``, ``fan_out`` and ``pipeline``.

The traps the three runtimes set:

- ``asyncio.Queue(0)`` and ``queue.Queue(0)`` are *unbounded*, the opposite of Go's
  ``make(chan T)``; a rendezvous needs a channel of its own.
- A thread blocked sending on a full channel cannot be interrupted; closing the
  channel is the only way to wake it, which is why stopping a threads pipeline closes
  its channels.
- trio splits a channel into a send half and a receive half, so that closing is
  per-handle and "every sender is done" is countable; ``on_trio.Channel`` holds both
  halves to keep Go's single-object shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from patterns.runtimes import runtime_modules

__all__ = ["ChannelClosed", "ChannelStatistics", "EndOfChannel"]


class ChannelClosed(Exception):
    """A send on a closed channel (Go panics: ``send on closed channel``)."""


class EndOfChannel(Exception):
    """A receive from a closed channel with nothing left in it (Go's ``v, ok := <-ch``
    with ``ok == false``)."""


@dataclass(frozen=True, slots=True)
class ChannelStatistics:
    """What ``Channel.statistics()`` reports: its ``capacity``, how many values are
    ``buffered``, how many ``senders_waiting`` and ``receivers_waiting``, and whether
    it is ``closed``."""

    capacity: int
    buffered: int
    senders_waiting: int
    receivers_waiting: int
    closed: bool


__getattr__ = runtime_modules(__name__)

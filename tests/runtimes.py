"""The adapter every behavioural suite is written against, from
:mod:`patterns.exercises.grading` (the chapters' tests use the same one), and the
runtimes they run in."""

from __future__ import annotations

from patterns.exercises.grading import (
    POLL_LIMIT_S,
    Runtime,
    background,
    drive,
    let_others_block,
)
from patterns.runtimes import RUNTIMES

NAMES = RUNTIMES  # the runtimes every behavioural test runs in

__all__ = ["NAMES", "POLL_LIMIT_S", "Runtime", "background", "drive",
           "let_others_block"]

"""``python -m patterns.exercises``: the exercises' command line (see
:mod:`patterns.exercises.cli`)."""

import sys

from patterns.exercises.cli import main

sys.exit(main(prog="python -m patterns.exercises"))

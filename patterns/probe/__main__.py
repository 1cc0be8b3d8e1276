"""``python -m patterns.probe``: the probe's command line (see :mod:`patterns.probe.cli`)."""

import sys

from patterns.probe.cli import main

sys.exit(main())

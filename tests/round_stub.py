"""A row of ``compare`` that is not one of the library's: a program of its own speaking the
round protocol of :mod:`patterns.probe.compare.round`, as ``reference/go`` does.

``python tests/round_stub.py LOG`` reads the JSON request on stdin, appends the
``runtime`` it was asked for to ``LOG`` (so a test can see that this program ran, and
for which row), scans in threads, and prints the one JSON line a round prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from patterns.probe import parse_targets
from patterns.probe.compare.round import scan_once
from patterns.probe.tls import TlsConfig
from patterns.probe.usage import cpu_seconds, peak_memory


def main() -> None:
    request = json.load(sys.stdin)
    with Path(sys.argv[1]).open("a", encoding="utf-8") as log:
        log.write(request["runtime"] + "\n")
    targets = parse_targets("\n".join(request["targets"]))
    tls = TlsConfig(ca_pem=request["ca_pem"]) if request.get("ca_pem") else None
    cpu_before = cpu_seconds()
    results, wall_s = scan_once("threads", targets, request["workers"], request["timeout"],
                                tls)
    print(json.dumps({"wall_s": wall_s, "cpu_s": cpu_seconds() - cpu_before,
                      "peak_memory_bytes": peak_memory(),
                      "outcomes": [result.outcome for result in results]}))


if __name__ == "__main__":
    main()

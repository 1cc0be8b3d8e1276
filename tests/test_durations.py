"""Tests for :mod:`patterns.probe.cli.durations`: Go's durations, read as Go reads them.

The tables are the contract: what each good duration is in seconds, and that each bad
one is a ``ValueError`` quoting the text. Where a Go toolchain is installed, both tables
are also put to Go's own ``time.ParseDuration`` (a ten-line program run with ``go
run``), so "as Go reads them" is checked against Go rather than against our reading of
its source.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from patterns.probe.cli.durations import parse_duration

GOOD = {  # text -> seconds
    "5s": 5.0,
    "1m": 60.0,
    "250ms": 0.25,
    "1m30s": 90.0,
    "1h": 3600.0,
    "1.5s": 1.5,
    ".5s": 0.5,
    "5.s": 5.0,
    "2h45m": 9900.0,
    "1h2m3.5s": 3723.5,
    "1s1s": 2.0,  # Go adds up repeated units too
    "100us": 1e-4,
    "100µs": 1e-4,  # U+00B5 MICRO SIGN
    "100μs": 1e-4,  # U+03BC GREEK SMALL LETTER MU
    "1500ns": 1.5e-6,
    "1ns": 1e-9,
    "+5s": 5.0,
    "-5s": -5.0,
    "0": 0.0,
    "0s": 0.0,
    "2562047h47m16s": 9223372036.0,  # the last whole second of Go's int64 nanoseconds
}

BARE = {  # a bare number is seconds: ours alone (Go wants a unit after all but "0")
    "5": 5.0,
    "2.5": 2.5,
    ".25": 0.25,
    "-1": -1.0,
}

BAD = [
    "",  # nothing
    "s",  # a unit without a number
    ".s",  # a dot is not a number
    "5x",  # an unknown unit
    "5S",  # units are lower case
    "1d", "1w", "1y",  # days, weeks and years are not Go units (nor durationpy's "mm")
    "1mm",
    "1.2.3s",  # two dots
    "1e3s",  # no exponents
    "1h 30m", " 5s", "5s ",  # no spaces
    "5s-1s", "1m-5s", "--5s",  # one sign, in front
    "inf", "nan", "-inf",  # not durations, and not numbers of seconds either
    "2562047h47m17s",  # past Go's int64 of nanoseconds (about 292 years)
    "3000000h",
]


@pytest.mark.parametrize(("text", "seconds"), [*GOOD.items(), *BARE.items()])
def test_a_good_duration_is_its_seconds(text: str, seconds: float) -> None:
    assert math.isclose(parse_duration(text), seconds, rel_tol=1e-15)


@pytest.mark.parametrize("text", BAD)
def test_a_bad_duration_is_a_value_error_quoting_it(text: str) -> None:
    with pytest.raises(ValueError, match="duration") as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)


GO_PROGRAM = """\
// One duration a line on stdin; Go's reading of each on stdout: nanoseconds, or "error".
package main

import (
\t"bufio"
\t"fmt"
\t"os"
\t"time"
)

func main() {
\tin := bufio.NewScanner(os.Stdin)
\tfor in.Scan() {
\t\td, err := time.ParseDuration(in.Text())
\t\tif err != nil {
\t\t\tfmt.Println("error")
\t\t} else {
\t\t\tfmt.Println(d.Nanoseconds())
\t\t}
\t}
}
"""


@pytest.mark.skipif(shutil.which("go") is None,
                    reason="no Go toolchain (Debian: golang-go) to compare with")
def test_go_reads_both_tables_as_we_do(tmp_path: Path) -> None:
    program = tmp_path / "parse.go"
    program.write_text(GO_PROGRAM, encoding="utf-8")
    texts = [*GOOD, *BAD]
    # Stdlib only: no module, no proxy, no toolchain download (GOTOOLCHAIN=local).
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "",
           "GO111MODULE": "auto"}
    done = subprocess.run(["go", "run", str(program)], input="".join(f"{t}\n" for t in texts),
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
                          check=True)
    answers = dict(zip(texts, done.stdout.splitlines(), strict=True))
    for text in GOOD:
        assert answers[text] != "error", f"Go refuses {text!r}"
        assert math.isclose(int(answers[text]) / 1e9, GOOD[text], rel_tol=1e-15), text
    assert [text for text in BAD if answers[text] != "error"] == []

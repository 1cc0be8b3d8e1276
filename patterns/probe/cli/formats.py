"""How a scan's results are written: a table for people, JSON, YAML and Prometheus text
for programs.

Every format takes the same list of :class:`~patterns.probe.ProbeResult` and returns
text (no I/O here, so each is tested by parsing what it returns). :data:`FORMATS` maps a
``--format`` name to its function. Go counterpart: the ``-o table|json|yaml`` flag of
``kubectl``, and ``promhttp`` for the metrics.

:func:`plain_table` is the one table renderer of the tool: ``scan``'s table and
``compare``'s (:mod:`patterns.probe.compare.report`) are both drawn by it.

The Prometheus metrics are built by :class:`Metrics` on a registry of their own, shared by
``scan --format prom`` (one snapshot) and ``serve`` (the same gauges, updated every
round), so the two can never disagree on names or labels.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from patterns.probe import OUTCOMES, ProbeResult

__all__ = ["FORMATS", "Metrics", "as_json", "as_prom", "as_table", "as_yaml", "line",
           "plain_table", "record", "unhealthy_first"]


def record(result: ProbeResult) -> dict[str, Any]:
    """One result as plain data: the target as its hosts-file line (``str(target)``, so
    ``parse_targets`` reads it back), then outcome, status, latency, error, runtime and
    ``cert_expires`` (seconds since the epoch, ``None`` but for https)."""
    return {
        "target": str(result.target),
        "outcome": result.outcome,
        "status": result.status,
        "latency": result.latency,
        "error": result.error,
        "runtime": result.runtime,
        "cert_expires": result.cert_expires,
    }


def as_json(results: Sequence[ProbeResult]) -> str:
    """A JSON list of :func:`record` objects, in the scan's (input) order."""
    return json.dumps([record(r) for r in results], indent=2) + "\n"


def as_yaml(results: Sequence[ProbeResult]) -> str:
    """The same list as :func:`as_json`, in YAML (``safe_dump``: plain types only)."""
    text: str = yaml.safe_dump([record(r) for r in results], sort_keys=False)
    return text


def unhealthy_first(results: Sequence[ProbeResult]) -> list[ProbeResult]:
    """``results`` with the unhealthy first, grouped by outcome in the order of
    :data:`~patterns.probe.OUTCOMES`, ``ok`` last; the sort is stable, so within an
    outcome the input order stays."""
    return sorted(results, key=lambda r: (r.healthy, OUTCOMES.index(r.outcome)))


def _latency_text(latency: float | None) -> str:
    return "-" if latency is None else f"{latency * 1000:.0f} ms"


def _row(result: ProbeResult) -> list[str]:
    return [str(result.target), result.outcome,
            "-" if result.status is None else str(result.status),
            _latency_text(result.latency), result.error or ""]


def plain_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, one row per line, rendered by ``rich``.

    No colour, no borders and no wrapping whatever the terminal's width: piped into
    ``less``, ``grep`` or a file it stays one row per line. Cells are plain text, never
    rich markup (an error's ``[Errno 111]`` and an IPv6 ``[::1]`` stay as they are).
    Used by ``scan``'s table and by ``compare``'s.

    >>> print(plain_table(["TARGET", "OUTCOME"], [["tcp://[::1]:22", "refused"]]))
    TARGET          OUTCOME
    tcp://[::1]:22  refused
    """
    from rich.console import Console  # only a table needs rich: a JSON scan skips it
    from rich.table import Table
    from rich.text import Text

    table = Table(*header, box=None, pad_edge=False, show_edge=False, header_style="")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    out = io.StringIO()
    Console(file=out, width=100_000, color_system=None, no_color=True,
            highlight=False).print(table, soft_wrap=False)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def as_table(results: Sequence[ProbeResult]) -> str:
    """The results as a :func:`plain_table`, unhealthy first, and a summary line."""
    header = ["TARGET", "OUTCOME", "STATUS", "LATENCY", "ERROR"]
    healthy = sum(r.healthy for r in results)
    return (plain_table(header, [_row(r) for r in unhealthy_first(results)]) + "\n"
            + f"{len(results)} results: {healthy} healthy, "
              f"{len(results) - healthy} unhealthy\n")


def line(result: ProbeResult) -> str:
    """One result on one line, for ``check``: target, outcome, status, latency, error."""
    return "  ".join(cell for cell in _row(result) if cell and cell != "-") + "\n"


class Metrics:
    """The per-target Prometheus gauges of a scan, on a registry of their own, named and
    typed as Prometheus's blackbox exporter names them, so the dashboards and alerts an
    operator already has for it work unchanged (each labelled ``target``: the target's
    hosts-file line):

    - ``probe_success``: 1 if the last probe was healthy, else 0;
    - ``probe_duration_seconds``: how long the last probe took;
    - ``probe_http_status_code``: for ``http`` and ``https`` targets, the status of the
      last response, and 0 when none arrived (refused, timed out, garbage), as the
      blackbox exporter says it;
    - ``probe_ssl_earliest_cert_expiry``: the certificate's ``notAfter`` in seconds
      since the epoch (:attr:`~patterns.probe.ProbeResult.cert_expires`), only for a
      target whose last probe saw one (alert on ``probe_ssl_earliest_cert_expiry -
      time() < 14 * 86400``);
    - ``probe_outcome{target, outcome}``: this tool's own, beside the blackbox names: 1
      for the last probe's outcome and 0 for the others, so a query never finds two
      current outcomes for one target (the usual way to export an enum as gauges). The
      blackbox exporter has no such enum (a failure is ``probe_success`` 0 and a log
      line), and *why* a host is down is what this tool's outcomes are for.

    A gauge says what the last probe found: a value the last probe did not give (no
    certificate this time, no latency for a probe that never started) is removed, not
    left at what an earlier round said. A fresh registry, not the process-wide default
    one: what is exported is exactly these gauges, and tests can build as many as they
    like. Go counterpart: the blackbox exporter's ``prometheus.NewRegistry()`` per probe.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Help texts in the blackbox exporter's words, where it has some.
        self.success = Gauge("probe_success", "Displays whether or not the probe was a success",
                             ["target"], registry=self.registry)
        self.duration = Gauge("probe_duration_seconds",
                              "Returns how long the probe took to complete in seconds",
                              ["target"], registry=self.registry)
        self.status = Gauge("probe_http_status_code",
                            "Response HTTP status code (0 if no response arrived)",
                            ["target"], registry=self.registry)
        self.cert_expiry = Gauge("probe_ssl_earliest_cert_expiry",
                                 "Returns earliest SSL cert expiry in unixtime",
                                 ["target"], registry=self.registry)
        self.outcome = Gauge("probe_outcome", "1 for the outcome of the last probe, else 0",
                             ["target", "outcome"], registry=self.registry)

    def update(self, results: Sequence[ProbeResult]) -> None:
        """Set every gauge of each result's target from that result."""
        for result in results:
            target = str(result.target)
            self.success.labels(target).set(1 if result.healthy else 0)
            _set_or_remove(self.duration, target, result.latency)
            if result.target.speaks_http:  # a tcp or icmp probe has no status to give
                self.status.labels(target).set(result.status or 0)
            _set_or_remove(self.cert_expiry, target, result.cert_expires)
            for outcome in OUTCOMES:
                self.outcome.labels(target, outcome).set(1 if outcome == result.outcome else 0)

    def text(self) -> str:
        """The registry in the Prometheus text exposition format (labels escaped)."""
        return generate_latest(self.registry).decode("utf-8")


def _set_or_remove(gauge: Gauge, target: str, value: float | None) -> None:
    """``gauge{target}`` set to ``value``, or gone if the last probe gave none."""
    if value is not None:
        gauge.labels(target).set(value)
    else:
        with contextlib.suppress(KeyError):  # older prometheus_client: never set
            gauge.remove(target)


def as_prom(results: Sequence[ProbeResult]) -> str:
    """The results as Prometheus text: the gauges of :class:`Metrics`, set once."""
    metrics = Metrics()
    metrics.update(results)
    return metrics.text()


FORMATS: dict[str, Callable[[Sequence[ProbeResult]], str]] = {
    "table": as_table,
    "json": as_json,
    "yaml": as_yaml,
    "prom": as_prom,
}
"""``--format`` name -> the function that writes the results in it."""

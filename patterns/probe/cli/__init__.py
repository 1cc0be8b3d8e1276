"""The command line of the probe workload: ``python -m patterns.probe`` or ``patterns-probe``.

Commands (``--help`` on each lists its flags and defaults):

- ``scan --targets FILE --runtime {threads,asyncio,trio} --workers N --timeout S
  --format {table,json,yaml,prom} [--rate 50/s]``: probe every target of a hosts file
  (``hosts.txt`` when ``--targets`` names none, for ``serve`` too) and print the
  results; a progress bar on stderr when it is a terminal; ``--rate``
  starts at most that many probes a second (:mod:`patterns.ratelimit`); ``--cluster
  ADDRESS`` runs it in shards on a Dask cluster (:mod:`patterns.probe.cluster`;
  ``tcp://HOST:PORT`` or ``local``), and prints the same (a cluster it cannot reach,
  or one that loses a shard for good, is one line on stderr and exit 2);
- ``check TARGET --timeout S``: probe one target (``tcp://127.0.0.1:22``), print one line;
- ``scan``, ``check`` and ``serve`` verify an ``https`` target's certificate against the
  system's store; ``--ca FILE`` trusts a PEM bundle too, ``--insecure`` verifies nothing
  (:class:`~patterns.probe.tls.TlsConfig`);
- ``fleet --hosts N --profile P --seed S --targets-out FILE``: run a simulated
  :class:`~patterns.probe.fleet.Fleet` and write its hosts file, until Ctrl-C
  (``--ca-out FILE``: and its CA, for ``scan --ca`` of the ``tls`` profile's hosts);
  ``fleet --list`` prints each host's role, truth and delay instead, ``fleet --measure``
  the requests per second the fleet sustains (the ``ideal`` fleet, unless ``--profile``
  says otherwise);
- ``serve --port 9100 --targets FILE --interval S --runtime R``: probe every ``S``
  seconds and export per-target gauges at ``http://127.0.0.1:9100/metrics``; its
  server (:mod:`patterns.probe.serve`, in the same runtime) also answers
  ``/probe?target=URL`` with one probe's result as JSON, a probe that stops when the
  client hangs up;
- ``compare --hosts N --workers N --profile P --rounds N --runtimes LIST --format
  {table,json,markdown}``: scan one simulated fleet in each runtime, interleaved, and
  compare them (:mod:`patterns.probe.compare`); ``--runtimes`` takes a comma-separated
  list of ``threads``, ``asyncio``, ``trio``, ``uvloop`` and ``go`` (default: the first
  three, and uvloop and go where they can run here; a row that cannot is one line
  under the table). Exit 0, or 1 if a runtime classified a host against the fleet's
  truth.

**Durations.** Every flag that takes seconds (``S`` above: ``--timeout``, ``--interval``,
``fleet --seconds``) takes a Go duration too, as Go's ``flag.Duration`` reads it:
``--timeout 5s``, ``--interval 1m30s``, ``250ms``, ``1.5s``; a bare number is seconds
(:mod:`patterns.probe.cli.durations`). A bad one, or one not above zero, is bad usage.

**Exit codes.** ``scan`` and ``check``: 0 every target healthy, 1 some unhealthy, 2 bad
usage or input (one line on stderr, never a traceback), 128 + the signal when stopped
by one: 130 for Ctrl-C (SIGINT), 143 for SIGTERM, after printing the results that
finished. ``fleet`` and ``serve`` run until a signal stops them, and say so the same
way (130 or 143); 2 for bad input, 1 if the fleet cannot start.

**Stopping.** A signal never raises into a command: every command that runs until
stopped runs under :func:`~patterns.context.on_threads.notify_context` (Go's
``signal.NotifyContext``), in the runtime it drives. The first SIGINT or SIGTERM
cancels the command's context with a :class:`~patterns.context.Signaled` cause: the
probes in flight stop, the scan returns the results that finished, and the command
prints them and exits ``128 +`` that signal. A second signal stops at once: asyncio
and trio cut the block short (``scan`` still prints what had finished), threads end
the process with the same code. No other module installs a signal handler.

Go counterpart: a ``main`` with ``flag`` subcommands and ``signal.NotifyContext``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import math
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from patterns.context import Canceled, Signaled
from patterns.probe import ProbeResult, Target, TargetError, parse_targets
from patterns.probe.cli.durations import parse_duration
from patterns.probe.cli.formats import FORMATS, Metrics, line
from patterns.probe.tls import TlsConfig, TlsConfigError
from patterns.ratelimit import parse_rate
from patterns.runtimes import RUNTIMES, RuntimeName

if TYPE_CHECKING:
    from patterns.probe.fleet import Fleet

__all__ = ["EXIT_OK", "EXIT_UNHEALTHY", "EXIT_USAGE", "InputError", "Plan", "drive",
           "main", "read_targets"]

PROG = "patterns-probe"

HOSTS_FILE = "hosts.txt"
"""The hosts file ``scan`` and ``serve`` read when ``--targets`` names none, in the
current folder, so ``patterns-probe serve --port 9100`` works as pulse's line does."""

EXIT_OK = 0
"""Every target is healthy (``fleet``, ``serve``: stopped as asked)."""
EXIT_UNHEALTHY = 1
"""Some target is unhealthy (``fleet``: the fleet could not start)."""
EXIT_USAGE = 2
"""Bad usage or input: a flag, a file, a line of it; argparse uses 2 as well."""


class InputError(Exception):
    """Bad input that ends the command with one line on stderr and exit code 2; the
    message says what and where (``hosts.txt:3: port 70000 is out of range``)."""


# -- reading input ----------------------------------------------------------------------


def read_targets(path: str) -> list[Target]:
    """The targets of the hosts file at ``path``; :class:`InputError` naming the file
    (and the line, where there is one) if it cannot be read, is not UTF-8, has a bad
    line, or has no targets at all."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        number = data[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{number}: not UTF-8 text") from None
    try:
        targets = parse_targets(text, source=path)
    except TargetError as exc:
        raise InputError(str(exc)) from None
    if not targets:
        raise InputError(f"{path}: no targets (one per line: tcp://host:port, "
                         f"http://host:port/path, https://host/path or icmp://host)")
    return targets


def _tls_config(ca: str | None, insecure: bool) -> TlsConfig | None:
    """The TLS config of ``--ca FILE`` and ``--insecure`` (``None``: neither given, the
    system's store); :class:`InputError` naming the file if it is no PEM bundle."""
    if ca is None:
        return TlsConfig(insecure=True) if insecure else None
    try:
        return TlsConfig.from_file(ca, insecure=insecure)
    except TlsConfigError as exc:
        raise InputError(f"--ca {exc}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not at least 1")
    return value


def _positive_seconds(text: str) -> float:
    """A flag that takes seconds: a Go duration (``5s``, ``250ms``, ``1m30s``) or a bare
    number of seconds (:func:`~patterns.probe.cli.durations.parse_duration`), above zero."""
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration")
    return value


_SECONDS_HELP = "a Go duration (5s, 250ms, 1m30s) or seconds"


def _rate(text: str) -> float:
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is out of range (0-65535)")
    return value


# -- running scans until done or stopped ------------------------------------------------


@dataclass
class Plan:
    """What :func:`drive` runs: ``targets`` probed ``workers`` at a time, each within
    ``timeout`` seconds, at most ``rate`` starting a second if it is given; once, or
    with ``interval`` a new round that many seconds after each one ends, until a signal;
    ``https`` targets trusting ``tls``.
    ``on_start()`` is called once the signal handlers are in place and before the first
    probe; ``on_result(result)`` as each probe finishes; ``on_round(results)`` as each
    round that a signal did not cut short ends.

    ``beside(ctx)``, if given, runs beside the rounds, in the same runtime and under
    the rounds' context (``serve``'s HTTP server): a function in threads, which gets a
    thread of its own, an async function in asyncio and trio, which gets a task. It
    must return once ``ctx`` is cancelled, which happens when the rounds end."""

    targets: list[Target]
    workers: int
    timeout: float
    interval: float | None = None
    on_start: Callable[[], object] = lambda: None
    on_result: Callable[[ProbeResult], object] | None = None
    on_round: Callable[[list[ProbeResult]], object] = lambda results: None
    beside: Callable[[Any], Any] | None = None
    rate: float | None = None
    tls: TlsConfig | None = None


def drive(runtime: str, plan: Plan) -> tuple[list[ProbeResult], int | None]:
    """Run ``plan`` in ``runtime`` until it is done or SIGINT or SIGTERM stops it.

    Returns the results of the last round (in input order; those that finished, if a
    signal cut the round short) and the number of the signal, or ``None``.
    """
    if runtime == "threads":
        return _drive_threads(plan)
    if runtime == "asyncio":
        return asyncio.run(_drive_asyncio(plan))
    if runtime == "trio":
        import trio  # only the runtime you name is imported

        return trio.run(_drive_trio, plan)
    raise ValueError(f"unknown runtime {runtime!r}")


class _Round:
    """The results of the round running, as they finish, for a round cut short."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._place = {target: n for n, target in enumerate(plan.targets)}
        self.finished: list[ProbeResult] = []

    def begin(self) -> None:
        self.finished = []

    def on_result(self, result: ProbeResult) -> None:
        self.finished.append(result)
        if self._plan.on_result is not None:
            self._plan.on_result(result)

    def cut_short(self) -> list[ProbeResult]:
        """What finished, in input order, like a scan's own results."""
        return sorted(self.finished, key=lambda result: self._place[result.target])


def _signal_of(cause: BaseException | None) -> int | None:
    return cause.signal if isinstance(cause, Signaled) else None


def _drive_threads(plan: Plan) -> tuple[list[ProbeResult], int | None]:
    import threading

    from patterns.context.on_threads import notify_context
    from patterns.probe.on_threads import scan

    results: list[ProbeResult] = []
    failure: list[BaseException] = []
    # The scan runs in the main thread, which the handler interrupts: notify_context's
    # handler takes no lock, and its own thread does the cancelling.
    with notify_context() as ctx:
        # What runs beside the rounds has a context of its own, cancelled when they end,
        # so that the rounds' end is never mistaken for a signal.
        beside_ctx = ctx.with_cancel()

        def beside() -> None:
            assert plan.beside is not None
            try:
                plan.beside(beside_ctx)
            except BaseException as exc:  # a bug: re-raised in the main thread below
                failure.append(exc)
                ctx.cancel(exc)  # and the rounds stop for it

        server = None
        if plan.beside is not None:
            server = threading.Thread(target=beside, name="patterns.probe beside")
            server.start()
        plan.on_start()
        try:
            with contextlib.suppress(Canceled):  # ctx.sleep between rounds, on a signal
                while True:
                    results = scan(plan.targets, workers=plan.workers,
                                   timeout=plan.timeout, ctx=ctx, on_result=plan.on_result,
                                   rate=plan.rate, tls=plan.tls)
                    if ctx.done or plan.interval is None:
                        break
                    plan.on_round(results)
                    ctx.sleep(plan.interval)
        finally:
            beside_ctx.cancel()  # the rounds are over: so is what ran beside them
            if server is not None:
                server.join()
    if failure:
        raise failure[0]
    return results, _signal_of(ctx.cause)


async def _drive_asyncio(plan: Plan) -> tuple[list[ProbeResult], int | None]:
    from patterns.context.on_asyncio import notify_context
    from patterns.probe.on_asyncio import scan

    results: list[ProbeResult] = []
    current = _Round(plan)
    try:
        async with notify_context() as ctx, asyncio.TaskGroup() as tg:
            beside_ctx = ctx.with_cancel()  # as in threads: the rounds' end is no signal
            if plan.beside is not None:
                tg.create_task(plan.beside(beside_ctx))
            plan.on_start()
            try:
                with contextlib.suppress(Canceled):
                    while True:
                        current.begin()
                        results = await scan(plan.targets, workers=plan.workers,
                                             timeout=plan.timeout, ctx=ctx,
                                             on_result=current.on_result, rate=plan.rate,
                                             tls=plan.tls)
                        if ctx.done or plan.interval is None:
                            break
                        plan.on_round(results)
                        await ctx.sleep(plan.interval)
            finally:
                beside_ctx.cancel()  # the rounds are over: so is what ran beside them
    except Signaled as stop:  # a second signal: the round was cut short
        return current.cut_short(), stop.signal
    return results, _signal_of(ctx.cause)


async def _drive_trio(plan: Plan) -> tuple[list[ProbeResult], int | None]:
    import trio

    from patterns.context.on_trio import notify_context
    from patterns.probe.on_trio import scan

    results: list[ProbeResult] = []
    current = _Round(plan)
    try:
        async with notify_context() as ctx, trio.open_nursery() as nursery:
            beside_ctx = ctx.with_cancel()  # as in threads: the rounds' end is no signal
            if plan.beside is not None:
                nursery.start_soon(plan.beside, beside_ctx)
            plan.on_start()
            try:
                with contextlib.suppress(Canceled):
                    while True:
                        current.begin()
                        results = await scan(plan.targets, workers=plan.workers,
                                             timeout=plan.timeout, ctx=ctx,
                                             on_result=current.on_result, rate=plan.rate,
                                             tls=plan.tls)
                        if ctx.done or plan.interval is None:
                            break
                        plan.on_round(results)
                        await ctx.sleep(plan.interval)
            finally:
                beside_ctx.cancel()  # the rounds are over: so is what ran beside them
    except Signaled as stop:  # a second signal: the round was cut short
        return current.cut_short(), stop.signal
    return results, _signal_of(ctx.cause)


@contextlib.contextmanager
def _progress(total: int, what: str = "probing", *,
              verbose: bool = False) -> Iterator[Callable[[Any], object] | None]:
    """A transient progress bar on stderr if stderr is a terminal, and the callback that
    advances it; no bar and ``None`` when stderr is piped (a log has no use for one).
    ``verbose``: instead, one line on stderr per result as it finishes, for a log."""
    if verbose:
        yield lambda result: print(line(result), end="", file=sys.stderr, flush=True)
        return
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(what, total=total)
        yield lambda done: progress.advance(task)


def _exit_for(results: Sequence[ProbeResult], signum: int | None) -> int:
    if signum is not None:
        return 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM
    return EXIT_OK if all(r.healthy for r in results) else EXIT_UNHEALTHY


# -- the commands -----------------------------------------------------------------------


def _scan(args: argparse.Namespace) -> int:
    targets = read_targets(args.targets)
    tls = _tls_config(args.ca, args.insecure)
    render = FORMATS[args.format]

    def on_start() -> None:
        rate = "" if args.rate is None else f", at most {args.rate:g}/s"
        print(f"scanning {len(targets)} targets with {args.runtime}, {args.workers} "
              f"workers, timeout {args.timeout:g} s{rate}", file=sys.stderr, flush=True)

    with _progress(len(targets), verbose=args.verbose) as advance:
        plan = Plan(targets, args.workers, args.timeout, on_start=on_start, on_result=advance,
                    rate=args.rate, tls=tls)
        if args.cluster is None:
            results, signum = drive(args.runtime, plan)
        else:
            results, signum = _drive_cluster(args.cluster, args.runtime, plan)
    sys.stdout.write(render(results))
    sys.stdout.flush()
    if signum is not None:
        print(f"interrupted by {signal.Signals(signum).name}: {len(results)} of "
              f"{len(targets)} targets probed", file=sys.stderr)
    return _exit_for(results, signum)


def _drive_cluster(address: str, runtime: RuntimeName,
                   plan: Plan) -> tuple[list[ProbeResult], int | None]:
    """``drive`` for ``scan --cluster``: ``plan``'s targets in shards on the Dask cluster
    at ``address`` (:mod:`patterns.probe.cluster`), each shard a scan in ``runtime``.
    This process only waits for the shards, so it waits in threads, whatever the
    runtime: the first signal cancels the shards that have not finished, and the
    results of those that had are returned."""
    from patterns.context.on_threads import notify_context
    from patterns.probe import cluster

    results: list[ProbeResult] = []
    with notify_context() as ctx:
        try:
            with cluster.connect(address) as client:
                plan.on_start()
                results = cluster.scan(plan.targets, client=client, runtime=runtime,
                                       workers=plan.workers, timeout=plan.timeout, ctx=ctx,
                                       on_result=plan.on_result, rate=plan.rate,
                                       tls=plan.tls)
        except cluster.ClusterError as exc:
            raise InputError(f"--cluster {address}: {exc}") from None
    return results, _signal_of(ctx.cause)


def _runtimes(text: str) -> list[str]:
    """``compare --runtimes``: comma-separated row names, each once."""
    from patterns.probe.compare.rows import ROWS

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no runtime")
    for name in names:
        if name not in ROWS:
            raise argparse.ArgumentTypeError(
                f"unknown runtime {name!r} (choose from {', '.join(ROWS)})")
    if len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(f"{text!r} names a runtime twice")
    return names


def _cluster_address(text: str) -> str:
    from patterns.probe.cluster import parse_address  # needs no distributed

    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _check(args: argparse.Namespace) -> int:
    try:
        targets = parse_targets(args.target)
    except TargetError as exc:
        raise InputError(f"bad target {args.target!r}: {exc.reason}") from None
    if len(targets) != 1:
        raise InputError(f"expected one target, like tcp://127.0.0.1:22, not {args.target!r}")
    tls = _tls_config(args.ca, args.insecure)
    results, signum = drive(args.runtime, Plan(targets, 1, args.timeout, tls=tls))
    for result in results:
        sys.stdout.write(line(result))
    return _exit_for(results, signum)


def _fleet(args: argparse.Namespace) -> int:
    from patterns.probe.fleet import Fleet

    # --measure drives the ideal fleet unless told otherwise: every host answers, each
    # after the same delay, so what a scan asks of it is known.
    profile = args.profile or ("ideal" if args.measure else "standard")
    try:
        fleet = Fleet(args.hosts, profile, args.seed)
    except ValueError as exc:
        raise InputError(f"fleet: {exc}") from None
    if args.list or args.measure:  # one look at the fleet, then stop it
        if not _started(fleet):
            return EXIT_UNHEALTHY
        try:
            if args.list:
                _describe_fleet(fleet)
            else:
                _measure_fleet(fleet, args)
        finally:
            fleet.close()
        return EXIT_OK
    from patterns.context.on_threads import notify_context

    with notify_context() as ctx:
        if not _started(fleet):
            return EXIT_UNHEALTHY
        try:
            text = "".join(f"{target}\n" for target in fleet.targets)
            outputs = {args.targets_out: text}
            if args.ca_out is not None:
                if fleet.ca_pem is None:
                    raise InputError(f"--ca-out: the {profile} fleet has no TLS hosts")
                outputs[args.ca_out] = fleet.ca_pem
            for path, content in outputs.items():
                try:
                    Path(path).write_text(content, encoding="utf-8")
                except OSError as exc:
                    raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
            print(f"fleet of {args.hosts} hosts ({profile}, seed {args.seed}) running; "
                  f"hosts file {args.targets_out}; Ctrl-C to stop", file=sys.stderr, flush=True)
            ctx.wait()  # until a signal cancels it
        finally:
            fleet.close()
    signum = _signal_of(ctx.cause)
    assert signum is not None  # nothing else ends the wait
    return 128 + signum  # stopped by a signal, like every command: 130 or 143


def _started(fleet: Fleet) -> bool:
    """Start ``fleet``; ``False``, after one line on stderr, if it cannot start."""
    try:
        fleet.start()
    except RuntimeError as exc:
        print(f"{PROG}: the fleet did not start: {exc}", file=sys.stderr)
        return False
    return True


def _describe_fleet(fleet: Fleet) -> None:
    for target in fleet.targets:
        latency = fleet.latency[target]
        when = "never" if math.isinf(latency) else f"{latency * 1000:.0f} ms"
        print(f"{target!s:50} {fleet.roles[target]:14} {fleet.truth[target]:17} {when}")


def _measure_fleet(fleet: Fleet, args: argparse.Namespace) -> None:
    """Drive the fleet with GETs as probes make them, and say how far above a scan's
    demand it stays (measure it on the ``ideal`` profile, whose hosts all answer)."""
    from patterns.probe.fleet import measure_capacity, scan_demand

    capacity = measure_capacity(fleet, args.seconds, concurrency=args.concurrency)
    demand = scan_demand(100)  # a scan at 100 workers of hosts that answer in 50 ms
    print(f"sustained {capacity.per_second:,.0f} requests/s ({capacity.requests:,} in "
          f"{capacity.seconds:.1f} s, {capacity.failures:,} failed, {capacity.concurrency} "
          f"in flight): {capacity.per_second / demand:.1f}x the {demand:,.0f}/s that a "
          f"100-host scan at 100 workers asks")
    if capacity.ceiling is not None and capacity.server_cpu_s and capacity.requests:
        print(f"the fleet's process spent {capacity.server_cpu_s:.2f} CPU s, "
              f"{capacity.server_cpu_s / capacity.requests * 1e6:.0f} us per request: "
              f"{capacity.ceiling:,.0f} requests per CPU second, "
              f"{capacity.ceiling / demand:.1f}x that demand")
    if capacity.failures:
        print("some requests failed: lower --concurrency, or raise the open-files limit "
              "(ulimit -n)", file=sys.stderr)


def _serve(args: argparse.Namespace) -> int:
    from patterns.probe.serve import App

    targets = read_targets(args.targets)
    tls = _tls_config(args.ca, args.insecure)
    metrics = Metrics()
    family = socket.AF_INET6 if ":" in args.bind else socket.AF_INET
    try:
        listener = socket.create_server((args.bind, args.port), family=family)
    except OSError as exc:
        raise InputError(f"cannot listen on {args.bind}:{args.port}: "
                         f"{exc.strerror or exc}") from None
    with listener:
        port = listener.getsockname()[1]  # the one the kernel chose, for --port 0
        app = App(metrics.registry, timeout=args.timeout, tls=tls)
        server = importlib.import_module(f"patterns.probe.serve.on_{args.runtime}")

        def on_start() -> None:
            print(f"serving http://{args.bind}:{port}/metrics and /probe?target=URL: "
                  f"probing {len(targets)} targets every {args.interval:g} s with "
                  f"{args.runtime}", file=sys.stderr, flush=True)

        # Each result updates its gauges at once, so a scrape mid-round sees fresh ones.
        rounds = iter(range(1, sys.maxsize))

        def on_round(results: list[ProbeResult]) -> None:
            healthy = sum(result.healthy for result in results)
            print(f"round {next(rounds)}: {healthy} of {len(results)} targets healthy",
                  file=sys.stderr, flush=True)

        plan = Plan(targets, args.workers, args.timeout, interval=args.interval,
                    on_start=on_start, on_result=lambda result: metrics.update([result]),
                    on_round=on_round, beside=lambda ctx: server.serve(ctx, listener, app),
                    tls=tls)
        _, signum = drive(args.runtime, plan)
    return EXIT_OK if signum is None else 128 + signum


def _compare(args: argparse.Namespace) -> int:
    from patterns.context.on_threads import notify_context
    from patterns.probe.compare import RoundRunner, compare
    from patterns.probe.compare.report import as_markdown, as_table
    from patterns.probe.compare.rows import default_runtimes

    runner = RoundRunner()
    names, unavailable = (args.runtimes, {}) if args.runtimes else default_runtimes()
    # Each row's command now (go is built the first time), so that a row that cannot
    # run is known before the fleet starts, and said once under the table.
    unavailable |= runner.prepare(names)
    rows = [name for name in names if name not in unavailable]
    if not rows:
        raise InputError("compare: no runtime can run here: " + "; ".join(
            f"{name}: {why}" for name, why in unavailable.items()))
    settings = {"hosts": args.hosts, "workers": args.workers, "rounds": args.rounds,
                "seed": args.seed, "timeout": args.timeout}
    profiles = [args.profile]
    if args.format == "markdown" and args.profile != "hostile":
        profiles.append("hostile")  # the written comparison tells how failure went too
    comparisons = []
    with notify_context() as ctx, _progress(len(profiles) * args.rounds * len(rows),
                                            "rounds") as advance:
        # A signal kills the round running (from notify_context's thread): its process
        # is no use half done, and every later round refuses to start.
        ctx.after_cancel(runner.stop)
        # Said once the handlers are in place: from here on a signal stops it cleanly.
        rounds = f"{args.rounds} round{'s' if args.rounds > 1 else ''}"
        print(f"comparing {', '.join(rows)}: {args.hosts} hosts "
              f"({' then '.join(profiles)}), {args.workers} workers, {rounds} each",
              file=sys.stderr, flush=True)
        for profile in profiles:
            try:
                comparisons.append(compare(profile=profile, runtimes=rows, runner=runner,
                                           on_round=advance, **settings))
            except (ValueError, RuntimeError) as exc:
                raise InputError(f"compare: {exc}") from None
            if ctx.done:
                break
    signum = _signal_of(ctx.cause)
    for each in comparisons:
        each.stopped_by = signum
        each.unavailable = {**unavailable, **each.unavailable}
    main = comparisons[0]
    if main.rounds_done:
        if args.format == "json":
            sys.stdout.write(main.as_json())
        elif args.format == "markdown":
            command = (f"python -m patterns.probe compare --hosts {args.hosts} --workers "
                       f"{args.workers} --profile {args.profile} --rounds {args.rounds} "
                       f"--seed {args.seed} --timeout {args.timeout:g} "
                       f"--runtimes {','.join(names)} --format markdown")
            hostile = comparisons[1] if len(comparisons) > 1 and comparisons[1].rounds_done \
                else None
            sys.stdout.write(as_markdown(main, command=command, hostile=hostile))
        else:
            sys.stdout.write(as_table(main))
    if signum is not None:
        print(f"interrupted by {signal.Signals(signum).name} after "
              f"{main.rounds_done} of {args.rounds} rounds", file=sys.stderr)
        return 128 + signum
    wrong = any(f.correct < f.hosts for c in comparisons for f in c.runtimes.values())
    return EXIT_UNHEALTHY if wrong else EXIT_OK


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line: ``patterns-probe scan: error: ...``.
    (The default prints the whole usage first; ``--help`` is there for that.)"""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG, description="Probe hosts in three runtimes: OS threads, asyncio, trio.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def runtime_flags(sub: argparse.ArgumentParser, timeout: float) -> None:
        sub.add_argument("--runtime", choices=RUNTIMES, default="threads",
                         help="default: %(default)s")
        sub.add_argument("--timeout", type=_positive_seconds, default=timeout, metavar="S",
                         help=f"for each probe: {_SECONDS_HELP} (default: %(default)gs)")
        tls_flags(sub)

    def tls_flags(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--ca", metavar="FILE",
                         help="https: trust the CAs of this PEM bundle too")
        sub.add_argument("--insecure", action="store_true",
                         help="https: skip certificate verification (expiry still reported)")

    scan = commands.add_parser("scan", help="probe every target of a hosts file")
    scan.add_argument("--targets", default=HOSTS_FILE, metavar="FILE",
                      help="the hosts file (default: %(default)s)")
    runtime_flags(scan, 2.0)
    scan.add_argument("--workers", type=_positive_int, default=20, metavar="N",
                      help="probes at a time (default: %(default)s)")
    scan.add_argument("--format", choices=list(FORMATS), default="table",
                      help="default: %(default)s")
    scan.add_argument("--rate", type=_rate, metavar="R",
                      help="start at most R probes a second: 50/s, 3/m, 10/h or a number "
                           "per second (default: no limit)")
    scan.add_argument("--verbose", "-v", action="store_true",
                      help="a line on stderr per probe as it finishes, instead of a bar")
    scan.add_argument("--cluster", type=_cluster_address, metavar="ADDRESS",
                      help="run the scan in shards on a Dask cluster: tcp://HOST:PORT (a "
                           "scheduler) or local (a cluster of processes on this machine); "
                           "needs pip install 'patterns[cluster]'")
    scan.set_defaults(run=_scan)

    check = commands.add_parser("check", help="probe one target, print one line")
    check.add_argument("target", metavar="TARGET", help="e.g. http://127.0.0.1:8080/healthz")
    runtime_flags(check, 2.0)
    check.set_defaults(run=_check)

    fleet = commands.add_parser("fleet", help="run a simulated fleet until Ctrl-C")
    fleet.add_argument("--hosts", type=_positive_int, default=100, metavar="N")
    fleet.add_argument("--profile", choices=("ideal", "standard", "hostile", "tls"),
                       help="default: standard (ideal with --measure)")
    fleet.add_argument("--seed", type=int, default=0)
    what = fleet.add_mutually_exclusive_group(required=True)
    what.add_argument("--targets-out", metavar="FILE",
                      help="run the fleet until Ctrl-C, its hosts file written here")
    what.add_argument("--list", action="store_true",
                      help="print each host's target, role, truth and delay, then stop")
    what.add_argument("--measure", action="store_true",
                      help="measure the requests per second the fleet sustains, then stop")
    fleet.add_argument("--ca-out", metavar="FILE",
                       help="with --targets-out: write the fleet's CA here (--profile tls)")
    fleet.add_argument("--seconds", type=_positive_seconds, default=2.0, metavar="S",
                       help=f"how long --measure drives it: {_SECONDS_HELP} "
                            f"(default: %(default)gs)")
    fleet.add_argument("--concurrency", type=_positive_int, default=500, metavar="N",
                       help="requests in flight for --measure (default: %(default)s)")
    fleet.set_defaults(run=_fleet)

    serve = commands.add_parser("serve", help="probe on a schedule, export /metrics")
    serve.add_argument("--targets", default=HOSTS_FILE, metavar="FILE",
                       help="the hosts file (default: %(default)s)")
    serve.add_argument("--port", type=_port, default=9100,
                       help="default: %(default)s; 0 picks a free one")
    serve.add_argument("--bind", default="127.0.0.1", metavar="ADDRESS",
                       help="default: %(default)s (this machine only)")
    serve.add_argument("--interval", type=_positive_seconds, default=15.0, metavar="S",
                       help=f"between rounds: {_SECONDS_HELP} (default: %(default)gs)")
    serve.add_argument("--workers", type=_positive_int, default=20, metavar="N")
    runtime_flags(serve, 2.0)
    serve.set_defaults(run=_serve)

    compare = commands.add_parser(
        "compare", help="the runtimes on one simulated fleet, side by side")
    compare.add_argument("--hosts", type=_positive_int, default=100, metavar="N",
                         help="hosts in the fleet (default: %(default)s)")
    compare.add_argument("--workers", type=_positive_int, default=20, metavar="N",
                         help="probes at once (default: %(default)s)")
    compare.add_argument("--profile", choices=("ideal", "standard", "hostile", "tls"),
                         default="standard", help="the fleet's (default: %(default)s)")
    compare.add_argument("--rounds", type=_positive_int, default=5, metavar="N",
                         help="scans per runtime, interleaved (default: %(default)s)")
    compare.add_argument("--seed", type=int, default=0, help="the fleet's (default: 0)")
    compare.add_argument("--timeout", type=_positive_seconds, default=1.0, metavar="S",
                         help=f"per probe: {_SECONDS_HELP} (default: %(default)gs)")
    compare.add_argument("--runtimes", type=_runtimes, metavar="LIST",
                         help="comma-separated, of threads, asyncio, trio, uvloop (asyncio "
                              "on uvloop's loop) and go (reference/go) (default: the first "
                              "three, and uvloop and go where they can run here)")
    compare.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                         help="default: %(default)s; markdown adds a round on the hostile "
                              "fleet and the written comparison")
    compare.set_defaults(run=_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Bad flags and bad input (:class:`InputError`) exit 2 with one line on stderr. A
    Ctrl-C that lands outside a scan's handlers (while results are printed, say) still
    exits 130 without a traceback.
    """
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    return code

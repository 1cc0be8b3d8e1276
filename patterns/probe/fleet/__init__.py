"""A simulated fleet on loopback: hosts to probe, some of them misbehaving on purpose.

``Fleet(hosts=100, profile="standard", seed=0)`` starts a separate process that serves
every host on loopback, and knows what each will do: ``truth`` says how a probe of each
target must end, so a scan can be checked, and ``latency`` how long each host waits
before it answers, so a scan can be timed against a yardstick. Go counterpart:
``net/http/httptest.Server``, a hundred of them, some rude on purpose.

**Addresses.** On Linux all of 127.0.0.0/8 is loopback, so host ``i`` has an address of
its own, ``127.77.{i // 250}.{i % 250 + 1}`` (127.77.0.1, 127.77.0.2, ...), and all the
hosts listen on one port, picked in 20000-29999 from the fleet's ``hosts``, ``profile``
and ``seed`` (below the kernel's ephemeral ports, so no connection ever takes it); if
another process holds it on any of the addresses, the kernel picks a free one, so two
fleets at once never meet. Elsewhere only 127.0.0.1 is sure to be there, and each host
gets a free port of its own on it. The fleet binds its hosts' addresses and nothing
else. A refused host's port is bound but not listened on: nobody listens, so the kernel
refuses every connection, and holding the port keeps anyone else from listening there.

**Profiles.** Hosts per role out of 100 (:data:`PROFILES` has the percentages, rounded
down but at least one host each; the rest are healthy, at least half of any fleet):

==============  ===================================  ================  =====  ========  =======  ===
role            what the host does                   truth             ideal  standard  hostile  tls
==============  ===================================  ================  =====  ========  =======  ===
healthy         TCP accepts; HTTP 200 after a delay  ok                  100        75       50   70
refused         nobody listens on its port           refused               -         5        -    -
server_error    500, 502, 503 or 504 after a delay   bad_status            -        10        -    -
hanging         reads the request, never answers     timeout               -         5        -    -
wrong_content   200, a body without ``contains``     content_mismatch      -         5        -    -
slow_drip       one byte every 0.1 s, forever        timeout               -         -       10    -
oversized       a body of ``2 * BODY_CAP`` bytes     too_large             -         -       10    -
garbage         an SSH banner, a TLS alert, ...      protocol_error        -         -       10    -
reset           half an answer, then a TCP reset     reset                 -         -       10    -
full_backlog    its accept queue is full             timeout               -         -       10    -
tls_ok          HTTPS: 200, its certificate valid    ok                    -         -        -   10
tls_unknown_ca  ... signed by a CA nobody trusts     tls_error             -         -        -    5
tls_expired     ... past its ``notAfter``            tls_error             -         -        -    5
tls_wrong_name  ... made out to another name         tls_error             -         -        -    5
tls_stall       reads the ClientHello, then silence  timeout               -         -        -    5
==============  ===================================  ================  =====  ========  =======  ===

Delays are ``IDEAL_DELAY_S`` (50 ms) in ``ideal``, and spread from 5 to 300 ms in the
others (:data:`DELAYS_S`, log-uniform: most hosts quick, a few slow). All ``ideal``
hosts are HTTP hosts; in the others a quarter of the healthy hosts and half the refused
ones are TCP hosts. Every host that misbehaves is an HTTP (or HTTPS) host: on loopback
a connect succeeds whenever someone listens, however slow the server, until the
listener's accept queue is full; ``full_backlog`` fills it with a connection of the
fleet's own that is never accepted, and a probe's connect then hangs. Half the healthy
HTTP targets ask for ``contains="healthy"``, which their body has. ``truth`` holds for
a probe timeout of at least 1 s: every host that answers at all answers within 300 ms,
and the rest never do (``latency`` is ``math.inf`` for them).

**TLS hosts** (the ``tls`` profile) are ``https`` hosts. The parent makes a CA for the
fleet with ``trustme`` (:attr:`Fleet.ca_pem`: trust it with
``TlsConfig(ca_pem=fleet.ca_pem)``, or ``scan --ca``) and issues each TLS host its own
certificate, made out to its IP address and valid for :data:`CERT_VALID_S` from the
fleet's start, except where the role spoils it: another CA's signature
(``tls_unknown_ca``), a ``notAfter`` a day past (``tls_expired``), the name
``elsewhere.fleet.test`` (``tls_wrong_name``). ``truth`` is for a probe that verifies
against the fleet's CA; an ``insecure`` probe finds those three ``ok``
(:data:`BAD_CERTIFICATE`), and :attr:`Fleet.cert_expires` has the ``notAfter`` a
probe reports for every host whose handshake can complete. A ``tls_ok`` host answers
after a delay, as a healthy one; the three with a bad certificate answer at once
(``latency`` 0.0: a verifying probe ends at the handshake, before any delay);
``tls_stall`` speaks no TLS at all, and a probe waits for the server's hello until its
deadline. The keys and certificates go to the server process in the plan, as PEM.

**The process.** ``python -m patterns.probe.fleet.server``: one asyncio event loop
serving every host (asyncio is fine here: the fleet is infrastructure, not one of the
runtimes under test), used as a bare reactor over non-blocking sockets for speed; it
needs a POSIX system, where the loop can watch a pipe. The parent sends it the plan as
JSON on stdin, so the seed decides everything in the parent and the child only serves;
the child says ``ready`` on stdout once every listener is bound. It cannot be orphaned:
it exits when its stdin reaches end of file, and the parent holds the only other end of
that pipe, which the kernel closes when the parent dies, however it dies (``SIGKILL``
included). ``close()`` closes the pipe, waits, and only then terminates or kills. (A
parent that calls ``os.fork()`` while a fleet runs shares the pipe with its child, and
the fleet lives until both are gone.)

**Capacity.** The fleet must never be what a scan waits for. A 100-host scan at 100
workers asks at most 100 requests per ``IDEAL_DELAY_S``: 2,000 per second
(:func:`scan_demand`). :func:`measure_capacity` drives the ideal fleet from the parent
with GETs on fresh connections, as probes make them, and says how far above that demand
the fleet stays: ``python -m patterns.probe fleet --profile ideal --measure``
(``docs/measurements.md`` has one run's figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import math
import os
import random
import selectors
import socket
import subprocess
import sys
import sysconfig
import time
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import IO, Literal, NamedTuple

from patterns.probe import BODY_CAP, Outcome, Target
from patterns.probe.fleet.wire import GARBAGE, HostPlan, Plan
from patterns.probe.usage import cpu_seconds

__all__ = [
    "BAD_CERTIFICATE",
    "CERT_VALID_S",
    "DELAYS_S",
    "IDEAL_DELAY_S",
    "PROFILES",
    "ROLES",
    "Capacity",
    "Fleet",
    "Host",
    "Role",
    "measure_capacity",
    "plan",
    "scan_demand",
]

IDEAL_DELAY_S = 0.05
"""How long every host of the ``ideal`` profile takes to answer."""

DELAYS_S = (0.005, 0.300)
"""The spread of delays of answering hosts in ``standard`` and ``hostile``: log-uniform,
so most hosts are quick and a few are slow, as in a real fleet."""

Role = Literal["healthy", "refused", "server_error", "hanging", "wrong_content",
               "slow_drip", "oversized", "garbage", "reset", "full_backlog",
               "tls_ok", "tls_unknown_ca", "tls_expired", "tls_wrong_name", "tls_stall"]

ROLES: dict[Role, Outcome] = {
    "healthy": "ok",
    "refused": "refused",
    "server_error": "bad_status",
    "hanging": "timeout",
    "wrong_content": "content_mismatch",
    "slow_drip": "timeout",
    "oversized": "too_large",
    "garbage": "protocol_error",
    "reset": "reset",
    "full_backlog": "timeout",
    "tls_ok": "ok",
    "tls_unknown_ca": "tls_error",
    "tls_expired": "tls_error",
    "tls_wrong_name": "tls_error",
    "tls_stall": "timeout",
}
"""What a host does (its role) -> how a probe of it ends (its truth)."""

PROFILES: dict[str, dict[Role, int]] = {
    "ideal": {},
    "standard": {"refused": 5, "server_error": 10, "hanging": 5, "wrong_content": 5},
    "hostile": {"slow_drip": 10, "oversized": 10, "garbage": 10, "reset": 10,
                "full_backlog": 10},
    "tls": {"tls_ok": 10, "tls_unknown_ca": 5, "tls_expired": 5, "tls_wrong_name": 5,
            "tls_stall": 5},
}
"""Per profile, the percentage of hosts in each role (rounded down, but at least one
host); the rest are healthy."""

TCP_SHARE = 4  # one healthy host in TCP_SHARE is a TCP host (not in ideal)
PATHS = ("/", "/health", "/status")
ERROR_STATUSES = (500, 502, 503, 504)
VARIANTS: dict[Role, tuple[str, ...]] = {
    "slow_drip": ("head", "body"),  # which part of the answer never ends
    "oversized": ("length", "close"),  # announced by Content-Length, or only counted
    "garbage": tuple(GARBAGE),
}
CONTAINS = "healthy"  # the text a healthy body has and a wrong_content body lacks
NEVER_ANSWER: tuple[Role, ...] = ("hanging", "slow_drip", "full_backlog", "tls_stall")
TLS_ROLES: tuple[Role, ...] = ("tls_ok", "tls_unknown_ca", "tls_expired", "tls_wrong_name",
                               "tls_stall")  # the https hosts

BAD_CERTIFICATE: tuple[Role, ...] = ("tls_unknown_ca", "tls_expired", "tls_wrong_name")
"""The roles whose certificate fails verification: ``tls_error`` for a probe that
verifies, ``ok`` for an ``insecure`` one."""

CERT_VALID_S = 90 * 24 * 3600
"""How long a TLS host's certificate is valid from the fleet's start (an expired
one's ``notAfter`` is a day before it)."""
EXPIRED_S = 24 * 3600
WRONG_NAME = "elsewhere.fleet.test"  # what a tls_wrong_name certificate is made out to

ADDRESS_PREFIX = "127.77"
HOSTS_PER_BLOCK = 250  # 127.77.B.1 to 127.77.B.250
MAX_HOSTS = HOSTS_PER_BLOCK * 256
FIRST_PORT = 20000  # below Linux's ephemeral ports, so a kernel-picked port never lands here
PORTS = 10000
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Host:
    """One host of a fleet as planned: its ``index`` in the fleet, its ``role`` (a key of
    :data:`ROLES`), its ``kind`` (``tcp``, ``http`` or ``https``), the ``path`` it serves, its
    ``delay`` before answering (``math.inf``: never), the HTTP ``status`` it answers
    with, its ``body``, the ``contains`` text its target asks for, and a ``variant``
    of its role (which end drips, which garbage, ...)."""

    index: int
    role: Role
    kind: Literal["tcp", "http", "https"]
    path: str
    delay: float
    status: int
    body: str
    contains: str | None
    variant: str

    @property
    def truth(self) -> Outcome:
        """How a probe of this host ends (with a timeout of at least 1 s)."""
        return ROLES[self.role]


def plan(hosts: int = 100, profile: str = "standard", seed: int = 0, *,
         ideal_delay: float = IDEAL_DELAY_S) -> list[Host]:
    """The hosts of a fleet, in order: the same arguments give the same list.

    ``ValueError`` for an unknown profile, or a number of hosts out of range: a profile
    needs two hosts per role it has (so that each role is there and at least half the
    hosts are healthy), and at most ``MAX_HOSTS``.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown fleet profile {profile!r} (use {', '.join(PROFILES)})")
    shares = PROFILES[profile]
    least = max(1, 2 * len(shares))
    if not least <= hosts <= MAX_HOSTS:
        raise ValueError(f"the {profile} profile needs {least} to {MAX_HOSTS} hosts, "
                         f"not {hosts}")
    rng = random.Random(seed)
    roles: list[tuple[Role, Literal["tcp", "http", "https"]]] = []
    for role, percent in shares.items():
        for k in range(max(1, hosts * percent // 100)):
            # A refused host is refused whatever the probe: every other one is TCP.
            if role in TLS_ROLES:
                roles.append((role, "https"))
            else:
                roles.append((role, "tcp" if role == "refused" and k % 2 else "http"))
    healthy = hosts - len(roles)
    tcp = 0 if profile == "ideal" else healthy // TCP_SHARE
    roles += [("healthy", "tcp") if k < tcp else ("healthy", "http") for k in range(healthy)]
    rng.shuffle(roles)

    fleet = []
    turns: Counter[Role] = Counter()  # the variants of a role take turns
    for index, (role, kind) in enumerate(roles):
        # Every host makes the same draws, whatever its role, in the same order.
        path = rng.choice(PATHS)
        low, high = DELAYS_S
        spread = round(math.exp(rng.uniform(math.log(low), math.log(high))), 3)  # log-uniform
        error_status = rng.choice(ERROR_STATUSES)
        asks_content = rng.random() < 0.5

        if role in NEVER_ANSWER:
            delay = math.inf
        elif kind == "tcp" or role == "refused":
            delay = 0.0  # the kernel accepts or refuses at once: there is nothing to delay
        elif role in BAD_CERTIFICATE:
            delay = 0.0  # a verifying probe ends at the handshake, before any delay
        else:
            delay = ideal_delay if profile == "ideal" else spread
        status = error_status if role == "server_error" else 200
        body = {"server_error": f"host {index}: {status} error\n",
                "wrong_content": f"host {index}: down for maintenance\n",
                }.get(role, f"host {index}: {CONTAINS}\n")
        checks_content = role == "healthy" and kind == "http" and asks_content
        contains = CONTAINS if role == "wrong_content" or checks_content else None
        variants = VARIANTS.get(role, ("",))
        variant = variants[turns[role] % len(variants)]
        turns[role] += 1
        fleet.append(Host(index, role, kind, path, delay, status, body, contains, variant))
    return fleet


def _per_host_addresses() -> bool:
    """Whether every address of 127.0.0.0/8 is loopback here (Linux), not just 127.0.0.1."""
    return sys.platform.startswith("linux")


def _preferred_port(hosts: int, profile: str, seed: int) -> int:
    """The port a fleet tries first: the same for the same fleet, and different for
    different fleets, so that one never waits for another's TIME_WAIT connections."""
    return FIRST_PORT + zlib.crc32(f"{hosts} {profile} {seed}".encode()) % PORTS


def _address(index: int) -> str:
    if not _per_host_addresses():
        return "127.0.0.1"
    block, n = divmod(index, HOSTS_PER_BLOCK)
    return f"{ADDRESS_PREFIX}.{block}.{n + 1}"


class _Served(NamedTuple):
    """What a running fleet knows about its hosts, by target."""

    targets: list[Target]
    truth: Mapping[Target, Outcome]
    latency: Mapping[Target, float]
    roles: Mapping[Target, Role]
    cert_expires: Mapping[Target, float]
    ca_pem: str | None


class _Certificates(NamedTuple):
    """What the parent made for a fleet's TLS hosts, by host index."""

    ca_pem: str  # the fleet's CA, to trust
    pems: dict[int, str]  # each TLS host's key and certificate chain, for its server
    not_after: dict[int, float]  # each certificate's notAfter, seconds since the epoch


def _certificates(hosts: list[Host], now: float) -> _Certificates | None:
    """A CA for the fleet and, for each TLS host but a stalling one, a certificate
    spoiled as its role says; ``None`` for a fleet without TLS hosts."""
    tls = [host for host in hosts if host.kind == "https" and host.role != "tls_stall"]
    if not tls:
        return None
    import trustme  # (and cryptography with it): only a fleet with TLS hosts needs it

    ca, stranger = trustme.CA(), trustme.CA()  # the stranger signs what nobody trusts
    start = int(now)  # whole seconds: what a certificate can say
    pems, not_after = {}, {}
    for host in tls:
        expired = host.role == "tls_expired"
        expires = start - EXPIRED_S if expired else start + CERT_VALID_S
        leaf = (stranger if host.role == "tls_unknown_ca" else ca).issue_cert(
            WRONG_NAME if host.role == "tls_wrong_name" else _address(host.index),
            not_after=datetime.fromtimestamp(expires, UTC))
        pems[host.index] = leaf.private_key_and_cert_chain_pem.bytes().decode("ascii")
        not_after[host.index] = float(expires)
    return _Certificates(ca.cert_pem.bytes().decode("ascii"), pems, not_after)


class Fleet:
    """A simulated fleet of ``hosts`` hosts on loopback, served by a separate process.

    Go counterpart: ``httptest.NewServer``, many times over, with ``Close`` as
    ``close()``. Use it as a context manager::

        with Fleet(hosts=100, profile="standard", seed=0) as fleet:
            results = scan(fleet.targets, workers=20, timeout=1.0)
            wrong = [r for r in results if r.outcome != fleet.truth[r.target]]

    ``profile`` is ``ideal``, ``standard``, ``hostile`` or ``tls`` (see the module
    docstring);
    ``ideal_delay`` is how long an ``ideal`` host takes to answer. ``ValueError`` for
    a profile or a number of hosts :func:`plan` does not take.

    Same seed, same fleet: the same hosts in the same order (``plan``), with the same
    roles, paths, delays and truths, and on Linux the same addresses and port, unless
    another process holds that port, when the fleet takes a free one.

    Entering (or ``start()``) starts the server process and returns once every host
    listens, ``RuntimeError`` if it cannot; leaving (or ``close()``) stops it and waits
    for it to exit. ``targets``, ``truth``, ``latency`` and ``roles`` are there while
    it runs (``RuntimeError`` before and after). A fleet runs once.
    """

    def __init__(self, hosts: int = 100, profile: str = "standard", seed: int = 0, *,
                 ideal_delay: float = IDEAL_DELAY_S) -> None:
        self.hosts = hosts
        self.profile = profile
        self.seed = seed
        self.plan = plan(hosts, profile, seed, ideal_delay=ideal_delay)
        self._process: subprocess.Popen[bytes] | None = None
        self._served: _Served | None = None
        self._started = False

    def __repr__(self) -> str:
        state = "running" if self._process else "stopped" if self._started else "new"
        return (f"<Fleet hosts={self.hosts} profile={self.profile!r} seed={self.seed} "
                f"{state}>")

    # -- what a scan needs --------------------------------------------------------------

    @property
    def targets(self) -> list[Target]:
        """The fleet's targets (``tcp``, ``http``, and ``https`` in the ``tls`` profile),
        one per host, in the plan's order."""
        return list(self._running().targets)

    @property
    def truth(self) -> Mapping[Target, Outcome]:
        """Target -> how a probe of it ends, for a probe timeout of at least 1 s."""
        return self._running().truth

    @property
    def latency(self) -> Mapping[Target, float]:
        """Target -> seconds the host waits before it answers (``math.inf``: never).
        TCP and refused hosts answer at once (0.0): the kernel does it for them."""
        return self._running().latency

    @property
    def roles(self) -> Mapping[Target, Role]:
        """Target -> what the host does (a key of :data:`ROLES`)."""
        return self._running().roles

    @property
    def ca_pem(self) -> str | None:
        """The fleet's CA certificate (PEM), which signed its TLS hosts' certificates:
        ``TlsConfig(ca_pem=fleet.ca_pem)`` trusts it. ``None`` without TLS hosts."""
        return self._running().ca_pem

    @property
    def cert_expires(self) -> Mapping[Target, float]:
        """Target -> the ``notAfter`` of its certificate (seconds since the epoch), for
        every TLS host whose handshake can complete: what a probe that gets that far
        reports as ``cert_expires``."""
        return self._running().cert_expires

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs, else ``None``."""
        return self._process.pid if self._process else None

    def _running(self) -> _Served:
        if self._served is None or self._process is None:
            raise RuntimeError(f"{self!r} is not running: use `with Fleet(...) as fleet:`")
        return self._served

    # -- starting and stopping ----------------------------------------------------------

    def __enter__(self) -> Fleet:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        """Start the server process and wait until every host listens; once per fleet."""
        if self._started:
            raise RuntimeError(f"{self!r} was started already: a Fleet runs once")
        self._started = True
        shared = _per_host_addresses()
        certificates = _certificates(self.plan, time.time())
        pems = certificates.pems if certificates else {}
        wire: Plan = {
            "port": _preferred_port(self.hosts, self.profile, self.seed) if shared else 0,
            "shared_port": shared,
            "hosts": [_wire(host, pems.get(host.index)) for host in self.plan],
        }
        self._process = process = subprocess.Popen(
            [sys.executable, "-m", "patterns.probe.fleet.server"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_child_environment())
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(wire).encode() + b"\n")
            process.stdin.flush()
            line = _read_line(process.stdout, START_TIMEOUT_S)
            message = json.loads(line) if line else {}
            if "ready" not in message:
                raise RuntimeError(message.get("error") or _why_not_ready(process))
        except (OSError, ValueError) as exc:  # a broken pipe, or half a line
            self.close()
            raise RuntimeError(f"the fleet server failed to start: {exc}") from exc
        except BaseException:
            self.close()
            raise
        finally:
            process.stdout.close()  # it says nothing after "ready"
        targets = [_target(host, address, port)
                   for host, (address, port) in zip(self.plan, message["ready"], strict=True)]
        hosts = dict(zip(targets, self.plan, strict=True))
        not_after = certificates.not_after if certificates else {}
        self._served = _Served(
            targets,
            MappingProxyType({t: host.truth for t, host in hosts.items()}),
            MappingProxyType({t: host.delay for t, host in hosts.items()}),
            MappingProxyType({t: host.role for t, host in hosts.items()}),
            MappingProxyType({t: not_after[host.index] for t, host in hosts.items()
                              if host.index in not_after}),
            certificates.ca_pem if certificates else None,
        )

    def close(self) -> None:
        """Stop the server process: close its stdin (its signal to exit), wait up to
        ``STOP_TIMEOUT_S``, then terminate it, then kill it. Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        with contextlib.suppress(OSError):  # it died first, with bytes of ours unread
            process.stdin.close()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(1.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _child_environment() -> dict[str, str]:
    """The parent's environment, where the child can import this very package: an
    installed one is on its path already, a source checkout is added to it."""
    env = dict(os.environ)
    root = Path(__file__).resolve().parents[3]
    installed = {Path(sysconfig.get_path(name)).resolve() for name in ("purelib", "platlib")}
    if root not in installed:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


def _why_not_ready(process: subprocess.Popen[bytes]) -> str:
    try:
        code = process.wait(1.0)  # its stdout ended: it is exiting, if not gone yet
    except subprocess.TimeoutExpired:
        return f"the fleet server did not say it was ready within {START_TIMEOUT_S} s"
    return f"the fleet server exited with code {code} before it was ready (see its stderr)"


def _wire(host: Host, pem: str | None) -> HostPlan:
    """A host as the server process reads it (``pem``: its key and certificates)."""
    return {
        "address": _address(host.index), "role": host.role, "kind": host.kind,
        "path": host.path, "delay": None if math.isinf(host.delay) else host.delay,
        "status": host.status, "body": host.body,
        "size": 2 * BODY_CAP if host.role == "oversized" else 0, "variant": host.variant,
        "pem": pem,
    }


def _target(host: Host, address: str, port: int) -> Target:
    if host.kind == "tcp":
        return Target.tcp(address, port)
    if host.kind == "https":
        return Target.https(address, port, host.path, contains=host.contains)
    return Target.http(address, port, host.path, contains=host.contains)


def _read_line(stream: IO[bytes], timeout: float) -> bytes:
    """One line from a pipe, or what came before end of file or ``timeout``."""
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                break
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\n", 1)[0]


# -- capacity ---------------------------------------------------------------------------


def scan_demand(workers: int = 100, delay: float = IDEAL_DELAY_S) -> float:
    """Requests per second a scan asks of the fleet: each of ``workers`` busy workers
    sends one request per ``delay`` seconds (2,000 per second for 100 workers at 50 ms)."""
    return workers / delay


@dataclass(frozen=True, slots=True)
class Capacity:
    """What :func:`measure_capacity` saw: ``requests`` answered 200 and ``failures``
    (anything else) in ``seconds`` of wall time with ``concurrency`` requests in flight,
    and the CPU seconds the fleet's process spent on them (``server_cpu_s``; ``None``
    where ``/proc`` cannot tell)."""

    requests: int
    failures: int
    seconds: float
    concurrency: int
    server_cpu_s: float | None

    @property
    def per_second(self) -> float:
        """Requests answered per second: what the fleet sustained."""
        return self.requests / self.seconds

    @property
    def ceiling(self) -> float | None:
        """Requests per second the fleet could answer with a CPU to itself: requests per
        CPU second of its process. Steadier than ``per_second`` on a busy machine."""
        if not self.server_cpu_s:
            return None
        return self.requests / self.server_cpu_s


def measure_capacity(fleet: Fleet, seconds: float = 2.0, *, concurrency: int = 500) -> Capacity:
    """Drive ``fleet``'s healthy HTTP hosts with ``concurrency`` GETs at a time, each on
    a new connection as a probe makes it, for ``seconds``, and count the answers.

    Runs its own asyncio loop (``asyncio.run``), so call it from synchronous code, and
    needs ``concurrency`` file descriptors. The client shares the machine with the
    fleet, so ``per_second`` is a floor of what the fleet can do. Measure the ideal
    fleet: every host answers after ``IDEAL_DELAY_S``, so ``concurrency / IDEAL_DELAY_S``
    (10,000 per second by default) is the most this can ask.
    """
    targets = [t for t in fleet.targets if fleet.roles[t] == "healthy" and t.kind == "http"]
    server = fleet.pid
    if not targets or server is None:
        raise ValueError(f"{fleet!r} has no healthy HTTP host to measure with")
    cpu_before = cpu_seconds(server)
    requests, failures, elapsed = asyncio.run(_Load(targets, concurrency).run(seconds))
    cpu_after = cpu_seconds(server)
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return Capacity(requests, failures, elapsed, concurrency, cpu)


class _Load:
    """``concurrency`` clients, each sending GETs one after another until time is up.

    Written like the server, on the bare event loop (``add_writer`` for the connect,
    ``add_reader`` for the answer) rather than asyncio's transports: the lighter the
    client, the more of the machine is left to the fleet it measures.
    """

    def __init__(self, targets: list[Target], concurrency: int) -> None:
        self.requests = [((t.host, t.port), f"GET {t.path} HTTP/1.1\r\nHost: {t.host}\r\n"
                                            f"Connection: close\r\n\r\n".encode())
                         for t in targets]
        self.concurrency = concurrency
        self.answered = self.failed = self.in_flight = 0

    async def run(self, seconds: float) -> tuple[int, int, float]:
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()
        start = self.loop.time()
        self.stop = start + seconds
        for client in range(self.concurrency):
            self.get(client)
        await self.done
        return self.answered, self.failed, self.loop.time() - start

    def get(self, n: int) -> None:
        """The next GET (the ``n``-th, counting every client's), unless time is up."""
        if self.loop.time() >= self.stop:
            if not self.in_flight and not self.done.done():
                self.done.set_result(None)
            return
        address, request = self.requests[n % len(self.requests)]
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError:  # out of file descriptors: a failure, and the next one goes on
            self.failed += 1
            self.loop.call_soon(self.get, n + self.concurrency)
            return
        sock.setblocking(False)
        self.in_flight += 1
        if sock.connect_ex(address) not in (0, errno.EINPROGRESS):
            self.end(sock, n, ok=False)
            return
        self.loop.add_writer(sock.fileno(), self.on_connected, sock, n, request)

    def on_connected(self, sock: socket.socket, n: int, request: bytes) -> None:
        self.loop.remove_writer(sock.fileno())
        try:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                raise ConnectionError
            sock.send(request)  # a few dozen bytes: the kernel takes them at once
        except OSError:
            self.end(sock, n, ok=False)
            return
        self.loop.add_reader(sock.fileno(), self.on_readable, sock, n, bytearray())

    def on_readable(self, sock: socket.socket, n: int, answer: bytearray) -> None:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            answer += data
            return
        self.loop.remove_reader(sock.fileno())
        self.end(sock, n, ok=answer.startswith(b"HTTP/1.1 200 "))

    def end(self, sock: socket.socket, n: int, *, ok: bool) -> None:
        sock.close()
        self.in_flight -= 1
        self.answered += ok
        self.failed += not ok
        # The next GET on the next turn of the loop: a client that fails at once must
        # not recurse.
        self.loop.call_soon(self.get, n + self.concurrency)

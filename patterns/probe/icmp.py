"""The ICMP echo probe (a ping) as a protocol core: the packets, and a socket to send them.

An echo probe sends one ICMP *echo request* and waits, until the probe's deadline, for
the matching *echo reply*; no reply in time is ``timeout``. :class:`EchoExchange` builds
the request and picks the reply out of whatever the socket delivers, without I/O, like
the HTTP exchange; :func:`icmp_socket` opens the socket the driver sends it on. Go
counterpart: ``golang.org/x/net/icmp`` (``icmp.ListenPacket("udp4", ...)`` is the same
unprivileged socket).

Sending ICMP is a privilege, granted in one of two ways, and the exchange handles both:

- an unprivileged *ping socket* (``SOCK_DGRAM``; on Linux only for the groups in
  ``net.ipv4.ping_group_range``): the kernel sets the identifier and checksum, and
  delivers this socket's replies only, without the IP header;
- a *raw socket* (``SOCK_RAW``; root, or ``CAP_NET_RAW``): the packet is ours to build
  in full, and the socket receives every ICMP packet that reaches the host (our own
  request too, on loopback), IPv4 ones behind their IP header; the identifier, sequence
  number and payload tell ours apart.

Where neither is allowed, :func:`icmp_socket` raises :class:`IcmpNotPermitted`, which a
driver reports as a ``protocol_error`` with its text: never a crash, and never an
``unreachable`` the host did not earn. IPv6 works the same way with ICMPv6, whose
checksum the kernel always computes.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import struct

from patterns.probe import Outcome, Verdict

__all__ = ["EchoExchange", "IcmpNotPermitted", "checksum", "icmp_socket"]

# (echo request, echo reply, errors that quote our request: unreachable, time exceeded)
_TYPES: dict[int, tuple[int, int, dict[int, str]]] = {
    socket.AF_INET: (8, 0, {3: "destination unreachable", 11: "time exceeded"}),
    socket.AF_INET6: (128, 129, {1: "destination unreachable", 3: "time exceeded"}),
}
_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence number
_IDENTS = itertools.count(random.randrange(1 << 16))  # raw sockets: one id per exchange


class IcmpNotPermitted(PermissionError):
    """Neither an unprivileged ping socket nor a raw socket may be opened here."""


def icmp_socket(family: int = socket.AF_INET) -> socket.socket:
    """A blocking socket to send ICMP (``AF_INET``) or ICMPv6 (``AF_INET6``) echoes on:
    a ping socket if this process may open one, else a raw socket.

    ``sock.type`` says which it is (``SOCK_DGRAM`` or ``SOCK_RAW``), and
    :meth:`EchoExchange.for_socket` reads it. Raises :class:`IcmpNotPermitted` when
    neither is allowed; other ``OSError``s (no IPv6 here, say) pass through. The caller
    closes the socket.
    """
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    try:
        return socket.socket(family, socket.SOCK_DGRAM, proto)
    except OSError:
        pass  # not allowed, or no ping sockets on this system: try the privileged way
    try:
        return socket.socket(family, socket.SOCK_RAW, proto)
    except PermissionError as exc:
        group = f" (gid {os.getgid()})" if hasattr(os, "getgid") else ""
        raise IcmpNotPermitted(
            f"ICMP not permitted here: net.ipv4.ping_group_range excludes this group{group} "
            f"and raw sockets need CAP_NET_RAW") from exc


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum
    of the 16-bit big-endian words. A packet that carries its checksum sums to 0."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class EchoExchange:
    """One ICMP echo request and the wait for its reply, sans-IO.

    ``raw`` says whether the socket is a raw socket (``icmp_socket()`` tells; see
    :meth:`for_socket`). ``ident`` (raw sockets only; a ping socket's kernel picks its
    own), ``seq`` and ``payload`` identify the request; the defaults are unique per
    exchange. The driver's loop::

        exchange = EchoExchange.for_socket(sock)
        sock.sendto(exchange.request(), (address, 0))
        while not exchange.receive(sock.recv(4096)):
            pass
        outcome, _, error = exchange.verdict()

    Go counterpart: an ``icmp.Message`` with an ``icmp.Echo`` body, and its ``Marshal``
    and ``icmp.ParseMessage``.
    """

    def __init__(self, family: int = socket.AF_INET, *, raw: bool, ident: int | None = None,
                 seq: int = 1, payload: bytes | None = None) -> None:
        if family not in _TYPES:
            raise ValueError(f"ICMP echo needs AF_INET or AF_INET6, not {family!r}")
        self.family = family
        self.raw = raw
        self.ident = (next(_IDENTS) if ident is None else ident) & 0xFFFF
        self.seq = seq & 0xFFFF
        self.payload = b"patterns.probe:" + os.urandom(8) if payload is None else payload
        self._verdict: Verdict | None = None

    @classmethod
    def for_socket(cls, sock: socket.socket, *, ident: int | None = None, seq: int = 1,
                   payload: bytes | None = None) -> EchoExchange:
        """An exchange for what ``sock`` is: its family, and raw or not."""
        return cls(sock.family, raw=sock.type == socket.SOCK_RAW, ident=ident, seq=seq,
                   payload=payload)

    def request(self) -> bytes:
        """The echo request packet, checksum included (the kernel redoes it for ICMPv6)."""
        request_type = _TYPES[self.family][0]
        unsummed = _HEADER.pack(request_type, 0, 0, self.ident, self.seq) + self.payload
        summed = _HEADER.pack(request_type, 0, checksum(unsummed), self.ident, self.seq)
        return summed + self.payload

    @property
    def decided(self) -> bool:
        """``True`` once the reply (or an error about the request) has arrived."""
        return self._verdict is not None

    def receive(self, packet: bytes) -> bool:
        """Look at one packet the socket delivered; ``True`` once the exchange is decided.

        Packets that are not about this request (our own request seen on a raw socket,
        other programs' pings, corrupt packets) are ignored. An echo reply decides
        ``ok``; an ICMP error that quotes this request decides ``unreachable``.
        """
        if self._verdict is not None:
            return True
        icmp = self._strip_ip_header(packet)
        if len(icmp) < _HEADER.size:
            return False
        kind, code, _, ident, seq = _HEADER.unpack_from(icmp)
        _, reply_type, errors = _TYPES[self.family]
        if self.family == socket.AF_INET and checksum(icmp) != 0:
            return False  # corrupt; ICMPv6 checksums cover an IP pseudo-header we lack
        if kind == reply_type:
            if code == 0 and self._ours(ident, seq) and icmp[_HEADER.size:] == self.payload:
                self._decide("ok", None)
        elif kind in errors and self._quotes_our_request(icmp[_HEADER.size:]):
            self._decide("unreachable", f"ICMP {errors[kind]} (code {code})")
        return self._verdict is not None

    def verdict(self) -> Verdict:
        """``(outcome, None, error)``: ``ok``, or ``unreachable`` with the ICMP error.
        ``RuntimeError`` if not decided (the driver's deadline makes that ``timeout``)."""
        if self._verdict is None:
            raise RuntimeError("the ICMP echo is not decided yet: no reply has arrived")
        return self._verdict

    def _decide(self, outcome: Outcome, error: str | None) -> None:
        self._verdict = Verdict(outcome, None, error)

    def _ours(self, ident: int, seq: int) -> bool:
        # A ping socket's kernel rewrote the identifier, and only passes us our replies.
        return seq == self.seq and (ident == self.ident or not self.raw)

    def _strip_ip_header(self, packet: bytes) -> bytes:
        # Only raw IPv4 sockets deliver the IP header; its length is in its first byte.
        if self.raw and self.family == socket.AF_INET and packet and packet[0] >> 4 == 4:
            return packet[(packet[0] & 0x0F) * 4:]
        return packet

    def _quotes_our_request(self, quoted: bytes) -> bool:
        # An ICMP error quotes the IP header of the packet that failed, then its start.
        if self.family == socket.AF_INET:
            if not quoted or quoted[0] >> 4 != 4:
                return False
            quoted = quoted[(quoted[0] & 0x0F) * 4:]
        else:
            quoted = quoted[40:]  # the fixed IPv6 header
        if len(quoted) < _HEADER.size:
            return False
        kind, _, _, ident, seq = _HEADER.unpack_from(quoted)
        return kind == _TYPES[self.family][0] and self._ours(ident, seq)

"""What the fleet's parent sends its server: the plan, as JSON on the server's stdin.

:class:`~patterns.probe.fleet.Fleet` decides everything from its seed and writes one
:class:`Plan`; :mod:`patterns.probe.fleet.server` only serves it. Both import these
types from here, so the server process never imports the parent's module.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["GARBAGE", "HostPlan", "Plan"]

GARBAGE: dict[str, bytes] = {
    # Each is something a real server might say to a confused client, and none is an
    # HTTP response: h11 rejects every one.
    "ssh": b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n",
    "smtp": b"220 mail.fleet.test ESMTP ready\r\n",
    "tls": b"\x15\x03\x03\x00\x02\x02\x28",  # a TLS "handshake failure" alert
    "html": b"<html><body>no status line</body></html>\r\n\r\n",
    "header": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nnot a header\r\n\r\nhello",
}
"""What a ``garbage`` host answers instead of HTTP, by variant name."""


class HostPlan(TypedDict):
    """One host as the parent planned it (``patterns.probe.fleet`` describes the roles)."""

    address: str
    role: str
    kind: str  # tcp, http or https
    path: str  # the one path an HTTP host serves; any other is a 404
    delay: float | None  # seconds before it answers; None: it never completes an answer
    status: int
    body: str
    size: int  # body bytes of an oversized host
    variant: str  # slow_drip: head|body; oversized: length|close; garbage: a GARBAGE key
    pem: str | None  # https: the host's private key and certificate chain; else None


class Plan(TypedDict):
    """The whole fleet: its hosts in order, and the port to try first.

    ``shared_port``: every host has an address of its own and all listen on one port
    (``port`` if it is free on all of them, else one the kernel picks); otherwise every
    host gets a port of its own from the kernel.
    """

    port: int
    shared_port: bool
    hosts: list[HostPlan]

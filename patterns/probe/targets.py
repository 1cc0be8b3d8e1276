"""What to probe: a :class:`Target`, and the hosts file that lists them.

A hosts file holds one target per line, a URL followed by options::

    # the web tier
    http://10.0.0.7:8080/healthz expect=204
    http://[::1]:8080/ contains="Welcome, friend"   # trailing comments too
    https://api.example.com/healthz
    tcp://db.internal:5432
    icmp://10.0.0.1

Blank lines and comments (from ``#`` outside a quoted value to the end of the line)
are ignored. ``tcp://`` needs a port; ``http://`` defaults to port 80 and path ``/``,
``https://`` (the same ``GET`` over TLS) to port 443 and path ``/``; ``icmp://`` has
neither. ``expect=STATUS`` (default 200) and ``contains=TEXT`` apply to ``http`` and
``https`` targets only. Schemes are case-insensitive; a path is visible ASCII without
spaces or ``#`` (percent-encode those; a fragment is never sent anyway), and an IPv6
address goes in brackets: ``tcp://[::1]:22``. Go counterpart: none in the standard
library; it is the ``bufio.Scanner`` loop every Go tool writes, with errors that say
``file:line: what``.

Quoting ``contains``: a value that is a single word (printable, no spaces, no ``"``,
``\\`` or ``#``) is written as is: ``contains=Welcome``. Anything else goes in double
quotes with Python-style backslash escapes: ``\\"`` and ``\\\\`` for the two special
characters, ``\\n``, ``\\r``, ``\\t``, and ``\\xHH``, ``\\uHHHH``, ``\\UHHHHHHHH`` for
any other character that is not printable. Inside quotes, ``#`` and ``=`` and spaces
are plain text. That rule is what makes ``parse_targets(str(t)) == [t]`` hold for
every target. It is a rule of our own because no standard one fits: ``shlex``'s shell
words cannot hold a newline or another control character on one line, and a target is
one line. The URL itself is split by :func:`urllib.parse.urlsplit`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["DEFAULT_PORTS", "KINDS", "Kind", "Target", "TargetError", "parse_targets", "quote"]

Kind = Literal["tcp", "http", "https", "icmp"]
KINDS: tuple[Kind, ...] = ("tcp", "http", "https", "icmp")
DEFAULT_PORTS: dict[Kind, int] = {"http": 80, "https": 443}
"""The port a URL of the kind means when it names none (``tcp://`` must name one)."""

_HOSTNAME = re.compile(r"[A-Za-z0-9._-]+")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+(%[A-Za-z0-9._-]+)?")  # an optional zone: fe80::1%eth0
_PATH = re.compile(r"/[\x21-\x22\x24-\x7e]*")  # visible ASCII, no "#": what h11 sends as is
_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}  # escape letter -> number of hex digits


class TargetError(ValueError):
    """A target that cannot be: a bad line of a hosts file, or bad :class:`Target` fields.

    ``str(err)`` is one line: ``line 3: port 70000 is out of range (1-65535)``, or
    ``hosts.txt:3: ...`` when :func:`parse_targets` was given a ``source`` name.
    ``reason`` is the part after the location, ``line`` the 1-based line number
    (``None`` for a ``Target`` built in code) and ``source`` the name, if any.
    """

    def __init__(self, reason: str, *, line: int | None = None,
                 source: str | None = None) -> None:
        self.reason = reason
        self.line = line
        self.source = source
        if line is None:
            where = f"{source}: " if source else ""
        else:
            where = f"{source}:{line}: " if source else f"line {line}: "
        super().__init__(where + reason)


@dataclass(frozen=True, slots=True)
class Target:
    """One host to probe: ``kind`` (``tcp``, ``http``, ``https`` or ``icmp``), ``host`` (a
    name, an IPv4 address or an IPv6 address without brackets), ``port`` (``None`` for
    icmp), and for http and https the ``path`` (default ``/``), the ``expect``-ed status
    (default 200) and a substring the body must contain (``contains``, or ``None`` for no
    check). :attr:`speaks_http` and :attr:`tls` say which exchange a probe makes.

    Frozen and hashable, so targets key dicts (a fleet's ``truth``). The fields are
    checked on construction and a bad one raises :class:`TargetError`, so every
    ``Target`` that exists can be written to a hosts file: ``str(t)`` is its line, and
    ``parse_targets(str(t)) == [t]``.

    >>> str(Target("http", "::1", 8080, contains="Hello, world"))
    'http://[::1]:8080/ contains="Hello, world"'
    """

    kind: Kind
    host: str
    port: int | None = None
    path: str | None = None
    expect: int | None = None
    contains: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TargetError(f"unknown kind {self.kind!r} (use tcp, http, https or icmp)")
        _check_host(self.host)
        if self.speaks_http:
            # The defaults are filled in, so Target("http", h, 80) == parse of "http://h".
            if self.port is None:
                object.__setattr__(self, "port", DEFAULT_PORTS[self.kind])
            if self.path is None:
                object.__setattr__(self, "path", "/")
            if self.expect is None:
                object.__setattr__(self, "expect", 200)
            _check_path(self.path)
            _check_expect(self.expect)
            if self.contains is not None:
                _check_contains(self.contains)
        else:
            for name in ("path", "expect", "contains"):
                if getattr(self, name) is not None:
                    raise TargetError(f"{name} applies only to http and https targets, "
                                      f"not {self.kind}")
        if self.kind == "icmp":
            if self.port is not None:
                raise TargetError(f"icmp targets have no port: icmp://{_url_host(self.host)}")
        else:
            _check_port(self.port, self.kind)

    @property
    def speaks_http(self) -> bool:
        """``True`` for ``http`` and ``https`` targets: the probe sends ``GET`` and
        checks the answer (status, size, content)."""
        return self.kind in ("http", "https")

    @property
    def tls(self) -> bool:
        """``True`` for ``https`` targets: the ``GET`` goes over TLS, and the server's
        certificate is checked first."""
        return self.kind == "https"

    def __str__(self) -> str:
        url = f"{self.kind}://{_url_host(self.host)}"
        if self.kind == "icmp":
            return url
        url += f":{self.port}"
        if self.kind == "tcp":
            return url
        words = [f"{url}{self.path}"]
        if self.expect != 200:
            words.append(f"expect={self.expect}")
        if self.contains is not None:
            words.append(f"contains={quote(self.contains)}")
        return " ".join(words)

    @classmethod
    def tcp(cls, host: str, port: int) -> Target:
        """``tcp://host:port``: healthy when a TCP connection is accepted."""
        return cls("tcp", host, port)

    @classmethod
    def http(cls, host: str, port: int = 80, path: str = "/", *, expect: int = 200,
             contains: str | None = None) -> Target:
        """``http://host:port/path``: healthy when ``GET path`` answers ``expect`` with a
        body of at most ``BODY_CAP`` bytes that contains ``contains`` (if given)."""
        return cls("http", host, port, path, expect, contains)

    @classmethod
    def https(cls, host: str, port: int = 443, path: str = "/", *, expect: int = 200,
              contains: str | None = None) -> Target:
        """``https://host:port/path``: as :meth:`http`, over TLS, and healthy only if the
        server's certificate is valid for ``host`` (unless the scan says ``insecure``)."""
        return cls("https", host, port, path, expect, contains)

    @classmethod
    def icmp(cls, host: str) -> Target:
        """``icmp://host``: healthy when the host answers an ICMP echo (a ping)."""
        return cls("icmp", host)


def quote(text: str) -> str:
    """The hosts-file form of a ``contains`` value: the word itself, or a quoted string.

    >>> quote("Welcome"), quote('say "hi" # not a comment')
    ('Welcome', '"say \\\\"hi\\\\" # not a comment"')
    """
    if text and all(c.isprintable() and not c.isspace() and c not in '"\\#' for c in text):
        return text
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c == " " or c.isprintable():
            out.append(c)
        elif ord(c) <= 0xFF:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) <= 0xFFFF:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def parse_targets(text: str, *, source: str | None = None) -> list[Target]:
    """Read a hosts file (see the module docstring) into targets, in file order.

    The first bad line raises :class:`TargetError` naming its line number (and
    ``source``, the file name to show, if given) and what is wrong with it, in one line:
    ``hosts.txt:3: port 70000 is out of range (1-65535)``. Duplicate targets are kept:
    probing a host twice is the caller's choice to make.
    """
    targets = []
    # Lines end at "\n" only, as they do for an editor's line numbers; a "\r" before it
    # (a Windows file) is whitespace and ignored like any other.
    for number, line in enumerate(text.split("\n"), start=1):
        try:
            target = _parse_line(line)
        except TargetError as err:
            raise TargetError(err.reason, line=number, source=source) from None
        if target is not None:
            targets.append(target)
    return targets


def _parse_line(line: str) -> Target | None:
    scanner = _Scanner(line)
    url = scanner.word()
    if url is None:
        return None  # blank or comment only
    kind, host, port, path = _parse_url(url)
    options: dict[str, str] = {}
    while (option := scanner.option()) is not None:
        name, value = option
        if name not in ("expect", "contains"):
            raise TargetError(f"unknown option {name!r} (options are expect= and contains=)")
        if name in options:
            raise TargetError(f"duplicate option {name}=")
        if kind not in ("http", "https"):
            raise TargetError(f"{name}= applies only to http and https targets, not {kind}")
        options[name] = value
    expect = None
    if "expect" in options:
        text = options["expect"]
        if not (text.isascii() and text.isdigit()):
            raise TargetError(f"expect={text!r} is not a number (an HTTP status, 100-599)")
        expect = int(text)
    return Target(kind, host, port, path, expect, options.get("contains"))


def _parse_url(url: str) -> tuple[Kind, str, int | None, str | None]:
    """The kind, host, port and path of a target's URL, split by
    :func:`urllib.parse.urlsplit` into its scheme, authority (``netloc``) and path.

    The host and port are read from the authority here, not from ``SplitResult``:
    ``.hostname`` lowercases, and a host must keep the case it was written in (an IPv6
    zone such as ``%Eth0`` is case-sensitive, and ``str(t)`` must read back as ``t``),
    and ``.port``'s errors do not say how to mend the line.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise TargetError(f"expected a target like tcp://host:port, http://host:port/path, "
                          f"https://host/path or icmp://host, not {url!r}")
    kind = scheme.lower()
    if kind not in KINDS:
        raise TargetError(f"unknown scheme {scheme + '://'!r} "
                          f"(use tcp://, http://, https:// or icmp://)")
    try:
        parts = urlsplit(url)
    except ValueError:
        # urlsplit refuses brackets that do not hold an IPv6 address ("Invalid IPv6
        # URL"); _host_and_port says what is wrong with them, in the line's own terms.
        authority = re.split(r"[/?]", rest, maxsplit=1)[0]
        _check_host(_host_and_port(authority, kind)[0])
        raise TargetError(f"{authority!r} is not a host, or a host and a port") from None
    host, port_text = _host_and_port(parts.netloc, kind)
    path = None
    if parts.path or "?" in url:  # "/x?" keeps its "?", so that it reads back the same
        path = (parts.path or "/") + ("?" + parts.query if "?" in url else "")
    port = None
    if port_text is not None:
        if not (port_text.isascii() and port_text.isdigit()):
            raise TargetError(f"port {port_text!r} is not a number")
        port = int(port_text)
    if kind == "icmp":
        if port_text is not None:
            raise TargetError(f"icmp targets have no port: icmp://{_url_host(host)}")
        if path is not None:
            raise TargetError(f"icmp targets have no path: icmp://{_url_host(host)}")
    elif kind == "tcp":
        if path is not None:
            raise TargetError(f"tcp targets have no path: tcp://{_url_host(host)}:"
                              f"{port_text or 'PORT'}")
        if port is None:
            raise TargetError(f"tcp target needs a port: tcp://{_url_host(host)}:PORT")
    return kind, host, port, path


def _host_and_port(authority: str, kind: str) -> tuple[str, str | None]:
    """The host and the port's text (``None``: no port) of a URL's authority."""
    if authority.startswith("["):
        host, bracket, after = authority[1:].partition("]")
        if not bracket:
            raise TargetError(f"missing ']' after the IPv6 address in {authority!r}")
        if after and not after.startswith(":"):
            raise TargetError(f"unexpected {after!r} after [{host}]")
        if not host:
            raise TargetError("empty host")
        _check_ipv6(host)
        return host, after[1:] if after else None
    if authority.count(":") > 1:
        example = "[::1]" if kind == "icmp" else "[::1]:8080"
        raise TargetError(f"{authority!r} has more than one ':': an IPv6 address goes "
                          f"in brackets, as in {kind}://{example}")
    host, colon, port_text = authority.partition(":")
    if not host:
        raise TargetError("empty host")
    return host, port_text if colon else None


class _Scanner:
    """Splits one line into the URL and ``name=value`` options, honouring quotes."""

    def __init__(self, line: str) -> None:
        self.line = line
        self.pos = 0

    def _skip_space(self) -> bool:
        """Skip whitespace; ``False`` at the end of the line or at a comment."""
        line = self.line
        while self.pos < len(line) and line[self.pos].isspace():
            self.pos += 1
        return self.pos < len(line) and line[self.pos] != "#"

    def _bare(self) -> str:
        start = self.pos
        line = self.line
        while self.pos < len(line) and not line[self.pos].isspace() and line[self.pos] != "#":
            self.pos += 1
        return line[start:self.pos]

    def word(self) -> str | None:
        return self._bare() if self._skip_space() else None

    def option(self) -> tuple[str, str] | None:
        if not self._skip_space():
            return None
        start = self.pos
        name = self._bare()
        name, equals, value = name.partition("=")
        if not equals:
            raise TargetError(f"expected NAME=VALUE after the URL, not {name!r}")
        if not name:
            raise TargetError(f"option {'=' + value!r} has no name")
        self.pos = start + len(name) + 1  # just after the "="
        if self.pos < len(self.line) and self.line[self.pos] == '"':
            value = self._quoted(name)
        else:
            value = self._bare()
            if '"' in value:
                raise TargetError(f'a quote inside {name}={value}: quote the whole value, '
                                  f'as in {name}="..."')
        return name, value

    def _quoted(self, name: str) -> str:
        line = self.line
        self.pos += 1  # the opening quote
        out = []
        while True:
            if self.pos >= len(line):
                raise TargetError(f'{name}="...: missing the closing quote')
            c = line[self.pos]
            self.pos += 1
            if c == '"':
                break
            if c != "\\":
                out.append(c)
                continue
            escape = line[self.pos:self.pos + 1]
            self.pos += 1
            if escape in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[escape])
            elif escape in _HEX_ESCAPES:
                digits = line[self.pos:self.pos + _HEX_ESCAPES[escape]]
                self.pos += len(digits)
                if (len(digits) < _HEX_ESCAPES[escape]
                        or not all(d in "0123456789abcdefABCDEF" for d in digits)):
                    raise TargetError(f"bad escape \\{escape}{digits} in {name}=: "
                                      f"needs {_HEX_ESCAPES[escape]} hex digits")
                if int(digits, 16) > 0x10FFFF:
                    raise TargetError(f"bad escape \\{escape}{digits} in {name}=: "
                                      f"not a Unicode character")
                out.append(chr(int(digits, 16)))
            else:
                raise TargetError(f"unknown escape \\{escape} in {name}= "
                                  f'(use \\" \\\\ \\n \\r \\t \\xHH \\uHHHH \\UHHHHHHHH)')
        if self.pos < len(line) and not line[self.pos].isspace() and line[self.pos] != "#":
            raise TargetError(f"unexpected {line[self.pos:].split()[0]!r} after the closing "
                              f"quote of {name}=")
        return "".join(out)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _check_ipv6(host: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise TargetError(f"{host!r} is not an IPv6 address") from None
    if not _IPV6.fullmatch(host):  # IPv6Address accepts any zone; a hosts file cannot
        raise TargetError(f"IPv6 zone in {host!r} may hold only A-Z a-z 0-9 . - _")


def _check_host(host: object) -> None:
    if not isinstance(host, str):
        raise TargetError(f"host must be a string, not {host!r}")
    if not host:
        raise TargetError("empty host")
    if ":" in host:
        _check_ipv6(host)
    elif not _HOSTNAME.fullmatch(host):
        raise TargetError(f"host {host!r} may hold only A-Z a-z 0-9 . - _ "
                          f"(write an international name in its xn-- form)")


def _check_port(port: object, kind: str) -> None:
    if port is None:
        raise TargetError(f"{kind} target needs a port")
    if not isinstance(port, int) or isinstance(port, bool):
        raise TargetError(f"port {port!r} is not a number")
    if not 1 <= port <= 65535:
        raise TargetError(f"port {port} is out of range (1-65535)")


def _check_path(path: object) -> None:
    if not isinstance(path, str) or not _PATH.fullmatch(path):
        raise TargetError(f"path {path!r} must start with '/' and hold only visible ASCII, "
                          f"no spaces or '#' (percent-encode the rest)")


def _check_expect(expect: object) -> None:
    if not isinstance(expect, int) or isinstance(expect, bool):
        raise TargetError(f"expect={expect!r} is not a number (an HTTP status, 100-599)")
    if not 100 <= expect <= 599:
        raise TargetError(f"expect={expect} is not an HTTP status (100-599)")


def _check_contains(contains: object) -> None:
    if not isinstance(contains, str):
        raise TargetError(f"contains={contains!r} is not text")
    try:
        contains.encode("utf-8")  # the body is searched for its UTF-8 bytes
    except UnicodeEncodeError:
        raise TargetError(f"contains={quote(contains)} is not valid Unicode text") from None

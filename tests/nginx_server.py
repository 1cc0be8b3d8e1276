"""A real nginx on loopback, configured and owned by a test: a web server nobody here wrote.

:class:`Nginx` writes a configuration into a folder of the test's (``tmp_path``),
starts ``nginx`` on it as a foreground process (``daemon off``, ``master_process off``:
one process, no workers to fork or to leave behind), waits until every server accepts
connections, and stops it with ``SIGQUIT``. Everything nginx writes (pid file, logs,
temporary files) stays in that folder, and the configuration includes nothing from
``/etc/nginx``: Debian's build would otherwise put its logs and temp files under /var.

A :class:`Server` is one ``server`` block: the port is chosen when nginx starts (by
binding port 0 first; if another process takes the port in between, nginx says so and
starts again on new ones). ``Server(..., tls=TlsFiles(cert, key))`` listens with
``ssl``: Debian's ``nginx-light`` has ``http_ssl_module``, so an ``https://`` probe can
be pointed at the same locations over TLS.
"""

from __future__ import annotations

import grp
import os
import pwd
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

START_WITHIN_S = 10.0  # nginx is listening long before this, or it never will
STOP_WITHIN_S = 10.0  # and gone again after SIGQUIT
POLL_STEP_S = 0.01  # between two connect attempts, waiting for nginx to exit instead
START_ATTEMPTS = 3  # ports that another process took between our bind and nginx's
PORT_TAKEN = "Address already in use"  # nginx's error log, when it lost that race


@dataclass(frozen=True)
class Location:
    """One ``location`` block: ``match`` as nginx writes it (``= /ok``, ``/static/``)
    and the directives inside, each without its ``;``."""

    match: str
    directives: tuple[str, ...]


@dataclass(frozen=True)
class TlsFiles:
    """A server's certificate chain and private key, as PEM files nginx reads."""

    certificate: Path
    key: Path


@dataclass(frozen=True)
class Server:
    """One ``server`` block on ``127.0.0.1``, on a port :class:`Nginx` chooses; with
    ``tls``, it speaks only TLS on that port."""

    locations: tuple[Location, ...]
    tls: TlsFiles | None = None


def render(servers: tuple[Server, ...], ports: list[int], prefix: Path) -> str:
    """The whole ``nginx.conf``: everything nginx writes goes under ``prefix``."""
    blocks = []
    for server, port in zip(servers, ports, strict=True):
        lines = [f"listen 127.0.0.1:{port}{' ssl' if server.tls else ''};"]
        if server.tls is not None:
            # nginx 1.22 still offers TLS 1.0 and 1.1 by default, and no TLS 1.3 before
            # 1.23.4: name the versions a current client speaks.
            lines += [f"ssl_certificate {server.tls.certificate};",
                      f"ssl_certificate_key {server.tls.key};",
                      "ssl_protocols TLSv1.2 TLSv1.3;"]
        for location in server.locations:
            body = "".join(f"\n            {d};" for d in location.directives)
            lines.append(f"location {location.match} {{{body}\n        }}")
        blocks.append("    server {\n" + "".join(f"        {line}\n" for line in lines) + "    }")
    temp = {name: prefix / "temp" / name for name in ("client_body", "proxy", "fastcgi",
                                                      "uwsgi", "scgi")}
    servers_text = "\n".join(blocks)
    return f"""\
{_user()}daemon off;
master_process off;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
events {{
    worker_connections 256;
}}
http {{
    access_log {prefix / "access.log"};
    # Every temp path a module of the build has, or nginx creates Debian's under /var.
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    default_type text/plain;  # no mime.types: nothing is read from /etc/nginx
    server_tokens off;
{servers_text}
}}
"""


def _user() -> str:
    """The ``user`` line: run as root (as CI does), nginx would otherwise give its temp
    folders to ``nobody``; naming the user it already runs as changes nothing. Not root,
    the directive would only earn a warning, so there is none."""
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};\n"


def free_port() -> int:
    """A loopback port nobody listened on a moment ago (the kernel's choice for port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NginxFailed(RuntimeError):
    """nginx exited, or never listened, or would not stop; the message quotes its log."""


class Nginx:
    """``with Nginx(binary, prefix, servers) as nginx:`` nginx serving ``servers``;
    ``nginx.ports[i]`` is the port of ``servers[i]``. Leaving the block stops it and
    checks that it exited cleanly: status 0, and nothing in its log worse than
    ``[error]``."""

    def __init__(self, binary: str, prefix: Path, servers: tuple[Server, ...]) -> None:
        self.binary = binary
        self.prefix = prefix
        self.servers = servers
        self.ports: list[int] = []
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> str:
        """nginx's error log (and what it wrote to stderr before it had one)."""
        texts = []
        for name in ("stderr.log", "error.log"):
            path = self.prefix / name
            if path.exists():
                texts.append(path.read_text(errors="replace"))
        return "".join(texts)

    def __enter__(self) -> Nginx:
        for _ in range(START_ATTEMPTS):
            if self._start():
                return self
        raise NginxFailed(f"nginx found no free port in {START_ATTEMPTS} tries:\n{self.log}")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        process = self._process
        assert process is not None
        process.send_signal(signal.SIGQUIT)  # graceful: finish, close, remove the pid file
        try:
            status = process.wait(timeout=STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise NginxFailed(f"nginx ignored SIGQUIT for {STOP_WITHIN_S} s:\n"
                              f"{self.log}") from None
        if exc_type is not None:
            return
        if status != 0:
            raise NginxFailed(f"nginx exited with status {status}:\n{self.log}")
        # [error] is nginx's word for a request that failed, which tests ask for on
        # purpose (a missing file, a dead upstream); worse is nginx's own trouble.
        trouble = [line for line in self.log.splitlines() if any(
            f"[{level}]" in line for level in ("crit", "alert", "emerg"))]
        if trouble:
            raise NginxFailed("nginx had trouble:\n" + "\n".join(trouble))

    def _start(self) -> bool:
        """Start nginx on fresh ports; ``True`` once it listens on all of them, ``False``
        if another process took one first. Any other failure raises."""
        self.ports = [free_port() for _ in self.servers]
        (self.prefix / "temp").mkdir(parents=True, exist_ok=True)
        for name in ("error.log", "stderr.log"):
            (self.prefix / name).unlink(missing_ok=True)
        config = self.prefix / "nginx.conf"
        config.write_text(render(self.servers, self.ports, self.prefix))
        with open(self.prefix / "stderr.log", "wb") as stderr:
            # -p: relative paths resolve under the prefix; -e: the error log before the
            # configuration is read (Debian's default is stderr, which this file catches).
            self._process = subprocess.Popen(
                [self.binary, "-p", str(self.prefix), "-c", str(config),
                 "-e", str(self.prefix / "error.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        waiting = list(self.ports)
        deadline = time.monotonic() + START_WITHIN_S
        while waiting:
            if _accepts(waiting[0]):
                waiting.pop(0)
                continue
            try:
                # The pause between two connects is a wait for nginx to exit: a failed
                # start is seen at once, and a slow one costs no busy loop.
                status = self._process.wait(timeout=POLL_STEP_S)
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    self._process.kill()
                    self._process.wait()
                    raise NginxFailed(f"nginx did not listen on {waiting} within "
                                      f"{START_WITHIN_S} s:\n{self.log}") from None
                continue
            if PORT_TAKEN in self.log:
                return False
            raise NginxFailed(f"nginx exited with status {status}:\n{self.log}")
        return True


def _accepts(port: int) -> bool:
    """Whether a connection to ``127.0.0.1:port`` is accepted (then closed at once)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        return False
    return True

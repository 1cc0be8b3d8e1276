"""TLS for the ``https`` probe, sans-IO: the handshake and the records over memory buffers.

:class:`TlsSession` carries an :class:`~patterns.probe.http.HttpExchange` over TLS with
``ssl``'s ``MemoryBIO`` and ``SSLObject``: the bytes that arrived go in, the bytes to
send come out, and between the two it shakes hands, checks the server's certificate and
encrypts the request and decrypts the answer. Like the HTTP exchange it touches no
socket and no clock, so the three drivers move its bytes exactly as they move plain
HTTP's, and the one deadline of a probe covers the handshake as it covers every other
byte: a host that stalls mid-handshake ends at the deadline, as a ``timeout``.
:class:`TlsConfig` says what to trust. Go counterpart: ``tls.Client`` over a
``net.Conn``, configured by a ``tls.Config{RootCAs, InsecureSkipVerify}``.

How a TLS failure ends (the ``tls_error`` line of :func:`patterns.probe.outcome_for`):

- a certificate that does not verify (an unknown CA, expired, made out to another
  name) and any other ``ssl.SSLError`` of the handshake: ``tls_error``, with the one
  line OpenSSL gives (``certificate verify failed: certificate has expired``);
- the peer closing the connection mid-handshake: ``tls_error`` too ("connection closed
  during the TLS handshake"), not ``protocol_error``: the probe had got no further
  than TLS, and a server that hangs up on a ClientHello (no certificate for the name
  asked, no cipher in common) is failing TLS. A reset mid-handshake is ``reset``, as
  anywhere: the socket says so before TLS does;
- once the handshake is done, the end of the connection (with or without TLS's
  ``close_notify``) is the end of the stream for the HTTP exchange, which decides what
  it means, as over plain TCP.

Whenever the handshake completes, :attr:`TlsSession.cert_expires` is the leaf
certificate's ``notAfter`` in seconds since the epoch, read from the certificate's
DER bytes, so it is there with ``insecure`` too (where ``ssl`` decodes nothing).
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass
from pathlib import Path

from patterns.probe import Target, Verdict, outcome_for
from patterns.probe.http import HttpExchange

__all__ = ["Exchange", "TlsConfig", "TlsConfigError", "TlsSession", "exchange_for",
           "not_after"]

CHUNK = 65536  # plaintext bytes asked of each read of the TLS records in hand
PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


class TlsConfigError(ValueError):
    """A :class:`TlsConfig` that cannot be: a CA bundle that cannot be read or holds no
    PEM certificate. The message is one line and names the file, where there is one
    (``ca.pem: no PEM certificate in it``)."""


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """What an ``https`` probe trusts: the system's certificate store, plus ``ca_pem``
    (a PEM bundle of more CAs, as text) if given; ``insecure`` skips verification
    altogether (any certificate, any name: the probe still reports its expiry).

    Plain data, frozen and hashable, so it pickles (a scan's shards cross process
    boundaries) and keys a cache: :meth:`ssl_context` builds the ``ssl.SSLContext``
    once per configuration, and loading a trust store is costly. A ``ca_pem`` that holds
    no certificate OpenSSL accepts raises :class:`TlsConfigError` here, so a config
    that exists is one a probe can use. ``TlsConfig()`` is what a probe uses when given
    none. Go counterpart: ``tls.Config{RootCAs: pool, InsecureSkipVerify: insecure}``,
    with the pool the system's plus ``AppendCertsFromPEM(caPEM)``.

    >>> TlsConfig(insecure=True).ssl_context().verify_mode == ssl.CERT_NONE
    True
    >>> TlsConfig(ca_pem="not a certificate")
    Traceback (most recent call last):
    ...
    patterns.probe.tls.TlsConfigError: no PEM certificate in it
    """

    ca_pem: str | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        if self.ca_pem is not None:
            if PEM_CERTIFICATE not in self.ca_pem:
                raise TlsConfigError("no PEM certificate in it")
            try:
                self.ssl_context()
            except ssl.SSLError as exc:
                raise TlsConfigError(f"not a PEM certificate bundle: "
                                     f"{outcome_for(exc)[1]}") from None

    @classmethod
    def from_file(cls, path: str | Path, insecure: bool = False) -> TlsConfig:
        """The config that trusts the PEM bundle at ``path`` too (``--ca FILE``);
        :class:`TlsConfigError`, naming the file, if it cannot be read or is no bundle."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise TlsConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise TlsConfigError(f"{path}: not a PEM file (not even text)") from None
        try:
            return cls(text, insecure)
        except TlsConfigError as exc:
            raise TlsConfigError(f"{path}: {exc}") from None

    def ssl_context(self) -> ssl.SSLContext:
        """The client context for this config, built once and then shared: certificates
        verified and the name checked, unless ``insecure``; TLS 1.2 at least."""
        return _client_context(self)


@functools.lru_cache(maxsize=16)
def _client_context(config: TlsConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()  # the system's store, TLS 1.2+, names checked
    if config.ca_pem is not None:
        context.load_verify_locations(cadata=config.ca_pem)
    if config.insecure:
        context.check_hostname = False  # (first: a context that checks names must verify)
        context.verify_mode = ssl.CERT_NONE
    return context


class TlsSession:
    """An exchange carried over TLS, sans-IO: ``inner``'s request goes out encrypted once
    the handshake is done, and what comes back is decrypted into ``inner``.

    The same loop as a bare :class:`~patterns.probe.http.HttpExchange`, with one line
    more for what TLS has to say back (every driver has that line; for plain HTTP it
    never has anything to send)::

        session = TlsSession(HttpExchange(target), target.host, config)
        send_all(session.request())                 # the ClientHello
        while not session.receive(recv(65536)):     # b"" when the peer closed
            send_all(session.data_to_send())        # the next flight, then the request
        outcome, status, error = session.verdict()

    ``server_name`` is what the certificate must be made out to (a name or an IP
    address; a name is also sent as SNI). ``config`` defaults to ``TlsConfig()``: the
    system's store. Nothing the peer sends raises: a failed handshake is the verdict
    ``tls_error``, and after the handshake the verdict is ``inner``'s. Go counterpart:
    ``tls.Client(conn, config)``, whose ``Handshake`` and ``Read`` this splits into
    bytes in and bytes out.
    """

    def __init__(self, inner: HttpExchange, server_name: str,
                 config: TlsConfig | None = None) -> None:
        self.inner = inner
        self._incoming = ssl.MemoryBIO()  # from the peer, for OpenSSL to read
        self._outgoing = ssl.MemoryBIO()  # from OpenSSL, for the driver to send
        context = (config or TlsConfig()).ssl_context()
        self._tls = context.wrap_bio(self._incoming, self._outgoing,
                                     server_hostname=server_name)
        self._shaken = False
        self._verdict: Verdict | None = None  # TLS's own, if it failed
        self.cert_expires: float | None = None
        """The leaf certificate's ``notAfter`` (seconds since the epoch), once the
        handshake has completed; ``None`` until then, or if it never did."""

    def request(self) -> bytes:
        """The first bytes to send: the ClientHello. (The inner request follows the
        handshake, out of :meth:`data_to_send`.)"""
        self._step()
        return self._outgoing.read()

    def receive(self, data: bytes) -> bool:
        """Feed the bytes that arrived (``b""``: the peer closed the connection); then
        send :meth:`data_to_send`. ``True`` once the verdict is known."""
        if self.decided:
            return True
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()
        self._step()
        return self.decided

    def data_to_send(self) -> bytes:
        """The bytes TLS has to send now (the handshake's next flight, the encrypted
        request), or ``b""``; each byte is given once."""
        return self._outgoing.read()

    @property
    def handshake_done(self) -> bool:
        """``True`` once the handshake has completed (and the certificate passed)."""
        return self._shaken

    @property
    def decided(self) -> bool:
        """``True`` once the verdict is known; more bytes change nothing."""
        return self._verdict is not None or self.inner.decided

    def verdict(self) -> Verdict:
        """``tls_error`` if the handshake failed, else the inner exchange's verdict
        (``RuntimeError`` while neither is decided)."""
        return self._verdict if self._verdict is not None else self.inner.verdict()

    def _step(self) -> None:
        """Go as far as the bytes in hand allow: the handshake, then the answer."""
        try:
            if not self._shaken:
                self._tls.do_handshake()  # SSLWantReadError until the server's flight is in
                self._shaken = True
                self.cert_expires = not_after(self._tls.getpeercert(binary_form=True))
                self._tls.write(self.inner.request())
            while not self.inner.decided:
                # b"" at the peer's close_notify: the end of the stream for the inner
                # exchange, which always decides on it.
                self.inner.receive(self._tls.read(CHUNK))
        except ssl.SSLWantReadError:
            pass  # the records in hand are used up: the driver reads more
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            if self._shaken:  # closed without close_notify: the end of the stream too
                self.inner.receive(b"")
            else:
                self._verdict = Verdict("tls_error", None,
                                        "connection closed during the TLS handshake")
        except ssl.SSLError as exc:
            outcome, error = outcome_for(exc)
            self._verdict = Verdict(outcome, None, error)


Exchange = HttpExchange | TlsSession
"""What a driver moves bytes for: an HTTP exchange, bare or over TLS."""


def exchange_for(target: Target, tls: TlsConfig | None = None) -> Exchange | None:
    """The sans-IO exchange a probe of ``target`` makes: an :class:`HttpExchange` for
    ``http``, the same inside a :class:`TlsSession` (trusting ``tls``) for ``https``,
    and ``None`` for ``tcp`` and ``icmp``, whose probes exchange no bytes of this kind."""
    if not target.speaks_http:
        return None
    exchange = HttpExchange(target)
    if target.tls:
        return TlsSession(exchange, target.host, tls)
    return exchange


def not_after(der: bytes | None) -> float | None:
    """The ``notAfter`` of a DER-encoded certificate in seconds since the epoch, or
    ``None`` without a certificate.

    ``ssl`` decodes the peer's certificate only once it has verified it, so the DER
    bytes are read with ``cryptography``, the same way whether or not they were
    verified. It is imported by the first handshake: a scan without an https target
    never loads it.
    """
    if der is None:
        return None
    from cryptography import x509

    return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()

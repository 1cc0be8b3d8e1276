"""Tests for ``patterns.probe.tls``: what an https probe trusts, and its TLS, sans-IO.

The contract is the one the docstring of :mod:`patterns.probe.tls` states:
``TlsConfig`` is plain data (it pickles, it is checked when made, ``from_file`` says in
one line what is wrong with a file and names it) whose ``ssl_context()`` is built once;
``TlsSession`` carries an ``HttpExchange`` over TLS with bytes in and bytes out and no
socket, so these tests are the server's side of the conversation, in memory too:
``ssl``'s own ``SSLObject`` with a ``trustme`` certificate. A failed handshake is the
verdict ``tls_error`` with OpenSSL's one line, never an exception; a completed one
tells the leaf certificate's ``notAfter``, verified or not.
"""

from __future__ import annotations

import contextlib
import pickle
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from patterns.probe import Target, Verdict, outcome_for
from patterns.probe.http import HttpExchange
from patterns.probe.tls import TlsConfig, TlsConfigError, TlsSession, exchange_for

TARGET = Target.https("127.0.0.1", 8443, "/health")
NOT_AFTER = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
PAGE = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nhealthy"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def trusting(ca: trustme.CA) -> TlsConfig:
    return TlsConfig(ca_pem=ca.cert_pem.bytes().decode())


class Server:
    """The server's end of one TLS connection, in memory: what it reads of the request,
    and what it sends back, the answer once the whole request head is in."""

    def __init__(self, leaf: trustme.LeafCert, answer: bytes = PAGE) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        leaf.configure_cert(context)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.answer = answer
        self.request = b""
        self.answered = False

    def receive(self, data: bytes) -> bytes:
        self.incoming.write(data)
        try:
            while chunk := self.tls.read(65536):
                self.request += chunk
        except ssl.SSLWantReadError:
            pass
        if b"\r\n\r\n" in self.request and not self.answered:
            self.answered = True
            self.tls.write(self.answer)
        return self.outgoing.read()


def pieces(data: bytes, size: int | None) -> Iterator[bytes]:
    step = size or len(data)
    return (data[i:i + step] for i in range(0, len(data), step))


def converse(session: TlsSession, server: Server, *, piece: int | None = None) -> Verdict:
    """Move the bytes between the two ends, as a driver would, ``piece`` bytes at a time
    towards the client, until the session has its verdict."""
    wire = session.request()
    while not session.decided:
        reply = server.receive(wire)
        assert reply, "neither end has anything to say: the conversation is stuck"
        for data in pieces(reply, piece):
            if session.receive(data):
                break
        wire = session.data_to_send()
    return session.verdict()


# -- TlsSession, fed bytes ----------------------------------------------------------------


@pytest.mark.parametrize("piece", [None, 1], ids=["whole flights", "a byte at a time"])
def test_a_verified_handshake_then_the_answer(ca: trustme.CA, trusting: TlsConfig,
                                              piece: int | None) -> None:
    server = Server(ca.issue_cert("127.0.0.1", not_after=NOT_AFTER))
    session = TlsSession(HttpExchange(TARGET), TARGET.host, trusting)
    assert session.cert_expires is None and not session.handshake_done
    assert converse(session, server, piece=piece) == Verdict("ok", 200, None)
    assert session.handshake_done
    assert session.cert_expires == NOT_AFTER.timestamp()
    # The server read exactly the GET the HTTP exchange makes, decrypted.
    assert server.request == HttpExchange(TARGET).request()
    assert session.receive(b"more bytes change nothing") is True
    assert session.verdict() == Verdict("ok", 200, None)


def test_the_inner_exchange_decides_after_the_handshake(ca: trustme.CA,
                                                        trusting: TlsConfig) -> None:
    not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    server = Server(ca.issue_cert("127.0.0.1", not_after=NOT_AFTER), not_found)
    session = TlsSession(HttpExchange(TARGET), TARGET.host, trusting)
    assert converse(session, server) == Verdict("bad_status", 404,
                                                "status 404, expected 200")
    assert session.cert_expires == NOT_AFTER.timestamp()  # a failure keeps the expiry


@pytest.mark.parametrize("close_notify", [True, False], ids=["close_notify", "bare EOF"])
def test_a_body_ended_by_the_close_after_the_handshake_is_whole(
        ca: trustme.CA, trusting: TlsConfig, close_notify: bool) -> None:
    # No Content-Length: the end of the connection ends the body, with or without TLS's
    # close_notify, as over plain TCP.
    server = Server(ca.issue_cert("127.0.0.1"), b"HTTP/1.1 200 OK\r\n\r\nhealthy")
    session = TlsSession(HttpExchange(TARGET), TARGET.host, trusting)
    wire = session.request()
    while not server.answered:
        reply = server.receive(wire)
        assert not session.receive(reply)  # the body might go on: not decided
        wire = session.data_to_send()
    if close_notify:
        with contextlib.suppress(ssl.SSLWantReadError):  # (it would wait for ours)
            server.tls.unwrap()
        assert session.receive(server.outgoing.read()) is True
    else:
        assert session.receive(b"") is True
    assert session.verdict() == Verdict("ok", 200, None)


@pytest.mark.parametrize(("spoil", "reason"), [
    ("unknown_ca", "certificate verify failed: unable to get local issuer certificate"),
    ("expired", "certificate verify failed: certificate has expired"),
    ("wrong_name", "certificate verify failed: IP address mismatch, certificate is not "
                   "valid for '127.0.0.1'"),
])
def test_a_certificate_that_does_not_verify_is_a_tls_error(
        ca: trustme.CA, trusting: TlsConfig, spoil: str, reason: str) -> None:
    leaf = {"unknown_ca": lambda: trustme.CA().issue_cert("127.0.0.1"),
            "expired": lambda: ca.issue_cert("127.0.0.1",
                                             not_after=datetime(2020, 1, 1, tzinfo=UTC)),
            "wrong_name": lambda: ca.issue_cert("elsewhere.fleet.test")}[spoil]()
    session = TlsSession(HttpExchange(TARGET), TARGET.host, trusting)
    assert converse(session, Server(leaf)) == Verdict("tls_error", None, reason)
    assert session.cert_expires is None  # the handshake never completed
    # Insecure, the same certificate passes, and its expiry is still read.
    insecure = TlsSession(HttpExchange(TARGET), TARGET.host, TlsConfig(insecure=True))
    assert converse(insecure, Server(leaf)) == Verdict("ok", 200, None)
    assert insecure.cert_expires is not None
    if spoil == "expired":
        assert insecure.cert_expires == datetime(2020, 1, 1, tzinfo=UTC).timestamp()


def test_the_system_store_does_not_know_a_private_ca(ca: trustme.CA) -> None:
    session = TlsSession(HttpExchange(TARGET), TARGET.host)  # config None: the system's
    outcome, _, error = converse(session, Server(ca.issue_cert("127.0.0.1")))
    assert (outcome, error) == ("tls_error", "certificate verify failed: unable to get "
                                             "local issuer certificate")


@pytest.mark.parametrize(("answer", "reason"), [
    (b"", "connection closed during the TLS handshake"),
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "wrong version number"),  # plain HTTP
    (b"\x15\x03\x03\x00\x02\x02\x28", "sslv3 alert handshake failure"),  # an alert
], ids=["closed", "plain HTTP", "an alert"])
def test_a_handshake_the_peer_breaks_off_is_a_tls_error(answer: bytes, reason: str) -> None:
    session = TlsSession(HttpExchange(TARGET), TARGET.host)
    hello = session.request()
    assert hello[:1] == b"\x16"  # a TLS handshake record: the ClientHello
    assert session.receive(answer) is True
    assert session.verdict() == Verdict("tls_error", None, reason)
    assert session.cert_expires is None


def test_an_undecided_session_has_no_verdict() -> None:
    session = TlsSession(HttpExchange(TARGET), TARGET.host)
    session.request()
    assert not session.decided
    with pytest.raises(RuntimeError, match="not decided"):
        session.verdict()


def test_the_exchange_a_target_gets() -> None:
    assert exchange_for(Target.tcp("127.0.0.1", 22)) is None
    assert exchange_for(Target.icmp("127.0.0.1")) is None
    assert type(exchange_for(Target.http("127.0.0.1"))) is HttpExchange
    session = exchange_for(TARGET, TlsConfig(insecure=True))
    assert isinstance(session, TlsSession) and session.inner.target == TARGET
    assert HttpExchange(Target.http("127.0.0.1")).data_to_send() == b""


# -- TlsConfig ------------------------------------------------------------------------------


def test_a_config_is_data_and_its_context_is_built_once(ca: trustme.CA) -> None:
    config = TlsConfig(ca_pem=ca.cert_pem.bytes().decode())
    again = pickle.loads(pickle.dumps(config))  # it crosses process boundaries
    assert again == config and hash(again) == hash(config)
    assert again.ssl_context() is config.ssl_context()  # one per configuration
    context = config.ssl_context()
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    ca_subject = ca.cert_pem.bytes().decode()
    assert any(ssl.DER_cert_to_PEM_cert(der) == ca_subject
               for der in context.get_ca_certs(binary_form=True))
    insecure = TlsConfig(ca_pem=config.ca_pem, insecure=True)
    assert insecure.ssl_context() is not context
    assert (insecure.ssl_context().verify_mode,
            insecure.ssl_context().check_hostname) == (ssl.CERT_NONE, False)


def test_from_file_reads_a_bundle(tmp_path: Path, ca: trustme.CA) -> None:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    config = TlsConfig.from_file(path, insecure=True)
    assert config == TlsConfig(ca.cert_pem.bytes().decode(), insecure=True)


def bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Name -> (a file, what the one line says after naming it)."""
    text = tmp / "notes.txt"
    text.write_text("a CA bundle, honest\n", encoding="utf-8")
    binary = tmp / "ca.der"
    binary.write_bytes(b"\x30\x82\x01\xff\xfe")
    broken = tmp / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
                      "-----END CERTIFICATE-----\n", encoding="utf-8")
    return {
        "missing": (tmp / "missing.pem", "cannot read: No such file or directory"),
        "a directory": (tmp, "cannot read"),
        "not PEM": (text, "no PEM certificate in it"),
        "not text": (binary, "not a PEM file"),
        "broken PEM": (broken, "not a PEM certificate bundle: "),
    }


def test_from_file_says_in_one_line_what_is_wrong(tmp_path: Path) -> None:
    for name, (path, says) in bad_files(tmp_path).items():
        with pytest.raises(TlsConfigError) as caught:
            TlsConfig.from_file(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: {says}"), (name, message)
        assert "\n" not in message, name
    assert issubclass(TlsConfigError, ValueError)


def test_a_config_is_checked_when_made() -> None:
    with pytest.raises(TlsConfigError, match=r"^no PEM certificate in it$"):
        TlsConfig(ca_pem="")
    assert TlsConfig() == TlsConfig(None, False)


# -- outcome_for ----------------------------------------------------------------------------


def test_ssl_errors_are_tls_errors_in_one_line() -> None:
    verify = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has "
           "expired (_ssl.c:1006)")
    verify.verify_message = "certificate has expired"
    assert outcome_for(verify) == ("tls_error",
                                   "certificate verify failed: certificate has expired")
    other = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    assert outcome_for(other) == ("tls_error", "wrong version number")

"""SMTPSender against a real SMTP server: STARTTLS, implicit TLS, AUTH, reuse, reply codes."""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from pathlib import Path

import pytest

from core.errors import ConfigError
from newsletter.smtp import MailError, SMTPSender
from tests.peers import tls
from tests.peers.smtp import smtp_sink
from tests.peers.tls import self_signed


def message_bytes(to: str, n: int = 0) -> bytes:
    message = EmailMessage()
    message["From"] = "digest@news.example.org"
    message["To"] = to
    message["Subject"] = f"test {n}"
    message["Message-ID"] = f"<m{n}@news.example.org>"
    message.set_content("hello\n.a line starting with a dot\n")
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def test_from_url_reads_scheme_host_port_and_credentials() -> None:
    sender = SMTPSender.from_url("smtps://mailer%40corp:p%3Ass@relay.example.org")
    assert (sender.host, sender.port, sender.tls) == ("relay.example.org", 465, True)
    assert (sender.username, sender.password) == ("mailer@corp", "p:ss")
    assert "p:ss" not in repr(sender)
    assert SMTPSender.from_url("smtp://relay.example.org:2525").port == 2525


@pytest.mark.parametrize(
    ("url", "problem"),
    [("", "not set"), ("http://x", "scheme"), ("smtp://", "no host"), ("smtp://h:x", "port")],
)
def test_from_url_explains_a_bad_setting(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        SMTPSender.from_url(url)


def test_one_connection_carries_many_messages_and_dots_survive() -> None:
    with smtp_sink() as sink, SMTPSender.from_url(sink.url) as sender:
        for n in range(5):
            sender.send(
                "digest@news.example.org",
                f"r{n}@example.com",
                message_bytes(f"r{n}@example.com", n),
            )
        assert sender.connections == 1
    assert sink.recipients() == [f"r{n}@example.com" for n in range(5)]
    assert ".a line starting with a dot" in sink.messages[0].message.get_content()


def test_reconnects_when_the_server_drops_the_connection() -> None:
    with smtp_sink(drop_every=2) as sink, SMTPSender.from_url(sink.url) as sender:
        for n in range(5):
            sender.send(
                "digest@news.example.org",
                f"r{n}@example.com",
                message_bytes(f"r{n}@example.com", n),
            )
        assert sender.connections == 3
    assert sorted(sink.recipients()) == sorted(f"r{n}@example.com" for n in range(5))


def test_starttls_then_auth(certificate) -> None:
    with smtp_sink(auth={"mailer": "s3cret"}, tls_context=tls.server_context(*certificate)) as sink:
        assert sink.url.startswith("smtp://mailer:s3cret@")
        with SMTPSender.from_url(
            sink.url, ssl_context=tls.client_context(certificate[0])
        ) as sender:
            sender.send("digest@news.example.org", "r@example.com", message_bytes("r@example.com"))
            assert sender._conn is not None and isinstance(sender._conn.sock, ssl.SSLSocket)
    assert sink.recipients() == ["r@example.com"]


def test_wrong_password_is_a_permanent_error(certificate) -> None:
    with smtp_sink(auth={"mailer": "s3cret"}, tls_context=tls.server_context(*certificate)) as sink:
        url = sink.url.replace("s3cret", "wrong")
        with SMTPSender.from_url(url, ssl_context=tls.client_context(certificate[0])) as sender:
            with pytest.raises(MailError, match="refused the login") as info:
                sender.send(
                    "digest@news.example.org", "r@example.com", message_bytes("r@example.com")
                )
    assert info.value.permanent and sink.messages == []


def test_implicit_tls(certificate) -> None:
    with smtp_sink(tls_context=tls.server_context(*certificate), implicit_tls=True) as sink:
        assert sink.url.startswith("smtps://")
        with SMTPSender.from_url(
            sink.url, ssl_context=tls.client_context(certificate[0])
        ) as sender:
            sender.send("digest@news.example.org", "r@example.com", message_bytes("r@example.com"))
    assert sink.recipients() == ["r@example.com"]


def test_4xx_is_transient_and_5xx_is_permanent() -> None:
    answers = {
        "busy@example.com": "451 4.7.1 try again later",
        "gone@example.com": "550 5.1.1 no such user",
    }
    with smtp_sink(answers=answers) as sink, SMTPSender.from_url(sink.url) as sender:
        with pytest.raises(MailError) as busy:
            sender.send(
                "digest@news.example.org", "busy@example.com", message_bytes("busy@example.com")
            )
        with pytest.raises(MailError) as gone:
            sender.send(
                "digest@news.example.org", "gone@example.com", message_bytes("gone@example.com")
            )
        sender.send("digest@news.example.org", "ok@example.com", message_bytes("ok@example.com"))
    assert (busy.value.code, busy.value.permanent, busy.value.mailbox) == (451, False, False)
    assert (gone.value.code, gone.value.permanent, gone.value.mailbox) == (550, True, True)
    assert "550 5.1.1 no such user" in str(gone.value)
    assert sink.recipients() == ["ok@example.com"]


def test_a_server_that_is_down_is_a_transient_connection_error() -> None:
    with smtp_sink() as sink:
        url = sink.url
    with pytest.raises(MailError, match="cannot connect") as info:
        SMTPSender.from_url(url, timeout=2).send(
            "a@b.c", "r@example.com", message_bytes("r@example.com")
        )
    assert info.value.disconnected and not info.value.permanent

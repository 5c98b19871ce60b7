"""SMTP delivery over one reusable connection: the only module that imports smtplib.

`SMTPSender.from_url(SMTP_URL)` understands

- `smtp://host:port` — plain SMTP, upgraded with STARTTLS whenever the server offers it;
- `smtp://user:pass@host:587` — the same, then AUTH (refused without TLS unless the host
  is loopback, so a password never crosses a network in clear);
- `smtps://user:pass@host:465` — TLS from the first byte.

Every failure becomes a `MailError` (a `DeliveryError`) that says whether it is worth
retrying (RFC 5321 §4.2.1: 4yz transient, 5yz permanent) and whether it condemns the
mailbox itself (5.1.x: no such user, bad address), which is what marks a subscriber bounced.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from types import TracebackType
from urllib.parse import unquote, urlsplit

from core.errors import ConfigError, DeliveryError

__all__ = ["MailError", "SMTPSender"]

log = logging.getLogger(__name__)

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


class MailError(DeliveryError):
    """One message could not be handed to the SMTP server.

    `code` is the SMTP reply code (None when the connection failed); `mailbox` is True when
    the reply says the address itself is bad (bounce the subscriber), `disconnected` when
    the connection is gone and a new one is needed.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        permanent: bool = False,
        mailbox: bool = False,
        disconnected: bool = False,
    ) -> None:
        super().__init__(message, permanent=permanent)
        self.code = code
        self.mailbox = mailbox
        self.disconnected = disconnected


@dataclass
class SMTPSender:
    """One SMTP connection, opened on first use and reused for every following message.

    Not thread-safe: give each sending thread its own sender (see newsletter.send).
    """

    host: str
    port: int
    tls: bool = False  # smtps:// (implicit TLS)
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = None
    local_hostname: str | None = None
    _conn: smtplib.SMTP | None = field(default=None, init=False, repr=False)
    messages_on_connection: int = field(default=0, init=False)
    connections: int = field(default=0, init=False)

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None
    ) -> SMTPSender:
        """Parse SMTP_URL. Raises `ConfigError` naming the problem.

        ```
        sender = SMTPSender.from_url("smtp://mailer:secret@relay.example.org:587")
        sender.send("digest@example.org", "reader@example.com", message_bytes)
        ```
        """
        if not url:
            raise ConfigError("SMTP_URL is not set (e.g. smtp://user:pass@relay.example.org:587)")
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ConfigError(f"SMTP_URL: scheme must be smtp:// or smtps://, not {parts.scheme!r}")
        if not parts.hostname:
            raise ConfigError("SMTP_URL: no host name")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError("SMTP_URL: the port is not a number") from None
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=port or (465 if tls else 25),
            tls=tls,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            timeout=timeout,
            ssl_context=ssl_context,
        )

    # --- connection -------------------------------------------------------------------

    def connect(self) -> smtplib.SMTP:
        """Open (or return the open) connection: EHLO, STARTTLS when offered, AUTH."""
        if self._conn is not None and self._conn.sock is not None:
            return self._conn
        self._conn = None
        context = self.ssl_context or ssl.create_default_context()
        conn: smtplib.SMTP | None = None
        try:
            if self.tls:
                conn = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=self.timeout,
                    context=context,
                    local_hostname=self.local_hostname,
                )
            else:
                conn = smtplib.SMTP(
                    self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname
                )
            conn.ehlo()
            encrypted = self.tls
            if not self.tls and conn.has_extn("starttls"):
                conn.starttls(context=context)
                conn.ehlo()
                encrypted = True
            if self.username:
                if not encrypted and not _is_loopback(self.host):
                    _close_quietly(conn)
                    raise MailError(
                        f"SMTP server {self.host} offers no STARTTLS; refusing to send the "
                        "password in clear (use smtps:// or a server with STARTTLS)",
                        permanent=True,
                    )
                conn.login(self.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            _close_quietly(conn)
            raise MailError(
                f"SMTP server {self.host} refused the login: {_reply(exc)}",
                code=exc.smtp_code,
                permanent=True,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            _close_quietly(conn)
            raise MailError(
                f"cannot connect to SMTP server {self.host}:{self.port}: {_describe(exc)}",
                code=getattr(exc, "smtp_code", None),
                disconnected=True,
            ) from None
        self._conn = conn
        self.connections += 1
        self.messages_on_connection = 0
        return conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()

    def __enter__(self) -> SMTPSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def supports_8bitmime(self) -> bool:
        return bool(self.connect().has_extn("8bitmime"))

    # --- sending ----------------------------------------------------------------------

    def send(self, from_addr: str, to_addr: str, data: bytes, *, eight_bit: bool = False) -> None:
        """Hand one serialised message (CRLF line ends) to the server, for one recipient.

        A reused connection that turns out to be closed (idle timeout, a server that drops
        after N messages) is reopened once and the message sent on the new one.
        """
        reused = self._conn is not None
        try:
            self._send(from_addr, to_addr, data, eight_bit=eight_bit)
        except MailError as exc:
            if not (exc.disconnected and reused):
                raise
            log.info("smtp reconnect host=%s after=%d", self.host, self.messages_on_connection)
            self._send(from_addr, to_addr, data, eight_bit=eight_bit)

    def send_message(self, message: EmailMessage) -> None:
        """Send an `EmailMessage` (the slow path: internationalised addresses, 7-bit servers)."""
        to_addr = _address(message, "To")
        from_addr = _address(message, "From")
        utf8 = not (to_addr.isascii() and from_addr.isascii())
        data = message.as_bytes(policy=SMTPUTF8 if utf8 else SMTP)
        options = ["SMTPUTF8"] if utf8 else []
        self._send(from_addr, to_addr, data, eight_bit=utf8, extra=options)

    def _send(
        self,
        from_addr: str,
        to_addr: str,
        data: bytes,
        *,
        eight_bit: bool,
        extra: list[str] | None = None,
    ) -> None:
        conn = self.connect()
        options = list(extra or [])
        if eight_bit and conn.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        try:
            refused = conn.sendmail(from_addr, [to_addr], data, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(to_addr, (None, b""))
            raise self._reply_error(to_addr, code, reply, stage="recipient") from None
        except smtplib.SMTPSenderRefused as exc:
            raise self._reply_error(
                to_addr, exc.smtp_code, exc.smtp_error, stage="sender"
            ) from None
        except smtplib.SMTPResponseException as exc:  # SMTPDataError and the like
            raise self._reply_error(
                to_addr, exc.smtp_code, exc.smtp_error, stage="message"
            ) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._forget()
            raise MailError(
                f"SMTP server {self.host} dropped the connection: {_describe(exc)}",
                disconnected=True,
            ) from None
        if refused:  # only possible with several recipients; kept for completeness
            code, reply = refused[to_addr]
            raise self._reply_error(to_addr, code, reply, stage="recipient")
        self.messages_on_connection += 1

    def _reply_error(
        self, to_addr: str, code: int | None, reply: bytes | str, *, stage: str
    ) -> MailError:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        if self._conn is not None and self._conn.sock is None:  # smtplib closes after a 421
            self._forget()
        code = code or 0
        enhanced = _ENHANCED.search(text)
        permanent = 500 <= code < 600
        # 550/551/553 at RCPT, or an enhanced status 5.1.x, is about the mailbox itself;
        # a 5xx at MAIL FROM or DATA (policy, size, spam) is about the message or sender.
        mailbox = permanent and (
            (stage == "recipient" and code in (550, 551, 553))
            or (enhanced is not None and enhanced.group(1) == "5" and enhanced.group(2) == "1")
        )
        return MailError(
            f"SMTP server answered {code} {text.strip()} for {to_addr}",
            code=code,
            permanent=permanent,
            mailbox=mailbox,
            disconnected=self._conn is None or code == 421,
        )

    def _forget(self) -> None:
        conn, self._conn = self._conn, None
        _close_quietly(conn)


def _address(message: EmailMessage, header: str) -> str:
    """The bare address of a From/To header: 'Name <a@b>' must not reach MAIL FROM."""
    value = message[header]
    addresses = getattr(value, "addresses", ())
    return str(addresses[0].addr_spec) if addresses else str(value)


def _close_quietly(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except OSError:
            pass


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reply(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return f"{exc.smtp_code} {text.strip()}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc)
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__

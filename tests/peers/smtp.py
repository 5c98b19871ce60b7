"""A real SMTP server (aiosmtpd) on loopback that records what it receives and misbehaves
on request.

    with smtp_sink(answers={"b@example.com": "550 5.1.1 no such user"}) as sink:
        ...send to sink.url...
        assert sink.recipients() == [...]

- `answers[address]`: a reply for RCPT TO; a list is used up one reply per attempt
  (then the address is accepted), a string applies to every attempt.
- `drop_every=N`: the server closes a connection after N messages on it.
- `fail_after=N`: after N messages in total the server is "down": it answers every
  MAIL FROM with 421 and closes the connection (`sink.recover()` heals it).
- `auth`: {user: password} to require AUTH; `tls_context` to offer STARTTLS;
  `implicit_tls` to speak TLS from the first byte (smtps://).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str]

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.data)  # type: ignore[return-value]


@dataclass
class Sink:
    host: str
    port: int
    answers: dict[str, str | list[str]] = field(default_factory=dict)
    drop_every: int | None = None
    fail_after: int | None = None
    delay: float = 0.0
    messages: list[Received] = field(default_factory=list)
    rcpt_attempts: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    scheme: str = "smtp"
    userinfo: str = ""

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.userinfo}{self.host}:{self.port}"

    def recipients(self) -> list[str]:
        return [r for m in self.messages for r in m.rcpt_tos]

    def per_recipient(self) -> Counter[str]:
        return Counter(self.recipients())

    def recover(self) -> None:
        self.fail_after = None

    @property
    def down(self) -> bool:
        return self.fail_after is not None and len(self.messages) >= self.fail_after


class _Handler:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.per_connection: dict[int, int] = {}

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.sink.lock:
            self.sink.connections += 1
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self.sink.down:
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.3.0 service not available, closing channel"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self.sink.lock:
            self.sink.rcpt_attempts[address] += 1
            answer = self.sink.answers.get(address)
            if isinstance(answer, list):
                answer = answer.pop(0) if answer else None
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        with self.sink.lock:
            self.sink.messages.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    data=bytes(envelope.original_content or envelope.content),
                    mail_options=list(envelope.mail_options),
                )
            )
            key = id(session)
            self.per_connection[key] = self.per_connection.get(key, 0) + 1
            drop = self.sink.drop_every and self.per_connection[key] >= self.sink.drop_every
        if drop:  # answer 250 first, then hang up (the client notices on its next command)
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    # aiosmtpd cannot bind port 0 itself (aio-libs/aiosmtpd#388): pick one first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_sink(
    *,
    answers: dict[str, str | list[str]] | None = None,
    drop_every: int | None = None,
    fail_after: int | None = None,
    delay: float = 0.0,
    auth: dict[str, str] | None = None,
    tls_context: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
) -> Iterator[Sink]:
    """Run a recording SMTP server on 127.0.0.1 for the block."""
    port = _free_port()
    sink = Sink(
        host="127.0.0.1",
        port=port,
        answers=dict(answers or {}),
        drop_every=drop_every,
        fail_after=fail_after,
        delay=delay,
        scheme="smtps" if implicit_tls else "smtp",
    )
    kwargs: dict[str, Any] = {}
    if auth:
        users = dict(auth)

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and users.get(data.login.decode()) == data.password.decode()
            )
            return AuthResult(success=ok, handled=False)

        kwargs.update(authenticator=authenticator, auth_require_tls=tls_context is not None)
        user, password = next(iter(users.items()))
        sink.userinfo = f"{user}:{password}@"
    if tls_context is not None and not implicit_tls:
        kwargs.update(tls_context=tls_context, require_starttls=False)
    controller = Controller(
        _Handler(sink),
        hostname="127.0.0.1",
        port=port,
        ssl_context=tls_context if implicit_tls else None,
        ready_timeout=5.0,
        **kwargs,
    )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()

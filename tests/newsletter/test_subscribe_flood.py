"""The subscribe form under a flood, over real HTTP (uvicorn on loopback) into aiosmtpd.

Client addresses come from X-Forwarded-For, which uvicorn trusts from 127.0.0.1 (as it
trusts a reverse proxy on the same machine in production).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.applications import Starlette

from core.config import Settings
from newsletter.confirmations import ConfirmationMailer
from newsletter.smtp import SMTPSender
from newsletter.throttle import client_key, mailbox_key
from newsletter.web import PER_CLIENT, build_routes
from storage import subscribers as store
from storage.db import session_scope
from storage.tables import Subscriber
from tests.conftest import FIXED_NOW
from tests.peers.asgi import serve_asgi
from tests.peers.smtp import Sink


@contextmanager
def form(
    engine: Engine, settings: Settings, connect: Callable[[], SMTPSender], **options: object
) -> Iterator[tuple[httpx.Client, ConfirmationMailer]]:
    mailer = ConfirmationMailer(
        settings=settings, engine=engine, connect=connect, now=lambda: FIXED_NOW, **options
    )
    routes = build_routes(settings=settings, engine=engine, mailer=mailer)
    with serve_asgi(Starlette(routes=routes)) as url, httpx.Client(base_url=url) as client:
        yield client, mailer


def post(client: httpx.Client, email: str, ip: str = "198.51.100.7") -> httpx.Response:
    return client.post("/subscribe", data={"email": email}, headers={"X-Forwarded-For": ip})


def rows(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {r.email: r.status for r in session.exec(select(Subscriber))}


def test_aliases_of_one_mailbox_get_one_mail_and_one_row(
    sqlite_engine: Engine, mail_settings: Settings, sink: Sink
) -> None:
    aliases = [f"victim+{n}@example.com" for n in range(40)] + [
        "v.ictim@example.com",
        "vi.c.tim+x@example.com",
        "VICTIM@example.com",
    ]
    with form(sqlite_engine, mail_settings, lambda: SMTPSender.from_url(sink.url)) as (c, m):
        answers = [post(c, alias, ip=f"203.0.113.{n}") for n, alias in enumerate(aliases)]
        m.join()
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1  # throttled or not, the same words
    assert sink.recipients() == ["victim+0@example.com"]
    assert rows(sqlite_engine) == {"victim+0@example.com": "pending"}


def test_one_client_is_limited_without_shutting_out_everyone_else(
    sqlite_engine: Engine, mail_settings: Settings, sink: Sink
) -> None:
    wanted = [f"reader{n}@example.com" for n in range(PER_CLIENT + 3)]
    with form(sqlite_engine, mail_settings, lambda: SMTPSender.from_url(sink.url)) as (c, m):
        answers = [post(c, email) for email in wanted]
        other = post(c, "someone@example.org", ip="192.0.2.44")
        m.join()
    assert [a.status_code for a in answers] == [200] * PER_CLIENT + [429] * 3
    assert "Nothing was recorded" in answers[-1].text
    assert other.status_code == 200
    assert sorted(rows(sqlite_engine)) == sorted(wanted[:PER_CLIENT] + ["someone@example.org"])
    assert len(sink.messages) == PER_CLIENT + 1


def test_the_answer_is_given_before_any_mail_and_the_same_for_a_known_address(
    sqlite_engine: Engine, mail_settings: Settings, sink: Sink
) -> None:
    with session_scope(sqlite_engine) as session:
        row, _ = store.upsert_pending(session=session, email="known@example.com", editions=["tech"])
        store.set_status(session=session, subscriber=row, status="confirmed")
    gate, entered = threading.Event(), threading.Event()

    def connect() -> SMTPSender:
        entered.set()
        assert gate.wait(30), "the test never opened the gate"
        return SMTPSender.from_url(sink.url)

    with form(sqlite_engine, mail_settings, connect) as (client, mailer):
        unknown = post(client, "new@example.com", ip="192.0.2.1")  # answered; SMTP is held
        assert entered.wait(30) and sink.messages == []
        known = post(client, "known@example.com", ip="192.0.2.2")
        gate.set()
        mailer.join()
    assert unknown.status_code == known.status_code == 200
    assert unknown.content == known.content
    assert sink.recipients() == ["new@example.com"]
    assert rows(sqlite_engine) == {"known@example.com": "confirmed", "new@example.com": "pending"}


def test_a_full_queue_refuses_and_stores_nothing(
    sqlite_engine: Engine, mail_settings: Settings, sink: Sink
) -> None:
    gate, entered = threading.Event(), threading.Event()

    def connect() -> SMTPSender:
        entered.set()
        gate.wait(30)
        return SMTPSender.from_url(sink.url)

    with form(sqlite_engine, mail_settings, connect, queue_size=1) as (client, mailer):
        first = post(client, "first@example.com", ip="192.0.2.1")
        assert entered.wait(30)  # the thread holds the first request, the queue is empty
        second = post(client, "second@example.com", ip="192.0.2.2")
        third = post(client, "third@example.com", ip="192.0.2.3")
        gate.set()
        mailer.join()
        retry = post(client, "third@example.com", ip="192.0.2.3")  # not held back
        mailer.join()
    assert [r.status_code for r in (first, second, third, retry)] == [200, 200, 503, 200]
    assert "Nothing was recorded" in third.text
    assert sorted(sink.recipients()) == [
        "first@example.com",
        "second@example.com",
        "third@example.com",
    ]


def test_pending_subscriptions_expire_with_their_link(
    engine: Engine, mail_settings: Settings, sink: Sink
) -> None:
    with session_scope(engine) as session:

        def add(email: str, age: timedelta, status: str = "pending") -> None:
            row, _ = store.upsert_pending(
                session=session, email=email, editions=["tech"], now=FIXED_NOW - age
            )
            if status != "pending":
                store.set_status(
                    session=session, subscriber=row, status=status, now=FIXED_NOW - age
                )

        add("stale@example.com", timedelta(days=8))
        add("fresh@example.com", timedelta(days=6))
        add("reader@example.com", timedelta(days=40), status="confirmed")
        add("left@example.com", timedelta(days=40), status="unsubscribed")
    with form(engine, mail_settings, lambda: SMTPSender.from_url(sink.url)) as (client, mailer):
        post(client, "new@example.com")
        mailer.join()
    assert rows(engine) == {
        "fresh@example.com": "pending",
        "reader@example.com": "confirmed",
        "left@example.com": "unsubscribed",
        "new@example.com": "pending",
    }


def test_the_ceiling_on_all_confirmation_mails_delays_them_and_refuses_nobody(
    sqlite_engine: Engine, mail_settings: Settings, sink: Sink
) -> None:
    clock, slept = [0.0], []

    def sleep(seconds: float) -> None:  # the mailer waits; time passes for it alone
        slept.append(seconds)
        clock[0] += seconds

    options = {"mails_per_window": 2, "clock": lambda: clock[0], "sleep": sleep}
    connect = lambda: SMTPSender.from_url(sink.url)  # noqa: E731
    with form(sqlite_engine, mail_settings, connect, **options) as (client, mailer):
        answers = [post(client, f"r{n}@example.com", ip=f"192.0.2.{n}") for n in range(3)]
        mailer.join()
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert sorted(sink.recipients()) == ["r0@example.com", "r1@example.com", "r2@example.com"]
    assert sum(slept) >= 595  # the third waited for the window to move on


def test_counting_keys_fold_aliases_and_ipv6_hosts() -> None:
    assert mailbox_key("Jane.Doe+news@Example.org") == "janedoe@example.org"
    assert mailbox_key("janedoe@example.org") == "janedoe@example.org"
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff") == "2001:db8::/64"
    assert client_key("192.0.2.1") != client_key("192.0.2.2")

"""The subscribe / confirm / unsubscribe pages over real HTTP (uvicorn on loopback)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.applications import Starlette

from core.config import Settings
from newsletter import subscribers as subs
from newsletter.confirmations import ConfirmationMailer
from newsletter.render import render_issue
from newsletter.send import send_issue
from newsletter.smtp import SMTPSender
from newsletter.web import build_routes
from storage import subscribers as store
from storage.db import session_scope
from tests.peers.asgi import serve_asgi
from tests.peers.smtp import Sink


@dataclass
class Site:
    url: str
    settings: Settings
    mailer: ConfirmationMailer


@contextmanager
def serving(routes: list) -> Iterator[str]:
    """Serve `routes` over real HTTP on loopback; yields the base URL."""
    with serve_asgi(Starlette(routes=routes)) as url:
        yield url


@pytest.fixture
def site(sqlite_engine: Engine, mail_settings: Settings, sink: Sink) -> Iterator[Site]:
    """The newsletter routes served over HTTP, mailing through `sink`."""
    mailer = ConfirmationMailer(
        settings=mail_settings, engine=sqlite_engine, connect=lambda: SMTPSender.from_url(sink.url)
    )
    routes = build_routes(settings=mail_settings, engine=sqlite_engine, mailer=mailer)
    with serving(routes) as url:
        yield Site(url=url, settings=mail_settings.replace(public_base_url=url), mailer=mailer)


def status_of(engine: Engine, email: str) -> str:
    with Session(engine) as session:
        row = store.find_by_email(session=session, email=email)
        return row.status if row else "absent"


def confirmed(engine: Engine, email: str) -> int:
    with session_scope(engine) as session:
        row, _ = store.upsert_pending(session=session, email=email, editions=["tech"])
        store.set_status(session=session, subscriber=row, status="confirmed")
        return int(row.id or 0)


def test_one_click_unsubscribe_round_trip(
    site: Site, sqlite_engine: Engine, sink: Sink, make_rollup
) -> None:
    confirmed(sqlite_engine, "reader@example.com")
    issue = render_issue(make_rollup(2), settings=site.settings)
    send_issue(
        issue,
        engine=sqlite_engine,
        settings=site.settings,
        connect=lambda: SMTPSender.from_url(sink.url),
    )
    (received,) = sink.messages
    header = received.message["List-Unsubscribe"]
    https_url = re.search(r"<(http[^>]+)>", header).group(1)
    assert urlsplit(https_url).path == "/unsubscribe"
    assert "<mailto:digest@news.example.org?subject=unsubscribe" in header

    page = httpx.get(https_url)  # what a mail scanner does: must change nothing
    assert page.status_code == 200 and "<button" in page.text
    assert status_of(sqlite_engine, "reader@example.com") == "confirmed"

    # RFC 8058: a form-encoded POST to the header URL, no cookies, no other step.
    done = httpx.post(https_url, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert status_of(sqlite_engine, "reader@example.com") == "unsubscribed"

    next_week = render_issue(make_rollup(2, week="2026-W15"), settings=site.settings)
    tally = send_issue(
        next_week,
        engine=sqlite_engine,
        settings=site.settings,
        connect=lambda: SMTPSender.from_url(sink.url),
    )
    assert tally.audience == 0 and len(sink.messages) == 1


def test_the_visible_unsubscribe_link_leads_to_the_same_button(
    site: Site, sqlite_engine: Engine
) -> None:
    subscriber_id = confirmed(sqlite_engine, "reader@example.com")
    url = subs.unsubscribe_url(site.settings, subscriber_id, "reader@example.com")
    page = httpx.get(url)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    result = httpx.post(
        site.url + action.replace("&amp;", "&"), data={"token": "ignored-when-in-url"}
    )
    assert result.status_code == 200
    assert status_of(sqlite_engine, "reader@example.com") == "unsubscribed"


def test_a_forged_unsubscribe_token_is_refused_and_changes_nothing(
    site: Site, sqlite_engine: Engine
) -> None:
    subscriber_id = confirmed(sqlite_engine, "reader@example.com")
    token = subs.unsubscribe_token(site.settings, subscriber_id, "reader@example.com")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for response in (
        httpx.get(f"{site.url}/unsubscribe", params={"token": forged}),
        httpx.post(
            f"{site.url}/unsubscribe",
            params={"token": forged},
            data={"List-Unsubscribe": "One-Click"},
        ),
        httpx.post(f"{site.url}/unsubscribe", data={"List-Unsubscribe": "One-Click"}),
    ):
        assert response.status_code == 400 and "not valid" in response.text
    assert status_of(sqlite_engine, "reader@example.com") == "confirmed"


def test_subscribe_form_double_opt_in(site: Site, sqlite_engine: Engine, sink: Sink) -> None:
    form = httpx.get(f"{site.url}/subscribe")
    assert form.status_code == 200 and 'name="email"' in form.text

    answer = httpx.post(f"{site.url}/subscribe", data={"email": " Reader@Example.com "})
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    site.mailer.join()  # stored and mailed off the request
    assert status_of(sqlite_engine, "reader@example.com") == "pending"
    (mail,) = sink.messages
    assert mail.rcpt_tos == ["reader@example.com"]
    link = re.search(
        r"https://digest\.example\.org(/confirm\?token=\S+)", mail.message.get_content()
    ).group(1)

    page = httpx.get(site.url + link)  # opening the link only shows the button
    assert page.status_code == 200 and "Confirm subscription" in page.text
    assert status_of(sqlite_engine, "reader@example.com") == "pending"

    token = link.split("token=")[1]
    done = httpx.post(f"{site.url}/confirm", data={"token": token})
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert status_of(sqlite_engine, "reader@example.com") == "confirmed"

    # Asking again for a confirmed address: the same answer, and no mail.
    again = httpx.post(f"{site.url}/subscribe", data={"email": "reader@example.com"})
    site.mailer.join()
    assert again.text == answer.text and len(sink.messages) == 1


def test_subscribe_form_explains_an_invalid_address(
    site: Site, sqlite_engine: Engine, sink: Sink
) -> None:
    answer = httpx.post(f"{site.url}/subscribe", data={"email": "<script>@nowhere"})
    assert answer.status_code == 400 and "does not look like an email address" in answer.text
    assert "<script>@" not in answer.text  # the value is echoed back escaped
    assert sink.messages == []


def test_a_damaged_confirmation_token_is_refused(site: Site) -> None:
    answer = httpx.post(f"{site.url}/confirm", data={"token": "nonsense"})
    assert answer.status_code == 400 and "not valid" in answer.text


def test_one_click_also_accepts_a_multipart_post(site: Site, sqlite_engine: Engine) -> None:
    subscriber_id = confirmed(sqlite_engine, "reader@example.com")
    url = subs.unsubscribe_url(site.settings, subscriber_id, "reader@example.com")
    done = httpx.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert done.status_code == 200
    assert status_of(sqlite_engine, "reader@example.com") == "unsubscribed"


def test_the_form_cannot_be_used_to_mail_bomb_an_address(
    sqlite_engine: Engine, mail_settings: Settings, sink: Sink
) -> None:
    clock = [1000.0]
    mailer = ConfirmationMailer(
        settings=mail_settings,
        engine=sqlite_engine,
        connect=lambda: SMTPSender.from_url(sink.url),
        clock=lambda: clock[0],
    )
    routes = build_routes(
        settings=mail_settings, engine=sqlite_engine, clock=lambda: clock[0], mailer=mailer
    )
    with serving(routes) as url, httpx.Client(base_url=url) as client:
        for _ in range(5):
            answer = client.post("/subscribe", data={"email": "victim@example.com"})
            assert answer.status_code == 200 and "Check your inbox" in answer.text
        mailer.join()
        assert len(sink.messages) == 1
        clock[0] += 601  # ten minutes later a new confirmation may go out
        client.post("/subscribe", data={"email": "victim@example.com"})
        mailer.join()
        assert len(sink.messages) == 2


def test_a_failed_confirmation_mail_is_not_throttled_and_a_retry_sends_it(
    sqlite_engine: Engine, mail_settings: Settings, sink: Sink
) -> None:
    smtp = [sink.url.replace(str(sink.port), "1")]  # nothing listens on port 1
    mailer = ConfirmationMailer(
        settings=mail_settings, engine=sqlite_engine, connect=lambda: SMTPSender.from_url(smtp[0])
    )
    routes = build_routes(settings=mail_settings, engine=sqlite_engine, mailer=mailer)
    with serving(routes) as url, httpx.Client(base_url=url) as client:
        failed = client.post("/subscribe", data={"email": "reader@example.com"})
        mailer.join()
        # The answer cannot depend on SMTP (it is given before the mail is tried).
        assert failed.status_code == 200 and sink.messages == []
        smtp[0] = sink.url
        retried = client.post("/subscribe", data={"email": "reader@example.com"})
        mailer.join()
        assert retried.text == failed.text and len(sink.messages) == 1


def test_opening_an_expired_or_damaged_confirmation_link_says_so(site: Site) -> None:
    page = httpx.get(f"{site.url}/confirm", params={"token": "damaged"})
    assert (
        page.status_code == 400
        and "not valid" in page.text
        and "Confirm subscription" not in page.text
    )  # no button to press


def test_head_requests_answer_like_get_and_change_nothing(
    site: Site, sqlite_engine: Engine, sink: Sink
) -> None:
    """Link checkers and mail scanners send HEAD; it must never confirm or unsubscribe."""
    reader = confirmed(sqlite_engine, "reader@example.com")
    with session_scope(sqlite_engine) as session:
        pending, _ = store.upsert_pending(
            session=session, email="pending@example.com", editions=["tech"]
        )
    unsubscribe = subs.unsubscribe_url(site.settings, reader, "reader@example.com")
    confirm = subs.confirm_url(site.settings, pending)

    with httpx.Client() as client:
        for url in (unsubscribe, confirm, f"{site.url}/subscribe"):
            head = client.head(url)
            get = client.get(url)
            assert head.status_code == get.status_code == 200
            assert head.content == b""
            assert head.headers["content-type"] == get.headers["content-type"]

    assert status_of(sqlite_engine, "reader@example.com") == "confirmed"
    assert status_of(sqlite_engine, "pending@example.com") == "pending"
    assert sink.messages == []

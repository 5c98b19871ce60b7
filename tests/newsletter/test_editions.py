"""Readers pick editions on the subscribe form; `newsletter send` mails each only those."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.applications import Starlette

from app.cli import cli
from app.wiring import Runtime
from core.config import Settings
from newsletter import subscribers as subs
from newsletter.confirmations import MAIL_WINDOW, ConfirmationMailer
from newsletter.smtp import SMTPSender
from newsletter.web import build_routes
from storage import subscribers as store
from storage.db import session_scope
from tests.conftest import store_digest
from tests.peers.asgi import serve_asgi
from tests.peers.smtp import Sink

SOURCES = """\
[editions.tech]
title = "Company Blogs Test"
description = "Posts from a few made-up company blogs."

[editions.reads]
title = "Personal Blogs Test"
description = "Posts from made-up personal blogs."

[[sources]]
name = "Example Company"
company = "Example"
url = "http://127.0.0.1:9/company.xml"
edition = "tech"

[[sources]]
name = "Example Person"
company = "Person"
url = "http://127.0.0.1:9/person.xml"
edition = "reads"
"""


@dataclass
class Site:
    url: str
    settings: Settings
    mailer: ConfirmationMailer
    clock: list[float]  # the throttles' clock: append to move it on

    def post(self, **form: str) -> httpx.Response:
        """POST the subscribe form, then wait until the request behind it is handled."""
        answer = httpx.post(f"{self.url}/subscribe", data=form)
        self.mailer.join()
        return answer


@pytest.fixture
def edition_settings(mail_settings: Settings, tmp_path: Path, sink: Sink) -> Settings:
    path = tmp_path / "sources.toml"
    path.write_text(SOURCES, encoding="utf-8")
    return mail_settings.replace(sources_path=str(path), smtp_url=sink.url)


@pytest.fixture
def site(sqlite_engine: Engine, edition_settings: Settings, sink: Sink) -> Iterator[Site]:
    clock = [0.0]
    mailer = ConfirmationMailer(
        settings=edition_settings,
        engine=sqlite_engine,
        connect=lambda: SMTPSender.from_url(sink.url),
        clock=lambda: clock[-1],
    )
    routes = build_routes(
        settings=edition_settings, engine=sqlite_engine, mailer=mailer, clock=lambda: clock[-1]
    )
    with serve_asgi(Starlette(routes=routes)) as url:
        yield Site(url=url, settings=edition_settings, mailer=mailer, clock=clock)


def _editions(engine: Engine, email: str) -> tuple[str, ...] | None:
    with Session(engine) as session:
        row = store.find_by_email(session=session, email=email)
        return store.editions_of(row) if row else None


def _confirm_last_mail(site: Site, sink: Sink) -> None:
    token = re.search(r"/confirm\?token=(\S+)", sink.messages[-1].message.get_content()).group(1)
    done = httpx.post(f"{site.url}/confirm", data={"token": token})
    assert done.status_code == 200 and "You are subscribed" in done.text


def test_the_form_offers_a_checkbox_per_edition(site: Site) -> None:
    form = httpx.get(f"{site.url}/subscribe")
    assert form.status_code == 200
    boxes = re.findall(
        r'<input type="checkbox" name="edition-(\w+)" value="1"( checked)?>', form.text
    )
    assert boxes == [("tech", " checked"), ("reads", "")]
    assert "Company Blogs Test" in form.text and "Posts from made-up personal blogs." in form.text


def test_readers_choose_editions_and_send_mails_each_only_theirs(
    site: Site, sqlite_engine: Engine, sink: Sink, make_rollup
) -> None:
    choices = {
        "reads@example.com": {"edition-reads": "1"},
        "both@example.com": {"edition-tech": "1", "edition-reads": "1"},
    }
    for email, boxes in choices.items():
        answer = site.post(email=email, editions="1", **boxes)
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        _confirm_last_mail(site, sink)
    # a post from an older form (no edition boxes at all) gets the first edition, as before
    old = site.post(email="tech@example.com")
    assert old.status_code == 200
    _confirm_last_mail(site, sink)
    assert _editions(sqlite_engine, "reads@example.com") == ("reads",)
    assert _editions(sqlite_engine, "both@example.com") == ("tech", "reads")
    assert _editions(sqlite_engine, "tech@example.com") == ("tech",)

    runtime = Runtime(settings=site.settings.replace(database_url=str(sqlite_engine.url)))
    with session_scope(runtime.engine) as session:
        for edition in ("tech", "reads"):
            store_digest(session, make_rollup(2, edition=edition))
    confirmations = len(sink.messages)
    try:
        for edition in ("tech", "reads"):
            result = CliRunner().invoke(
                cli, ["newsletter", "send", "--week", "2026-W14", "--edition", edition], obj=runtime
            )
            assert result.exit_code == 0, result.output
            assert result.output.strip() == "2 subscribers: 2 sent."
    finally:
        runtime.close()
    issues = sink.messages[confirmations:]
    sent = sorted((m.rcpt_tos[0], m.message["Message-ID"].split(".")[0][1:]) for m in issues)
    assert sent == [
        ("both@example.com", "reads"),
        ("both@example.com", "tech"),
        ("reads@example.com", "reads"),
        ("tech@example.com", "tech"),
    ]


@pytest.mark.parametrize("boxes", [{}, {"edition-nope": "1"}])
def test_choosing_no_edition_is_explained_and_stores_nothing(
    site: Site, sqlite_engine: Engine, sink: Sink, boxes: dict[str, str]
) -> None:
    answer = site.post(email="reader@example.com", editions="1", **boxes)
    assert answer.status_code == 400
    assert "Pick at least one edition." in answer.text
    assert 'value="reader@example.com"' in answer.text  # what was typed is kept
    assert _editions(sqlite_engine, "reader@example.com") is None
    assert sink.messages == []


def test_a_pending_reader_who_asks_again_gets_the_new_choice(
    site: Site, sqlite_engine: Engine
) -> None:
    site.post(email="r@example.com", editions="1", **{"edition-tech": "1"})
    assert _editions(sqlite_engine, "r@example.com") == ("tech",)
    site.clock.append(MAIL_WINDOW + 1)  # past the one-request-per-mailbox window
    site.post(email="r@example.com", editions="1", **{"edition-reads": "1"})
    assert _editions(sqlite_engine, "r@example.com") == ("reads",)


def test_recipients_match_whole_edition_names_on_both_databases(engine: Engine) -> None:
    with session_scope(engine) as session:
        store.add_confirmed(session=session, emails=["a@example.com"], editions=["tech_2"])
        store.add_confirmed(session=session, emails=["b@example.com"], editions=["tech", "reads"])
        store.add_confirmed(session=session, emails=["c@example.com"], editions=["techx"])
    with Session(engine) as session:
        assert [e for _, e in store.recipients(session=session, edition="tech")] == [
            "b@example.com"
        ]
        assert [e for _, e in store.recipients(session=session, edition="tech%")] == []
        assert [e for _, e in store.recipients(session=session, edition="tech_2")] == [
            "a@example.com"
        ]
        assert [e for _, e in store.recipients(session=session, edition="reads")] == [
            "b@example.com"
        ]
        assert store.count_by_status(session=session, edition="tech") == {"confirmed": 1}


def test_a_confirmed_reader_changes_editions_through_a_mailed_link(
    site: Site, sqlite_engine: Engine, sink: Sink
) -> None:
    site.post(email="r@example.com", editions="1", **{"edition-tech": "1"})
    _confirm_last_mail(site, sink)
    site.clock.append(MAIL_WINDOW + 1)
    first = site.post(email="r@example.com", editions="1", **{"edition-tech": "1"})
    assert len(sink.messages) == 1  # the same choice again: nothing to confirm, no mail
    site.clock.append(2 * MAIL_WINDOW + 2)
    again = site.post(
        email="r@example.com", editions="1", **{"edition-tech": "1", "edition-reads": "1"}
    )
    assert again.text == first.text  # the form says the same whatever the address's state
    assert len(sink.messages) == 2
    body = sink.messages[-1].message.get_content()
    assert "weekly editions tech, reads" in body and "ignore this mail: nothing changes" in body
    assert _editions(sqlite_engine, "r@example.com") == ("tech",)  # not before the button
    _confirm_last_mail(site, sink)
    assert _editions(sqlite_engine, "r@example.com") == ("tech", "reads")
    with Session(sqlite_engine) as session:
        row = store.find_by_email(session=session, email="r@example.com")
        assert row is not None and row.status == "confirmed"


def test_a_confirmation_link_with_no_editions_is_refused(
    sqlite_engine: Engine, edition_settings: Settings
) -> None:
    with session_scope(sqlite_engine) as session:
        store.add_confirmed(session=session, emails=["r@example.com"], editions=["tech"])
        row = store.find_by_email(session=session, email="r@example.com")
        token = subs.confirm_token(edition_settings, row, editions=[])
        with pytest.raises(subs.TokenError, match="not valid"):
            subs.confirm(token, session=session, settings=edition_settings)
        assert store.editions_of(row) == ("tech",)

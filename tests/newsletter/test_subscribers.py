"""The subscription life-cycle: double opt-in, signed tokens, unsubscribe, CSV import."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.config import Settings
from newsletter import subscribers as subs
from storage import subscribers as store


def test_normalise_email_trims_and_lowercases() -> None:
    assert subs.normalise_email("  Alice.Smith@Example.COM ") == "alice.smith@example.com"


@pytest.mark.parametrize(
    "bad", ["", "alice", "alice@", "@example.com", "a b@example.com", "a@@b.com"]
)
def test_invalid_address_is_refused_in_plain_words(bad: str) -> None:
    with pytest.raises(subs.InvalidEmailError, match="not a valid email address"):
        subs.normalise_email(bad)


def test_subscribe_leaves_the_address_pending(engine: Engine) -> None:
    with Session(engine) as session:
        result = subs.subscribe("Reader@Example.com", session=session, editions=["tech"])
        assert result.needs_confirmation
        assert result.subscriber.status == "pending"
        assert store.recipients(session=session, edition="tech") == []


def test_subscribing_twice_keeps_one_row(engine: Engine) -> None:
    with Session(engine) as session:
        first = subs.subscribe("reader@example.com", session=session, editions=["tech"])
        second = subs.subscribe(" READER@example.com", session=session, editions=["tech"])
        assert first.subscriber.id == second.subscriber.id
        assert len(store.list_subscribers(session=session)) == 1


def test_confirm_token_confirms_and_is_idempotent(engine: Engine, mail_settings: Settings) -> None:
    with Session(engine) as session:
        row = subs.subscribe("reader@example.com", session=session, editions=["tech"]).subscriber
        token = subs.confirm_token(mail_settings, row)
        assert subs.confirm(token, session=session, settings=mail_settings).status == "confirmed"
        assert subs.confirm(token, session=session, settings=mail_settings).status == "confirmed"
        assert store.recipients(session=session, edition="tech") == [(row.id, "reader@example.com")]
        again = subs.subscribe("reader@example.com", session=session, editions=["tech"])
        assert not again.needs_confirmation


def test_expired_confirm_token_is_refused(engine: Engine, mail_settings: Settings) -> None:
    with Session(engine) as session:
        row = subs.subscribe("reader@example.com", session=session, editions=["tech"]).subscriber
        token = subs.confirm_token(mail_settings, row)
        later = row.created_at + subs.CONFIRM_TTL + timedelta(hours=1)
        with pytest.raises(subs.TokenError, match="expired"):
            subs.confirm(token, session=session, settings=mail_settings, now=later)
        assert store.get(session=session, subscriber_id=row.id).status == "pending"


def test_forged_or_damaged_token_is_refused(engine: Engine, mail_settings: Settings) -> None:
    with Session(engine) as session:
        row = subs.subscribe("reader@example.com", session=session, editions=["tech"]).subscriber
        foreign = subs.confirm_token(mail_settings.replace(secret_key="someone-else"), row)
        for token in (foreign, subs.confirm_token(mail_settings, row)[:-3] + "xyz", "", "abc"):
            with pytest.raises(subs.TokenError, match="not valid"):
                subs.confirm(token, session=session, settings=mail_settings)
        unsubscribe = subs.unsubscribe_token(mail_settings, row.id, row.email)
        with pytest.raises(subs.TokenError):  # a token for one purpose never serves another
            subs.confirm(unsubscribe, session=session, settings=mail_settings)


def test_unsubscribe_token_is_tied_to_the_subscriber(
    engine: Engine, mail_settings: Settings
) -> None:
    with Session(engine) as session:
        row = subs.subscribe("reader@example.com", session=session, editions=["tech"]).subscriber
        store.set_status(session=session, subscriber=row, status="confirmed")
        other = subs.unsubscribe_token(mail_settings, row.id, "someone@example.com")
        assert subs.unsubscribe(other, session=session, settings=mail_settings) is None
        assert store.get(session=session, subscriber_id=row.id).status == "confirmed"
        token = subs.unsubscribe_token(mail_settings, row.id, row.email)
        assert (
            subs.unsubscribe(token, session=session, settings=mail_settings).status
            == "unsubscribed"
        )
        assert (
            subs.unsubscribe(token, session=session, settings=mail_settings).status
            == "unsubscribed"
        )


def test_old_confirm_link_cannot_undo_an_unsubscribe(
    engine: Engine, mail_settings: Settings
) -> None:
    with Session(engine) as session:
        row = subs.subscribe("reader@example.com", session=session, editions=["tech"]).subscriber
        confirm = subs.confirm_token(mail_settings, row)
        subs.confirm(confirm, session=session, settings=mail_settings)
        subs.unsubscribe(
            subs.unsubscribe_token(mail_settings, row.id, row.email),
            session=session,
            settings=mail_settings,
        )
        with pytest.raises(subs.TokenError, match="no longer valid"):
            subs.confirm(confirm, session=session, settings=mail_settings)
        assert store.get(session=session, subscriber_id=row.id).status == "unsubscribed"


def test_coming_back_after_unsubscribing_needs_a_new_confirmation(
    engine: Engine, mail_settings: Settings
) -> None:
    with Session(engine) as session:
        row = subs.subscribe("reader@example.com", session=session, editions=["tech"]).subscriber
        store.set_status(session=session, subscriber=row, status="unsubscribed")
        again = subs.subscribe("reader@example.com", session=session, editions=["tech"])
        assert again.needs_confirmation and again.subscriber.status == "pending"
        assert store.recipients(session=session, edition="tech") == []


def test_confirmation_mail_links_to_the_confirm_page(
    engine: Engine, mail_settings: Settings
) -> None:
    with Session(engine) as session:
        row = subs.subscribe("reader@example.com", session=session, editions=["tech"]).subscriber
        message = subs.confirmation_message(row, settings=mail_settings)
    body = message.get_content()
    assert message["To"] == "reader@example.com"
    assert message["From"] == "digest@news.example.org"
    assert (
        f"https://digest.example.org/confirm?token={subs.confirm_token(mail_settings, row)}" in body
    )


def test_import_csv_adds_confirmed_and_reports_bad_lines(
    engine: Engine, tmp_path: Path, add_subscribers
) -> None:
    add_subscribers(["left@example.com"], status="unsubscribed")
    path = tmp_path / "list.csv"
    path.write_text(
        "name,Email\n"
        "Ann,ann@example.com\n"
        "Bob,BOB@example.com\n"
        "Bob again,bob@example.com\n"
        "Nobody,not-an-address\n"
        "Left,left@example.com\n"
        "Blank,\n",
        encoding="utf-8",
    )
    with Session(engine) as session:
        report = subs.import_csv(path, session=session, edition="tech")
        assert (report.added, report.existing, report.duplicates) == (2, 1, 1)
        assert [(line, value) for line, value, _ in report.invalid] == [(5, "not-an-address")]
        states = {r.email: r.status for r in store.list_subscribers(session=session)}
    assert states == {
        "ann@example.com": "confirmed",
        "bob@example.com": "confirmed",
        "left@example.com": "unsubscribed",  # an import never resurrects someone who left
    }


def test_import_without_email_column_is_a_clear_error(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("name,address\nAnn,ann@example.com\n")
    with Session(engine) as session, pytest.raises(subs.DigestError, match="no 'email' column"):
        subs.import_csv(path, session=session, edition="tech")

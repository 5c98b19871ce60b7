"""Sending an issue through the ledger into a real SMTP server: once each, whatever happens."""

from __future__ import annotations

import threading
from email.message import EmailMessage

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.config import Settings
from newsletter import subscribers as subs
from newsletter.render import Issue, render_issue
from newsletter.send import RateLimiter, send_issue
from newsletter.smtp import SMTPSender
from storage import deliveries
from storage import subscribers as store
from tests.peers.smtp import Sink, smtp_sink


@pytest.fixture
def issue(rollup, mail_settings: Settings) -> Issue:
    return render_issue(rollup, settings=mail_settings)


def emails(n: int) -> list[str]:
    return [f"reader{i}@example.com" for i in range(n)]


def send(issue: Issue, engine: Engine, settings: Settings, sink: Sink, **options):
    options.setdefault("backoff", 0.01)
    return send_issue(
        issue,
        engine=engine,
        settings=settings,
        connect=lambda: SMTPSender.from_url(sink.url),
        **options,
    )


def test_each_confirmed_subscriber_gets_one_copy_and_a_rerun_sends_nothing(
    engine, issue, mail_settings, sink, add_subscribers
) -> None:
    add_subscribers(emails(12))
    first = send(issue, engine, mail_settings, sink)
    assert (first.audience, first.sent, first.already) == (12, 12, 0)
    second = send(issue, engine, mail_settings, sink)
    assert (second.sent, second.already) == (0, 12)
    assert sink.per_recipient() == {e: 1 for e in emails(12)}
    with Session(engine) as session:
        assert deliveries.counts(session=session, issue=issue.key) == {"sent": 12}


def test_each_message_is_personalised_for_its_recipient(
    engine, issue, mail_settings, sink, add_subscribers
) -> None:
    ids = add_subscribers(emails(3))
    send(issue, engine, mail_settings, sink)
    by_id = dict(zip(emails(3), ids, strict=True))
    for received in sink.messages:
        message: EmailMessage = received.message
        (rcpt,) = received.rcpt_tos
        assert message["To"] == rcpt
        assert message["Message-ID"] == f"<tech.2026-W14.s{by_id[rcpt]}@news.example.org>"
        token = message["List-Unsubscribe"].split("token=")[1].split(">")[0]
        assert subs.read_unsubscribe_token(mail_settings, token)[0] == by_id[rcpt]
        assert received.mail_from == "digest@news.example.org"


def test_only_confirmed_subscribers_receive_it(
    engine, issue, mail_settings, sink, add_subscribers
) -> None:
    add_subscribers(["pending@example.com"], status="pending")
    add_subscribers(["left@example.com"], status="unsubscribed")
    add_subscribers(["bounced@example.com"], status="bounced")
    add_subscribers(["other@example.com"], edition="reads")
    add_subscribers(["yes@example.com"])
    tally = send(issue, engine, mail_settings, sink)
    assert sink.recipients() == ["yes@example.com"] and tally.audience == 1


def test_4xx_is_retried_with_backoff_then_delivered(
    engine, issue, mail_settings, add_subscribers
) -> None:
    add_subscribers(["busy@example.com", "calm@example.com"])
    answers = {"busy@example.com": ["451 4.7.1 greylisted, try later"] * 2}
    with smtp_sink(answers=answers) as sink:
        tally = send(issue, engine, mail_settings, sink, retries=3)
    assert (tally.sent, tally.deferred) == (2, 0)
    assert sink.rcpt_attempts["busy@example.com"] == 3
    assert sink.per_recipient() == {"busy@example.com": 1, "calm@example.com": 1}


def test_lasting_4xx_is_deferred_and_the_next_run_delivers_it(
    engine, issue, mail_settings, add_subscribers
) -> None:
    add_subscribers(["busy@example.com", "calm@example.com"])
    answers = {"busy@example.com": ["451 4.7.1 try later"] * 2}
    with smtp_sink(answers=answers) as sink:
        first = send(issue, engine, mail_settings, sink, retries=1)
        assert (first.sent, first.deferred) == (1, 1)
        second = send(issue, engine, mail_settings, sink, retries=1)
        assert (second.sent, second.already) == (1, 1)
    assert sink.per_recipient() == {"busy@example.com": 1, "calm@example.com": 1}


def test_5xx_fails_that_delivery_bounces_the_mailbox_and_spares_the_rest(
    engine, issue, mail_settings, add_subscribers
) -> None:
    add_subscribers(["a@example.com", "gone@example.com", "spam@example.com", "z@example.com"])
    answers = {
        "gone@example.com": "550 5.1.1 no such user",
        "spam@example.com": "554 5.7.1 message refused by policy",
    }
    with smtp_sink(answers=answers) as sink:
        tally = send(issue, engine, mail_settings, sink, retries=3)
        assert (tally.sent, tally.failed, tally.bounced) == (2, 2, 1)
        again = send(issue, engine, mail_settings, sink, retries=3)
        assert again.sent == 0
    assert sorted(sink.recipients()) == ["a@example.com", "z@example.com"]
    assert sink.rcpt_attempts["gone@example.com"] == 1  # never retried, not even by a re-run
    with Session(engine) as session:
        states = {r.email: r.status for r in store.list_subscribers(session=session)}
        gone = store.find_by_email(session=session, email="gone@example.com")
    assert states["gone@example.com"] == "bounced" and "550 5.1.1" in (gone.last_error or "")
    assert states["spam@example.com"] == "confirmed"  # a policy refusal is not the mailbox's fault


def test_server_failing_mid_issue_pauses_and_a_rerun_sends_the_rest_once(
    engine, issue, mail_settings, add_subscribers
) -> None:
    add_subscribers(emails(10))
    with smtp_sink(fail_after=3) as sink:
        first = send(issue, engine, mail_settings, sink, concurrency=1, retries=1, error_budget=2)
        assert first.sent == 3 and first.deferred == 2 and first.remaining == 5
        assert "paused after 2 transient failures" in first.paused
        sink.recover()
        second = send(issue, engine, mail_settings, sink, concurrency=1, retries=1, error_budget=2)
        assert (second.sent, second.already) == (7, 3)
    assert sink.per_recipient() == {e: 1 for e in emails(10)}


class _CrashingSender(SMTPSender):
    """A sender whose process 'dies' (Ctrl-C) while handing over its fourth message."""

    sent_count = 0

    def send(self, *args, **kwargs) -> None:
        if _CrashingSender.sent_count == 3:
            raise KeyboardInterrupt
        _CrashingSender.sent_count += 1
        super().send(*args, **kwargs)


def test_a_crash_mid_send_resumes_without_duplicates(
    engine, issue, mail_settings, sink, add_subscribers
) -> None:
    add_subscribers(emails(10))
    _CrashingSender.sent_count = 0
    with pytest.raises(KeyboardInterrupt):
        send_issue(
            issue,
            engine=engine,
            settings=mail_settings,
            concurrency=1,
            connect=lambda: _CrashingSender.from_url(sink.url),
        )
    with Session(engine) as session:
        # the message in flight and the rest of its batch are released for the next run
        assert deliveries.counts(session=session, issue=issue.key) == {"sent": 3, "deferred": 7}
    tally = send(issue, engine, mail_settings, sink)
    assert (tally.sent, tally.already) == (7, 3)
    assert sink.per_recipient() == {e: 1 for e in emails(10)}


def test_dropped_connections_lose_nothing(engine, issue, mail_settings, add_subscribers) -> None:
    add_subscribers(emails(10))
    with smtp_sink(drop_every=3) as sink:
        tally = send(issue, engine, mail_settings, sink, concurrency=2)
    assert tally.sent == 10
    assert sink.per_recipient() == {e: 1 for e in emails(10)}


def test_subscriber_who_unsubscribes_during_the_send_is_skipped(
    engine, issue, mail_settings, sink, add_subscribers
) -> None:
    ids = add_subscribers(emails(5))

    def unsubscribe_the_last(status: str) -> None:
        if status == "sent" and len(sink.messages) == 1:
            token = subs.unsubscribe_token(mail_settings, ids[-1], emails(5)[-1])
            with Session(engine) as session:
                subs.unsubscribe(token, session=session, settings=mail_settings)

    # At 10 messages/s a batch is 2 subscribers (0.2 s of sending): states are re-read
    # before each batch is claimed.
    tally = send(
        issue, engine, mail_settings, sink, concurrency=1, rate=10, on_outcome=unsubscribe_the_last
    )
    assert (tally.sent, tally.unsubscribed) == (4, 1)
    assert emails(5)[-1] not in sink.recipients()


def test_two_senders_at_once_still_send_each_message_once(
    engine, issue, mail_settings, sink, add_subscribers
) -> None:
    add_subscribers(emails(30))
    tallies = []
    threads = [
        threading.Thread(
            target=lambda: tallies.append(send(issue, engine, mail_settings, sink, concurrency=2))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(t.sent for t in tallies) == 30
    assert sink.per_recipient() == {e: 1 for e in emails(30)}


def test_rate_limiter_spaces_messages_evenly_across_threads() -> None:
    clock = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)

    limiter = RateLimiter(4.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert waits == [0.25, 0.5, 0.75, 1.0]  # 5 messages within 1 s at 4/s: never a burst
    clock[0] = 110.0
    waits.clear()
    limiter.wait()
    assert waits == []  # an idle limiter does not save up a burst either
    RateLimiter(0).wait()  # 0 = no cap

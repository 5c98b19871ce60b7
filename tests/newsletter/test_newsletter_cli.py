"""`digest newsletter …` end to end: a stored rollup, a real SMTP sink, the CLI's output."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import Session

from app.cli import cli
from app.jobs import steps_for
from app.pipeline import Pipeline
from app.wiring import Runtime
from core.config import Settings
from storage import subscribers as store
from storage.db import session_scope
from storage.digests import load_digest
from storage.tables import Article, FeedSource
from tests.conftest import store_digest
from tests.peers.smtp import Sink

NOW = datetime(2026, 4, 8, 9, 0, tzinfo=UTC)  # the Wednesday after week 2026-W14


@pytest.fixture
def runtime(mail_settings: Settings, sink: Sink) -> Runtime:
    runtime = Runtime(settings=mail_settings.replace(smtp_url=sink.url), clock=lambda: NOW)
    yield runtime
    runtime.close()


def run_send_weekly(runtime: Runtime, *, week: str) -> dict[str, int]:
    """What the worker's weekly job sends (its step, composing the rollup itself)."""
    return dict(steps_for(Pipeline(runtime)).send_weekly("tech", week))


def add_post(runtime: Runtime, title: str, published: datetime) -> None:
    """A stored post of the tech edition (with no deep dive yet: composing makes one)."""
    with session_scope(runtime.engine) as session:
        source = session.get(FeedSource, 1) or FeedSource(
            id=1,
            name="Netflix Tech Blog",
            company="Netflix",
            url="https://n.example/feed",
            edition="tech",
            status="ok",
        )
        session.add(source)
        session.flush()
        session.add(
            Article(
                url=f"https://n.example/{title.lower().replace(' ', '-')}",
                fingerprint=title[:16],
                source_id=1,
                edition="tech",
                company="Netflix",
                title=title,
                text=f"{title}. We moved the write path to a log. " * 20,
                words=200,
                published_at=published,
                first_seen_at=published,
            )
        )


def invoke(runtime: Runtime, *args: str):
    return CliRunner().invoke(cli, ["newsletter", *args], obj=runtime, catch_exceptions=False)


def store_rollup(runtime: Runtime, rollup) -> None:
    with session_scope(runtime.engine) as session:
        store_digest(session, rollup)


def add_confirmed(runtime: Runtime, *emails: str) -> None:
    with session_scope(runtime.engine) as session:
        store.add_confirmed(session=session, emails=emails, editions=["tech"])


def test_subscribe_mails_a_confirmation_link(runtime: Runtime, sink: Sink) -> None:
    result = invoke(runtime, "subscribe", "Reader@Example.com")
    assert result.exit_code == 0 and "confirmation link was mailed" in result.output
    (mail,) = sink.messages
    assert "/confirm?token=" in mail.message.get_content()


def test_subscribe_without_smtp_prints_the_link(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.replace(smtp_url="")
    result = invoke(runtime, "subscribe", "reader@example.com")
    assert "https://digest.example.org/confirm?token=" in result.output


def test_subscribe_refuses_an_invalid_address_in_one_line(runtime: Runtime) -> None:
    result = CliRunner().invoke(cli, ["newsletter", "subscribe", "nobody"], obj=runtime)
    assert result.exit_code == 1
    assert result.output.startswith("Error: 'nobody' is not a valid email address")
    assert "Traceback" not in result.output


def test_import_then_list_as_json(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("email\nann@example.com\nbad\nbob@example.com\n")
    result = invoke(runtime, "import", str(path))
    assert "Imported 2 confirmed subscribers" in result.output and "line 3" in result.output
    listed = json.loads(invoke(runtime, "subscribers", "--format", "json").output)
    assert [(s["email"], s["status"]) for s in listed] == [
        ("ann@example.com", "confirmed"),
        ("bob@example.com", "confirmed"),
    ]
    table = invoke(runtime, "subscribers").output
    assert "ann@example.com" in table and "2 confirmed" in table


def test_send_dry_run_counts_and_sends_nothing(runtime: Runtime, sink: Sink, rollup) -> None:
    store_rollup(runtime, rollup)
    add_confirmed(runtime, "a@example.com", "b@example.com")
    result = invoke(runtime, "send", "--week", "2026-W14", "--dry-run")
    assert "2 confirmed subscribers, 0 already done, 2 would be sent now" in result.output
    assert sink.messages == []


def test_send_mails_the_stored_rollup_once(runtime: Runtime, sink: Sink, rollup) -> None:
    store_rollup(runtime, rollup)
    add_confirmed(runtime, "a@example.com", "b@example.com")
    first = invoke(runtime, "send", "--week", "2026-W14")
    assert first.output.strip() == "2 subscribers: 2 sent."
    second = invoke(runtime, "send", "--week", "2026w14")
    assert second.output.strip() == "2 subscribers: 0 sent, 2 already done."
    assert sorted(sink.recipients()) == ["a@example.com", "b@example.com"]
    assert sink.messages[0].message["Subject"].startswith("Engineering @ Scale, week of 30 Mar: ")
    text = sink.messages[0].message.get_body(("plain",)).get_content()
    assert " · Issue 1 · " in text  # the edition's first stored week


def test_send_without_smtp_url_says_so(runtime: Runtime, rollup) -> None:
    runtime.settings = runtime.settings.replace(smtp_url="")
    store_rollup(runtime, rollup)
    result = CliRunner().invoke(cli, ["newsletter", "send", "--week", "2026-W14"], obj=runtime)
    assert result.exit_code == 1 and "SMTP_URL is not set" in result.output


def test_preview_prints_the_issue_html(runtime: Runtime, rollup) -> None:
    store_rollup(runtime, rollup)
    html = invoke(runtime, "preview", "--week", "2026-W14").output
    assert html.startswith("<!DOCTYPE html>") and "Top Stories" in html
    text = invoke(runtime, "preview", "--week", "2026-W14", "--format", "text").output
    assert "Week in Review" in text and "<" not in text.split("\n")[0]


def test_run_send_weekly_is_the_workers_entry_point(runtime: Runtime, sink: Sink, rollup) -> None:
    store_rollup(runtime, rollup)
    add_confirmed(runtime, "a@example.com")
    assert run_send_weekly(runtime, week="2026-W14")["sent"] == 1
    again = run_send_weekly(runtime, week="2026-W14")
    assert (again["sent"], again["already"]) == (0, 1)
    with Session(runtime.engine) as session:
        assert store.count_by_status(session=session) == {"confirmed": 1}


def test_an_empty_week_is_not_mailed(runtime: Runtime, sink: Sink, make_rollup) -> None:
    empty = make_rollup(0)
    empty = type(empty).from_dict(
        {**empty.to_dict(), "stats": {"sources_checked": 31, "posts": 0, "minutes_saved": 0}}
    )
    store_rollup(runtime, empty)
    add_confirmed(runtime, "a@example.com")
    result = invoke(runtime, "send", "--week", "2026-W14")
    assert "has no posts; nothing was sent" in result.output
    assert run_send_weekly(runtime, week="2026-W14")["sent"] == 0
    assert sink.messages == []


def test_mailing_the_public_with_the_default_secret_key_is_refused(
    runtime: Runtime, rollup
) -> None:
    runtime.settings = runtime.settings.replace(secret_key=Settings().secret_key)
    store_rollup(runtime, rollup)
    result = CliRunner().invoke(cli, ["newsletter", "send", "--week", "2026-W14"], obj=runtime)
    assert result.exit_code == 1 and "SECRET_KEY is the built-in default" in result.output


def test_deliveries_left_claimed_by_a_killed_run_are_sent_only_when_asked(
    runtime: Runtime, sink: Sink, rollup
) -> None:
    from datetime import UTC, datetime

    from storage import deliveries

    store_rollup(runtime, rollup)
    add_confirmed(runtime, "a@example.com", "b@example.com")
    with Session(runtime.engine) as session:
        (a_id,) = [
            i for i, e in store.recipients(session=session, edition="tech") if e == "a@example.com"
        ]
        # what a kill -9 leaves behind: a claim that was never finished
        deliveries.claim_many(
            session=session,
            channel="email",
            issue="tech/weekly/2026-W14",
            targets=[str(a_id)],
            now=datetime(2026, 4, 1, 9, 0, tzinfo=UTC),  # long ago
        )
    first = invoke(runtime, "send", "--week", "2026-W14")
    assert first.output.strip().startswith(
        "2 subscribers: 1 sent, 1 claimed by another run that has not recorded them (if no "
        "other send is running, one was killed mid-send: --retake-after 1h sends them again"
    )
    assert sink.recipients() == ["b@example.com"]  # a@ is left alone: it may have gone out
    assert first.exit_code == 1  # not every subscriber is known to have it
    second = invoke(runtime, "send", "--week", "2026-W14", "--retake-after", "1h")
    assert second.output.strip() == "2 subscribers: 1 sent, 1 already done."
    assert second.exit_code == 0
    assert sorted(sink.recipients()) == ["a@example.com", "b@example.com"]


def test_a_post_ingested_after_a_preview_is_in_the_issue_sent(runtime: Runtime, sink: Sink) -> None:
    add_post(runtime, "Rebuilding the event store", datetime(2026, 3, 31, 9, tzinfo=UTC))
    preview = invoke(runtime, "preview", "--week", "2026-W14", "--format", "text").output
    assert "Rebuilding the event store" in preview
    add_post(runtime, "Sharding the timeline cache", datetime(2026, 4, 2, 9, tzinfo=UTC))
    add_confirmed(runtime, "a@example.com")
    dry = invoke(runtime, "send", "--week", "2026-W14", "--dry-run")
    assert "1 confirmed subscribers, 0 already done, 1 would be sent now" in dry.output
    assert invoke(runtime, "send", "--week", "2026-W14").output.strip() == "1 subscribers: 1 sent."
    (mail,) = sink.messages
    body = mail.message.get_body(("plain",)).get_content()
    assert "Rebuilding the event store" in body and "Sharding the timeline cache" in body
    with session_scope(runtime.engine) as session:
        stored = load_digest(session=session, edition="tech", kind="weekly", period="2026-W14")
    assert stored is not None and stored["stats"]["posts"] == 2


def test_previewing_an_empty_week_stores_nothing_and_a_later_post_is_sent(
    runtime: Runtime, sink: Sink
) -> None:
    add_confirmed(runtime, "a@example.com")
    result = CliRunner().invoke(cli, ["newsletter", "preview", "--week", "2026-W14"], obj=runtime)
    assert result.exit_code == 1 and "has no posts: there is no issue" in result.output
    dry = invoke(runtime, "send", "--week", "2026-W14", "--dry-run")
    assert dry.output.strip() == "The tech rollup for 2026-W14 has no posts; nothing would be sent."
    with session_scope(runtime.engine) as session:
        assert (
            load_digest(session=session, edition="tech", kind="weekly", period="2026-W14") is None
        )
    add_post(runtime, "A late post", datetime(2026, 4, 5, 20, tzinfo=UTC))
    assert run_send_weekly(runtime, week="2026-W14")["sent"] == 1
    assert sink.recipients() == ["a@example.com"]


def test_send_exits_non_zero_while_a_delivery_of_the_issue_has_failed(
    runtime: Runtime, sink: Sink, rollup
) -> None:
    store_rollup(runtime, rollup)
    add_confirmed(runtime, "ok@example.com", "gone@example.com")
    sink.answers["gone@example.com"] = "550 5.1.1 no such user"

    first = invoke(runtime, "send", "--week", "2026-W14")
    again = invoke(runtime, "send", "--week", "2026-W14")

    assert sink.recipients() == ["ok@example.com"]
    assert first.exit_code == 1 and "1 failed" in first.output
    assert again.exit_code == 1, again.output  # the failure is still there: say so
    assert "1 delivery of this issue failed" in again.output
    as_json = invoke_json(runtime, "send", "--week", "2026-W14", exit_code=1)
    assert (as_json["sent"], as_json["failed"], as_json["failed_for_good"]) == (0, 0, 1)


# --- --format json --------------------------------------------------------------------------


def invoke_json(runtime: Runtime, *args: str, exit_code: int = 0) -> dict:
    result = CliRunner().invoke(cli, ["newsletter", *args, "--format", "json"], obj=runtime)
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


def test_subscribe_as_json_says_whether_the_link_was_mailed(runtime: Runtime, sink: Sink) -> None:
    mailed = invoke_json(runtime, "subscribe", "Reader@Example.com")
    assert mailed == {
        "email": "reader@example.com",
        "status": "pending",
        "mailed": True,
        "confirm_url": None,
    }
    assert len(sink.messages) == 1
    runtime.settings = runtime.settings.replace(smtp_url="")
    printed = invoke_json(runtime, "subscribe", "other@example.com")
    assert (printed["mailed"], printed["status"]) == (False, "pending")
    assert printed["confirm_url"].startswith("https://digest.example.org/confirm?token=")
    add_confirmed(runtime, "known@example.com")
    known = invoke_json(runtime, "subscribe", "known@example.com")
    assert (known["status"], known["mailed"], known["confirm_url"]) == ("confirmed", False, None)
    assert len(sink.messages) == 1


def test_send_dry_run_as_json_counts_who_would_get_it(runtime: Runtime, sink: Sink, rollup) -> None:
    store_rollup(runtime, rollup)
    add_confirmed(runtime, "a@example.com", "b@example.com")
    plan = invoke_json(runtime, "send", "--week", "2026-W14", "--dry-run")
    issue = plan.pop("issue")
    assert plan == {
        "edition": "tech",
        "week": "2026-W14",
        "dry_run": True,
        "has_posts": True,
        "audience": 2,
        "already": 0,
        "would_send": 2,
    }
    assert issue["subject"].startswith("Engineering @ Scale, week of 30 Mar: ")
    assert issue["html_bytes"] > 1000 and issue["stories_shown"] == issue["stories_total"] > 0
    assert sink.messages == []


def test_send_as_json_reports_the_tally_and_a_second_run_sends_nothing(
    runtime: Runtime, sink: Sink, rollup
) -> None:
    store_rollup(runtime, rollup)
    add_confirmed(runtime, "a@example.com", "b@example.com")
    first = invoke_json(runtime, "send", "--week", "2026-W14")
    assert first == {
        "edition": "tech",
        "week": "2026-W14",
        "dry_run": False,
        "has_posts": True,
        "audience": 2,
        "sent": 2,
        "already": 0,
        "unrecorded": 0,
        "deferred": 0,
        "failed": 0,
        "bounced": 0,
        "unsubscribed": 0,
        "remaining": 0,
        "failed_for_good": 0,
        "paused": None,
    }
    again = invoke_json(runtime, "send", "--week", "2026-W14")
    assert (again["sent"], again["already"]) == (0, 2)
    plan = invoke_json(runtime, "send", "--week", "2026-W14", "--dry-run")
    assert (plan["already"], plan["would_send"]) == (2, 0)
    assert sorted(sink.recipients()) == ["a@example.com", "b@example.com"]


def test_a_week_without_posts_as_json_has_no_issue(runtime: Runtime, sink: Sink) -> None:
    add_confirmed(runtime, "a@example.com")
    plan = invoke_json(runtime, "send", "--week", "2026-W14", "--dry-run")
    assert (plan["has_posts"], plan["issue"], plan["would_send"]) == (False, None, 0)
    sent = invoke_json(runtime, "send", "--week", "2026-W14")
    assert (sent["has_posts"], sent["audience"], sent["sent"]) == (False, 0, 0)
    assert sink.messages == []


def test_preview_as_json_carries_the_subject_and_both_bodies(runtime: Runtime, rollup) -> None:
    store_rollup(runtime, rollup)
    preview = invoke_json(runtime, "preview", "--week", "2026-W14")
    assert set(preview) == {
        "edition",
        "week",
        "subject",
        "html_bytes",
        "stories_shown",
        "stories_total",
        "html",
        "text",
    }
    assert (preview["edition"], preview["week"]) == ("tech", "2026-W14")
    assert preview["html"] == invoke(runtime, "preview", "--week", "2026-W14").output
    assert (
        preview["text"]
        == invoke(runtime, "preview", "--week", "2026-W14", "--format", "text").output
    )


def test_import_as_json_counts_and_lists_the_invalid_lines(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "list.csv"
    path.write_text("email\nann@example.com\nbad\nann@example.com\n")
    report = invoke_json(runtime, "import", str(path), "-e", "tech")
    assert report == {
        "edition": "tech",
        "added": 1,
        "existing": 0,
        "duplicates": 1,
        "invalid": [{"line": 3, "value": "bad", "reason": report["invalid"][0]["reason"]}],
    }
    assert "@-sign" in report["invalid"][0]["reason"]
    again = invoke_json(runtime, "import", str(path))
    assert (again["added"], again["existing"]) == (0, 1)

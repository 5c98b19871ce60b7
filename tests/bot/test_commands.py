"""`/digest`: parsing is pure and forgiving; answers come from storage via response_url."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime

import pytest
from slack_bolt import App
from slack_sdk.models.blocks import Block
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.commands import Query, parse_command
from storage import channels as subscriptions
from tests.bot.conftest import (
    action_body,
    command_body,
    dispatch,
    front,
    make_daily,
    make_weekly,
)
from tests.conftest import add_article, add_source, store_digest
from tests.peers.slack_api import SlackAPI

TODAY = date(2026, 4, 1)  # a Wednesday in ISO week 2026-W14
EDITIONS = ("tech", "reads", "videos")


SUBSCRIBE_HELP = (
    "Name tags like `security` or `ml-infrastructure` (at most 10), e.g. "
    "`/digest subscribe security data`; `/digest tags` lists them."
)
UNSUBSCRIBE_HELP = (
    "Name one tag to stop following, e.g. `/digest unsubscribe security`, or nothing to stop "
    "the daily post."
)


def parse(text: str) -> Query:
    return parse_command(text, editions=EDITIONS, today=TODAY)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", Query("day", "tech", "2026-04-01")),
        ("yesterday", Query("day", "tech", "2026-03-31")),
        ("day 2026-03-02", Query("day", "tech", "2026-03-02")),
        ("2026-03-02", Query("day", "tech", "2026-03-02")),
        ("2026-W10", Query("week", "tech", "2026-W10")),
        ("week", Query("week", "tech", "2026-W14")),
        ("week last", Query("week", "tech", "2026-W13")),
        ("week 2026-W10", Query("week", "tech", "2026-W10")),
        ("reads week", Query("week", "reads", "2026-W14")),
        ("  SEARCH   kafka   replication ", Query("search", "tech", "kafka replication")),
        ("tag security", Query("tag", "tech", "security")),
        ("company Netflix", Query("company", "tech", "Netflix")),
        ("sources", Query("sources", "tech")),
        ("subscribe", Query("subscribe", "tech")),
        ("subscribe Security #data, security", Query("subscribe", "tech", "security data")),
        ("reads unsubscribe", Query("unsubscribe", "reads")),
        ("unsubscribe ml-infrastructure", Query("unsubscribe", "tech", "ml-infrastructure")),
        ("tags", Query("tags", "tech")),
        ("tag", Query("tags", "tech")),
        ("reads topics", Query("tags", "reads")),
        ("", Query("help", "tech")),
        ("help", Query("help", "tech")),
    ],
)
def test_parse_understands_every_subcommand(text: str, expected: Query) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("week 2026-W99", "Not a week: '2026-W99' (try 2026-W14, this or last)."),
        ("day yesterday-ish", "Not a date: 'yesterday-ish' (try 2026-04-01, today or yesterday)."),
        ("frobnicate", "I don't know `frobnicate`."),
        ("search", "Search for at least one word, e.g. `/digest search kafka`."),
        ("search !!!", "Search for at least one word, e.g. `/digest search kafka`."),
        ("tag !!", "Name a tag, e.g. `/digest tag security`."),
        ("tags now", "`/digest tags` takes nothing after it."),
        ("subscribe <!channel>", SUBSCRIBE_HELP),
        ("subscribe " + " ".join(f"t{i}" for i in range(11)), SUBSCRIBE_HELP),
        ("unsubscribe security data", UNSUBSCRIBE_HELP),
        ("sources now", "`/digest sources` takes nothing after it."),
        ("search " + "x" * 5000, "That is 5,007 characters; keep /digest under 300."),
    ],
)
def test_odd_input_gets_the_help_with_a_short_reason(text: str, problem: str) -> None:
    query = parse(text)
    assert query.kind == "help"
    assert query.problem == problem


def test_canonical_text_pins_relative_days() -> None:
    assert parse("today").canonical() == "tech day 2026-04-01"
    assert parse(parse("today").canonical()) == parse("today")


# --- through bolt: signed requests, ack, lazy answer on the response_url --------------------


def _answers(api: SlackAPI, count: int = 1) -> list[dict]:
    return api.wait_for("response", count)


def _texts(payload: dict) -> str:
    return json.dumps(payload["blocks"], ensure_ascii=False)


def test_help_is_answered_in_the_ack_itself(bot: App, slack_api: SlackAPI) -> None:
    response = dispatch(bot, command_body(slack_api, "week 2026-W99"))
    assert response.status == 200
    body = json.loads(response.body)
    assert body["response_type"] == "ephemeral"
    assert "Not a week: '2026-W99'" in json.dumps(body["blocks"])
    assert slack_api.responses() == []  # nothing more is sent later


def test_today_answers_ephemerally_with_a_share_button(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    with Session(sqlite_engine) as session:
        store_digest(session, make_daily(TODAY, dives=5))
    response = dispatch(bot, command_body(slack_api, "today"))
    assert response.status == 200 and response.body == ""
    [reply] = _answers(slack_api)
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Engineering @ Scale — 2026-04-01")
    assert "Post 4 of 2026-04-01" in _texts(reply)
    button = reply["blocks"][-1]["elements"][0]
    assert button["action_id"] == "digest_share" and button["value"] == "tech day 2026-04-01"
    for raw in reply["blocks"]:
        Block.parse(raw).validate_json()
    assert slack_api.calls("chat.postMessage") == []  # never say()


def test_reply_works_where_the_bot_is_not_a_member(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    slack_api.fail("chat.postMessage", "not_in_channel")
    with Session(sqlite_engine) as session:
        store_digest(session, make_weekly("2026-W13"))
    dispatch(bot, command_body(slack_api, "week last"))
    [reply] = _answers(slack_api)
    assert "Story 2 of 2026-W13" in _texts(reply)
    assert slack_api.calls("chat.postMessage") == []


def test_week_without_a_rollup_shows_the_days_so_far(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    with Session(sqlite_engine) as session:
        store_digest(session, make_daily(date(2026, 3, 30)))
        store_digest(session, make_daily(date(2026, 3, 31)))
    dispatch(bot, command_body(slack_api, "week"))
    [reply] = _answers(slack_api)
    assert "Week 2026-W14 so far" in _texts(reply)
    assert "Mon 2026-03-30" in _texts(reply) and "Tue 2026-03-31" in _texts(reply)


def test_missing_digest_is_said_plainly(bot: App, slack_api: SlackAPI) -> None:
    dispatch(bot, command_body(slack_api, "day 2026-01-05"))
    [reply] = _answers(slack_api)
    assert reply["text"] == "No tech posts on 2026-01-05."
    dispatch(bot, command_body(slack_api, "day 2026-04-02"))
    [_, reply] = _answers(slack_api, 2)
    assert reply["text"] == "2026-04-02 has not happened yet."


def test_a_past_day_with_posts_is_composed_on_demand(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    with Session(sqlite_engine) as session:  # posts ingested, no digest ever composed
        source = add_source(session)
        when = datetime(2026, 3, 6, 9, tzinfo=UTC)
        add_article(session, source, title="Rebuilding the event store", published=when)
    dispatch(bot, command_body(slack_api, "day 2026-03-06"))
    [reply] = _answers(slack_api)
    assert reply["text"].startswith("Engineering @ Scale — 2026-03-06")
    assert "Rebuilding the event store" in _texts(reply)


@pytest.mark.parametrize("text", ["week 2026-W10", "week last"])
def test_a_finished_week_is_its_rollup_composed_on_demand(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine, text: str
) -> None:
    week = "2026-W10" if "W10" in text else "2026-W13"
    monday = date.fromisocalendar(2026, int(week[-2:]), 1)
    with Session(sqlite_engine) as session:
        source = add_source(session)
        for i, title in enumerate(["Sharding the cache", "A new write path"]):
            published = datetime(monday.year, monday.month, monday.day + i, 9, tzinfo=UTC)
            add_article(session, source, title=title, published=published, dive=f"{title}.")
    dispatch(bot, command_body(slack_api, text))
    [reply] = _answers(slack_api)
    assert reply["text"].startswith(f"Engineering @ Scale — Week {week}")
    assert "so far" not in _texts(reply) and "Sharding the cache" in _texts(reply)


def test_the_current_week_so_far_shows_every_day_with_posts(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    with Session(sqlite_engine) as session:  # Monday and Wednesday (today); nothing composed
        source = add_source(session)
        for day, title in [(30, "Monday's post"), (1, "Today's post")]:
            published = datetime(2026, 3 if day == 30 else 4, day, 8, tzinfo=UTC)
            add_article(session, source, title=title, published=published, dive=f"{title}.")
    dispatch(bot, command_body(slack_api, "week"))
    [reply] = _answers(slack_api)
    assert "Week 2026-W14 so far" in _texts(reply)
    assert "Mon 2026-03-30" in _texts(reply) and "Wed 2026-04-01" in _texts(reply)
    assert "Tue 2026-03-31" not in _texts(reply)


def test_long_week_is_split_into_at_most_four_replies(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    with Session(sqlite_engine) as session:
        store_digest(session, make_weekly("2026-W13", stories=300))
    dispatch(bot, command_body(slack_api, "week 2026-W13"))
    replies = _answers(slack_api, 4)
    assert len(slack_api.responses()) == 4
    for reply in replies:
        assert len(reply["blocks"]) <= 50
        for raw in reply["blocks"]:
            Block.parse(raw).validate_json()
    assert "not shown" in _texts(replies[-1])
    assert replies[-1]["blocks"][-1]["type"] == "actions"


def test_search_lists_company_date_and_link(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    with Session(sqlite_engine) as session:
        source = add_source(session, "Datadog Blog", company="Datadog")
        add_article(
            session,
            source,
            title="How Datadog redefined data replication",
            dive="CDC with Kafka.",
            url="https://dd.example/replication",
            published=datetime(2026, 3, 2, 10, tzinfo=UTC),
        )
    dispatch(bot, command_body(slack_api, "search replication kafka"))
    [reply] = _answers(slack_api)
    text = _texts(reply)
    assert "<https://dd.example/replication|How Datadog redefined data replication>" in text
    assert "Datadog · 2026-03-02" in text


def test_sources_names_failing_feeds(bot: App, slack_api: SlackAPI, sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        add_source(session, "Good", last_success_at=datetime(2026, 4, 1, 7, tzinfo=UTC))
        add_source(session, "Broken", status="error", last_error="answered 410 Gone", error_count=4)
    dispatch(bot, command_body(slack_api, "sources"))
    [reply] = _answers(slack_api)
    assert "Broken" in _texts(reply) and "answered 410 Gone" in _texts(reply)
    assert "2 feeds" in _texts(reply)


def test_sources_leaves_out_removed_feeds_and_shows_warnings(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    with Session(sqlite_engine) as session:
        add_source(
            session,
            "Good",
            last_success_at=datetime(2026, 4, 1, 7, tzinfo=UTC),
            last_warning="3 entries without a link skipped",
        )
        add_source(
            session,
            "Gone",
            status="error",
            last_error="refused",
            removed_at=datetime(2026, 3, 1, tzinfo=UTC),
        )
    dispatch(bot, command_body(slack_api, "sources"))
    [reply] = _answers(slack_api)
    assert "Gone" not in _texts(reply) and "1 feeds · 1 ok" in _texts(reply)
    assert "warning: 3 entries without a link skipped" in _texts(reply)


def test_share_button_posts_the_same_answer_in_channel(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    with Session(sqlite_engine) as session:
        store_digest(session, make_daily(date(2026, 3, 31)))
    response = dispatch(bot, action_body(slack_api, "tech day 2026-03-31"))
    assert response.status == 200
    [shared] = _answers(slack_api)
    assert shared["response_type"] == "in_channel"
    assert "Shared by <@U0ALICE>" in _texts(shared)
    assert "Post 0 of 2026-03-31" in _texts(shared)


def test_subscribe_and_unsubscribe_a_channel(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    dispatch(bot, command_body(slack_api, "subscribe", channel_id="C0ENG"))
    [reply] = _answers(slack_api)
    assert reply["text"] == "This channel now gets the daily tech post."
    assert [c["channel"] for c in slack_api.calls("conversations.join")] == ["C0ENG"]
    with Session(sqlite_engine) as session:
        assert [s.channel_id for s in subscriptions.subscriptions(session=session)] == ["C0ENG"]
    dispatch(bot, command_body(slack_api, "unsubscribe", channel_id="C0ENG"))
    assert _answers(slack_api, 2)[1]["text"] == "This channel no longer gets the daily post."
    with Session(sqlite_engine) as session:
        assert subscriptions.subscriptions(session=session) == []


def test_subscribe_in_a_private_channel_asks_for_an_invite(bot: App, slack_api: SlackAPI) -> None:
    slack_api.fail("conversations.join", "method_not_supported_for_channel_type")
    dispatch(bot, command_body(slack_api, "subscribe", channel_id="G0PRIVATE"))
    [reply] = _answers(slack_api)
    assert "Invite me with /invite" in reply["text"]


def test_ack_never_touches_the_database(
    slack_api: SlackAPI,
    bot_settings,
    clock,  # noqa: ANN001
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from bot.app import build_app
    from storage.db import make_engine

    broken = make_engine("sqlite:////nonexistent-dir/never.db")  # any use raises
    app = build_app(
        bot_settings,
        engine=broken,
        clock=clock,
        executor=ThreadPoolExecutor(2),
        **front(bot_settings.replace(database_url=str(broken.url)), clock),
    )
    response = dispatch(app, command_body(slack_api, "today"))
    assert response.status == 200
    [reply] = _answers(slack_api)
    assert reply["text"] == "Sorry, the digest archive could not be read just now; try again."


def test_the_ack_does_not_wait_for_a_slow_archive(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    with Session(sqlite_engine) as session:
        store_digest(session, make_daily(TODAY))
    gate = threading.Event()

    def hold(*_args: object) -> None:
        gate.wait(10)  # every query of the answer waits until the ack is back

    event.listen(sqlite_engine, "before_cursor_execute", hold)
    try:
        response = dispatch(bot, command_body(slack_api, "today"))
        assert response.status == 200
        assert slack_api.responses() == []  # acknowledged while the answer is still blocked
        gate.set()
        [reply] = _answers(slack_api)
        assert reply["text"].startswith("Engineering @ Scale — 2026-04-01")
    finally:
        gate.set()
        event.remove(sqlite_engine, "before_cursor_execute", hold)


# --- mentions from feeds or queries never notify (Slack reads `<!…>` and `<@…>` in text) --------

MENTIONS = ("<!channel>", "<!here>", "<@U123>")
HOSTILE = "Ping <!channel> <!here> <@U123> & co"


def _no_live_mention(payload: dict) -> None:
    shown = [b for b in payload["blocks"] if b["type"] != "actions"]  # a button value is data
    raw = json.dumps({"text": payload["text"], "blocks": shown}, ensure_ascii=False)
    assert not any(m in raw for m in MENTIONS), raw


def test_a_title_with_mentions_is_inert_in_the_day_answer_and_the_shared_post(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    with Session(sqlite_engine) as session:
        store_digest(session, make_daily(TODAY, dives=2, title=HOSTILE))
    dispatch(bot, command_body(slack_api, "today"))
    [reply] = _answers(slack_api)
    dispatch(bot, action_body(slack_api, "tech day 2026-04-01"))
    [_, shared] = _answers(slack_api, 2)

    for payload in (reply, shared):
        _no_live_mention(payload)
        assert "Ping &lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &amp; co" in payload["text"]
    assert shared["response_type"] == "in_channel"


def test_a_search_reply_does_not_echo_the_query_as_mentions(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    with Session(sqlite_engine) as session:
        source = add_source(session, "Datadog Blog", company="Datadog")
        add_article(session, source, title="Kafka at scale", dive="CDC with Kafka.")
    dispatch(bot, command_body(slack_api, "search kafka <!channel>"))
    dispatch(bot, command_body(slack_api, "search <!here> <@U123> nothing-matches"))
    replies = _answers(slack_api, 2)

    for reply in replies:
        _no_live_mention(reply)
    texts = sorted(reply["text"] for reply in replies)
    assert any("&lt;!here&gt; &lt;@U123&gt;" in text for text in texts), texts


def test_sources_never_split_a_name_from_its_asterisks(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    with Session(sqlite_engine) as session:
        for i in range(120):  # long enough to need several sections
            add_source(
                session,
                f"Google Ads Developer Blog number {i:03d} with a long name",
                last_success_at=datetime(2026, 4, 1, 7, tzinfo=UTC),
            )
    dispatch(bot, command_body(slack_api, "sources"))
    replies = _answers(slack_api)
    sections = [b["text"]["text"] for r in replies for b in r["blocks"] if b["type"] == "section"]

    assert len(sections) > 1
    names = 0
    for text in sections:
        assert len(text) <= 3000
        for line in text.split("\n"):
            assert line.count("*") == 2, line  # each line whole: "✅ *Name* · 2 h ago"
            names += 1
    assert names == 120

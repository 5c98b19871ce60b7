"""Topics per channel: `/digest subscribe TAG …` cuts that channel's daily post down to them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest
from click.testing import CliRunner
from slack_bolt import App
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.cli import cli
from app.wiring import Runtime
from bot.post import OFF_TOPIC, for_topics, post_daily, undelivered
from core.deliver import Outcome
from core.model import DailyDigest
from storage import channels as subscriptions
from storage.tables import Delivery
from tests.bot.conftest import (
    command_body,
    dispatch,
    make_daily,
    slack_settings,
)
from tests.conftest import store_digest
from tests.peers.slack_api import TEAM_ID, SlackAPI

DAY = date(2026, 4, 1)
NEXT = date(2026, 4, 2)


def tagged_daily(day: date, tags: list[tuple[str, ...]]) -> DailyDigest:
    """A daily digest whose deep dive i carries tags[i]; the signal is deep dive 0."""
    digest = make_daily(day, dives=len(tags))
    dives = tuple(replace(a, tags=t) for a, t in zip(digest.deep_dives, tags, strict=True))
    return replace(digest, deep_dives=dives)


def _command(bot: App, api: SlackAPI, text: str, channel: str, answers: int) -> str:
    response = dispatch(bot, command_body(api, text, channel_id=channel))
    assert response.status == 200
    return str(api.wait_for("response", answers)[-1]["text"])


def _post(sqlite_url: str, api: SlackAPI, day: date):  # noqa: ANN202
    return CliRunner().invoke(
        cli,
        ["slack", "post-daily", "--date", day.isoformat()],
        obj=Runtime(settings=slack_settings(sqlite_url, api, PUBLIC_BASE_URL="https://d.example")),
    )


def _ledger(engine: Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        rows = session.exec(select(Delivery).order_by(Delivery.id)).all()  # type: ignore[arg-type]
        return [(r.target, r.issue, r.status) for r in rows]


def test_a_channel_gets_only_its_topics_and_no_post_on_a_day_without_them(
    bot: App, slack_api: SlackAPI, sqlite_url: str, sqlite_engine: Engine
) -> None:
    reply = _command(bot, slack_api, "subscribe security", "C0SEC", 1)
    assert reply == (
        "This channel now gets the daily tech post with only the deep dives tagged `security` "
        "(no post on a day without them)."
    )
    assert _command(bot, slack_api, "subscribe", "C0ALL", 2) == (
        "This channel now gets the daily tech post."
    )
    with Session(sqlite_engine) as session:
        store_digest(
            session,
            tagged_daily(
                DAY,
                [("data",), ("security",), ("data", "security"), ("infrastructure",), ("data",)],
            ),
        )
        store_digest(session, tagged_daily(NEXT, [("data",), ("ai-agents",)]))

    result = _post(sqlite_url, slack_api, DAY)
    assert result.exit_code == 0, result.output
    posts = slack_api.calls("chat.postMessage")
    by_channel = {c: [p for p in posts if p["channel"] == c] for c in ("C0SEC", "C0ALL")}
    sec_main, sec_thread = by_channel["C0SEC"]
    all_main, all_thread = by_channel["C0ALL"]
    sec_text = json.dumps([sec_main["blocks"], sec_thread["blocks"]], ensure_ascii=False)
    # the signal (post 0, tagged data) is off topic: the best post on topic leads instead
    assert sec_main["text"].endswith("Signal of the Day: Post 1 of 2026-04-01 (Company 1)")
    assert "Only posts tagged `security`" in sec_text
    assert "🧵 Deep Dives on 2 posts in the thread." in sec_text
    assert [i for i in range(5) if f"|Post {i} of 2026-04-01>" in sec_text] == [1, 2]
    all_text = json.dumps([all_main["blocks"], all_thread["blocks"]], ensure_ascii=False)
    assert [i for i in range(5) if f"|Post {i} of 2026-04-01>" in all_text] == [0, 1, 2, 3, 4]
    assert "Only posts tagged" not in all_text
    assert sec_thread["thread_ts"] and all_thread["thread_ts"]

    # the next day has nothing on security: no post to C0SEC, and that is not a failure
    result = _post(sqlite_url, slack_api, NEXT)
    assert result.exit_code == 0, result.output
    assert f"skipped  C0SEC: {OFF_TOPIC}" in result.output
    assert "sent  C0ALL" in result.output
    channels = [p["channel"] for p in slack_api.calls("chat.postMessage")]
    assert channels.count("C0SEC") == 2 and channels.count("C0ALL") == 4
    assert _ledger(sqlite_engine) == [
        ("C0SEC", "tech/daily/2026-04-01", "sent"),
        ("C0SEC", "tech/daily/2026-04-01/thread/1", "sent"),
        ("C0ALL", "tech/daily/2026-04-01", "sent"),
        ("C0ALL", "tech/daily/2026-04-01/thread/1", "sent"),
        ("C0ALL", "tech/daily/2026-04-02", "sent"),
        ("C0ALL", "tech/daily/2026-04-02/thread/1", "sent"),
    ]


def test_a_busy_day_threads_ten_deep_dives_and_links_the_archive_page(
    slack_api: SlackAPI, sqlite_url: str, sqlite_engine: Engine
) -> None:
    settings = slack_settings(sqlite_url, slack_api, PUBLIC_BASE_URL="https://d.example/")
    digest = make_daily(DAY, dives=47)
    [outcome] = post_daily(settings, engine=sqlite_engine, digest=digest, channel="C1")
    assert outcome.status == "sent"
    main, thread = slack_api.calls("chat.postMessage")
    assert "the top 10 of 47 posts in the thread" in json.dumps(main["blocks"])
    text = json.dumps(thread["blocks"])
    assert [i for i in range(47) if f"|Post {i} of 2026-04-01>" in text] == list(range(10))
    assert "and 37 more posts on <https://d.example/daily/2026-04-01|the archive>" in text


def test_named_channel_and_slack_channel_keep_their_topics(
    bot: App, slack_api: SlackAPI, sqlite_url: str, sqlite_engine: Engine
) -> None:
    _command(bot, slack_api, "subscribe ai-agents", "C0AI", 1)
    with Session(sqlite_engine) as session:
        store_digest(session, tagged_daily(DAY, [("data",), ("data",)]))
    for extra, args in (({}, ["--channel", "C0AI"]), ({"SLACK_CHANNEL": "C0AI"}, [])):
        result = CliRunner().invoke(
            cli,
            ["slack", "post-daily", "--date", "2026-04-01", *args],
            obj=Runtime(settings=slack_settings(sqlite_url, slack_api, **extra)),
        )
        assert result.exit_code == 0, result.output
        assert f"skipped  C0AI: {OFF_TOPIC}" in result.output
    assert slack_api.calls("chat.postMessage") == []
    assert _ledger(sqlite_engine) == []


def test_unsubscribe_a_topic_then_the_channel(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    assert _command(bot, slack_api, "subscribe security data", "C0X", 1).startswith(
        "This channel now gets the daily tech post with only the deep dives tagged "
        "`data`, `security`"
    )
    assert _command(bot, slack_api, "subscribe data", "C0X", 2).startswith("Nothing changed.")
    assert _command(bot, slack_api, "unsubscribe data", "C0X", 3) == (
        "This channel no longer follows `data`. This channel gets the daily tech post with "
        "only the deep dives tagged `security` (no post on a day without them)."
    )
    assert _command(bot, slack_api, "unsubscribe data", "C0X", 4).startswith(
        "This channel does not follow `data`."
    )
    assert _command(bot, slack_api, "unsubscribe security", "C0X", 5) == (
        "This channel no longer follows `security`. This channel gets every deep dive of the "
        "daily tech post. `/digest unsubscribe` stops the post."
    )
    with Session(sqlite_engine) as session:
        [row] = subscriptions.subscriptions(session=session)
        assert (row.channel_id, subscriptions.topics_of(row)) == ("C0X", ())
    assert _command(bot, slack_api, "unsubscribe", "C0X", 6) == (
        "This channel no longer gets the daily post."
    )
    assert _command(bot, slack_api, "unsubscribe security", "C0X", 7) == (
        "This channel was not subscribed."
    )


def test_an_unknown_tag_changes_nothing(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    _command(bot, slack_api, "subscribe security", "C0X", 1)
    reply = _command(bot, slack_api, "subscribe securty", "C0X", 2)
    assert reply == (
        "Nothing changed: `securty` is not a tag of the tech edition. `/digest tags` lists them."
    )
    reply = _command(bot, slack_api, "subscribe data nope securty", "C0X", 3)
    assert reply.startswith("Nothing changed: `nope`, `securty` are not tags of the tech edition.")
    with Session(sqlite_engine) as session:
        [row] = subscriptions.subscriptions(session=session)
        assert subscriptions.topics_of(row) == ("security",)


def test_tags_lists_what_a_channel_can_follow_and_what_it_follows(
    bot: App, slack_api: SlackAPI
) -> None:
    listing = _command(bot, slack_api, "tags", "C0X", 1)
    assert listing.startswith("Tags of the tech edition: `ai-agents`, `data`,")
    assert "`security`" in listing and "`/digest subscribe security` makes" in listing
    _command(bot, slack_api, "subscribe ml-infrastructure", "C0X", 2)
    listing = _command(bot, slack_api, "tag", "C0X", 3)
    assert listing.endswith(
        "This channel gets the daily tech post with only the deep dives tagged "
        "`ml-infrastructure` (no post on a day without them)."
    )


def test_subscribing_without_tags_again_means_every_deep_dive(
    bot: App, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    _command(bot, slack_api, "subscribe security", "C0X", 1)
    assert _command(bot, slack_api, "subscribe", "C0X", 2) == (
        "This channel now gets every deep dive of the daily tech post."
    )
    with Session(sqlite_engine) as session:
        [row] = subscriptions.subscriptions(session=session)
        assert row.topics == ""


def test_for_topics_keeps_the_posts_patterns_and_counts_on_topic() -> None:
    digest = tagged_daily(DAY, [("security",), ("data",), ("data",), ("data",)])
    pattern = replace(digest.patterns[0], urls=(digest.deep_dives[1].url,))
    digest = replace(digest, patterns=(pattern,))
    assert for_topics(digest, ()) is digest
    assert for_topics(digest, ("ai-agents",)) is None
    data = for_topics(digest, ("data",))
    assert data is not None
    assert [a.title for a in data.deep_dives] == [f"Post {i} of 2026-04-01" for i in (1, 2, 3)]
    assert data.signal is not None and data.signal.url == digest.deep_dives[1].url
    assert data.patterns == (pattern,)
    assert (data.stats.posts, data.stats.minutes_saved) == (3, 21)
    security = for_topics(digest, ("security",))
    assert security is not None and security.signal == digest.signal  # on topic: kept as is
    assert security.patterns == ()


@pytest.mark.parametrize(
    ("outcome", "counted"),
    [
        (Outcome("skipped", "C1", OFF_TOPIC), False),
        (Outcome("skipped", "C1", "failed earlier: x"), True),
        (Outcome("skipped", "C1"), False),
    ],
)
def test_off_topic_days_are_not_undelivered(outcome: Outcome, counted: bool) -> None:
    assert bool(undelivered([outcome])) is counted


def test_topics_are_stored_on_both_databases(session: Session) -> None:
    assert subscriptions.subscribe(
        session=session, team_id=TEAM_ID, channel_id="C1", edition="tech", topics=["Security"]
    )
    assert subscriptions.subscribe(
        session=session, team_id=TEAM_ID, channel_id="C1", edition="tech", topics=["data"]
    )
    row = subscriptions.find_subscription(session=session, team_id=TEAM_ID, channel_id="C1")
    assert row is not None and subscriptions.topics_of(row) == ("data", "security")
    assert subscriptions.remove_topic(
        session=session, team_id=TEAM_ID, channel_id="C1", topic="data"
    ) == ("security",)
    # another edition starts afresh
    assert subscriptions.subscribe(
        session=session, team_id=TEAM_ID, channel_id="C1", edition="reads", topics=["ai-agents"]
    )
    row = subscriptions.find_subscription(session=session, team_id=TEAM_ID, channel_id="C1")
    assert row is not None and (row.edition, row.topics) == ("reads", "ai-agents")

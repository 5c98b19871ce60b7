"""Block Kit output stays within Slack's limits, escapes feed text and never loses content."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from slack_sdk.models.blocks import Block

from bot import blocks
from bot.blocks import FeedHealth
from core.model import ArticleRef, Signal, Stats
from tests.bot.conftest import make_daily, make_weekly


def _valid(message: blocks.Message) -> None:
    assert message.text.strip(), "every message needs a plain text fallback"
    assert 1 <= len(message.blocks) <= blocks.MAX_BLOCKS
    for raw in message.blocks:
        Block.parse(raw).validate_json()  # raises SlackObjectFormationError when over a limit
        if raw["type"] == "header":
            assert len(raw["text"]["text"]) <= blocks.HEADER_MAX
        if raw["type"] == "section":
            assert len(raw["text"]["text"]) <= blocks.SECTION_MAX
    assert len(json.dumps(message.blocks)) < 40_000


def _all_text(messages: list[blocks.Message]) -> str:
    parts = []
    for message in messages:
        for raw in message.blocks:
            if isinstance(raw.get("text"), dict):
                parts.append(raw["text"]["text"])
            for element in raw.get("elements", ()):
                parts.append(
                    element.get("text", "") if isinstance(element.get("text"), str) else ""
                )
    return "\n".join(parts)


def test_a_quiet_day_says_why_in_the_channel_and_in_answers() -> None:
    digest = replace(make_daily(dives=0), stats=Stats(sources_checked=31, unreachable=31))
    for messages in (blocks.daily_post(digest), blocks.daily_answer(digest)):
        _valid(messages[0])
        text = _all_text(messages)
        assert "0 of 31 blogs read · 0 new posts" in text
        assert "No new posts today: none of the 31 sources could be read." in text


def test_daily_post_is_one_short_message_with_the_signal() -> None:
    digest = make_daily(dives=12)
    [post] = blocks.daily_post(digest)
    _valid(post)
    assert post.blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Engineering @ Scale — 2026-04-01", "emoji": True},
    }
    text = _all_text([post])
    assert "Signal of the Day" in text and "The signal of 2026-04-01." in text
    assert "<https://blog0.example/2026-04-01/0|Post 0 of 2026-04-01>" in text
    assert "the top 10 of 12 posts in the thread" in text
    assert "Post 5 of" not in text  # the deep dives go in the thread, not the channel
    assert (
        post.text
        == "Engineering @ Scale — 2026-04-01: Signal of the Day: Post 0 of 2026-04-01 (Company 0)"
    )


def test_daily_thread_holds_every_deep_dive_of_a_small_day_and_the_patterns() -> None:
    digest = make_daily(dives=10)
    thread = blocks.daily_thread(digest, archive_url="https://digest.example/daily/2026-04-01")
    for message in thread:
        _valid(message)
    text = _all_text(thread)
    for i in range(10):
        assert f"Post {i} of 2026-04-01" in text
    assert "Zero trust" in text
    assert "archive" not in text and "more post" not in text
    assert "in the thread" in _all_text(blocks.daily_post(digest))
    assert "top 10" not in _all_text(blocks.daily_post(digest))


def test_daily_thread_lists_ten_deep_dives_and_links_the_rest_to_the_archive() -> None:
    digest = make_daily(dives=47)
    thread = blocks.daily_thread(digest, archive_url="https://digest.example/daily/2026-04-01")
    assert len(thread) == 1
    _valid(thread[0])
    text = _all_text(thread)
    shown = [i for i in range(47) if f"|Post {i} of 2026-04-01>" in text]
    assert shown == list(range(10))
    assert "…and 37 more posts on <https://digest.example/daily/2026-04-01|the archive>." in text
    assert "Zero trust" in text


def test_feed_text_is_escaped_and_cannot_ping_or_disguise_links() -> None:
    evil = "<!channel> & <https://evil.example|bank>"
    digest = make_daily(dives=1, title=evil, text="Read <@U123> now & then")
    text = _all_text(blocks.daily_answer(digest))
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|bank&gt;" in text
    assert "<!" not in text and "<@" not in text
    assert "Read &lt;@U123&gt; now &amp; then" in text


def test_only_http_links_are_linked() -> None:
    assert blocks.link("javascript:alert(1)", "x") == "x"
    assert (
        blocks.link("https://a.example/?q=1&b=2|x", "t") == "<https://a.example/?q=1&amp;b=2%7Cx|t>"
    )


def test_huge_digest_is_split_not_truncated() -> None:
    # 10 posts with 10 kB summaries (emoji, CJK): far past 3,000 characters a section.
    body = ("数据库 replication 🚀 " * 600)[:10_000]
    digest = make_daily(dives=10, text=body)
    thread = blocks.daily_thread(digest)
    assert len(thread) > 1
    for message in thread:
        _valid(message)
        assert sum(blocks._size(b) for b in message.blocks) <= blocks.MESSAGE_CHARS
    text = _all_text(thread)
    assert text.count("Post 9 of 2026-04-01") == 1
    # the summary survives in full, split across sections
    joined = "".join(_all_text(thread).split())
    assert "".join(body.split()) in joined


def test_answers_are_capped_with_a_visible_note() -> None:
    digest = make_daily(dives=500, text="x " * 2000)
    answer = blocks.daily_answer(digest, max_messages=4, reserve=1)
    assert len(answer) == 4
    for message in answer:
        _valid(message)
    assert len(answer[-1].blocks) <= blocks.MAX_BLOCKS - 1  # room for the share button
    assert "more sections not shown" in _all_text(answer[-1:])


def test_section_split_never_cuts_a_link_or_an_entity() -> None:
    text = ("word &amp; " * 400) + "<https://x.example/a|a long link label> " * 100
    sections = blocks._sections(text)
    assert len(sections) > 1
    for section in sections:
        body = section["text"]["text"]
        assert len(body) <= blocks.SECTION_MAX
        assert body.count("<") == body.count(">")
        assert not body.endswith("&amp") and not body.startswith("amp;")


def test_over_long_header_is_shortened_visibly() -> None:
    digest = make_daily(dives=1)
    long = type(digest)(**{**digest.__dict__, "title": "T" * 400})
    [post] = blocks.daily_post(long)
    header = post.blocks[0]["text"]["text"]
    assert len(header) == blocks.HEADER_MAX and header.endswith("…")


def test_weekly_answer_lists_stories_with_links() -> None:
    messages = blocks.weekly_answer(make_weekly(stories=5))
    for message in messages:
        _valid(message)
    text = _all_text(messages)
    assert "2026-03-30 – 2026-04-05" in text
    assert "<https://n.example/2026-W14/4|Article 4> · Netflix" in text


def test_week_so_far_shows_each_days_signal() -> None:
    dailies = [make_daily(date(2026, 3, 30)), make_daily(date(2026, 3, 31))]
    [message] = blocks.week_so_far("2026-W14", dailies)
    _valid(message)
    text = _all_text([message])
    assert text.index("Mon 2026-03-30") < text.index("Tue 2026-03-31")


def test_article_list_shows_company_date_and_link() -> None:
    found = [
        ArticleRef(
            title="Kafka at scale",
            company="Datadog",
            url="https://dd.example/kafka",
            published="2026-03-02T10:00:00+00:00",
            tags=("data",),
        )
    ]
    [message] = blocks.article_list("Search: kafka", found, empty="none")
    _valid(message)
    assert (
        "*<https://dd.example/kafka|Kafka at scale>*\nDatadog · 2026-03-02 · `data`"
        in _all_text([message])
    )
    [empty] = blocks.article_list("Search: zzz", [], empty="Nothing matched zzz.")
    assert empty.text == "Nothing matched zzz."


def test_sources_answer_names_failing_and_stale_feeds_first() -> None:
    now = datetime(2026, 4, 1, 9, tzinfo=UTC)
    feeds = [
        FeedHealth("Good Blog", "A", "ok", datetime(2026, 4, 1, 8, tzinfo=UTC)),
        FeedHealth(
            "Broken Blog", "B", "failing", None, error="answered 404 Not Found", error_count=3
        ),
        FeedHealth("Old Blog", "C", "stale", datetime(2026, 3, 20, tzinfo=UTC)),
    ]
    [message] = blocks.sources_answer(feeds, now=now)
    _valid(message)
    text = _all_text([message])
    assert text.index("Broken Blog") < text.index("Old Blog") < text.index("Good Blog")
    assert "3× `answered 404 Not Found`" in text
    assert "last success 12 days ago" in text and "last success 1 h ago" in text


@pytest.mark.parametrize("problem", ["", "Unknown subcommand `frobnicate`."])
def test_help_is_valid_blocks(problem: str) -> None:
    message = blocks.help_answer(problem=problem, editions=["tech", "reads"])
    _valid(message)
    assert "/digest search" in _all_text([message])


def test_help_example_names_an_edition_other_than_the_default() -> None:
    def example(editions: list[str], default: str) -> str:
        text = _all_text([blocks.help_answer(editions=editions, default_edition=default)])
        return text.split("Put an edition first to pick it: `/digest ")[1].split(" ")[0]

    assert example(["tech", "reads"], "tech") == "reads"
    assert example(["reads", "world"], "reads") == "world"
    assert example(["reads"], "reads") == "reads"  # the placeholder when there is no other


def test_signal_without_link_scheme_is_shown_unlinked() -> None:
    digest = make_daily(dives=1)
    bad = type(digest)(**{**digest.__dict__, "signal": Signal("ftp://x", "T", "C", "t", "")})
    [post] = blocks.daily_post(bad)
    assert "ftp://" not in _all_text([post])

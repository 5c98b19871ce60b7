"""Rendering digests: every format carries every section; feed text can never inject markup.

Golden files in tests/data/golden/ pin the exact output; regenerate them with
`.venv/bin/python -m pytest tests/core/test_render.py --update-golden` (or `UPDATE_GOLDEN=1`)
and review the diff.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from core.compose import compose_daily, compose_weekly
from core.errors import ConfigError
from core.model import DailyDigest, WeeklyRollup
from core.render import render_daily, render_weekly
from tests.core.test_compose import DAY, SOURCES, TECH, post, sample_posts

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden"


@pytest.fixture
def daily() -> DailyDigest:
    return compose_daily(edition=TECH, day=DAY, posts=sample_posts(), sources=SOURCES)


@pytest.fixture
def weekly() -> WeeklyRollup:
    return compose_weekly(edition=TECH, week="2026-W14", posts=sample_posts(), sources=SOURCES)


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") or not path.exists():
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("fmt", "suffix"), [("md", "md"), ("text", "txt"), ("html", "html")])
def test_the_daily_digest_matches_its_golden_file(
    daily: DailyDigest, fmt: str, suffix: str
) -> None:
    _golden(f"daily-2026-04-01.{suffix}", render_daily(daily, fmt))


@pytest.mark.parametrize(("fmt", "suffix"), [("md", "md"), ("text", "txt"), ("html", "html")])
def test_the_weekly_rollup_matches_its_golden_file(
    weekly: WeeklyRollup, fmt: str, suffix: str
) -> None:
    _golden(f"weekly-2026-W14.{suffix}", render_weekly(weekly, fmt))


@pytest.mark.parametrize("fmt", ["md", "text", "html"])
def test_a_daily_digest_opens_with_its_title_and_stats_then_every_section(
    daily: DailyDigest, fmt: str
) -> None:
    out = render_daily(daily, fmt)
    title = out.index("Engineering @ Scale — 2026-04-01")
    stats = out.index("5 blogs checked · 5 new posts · ~")
    signal = out.index("Signal of the Day")
    dives = out.index("Deep Dives")
    patterns = out.index("Patterns Across Companies")
    assert title < stats < signal < dives < patterns
    assert "Why it matters:" in out
    for ref in daily.deep_dives:
        assert ref.url in out
        assert ref.company in out
    assert "Datadog Blog" in out or "Datadog Engineering" in out


@pytest.mark.parametrize("fmt", ["md", "text", "html"])
def test_a_weekly_rollup_has_review_stories_and_patterns(weekly: WeeklyRollup, fmt: str) -> None:
    out = render_weekly(weekly, fmt)
    assert (
        out.index("Week in Review")
        < out.index("Top Stories")
        < out.index("Patterns Across Companies")
    )
    for story in weekly.top_stories:
        for url in story.urls:
            assert url in out


def test_json_is_exactly_the_stored_dict(daily: DailyDigest, weekly: WeeklyRollup) -> None:
    data = json.loads(render_daily(daily, "json"))
    assert data == daily.to_dict()
    assert {"edition", "date", "title", "signal", "deep_dives", "patterns", "stats"} <= set(data)
    assert set(data["signal"]) >= {"url", "title", "company", "text", "why"}
    assert set(data["deep_dives"][0]) >= {"title", "company", "url", "text", "tags", "summariser"}
    assert set(data["patterns"][0]) >= {"theme", "companies", "urls", "text"}
    assert set(data["stats"]) == {"sources_checked", "posts", "minutes_saved", "unreachable"}
    week = json.loads(render_weekly(weekly, "json"))
    assert week == weekly.to_dict()
    assert {"edition", "week", "title", "week_in_review", "top_stories", "patterns"} <= set(week)
    assert set(week["top_stories"][0]) >= {"theme", "companies", "urls", "text"}


@pytest.mark.parametrize("fmt", ["md", "text", "html"])
def test_a_day_without_posts_renders_a_short_note(fmt: str) -> None:
    empty = compose_daily(edition=TECH, day=DAY, posts=[], sources=SOURCES)
    out = render_daily(empty, fmt)
    assert "No new posts today" in out
    assert "Signal of the Day" not in out and "Deep Dives" not in out


def test_html_escapes_feed_text_and_drops_unsafe_links() -> None:
    evil = post(
        1,
        company="Evil <Corp>",
        title='<script>alert("x")</script>',
        text="Tom & Jerry <img src=x onerror=alert(1)> wrote this.",
    )
    evil = replace(evil, url="javascript:alert(1)")
    out = render_daily(compose_daily(edition=TECH, day=DAY, posts=[evil], sources=["a"]), "html")
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;" in out and "Tom &amp; Jerry" in out
    assert "javascript:" not in out
    assert 'href="#"' in out


def test_markdown_escapes_feed_text_and_drops_unsafe_links() -> None:
    evil = replace(
        post(1, company="A", title="[click](http://bad) *now*", text="Use `rm -rf` <b>now</b>."),
        url="javascript:alert(1)",
    )
    out = render_daily(compose_daily(edition=TECH, day=DAY, posts=[evil], sources=["a"]), "md")
    assert "\\[click\\](http://bad) \\*now\\*" in out
    assert "](javascript:" not in out
    assert "<b>" not in out


def test_the_edition_names_its_own_sections() -> None:
    reads = replace(TECH, key="reads", title="Engineering Reads", signal_title="The Big Idea")
    out = render_daily(
        compose_daily(edition=reads, day=DAY, posts=sample_posts(), sources=["a"]), "md"
    )
    assert "## The Big Idea" in out and "Signal of the Day" not in out


def test_an_unknown_format_is_a_plain_error(daily: DailyDigest) -> None:
    with pytest.raises(ConfigError, match="unknown format 'pdf'"):
        render_daily(daily, "pdf")

"""Composing digests from posts: pure, deterministic, every field filled, nothing invented."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from core.compose import (
    Post,
    belongs_to_day,
    compose_daily,
    compose_weekly,
    group_posts,
    with_written_patterns,
    with_written_signal,
)
from core.model import DailyDigest, Edition, WeeklyRollup
from core.render import render_daily
from core.summarise import ArticleText
from core.summarise.extractive import summarise_extractive
from core.tags import tag_text

ARTICLES = Path(__file__).resolve().parent.parent / "data" / "golden" / "articles"
TECH = Edition(key="tech", title="Engineering @ Scale")
SOURCES = ["Datadog Engineering", "GitHub Blog", "HashiCorp Blog", "Cloudflare Blog", "Google"]
DAY = date(2026, 4, 1)


def sample_posts() -> list[Post]:
    posts = []
    for path in sorted(ARTICLES.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").split("\n")
        text = "\n".join(lines[5:])
        article = ArticleText(url=lines[2], title=lines[0], company=lines[1], text=text)
        dive = summarise_extractive(article)
        posts.append(
            Post(
                url=article.url,
                title=article.title,
                company=article.company,
                source=f"{article.company} Blog",
                published=datetime.fromisoformat(lines[3]),
                deep_dive=dive.text,
                summariser=dive.summariser,
                words=len(text.split()),
                tags=tag_text(article.title, text),
            )
        )
    return posts


def post(n: int, *, company: str, title: str, text: str, tags: tuple[str, ...] = (), **kw) -> Post:  # type: ignore[no-untyped-def]
    return Post(
        url=f"https://example.com/{n}",
        title=title,
        company=company,
        source=f"{company} Blog",
        published=datetime(2026, 4, 1, 8, n, tzinfo=UTC),
        deep_dive=text,
        words=kw.pop("words", 1000),
        tags=tags,
        **kw,
    )


def test_a_daily_digest_fills_every_field() -> None:
    digest = compose_daily(edition=TECH, day=DAY, posts=sample_posts(), sources=SOURCES)
    assert digest.title == "Engineering @ Scale — 2026-04-01"
    assert digest.edition == "tech" and digest.date == DAY
    assert digest.sources == tuple(SOURCES)
    assert digest.stats.sources_checked == 5
    assert digest.stats.posts == 5
    assert digest.section_titles == {
        "signal": "Signal of the Day",
        "deep_dives": "Deep Dives",
        "patterns": "Patterns Across Companies",
    }
    assert digest.signal is not None and digest.signal.why.startswith("Why it matters:")
    assert {d.company for d in digest.deep_dives} == {
        "Datadog",
        "GitHub",
        "HashiCorp",
        "Cloudflare",
        "Google",
    }
    assert all(d.text and d.summariser and d.url for d in digest.deep_dives)
    assert "security" in digest.tags


def test_unreachable_sources_are_counted_not_blamed() -> None:
    posts = [post(0, company="A", title="T", text="x", words=230)]
    digest = compose_daily(
        edition=TECH, day=DAY, posts=posts, sources=["a", "b", "c"], unreachable=["b", "other"]
    )
    assert digest.stats.unreachable == 1  # only the edition's own sources count
    assert digest.stats.line() == "2 of 3 blogs read · 1 new post · ~1 min of reading saved"


@pytest.mark.parametrize(
    ("sources", "unreachable", "note"),
    [
        (3, 0, "No new posts today: none of the 3 sources published anything new."),
        (
            3,
            1,
            "No new posts today: none of the 2 sources read published anything new "
            "(1 could not be read).",
        ),
        (
            3,
            2,
            "No new posts today: the one source read published nothing new (2 could not be read).",
        ),
        (3, 3, "No new posts today: none of the 3 sources could be read."),
        (1, 0, "No new posts today: the source published nothing new."),
        (1, 1, "No new posts today: the source could not be read."),
    ],
)
def test_a_quiet_day_says_whether_the_sources_were_read(
    sources: int, unreachable: int, note: str
) -> None:
    names = ["a", "b", "c"][:sources]
    digest = compose_daily(
        edition=TECH, day=DAY, posts=[], sources=names, unreachable=names[:unreachable]
    )
    assert digest.stats.quiet_day() == note
    assert note in render_daily(digest, "text") and note in render_daily(digest, "md")


def test_minutes_saved_are_words_at_230_per_minute() -> None:
    posts = [post(i, company="A", title=f"T{i}", text="x", words=2300) for i in range(3)]
    digest = compose_daily(edition=TECH, day=DAY, posts=posts, sources=["a"])
    assert digest.stats.minutes_saved == 30
    assert digest.stats.line() == "1 blog checked · 3 new posts · ~30 min of reading saved"


def test_the_signal_is_the_highest_scoring_post_and_deep_dives_follow_the_score() -> None:
    digest = compose_daily(edition=TECH, day=DAY, posts=sample_posts(), sources=SOURCES)
    scores = [d.score for d in digest.deep_dives]
    assert scores == sorted(scores, reverse=True)
    assert digest.signal is not None
    assert digest.signal.url == digest.deep_dives[0].url
    # HashiCorp shares its theme with GitHub, and states a trade-off: that outweighs length
    assert digest.signal.company == "HashiCorp"
    assert digest.signal.related == ("https://example.com/github/supply-chain",)


def test_the_signal_leads_with_the_lesson_names_the_company_and_is_not_the_deep_dive() -> None:
    digest = compose_daily(edition=TECH, day=DAY, posts=sample_posts(), sources=SOURCES)
    assert digest.signal is not None
    dive = digest.deep_dives[0].text
    assert digest.signal.text.startswith(
        "HashiCorp: Infrastructure pipelines should act as temporary, controlled guests"
    )
    assert not dive.startswith(digest.signal.text.removeprefix("HashiCorp: ")[:40])
    assert digest.signal.text != dive
    assert digest.signal.why == (
        "Why it matters: one other company wrote about short-lived credentials today (GitHub) "
        "and HashiCorp states the trade-off it accepted."
    )


def test_a_title_only_post_is_never_the_signal_when_another_post_has_text() -> None:
    video = post(
        1,
        company="Google",
        title="Keynote",
        text="Keynote. (Title only.)",
        words=5000,
        summariser="title-only",
        source_weight=1.5,
    )
    note = post(2, company="Acme", title="Small", text="We fixed a bug.", words=100)
    digest = compose_daily(edition=TECH, day=DAY, posts=[video, note], sources=["a"])
    assert digest.signal is not None and digest.signal.company == "Acme"
    assert digest.deep_dives[-1].summariser == "title-only"


def test_patterns_are_named_by_a_phrase_their_posts_share_and_say_what_each_did() -> None:
    digest = compose_daily(edition=TECH, day=DAY, posts=sample_posts(), sources=SOURCES)
    [pattern] = digest.patterns
    assert pattern.theme == "Short-lived credentials"
    assert set(pattern.companies) == {"GitHub", "HashiCorp"}
    assert ":" not in pattern.theme  # never "tag: stem"
    for company in pattern.companies:
        assert f"{company}: " in pattern.text or pattern.text.startswith(company)
    assert pattern.text.endswith("The common thread: short-lived credentials.")
    refs = {d.url: d.text for d in digest.deep_dives}
    for url in pattern.urls:
        assert "short-lived credentials" in refs[url]  # every post under it uses the phrase


def test_posts_that_share_only_a_tag_are_not_a_pattern() -> None:
    posts = [
        post(1, company="A", title="Kafka lag", text="A moved Kafka consumers.", tags=("data",)),
        post(
            2, company="B", title="Warehouse costs", text="B cut Snowflake spend.", tags=("data",)
        ),
    ]
    digest = compose_daily(edition=TECH, day=DAY, posts=posts, sources=["a"])
    assert digest.patterns == ()


def test_one_company_alone_is_not_a_pattern() -> None:
    posts = [
        post(
            1, company="GitHub", title="OIDC for npm", text="Secrets and OIDC.", tags=("security",)
        ),
        post(
            2, company="GitHub", title="OIDC for PyPI", text="Secrets and OIDC.", tags=("security",)
        ),
    ]
    digest = compose_daily(edition=TECH, day=DAY, posts=posts, sources=["a"])
    assert digest.patterns == ()


def test_a_day_without_posts_is_a_short_no_new_posts_digest() -> None:
    digest = compose_daily(edition=TECH, day=DAY, posts=[], sources=SOURCES)
    assert digest.signal is None
    assert digest.deep_dives == () and digest.patterns == ()
    assert digest.stats.posts == 0 and digest.stats.sources_checked == 5


def test_a_daily_digest_survives_the_json_round_trip() -> None:
    digest = compose_daily(edition=TECH, day=DAY, posts=sample_posts(), sources=SOURCES)
    assert DailyDigest.from_dict(digest.to_dict()) == digest


def test_composing_is_deterministic_whatever_the_input_order() -> None:
    posts = sample_posts()
    first = compose_daily(edition=TECH, day=DAY, posts=posts, sources=SOURCES)
    again = compose_daily(edition=TECH, day=DAY, posts=list(reversed(posts)), sources=SOURCES)
    assert first == again


def test_a_weekly_rollup_has_review_stories_and_patterns() -> None:
    rollup = compose_weekly(edition=TECH, week="2026-W14", posts=sample_posts(), sources=SOURCES)
    assert rollup.title == "Engineering @ Scale — Week 2026-W14"
    assert (rollup.start, rollup.end) == (date(2026, 3, 30), date(2026, 4, 5))
    assert 3 <= len(rollup.top_stories) <= 7
    review = rollup.week_in_review
    assert not any(c.isdigit() for c in review)  # no counting prose
    assert review.startswith(
        "Short-lived credentials (HashiCorp and GitHub) led the week, followed by"
    )
    assert "The standout post is HashiCorp’s “AWS permission delegation" in review
    assert 2 <= review.count(". ") + 1 <= 4
    spans = [len(story.companies) for story in rollup.top_stories]
    assert spans == sorted(spans, reverse=True)  # stories spanning more companies lead
    for story in rollup.top_stories:
        assert story.urls and story.text and story.companies
        assert [a.url for a in story.articles] == list(story.urls)
    assert WeeklyRollup.from_dict(rollup.to_dict()) == rollup


def test_a_story_of_one_post_is_titled_by_the_post_and_a_shared_one_by_its_phrase() -> None:
    posts = [
        post(
            1,
            company="A",
            title="Trusted publishing for npm",
            text="A moved npm to trusted publishing. The trade-off is one more token exchange.",
            tags=("security",),
        ),
        post(
            2,
            company="B",
            title="Trusted publishing for PyPI",
            text="B adopted trusted publishing for PyPI and accepted slower first releases.",
            tags=("security",),
        ),
        post(
            3,
            company="C",
            title="A new GPU inference server",
            text="C built a GPU inference server. The lesson is that batching matters.",
            tags=("ml-infrastructure",),
        ),
    ]
    rollup = compose_weekly(edition=TECH, week="2026-W14", posts=posts, sources=["a"])
    themes = [s.theme for s in rollup.top_stories]
    assert themes == ["Trusted publishing", "A new GPU inference server"]
    shared = rollup.top_stories[0]
    assert shared.text.startswith("A moved npm to trusted publishing.")
    assert "B adopted trusted publishing" in shared.text
    assert shared.text.endswith("The common thread: trusted publishing.")
    assert rollup.week_in_review.startswith(
        "Trusted publishing (A and B) led the week, followed by"
    )


def test_a_week_with_one_post_has_one_story() -> None:
    [one] = [p for p in sample_posts() if p.company == "Datadog"]
    rollup = compose_weekly(edition=TECH, week="2026-W14", posts=[one], sources=SOURCES)
    assert len(rollup.top_stories) == 1
    assert rollup.top_stories[0].urls == (one.url,)
    assert rollup.patterns == ()


def test_a_busy_week_has_at_most_seven_stories() -> None:
    topics = [
        "kafka replication",
        "oidc secrets",
        "gpu inference",
        "agents mcp",
        "eslint config",
        "kubernetes clusters",
        "dns resolver",
        "postgres vacuum",
        "rust parser",
        "wasm isolates",
    ]
    posts = [
        post(
            i,
            company=f"Co{i % 4}",
            title=f"{topics[i % 10]} at scale {i}",
            text=f"We changed {topics[i % 10]}.",
        )
        for i in range(40)
    ]
    rollup = compose_weekly(edition=TECH, week="2026-W14", posts=posts, sources=["a"])
    assert len(rollup.top_stories) == 7


def test_an_empty_week_says_so() -> None:
    rollup = compose_weekly(edition=TECH, week="2026-W14", posts=[], sources=SOURCES)
    assert rollup.top_stories == () and rollup.week_in_review == "No new posts this week."


def test_similar_posts_are_grouped_and_different_ones_are_not() -> None:
    posts = [
        post(
            1,
            company="A",
            title="Kafka replication lag",
            text="Kafka replication lag fell.",
            tags=("distributed-systems",),
        ),
        post(
            2,
            company="B",
            title="Our Kafka replication pipeline",
            text="Kafka replication at scale.",
            tags=("distributed-systems",),
        ),
        post(
            3,
            company="C",
            title="A new GPU inference server",
            text="GPU inference for models.",
            tags=("ml-infrastructure",),
        ),
    ]
    assert group_posts(posts) == [[0, 1], [2]]


def test_a_post_belongs_to_its_own_day() -> None:
    assert belongs_to_day(published=DAY, first_seen=DAY, day=DAY, digested=set())
    assert not belongs_to_day(
        published=DAY, first_seen=DAY, day=DAY - timedelta(days=1), digested=set()
    )


def test_a_late_post_whose_day_is_digested_belongs_to_the_day_it_was_first_seen() -> None:
    before = DAY - timedelta(days=2)
    assert belongs_to_day(published=before, first_seen=DAY, day=DAY, digested={before})
    # not yet digested: it waits for its own day's digest
    assert not belongs_to_day(published=before, first_seen=DAY, day=DAY, digested=set())
    # not yet seen on that day: it cannot be in it
    assert not belongs_to_day(
        published=before, first_seen=DAY, day=DAY - timedelta(days=1), digested={before}
    )


def test_written_patterns_replace_the_composed_text_only_when_given() -> None:
    digest = compose_daily(edition=TECH, day=DAY, posts=sample_posts(), sources=SOURCES)
    seen = []

    def write(pattern, refs):  # type: ignore[no-untyped-def]
        seen.append((pattern.companies, [r.company for r in refs]))
        return "A written paragraph."

    written = with_written_patterns(digest, articles=digest.deep_dives, write=write)
    assert [p.text for p in written.patterns] == ["A written paragraph."] * len(digest.patterns)
    assert all(set(companies) == set(refs) for companies, refs in seen)
    kept = with_written_patterns(digest, articles=digest.deep_dives, write=lambda p, r: None)
    assert kept == digest


def test_a_written_signal_replaces_the_composed_one_only_when_given() -> None:
    digest = compose_daily(edition=TECH, day=DAY, posts=sample_posts(), sources=SOURCES)
    assert digest.signal is not None
    seen = []

    def write(signal, ref):  # type: ignore[no-untyped-def]
        seen.append(ref)
        return "Why it matters."

    written = with_written_signal(digest, write=write)
    assert written.signal is not None and written.signal.text == "Why it matters."
    assert seen == [digest.deep_dives[0]]  # the whole deep dive, not the shortened signal
    assert with_written_signal(digest, write=lambda s, r: None) == digest
    empty = compose_daily(edition=TECH, day=DAY, posts=[], sources=SOURCES)
    assert with_written_signal(empty, write=write) == empty

"""core.normalise: canonical URLs, clean titles, plain text, dates, the near-duplicate fold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.model import ParsedEntry
from core.normalise import (
    canonical_url,
    clean_title,
    fingerprint,
    html_to_text,
    normalise_entries,
    prepare_feed,
    strip_controls,
)
from tests.peers.feeds import FEEDS

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _prepare(slug: str, url: str = "https://feeds.example.com/feed.xml"):
    body = (FEEDS / slug / "feed.xml").read_bytes()
    return prepare_feed(body, url=url, content_type="application/rss+xml", now=NOW)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTPS://Example.COM:443/a?utm_source=x&b=2&a=1#top", "https://example.com/a?a=1&b=2"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("https://medium.com/p/abc?source=rss----2615bd06b42e---4", "https://medium.com/p/abc"),
        ("https://e.com/x?fbclid=1&gclid=2&mc_cid=3&id=7", "https://e.com/x?id=7"),
        ("https://e.com/search?source=homepage", "https://e.com/search?source=homepage"),
    ],
)
def test_canonical_url_drops_tracking_and_fragments(raw, canonical):
    assert canonical_url(raw) == canonical


def test_clean_title_strips_markup_entities_and_padding():
    assert (
        clean_title("  First   post &lt;b&gt;bold&lt;/b&gt; &amp;amp; more ")
        == "First post bold & more"
    )


def test_html_to_text_keeps_paragraphs_and_drops_scripts_and_styles():
    text = html_to_text(
        "<style>p{}</style><p>One <b>two</b></p><script>alert(1)</script><ul><li>three</li></ul>"
    )
    assert text == "One two\n\nthree"


def test_html_to_text_passes_plain_text_through():
    assert html_to_text("Tom &amp; Jerry") == "Tom & Jerry"


def test_messy_feed_folds_repeats_skips_linkless_entries_and_fixes_dates():
    prepared = _prepare("messy")
    urls = [a.url for a in prepared.articles]
    assert urls == [
        "https://messy.example.com/posts/first?id=7",
        "https://messy.example.com/posts/second",
        "https://messy.example.com/posts/future",
    ]
    first, second, future = prepared.articles
    assert first.title == "First post bold"
    assert first.published_at == NOW  # unreadable date: first seen
    assert second.published_at == datetime(2026, 3, 26, 10, 0, tzinfo=UTC)
    assert future.published_at == NOW  # 2099 is not believable
    assert prepared.notes == ["1 entry without a link skipped"]


def test_published_falls_back_to_updated():
    prepared = _prepare("atom-excerpts")
    assert prepared.articles[1].published_at == datetime(2026, 3, 30, 8, 30, tzinfo=UTC)


def test_full_posts_and_excerpts_are_told_apart():
    assert {a.text_kind for a in _prepare("medium-rss").articles} == {"full"}
    assert {a.text_kind for a in _prepare("atom-excerpts").articles} == {"excerpt"}
    assert {a.text_kind for a in _prepare("youtube").articles} == {"excerpt"}


def test_a_company_post_and_its_medium_mirror_share_a_fingerprint():
    medium = _prepare("medium-rss").articles[0]
    company = _prepare("mirror").articles[0]
    assert medium.url != company.url
    assert medium.fingerprint == company.fingerprint
    other = _prepare("medium-rss").articles[1]
    assert other.fingerprint != medium.fingerprint


def test_text_never_carries_script_content():
    article = _prepare("medium-rss").articles[0]
    assert "alert" not in article.text
    assert article.text.startswith("Our ingestion tier processes")
    assert article.words == len(article.text.split())


def test_fingerprint_ignores_case_punctuation_and_accents():
    assert fingerprint("Café: Caching!", "One two three") == fingerprint(
        "cafe caching", "one, two three"
    )


@pytest.mark.parametrize("slug", sorted(p.parent.name for p in FEEDS.glob("*/feed.xml")))
def test_skipping_feedparsers_sanitiser_changes_no_article(slug, monkeypatch):
    """Why core.parse may turn off sanitize_html/resolve_relative_uris: we keep plain text only."""
    import feedparser

    from core.errors import ParseError

    def articles():
        try:
            return [
                (a.url, a.title, a.text, a.text_kind, a.published_at)
                for a in _prepare(slug).articles
            ]
        except ParseError as exc:
            return str(exc)

    ours = articles()
    original = feedparser.parse
    monkeypatch.setattr(
        feedparser,
        "parse",
        lambda body, **kw: original(body, response_headers=kw["response_headers"]),
    )
    assert articles() == ours


def test_control_characters_are_dropped_from_every_stored_text() -> None:
    entry = ParsedEntry(
        title="Hello\x00world \x1b[31mred\x9b2J",
        link="https://example.com/a\x00b\x1b",
        guid="g\x00",
        html="<p>one\x00 two\x07</p><p>tab\tkept\r\nline</p>",
        summary_html="",
        published=None,
        updated=None,
        author="Ann\x1b[0m",
        is_full_content=True,
    )
    [article], skipped = normalise_entries([entry], now=datetime(2026, 4, 1, tzinfo=UTC))

    assert skipped == 0
    assert article.url == "https://example.com/ab"
    assert (article.title, article.author, article.guid) == ("Helloworld [31mred2J", "Ann[0m", "g")
    assert article.text == "one two\n\ntab kept\n\nline"
    assert strip_controls("a\tb\nc\rd\x7f") == "a\tb\nc\nd"
    assert article.with_text("page\x00 text", "full").text == "page text"

"""core.parse: every feed shape we meet, read from bytes, with bad input in plain words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import ParseError
from core.parse import parse_feed
from tests.peers.feeds import FEEDS

BASE = "https://feeds.example.com/feed.xml"


def _parse(slug: str, url: str = BASE):
    return parse_feed(
        (FEEDS / slug / "feed.xml").read_bytes(), url=url, content_type="application/xml"
    )


def test_medium_content_encoded_is_the_full_post():
    feed = _parse("medium-rss")
    first = feed.entries[0]
    assert feed.title == "Example Tech Blog - Medium"
    assert first.is_full_content
    assert "<h2>The problem</h2>" in first.html
    assert first.author == "Ada Lovelace"
    assert first.published == datetime(2026, 3, 31, 17, 45, 12, tzinfo=UTC)


def test_atom_summary_only_is_an_excerpt_with_links_resolved_against_the_feed():
    feed = _parse("atom-excerpts", url="http://127.0.0.1:8080/atom-excerpts/feed.xml")
    first, second = feed.entries
    assert not first.is_full_content
    assert first.link.startswith("http://127.0.0.1:8080/atom-excerpts/pages/post-1.html")
    assert first.published == datetime(2026, 3, 31, 9, 0, tzinfo=UTC)  # +01:00 → UTC
    assert second.published is None and second.updated == datetime(2026, 3, 30, 8, 30, tzinfo=UTC)


def test_rss_1_0_and_0_91_are_read():
    rdf = _parse("rss1-rdf").entries[0]
    assert rdf.title == "Consensus, explained slowly"
    assert (rdf.published or rdf.updated) == datetime(2026, 3, 29, 18, 0, tzinfo=UTC)  # dc:date
    old = _parse("rss091").entries[0]
    assert old.title == "Café caches and other stories"
    assert old.published is None


def test_youtube_media_description_is_the_text():
    entry = _parse("youtube").entries[0]
    assert entry.html.startswith("In this talk we walk through sharding")
    assert entry.link == "https://www.youtube.com/watch?v=dQw4w9WgXcQ&feature=youtu.be"


def test_recoverable_xml_errors_still_yield_entries_with_a_warning():
    feed = _parse("broken-xml")
    assert [e.title for e in feed.entries] == ["Tom & Jerry's guide to retries", "Idempotency keys"]
    assert feed.warning and feed.warning.startswith("the feed has XML errors")


def test_a_year_0001_date_counts_as_no_date():
    entry = _parse("hugo-site").entries[0]
    assert entry.published is None


def test_an_html_page_is_not_a_feed():
    with pytest.raises(ParseError, match="the server sent an HTML page, not a feed"):
        _parse("html-page")


@pytest.mark.parametrize("body", [b"", b"   \n"])
def test_an_empty_body_is_not_a_feed(body):
    with pytest.raises(ParseError, match="the feed was empty"):
        parse_feed(body, url=BASE)


def test_truncated_xml_without_entries_is_not_a_feed():
    with pytest.raises(ParseError, match="not a readable feed"):
        parse_feed(b"<?xml version='1.0'?><rss><chann", url=BASE)


def test_a_path_given_as_bytes_is_never_opened():
    # feedparser opens a str that names a file; we only ever hand it bytes in a BytesIO
    with pytest.raises(ParseError):
        parse_feed(str(FEEDS / "medium-rss" / "feed.xml").encode(), url=BASE)


def test_external_entities_are_not_expanded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><title>t</title><item><title>&x;</title>'
        "<link>https://e.example/1</link></item></channel></rss>"
    ).encode()
    feed = parse_feed(body, url=BASE)
    assert all("TOP-SECRET" not in e.title + e.html for e in feed.entries)


def test_nested_entity_expansion_is_not_performed():
    # "billion laughs": ten levels of ten references each would expand to 10^10 bytes
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [{"".join(levels)}]>'
        '<rss version="2.0"><channel><title>t</title><item><title>&lol9;</title>'
        "<link>https://e.example/1</link></item></channel></rss>"
    ).encode()
    feed = parse_feed(body, url=BASE)
    assert all(len(e.title) < 10_000 for e in feed.entries)

"""The archive as a reader meets it, over real HTTP: headlines and teasers on the index,
previous/next between issues, OpenGraph tags, a subscribe box after each issue, and a 404
page for an edition or a tag that does not exist."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy.engine import Engine

from app.web import create_app
from app.wiring import Runtime
from core.config import Settings
from tests.app.support import BASE_URL, daily_digest, serve_app, store, weekly_rollup


@pytest.fixture
def site(sqlite_engine: Engine) -> Iterator[str]:
    for day in (date(2026, 3, 30), date(2026, 3, 31), date(2026, 4, 1)):
        store(sqlite_engine, daily_digest(day, tags=("security",)))
    store(sqlite_engine, weekly_rollup("2026-W14"))
    settings = Settings.from_env(
        {"DATABASE_URL": "sqlite://", "PUBLIC_BASE_URL": BASE_URL, "SECRET_KEY": "test-secret"}
    )
    clock = lambda: datetime(2026, 4, 8, 9, tzinfo=UTC)  # noqa: E731
    runtime = Runtime(settings=settings, database=sqlite_engine, clock=clock)
    with serve_app(create_app(runtime)) as url:
        yield url


def test_the_index_shows_each_issue_by_its_headline_and_teaser(site: str) -> None:
    page = httpx.get(f"{site}/").text
    assert (
        '<a class="headline" href="/daily/2026-04-01">Introducing EmDash &lt;the successor&gt;</a>'
        in page
    )
    assert '<p class="teaser">Plugins run in V8 isolates with declared capabilities.</p>' in page
    assert '<a class="headline" href="/weekly/2026-W14">Sandboxing untrusted code</a>' in page
    assert ">Engineering @ Scale — 2026-04-01</a>" not in page  # no wall of date titles


def test_an_issue_links_its_neighbours_and_ends_with_a_subscribe_box(site: str) -> None:
    middle = httpx.get(f"{site}/daily/2026-03-31").text
    assert 'rel="prev" href="/daily/2026-03-30"' in middle
    assert 'rel="next" href="/daily/2026-04-01"' in middle
    newest = httpx.get(f"{site}/daily/2026-04-01").text
    assert 'rel="prev" href="/daily/2026-03-31"' in newest and 'rel="next"' not in newest
    assert newest.index('<aside class="subscribe"') > newest.index("Deep Dives")


def test_every_page_carries_description_and_opengraph_tags(site: str) -> None:
    daily = httpx.get(f"{site}/daily/2026-04-01").text
    assert (
        '<meta property="og:title" content="Engineering @ Scale — 2026-04-01: '
        'Introducing EmDash &lt;the successor&gt;">' in daily
    )
    assert '<meta name="description" content="Plugins run in V8 isolates' in daily
    assert f'<meta property="og:url" content="{BASE_URL}/daily/2026-04-01">' in daily
    assert '<meta property="og:type" content="article">' in daily
    index = httpx.get(f"{site}/").text
    assert '<meta property="og:type" content="website">' in index
    assert '<meta name="description" content="' in index


@pytest.mark.parametrize("path", ["/?edition=nope", "/tags/no-such-tag", "/nope/daily/2026-04-01"])
def test_an_unknown_edition_or_tag_is_a_404_page(site: str, path: str) -> None:
    response = httpx.get(f"{site}{path}")
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.text and 'role="search"' in response.text


def test_a_known_tag_still_lists_its_digests(site: str) -> None:
    response = httpx.get(f"{site}/tags/security")
    assert response.status_code == 200 and 'href="/daily/2026-04-01"' in response.text


def test_subscribe_is_in_the_site_layout_and_counts_the_editions_feeds(site: str) -> None:
    page = httpx.get(f"{site}/subscribe").text
    assert 'role="search"' in page and '<a class="brand" href="/">' in page  # a way back
    assert re.search(r"Every Monday: the week's posts from the \d+ feeds we read", page)
    assert re.search(
        r"<strong>Engineering @ Scale</strong>: [^<]+<span class=\"muted\">\(\d+ feeds\)", page
    )
    assert "from ~30 company blogs, boiled down" not in page

"""`digest search` and the archive's `/search` page (over real HTTP), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.cli import cli
from app.web import create_app
from app.wiring import Runtime
from core.config import Settings
from tests.app.support import BASE_URL, serve_app
from tests.conftest import add_article, add_source


@pytest.fixture
def articles(engine: Engine) -> Engine:
    with Session(engine, expire_on_commit=False) as session:
        tech = add_source(session, "Edge Blog", company="Edgy")
        reads = add_source(session, "Solo Blog", company="Solo", edition="reads")
        add_article(
            session,
            tech,
            title="Caching at the edge",
            tags="infrastructure",
            dive="Tiered caches cut origin load by half.",
            published=datetime(2026, 3, 2, tzinfo=UTC),
        )
        add_article(
            session,
            tech,
            title="Release notes <b>",
            dive="We mention a cache once.",
            published=datetime(2026, 3, 30, tzinfo=UTC),
        )
        add_article(session, reads, title="Cache invalidation, again")
    return engine


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings.from_env(
        {"DATABASE_URL": database_url, "PUBLIC_BASE_URL": BASE_URL, "SECRET_KEY": "test-secret"}
    )


def _search(settings: Settings, *args: str):
    return CliRunner().invoke(cli, ["search", *args], obj=Runtime(settings=settings))


def test_cli_search_is_stemmed_and_ranked(settings: Settings, articles: Engine) -> None:
    result = _search(settings, "caches", "--edition", "tech", "--format", "json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert [i["title"] for i in items] == ["Caching at the edge", "Release notes <b>"]
    assert items[0]["company"] == "Edgy" and items[0]["published"] == "2026-03-02T00:00:00Z"
    assert items[0]["deep_dive"] == "Tiered caches cut origin load by half."
    assert items[0]["score"] > items[1]["score"]
    table = _search(settings, "caching").output
    assert "Cache invalidation, again" in table and "Caching at the edge" in table


def test_cli_search_answers_plainly_for_nothing_and_for_a_bad_edition(
    settings: Settings, articles: Engine
) -> None:
    assert "Nothing stored matches 'zebra'." in _search(settings, "zebra").output
    bad = _search(settings, "cache", "--edition", "nope")
    assert bad.exit_code == 1 and bad.output.startswith("Error: unknown edition 'nope'")


@pytest.fixture
def client(settings: Settings, articles: Engine) -> Iterator[httpx.Client]:
    with serve_app(create_app(Runtime(settings=settings, database=articles))) as url:
        with httpx.Client(base_url=url, timeout=10) as client:
            yield client


def test_search_page_lists_the_best_matches_escaped(client: httpx.Client) -> None:
    response = client.get("/search", params={"q": "caches"})
    assert response.status_code == 200
    html = response.text
    assert html.index("Caching at the edge") < html.index("Release notes &lt;b&gt;")
    assert "Release notes <b>" not in html
    assert "Tiered caches cut origin load by half." in html
    assert 'value="caches"' in html  # the box keeps the query
    only = client.get("/search", params={"q": "caches", "edition": "reads"}).text
    assert "Cache invalidation, again" in only and "Caching at the edge" not in only


def test_search_page_without_a_match_or_query_and_with_a_bad_edition(client: httpx.Client) -> None:
    nothing = client.get("/search", params={"q": '"><script>alert(1)</script>'})
    assert nothing.status_code == 200 and "Nothing in the archive matches" in nothing.text
    assert "<script>alert(1)" not in nothing.text
    assert "Words are stemmed" in client.get("/search").text
    assert client.get("/search", params={"q": "x", "edition": "nope"}).status_code == 404


@pytest.mark.parametrize("path", ["/", "/search", "/tags/security", "/no/such/page"])
def test_every_archive_page_has_the_search_box(client: httpx.Client, path: str) -> None:
    html = client.get(path).text
    assert '<form class="search" role="search" method="get" action="/search">' in html

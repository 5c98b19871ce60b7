"""The web app over real HTTP (uvicorn on loopback): archive, feeds, health, mounted routes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import feedparser
import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.web import create_app
from app.wiring import Runtime
from core.config import Settings
from core.errors import DigestError
from core.model import Stats
from storage.db import make_engine
from storage.tables import Article, Digest, FeedSource
from tests.app.support import BASE_URL, daily_digest, serve_app, store
from tests.bot.conftest import command_body, signed_headers, slack_settings
from tests.peers.slack_api import SlackAPI
from tests.peers.slack_api import slack_api as _slack_api

REPO = Path(__file__).resolve().parents[2]
CLOCK = lambda: datetime(2026, 4, 21, 9, tzinfo=UTC)  # noqa: E731 - the web app's clock


@pytest.fixture
def slack_api() -> Iterator[SlackAPI]:
    with _slack_api() as api:
        yield api


@pytest.fixture
def web_settings(database_url: str) -> Settings:
    return Settings.from_env(
        {"DATABASE_URL": database_url, "PUBLIC_BASE_URL": BASE_URL, "SECRET_KEY": "test-secret"}
    )


@pytest.fixture
def client(web_settings: Settings, stored_digests: Engine) -> Iterator[httpx.Client]:
    with serve_app(
        create_app(Runtime(settings=web_settings, database=stored_digests, clock=CLOCK))
    ) as url:
        with httpx.Client(base_url=url, timeout=10) as client:
            yield client


def test_index_lists_the_editions_digests_newest_first(client: httpx.Client) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert html.index("2026-04-01") < html.index("2026-03-31")
    assert 'href="/daily/2026-04-01"' in html  # paths: the page works under any host name
    assert 'href="/weekly/2026-W14"' in html
    assert "reads" not in html.split("<h2>Daily digests</h2>")[1]  # another edition's digest
    assert '<form class="subscribe" method="post" action="/subscribe">' in html


def test_daily_page_shows_every_section_with_feed_text_escaped(client: httpx.Client) -> None:
    response = client.get("/daily/2026-04-01")

    assert response.status_code == 200
    html = response.text
    assert "<h1>Engineering @ Scale — 2026-04-01</h1>" in html
    assert "Introducing EmDash &lt;the successor&gt;" in html
    assert "<the successor>" not in html
    assert '<a href="https://www.datadoghq.com/blog/replication/">Source</a>' in html
    assert "Patterns Across Companies" in html
    assert "31 blogs checked · 2 new posts · ~14 min of reading saved" in html
    assert 'href="/tags/security"' in html


def test_a_day_without_posts_is_neither_listed_nor_served(
    client: httpx.Client, stored_digests: Engine
) -> None:
    quiet = replace(
        daily_digest(date(2026, 4, 2)),
        stats=Stats(sources_checked=31, unreachable=31),
        signal=None,
        deep_dives=(),
        patterns=(),
    )
    store(stored_digests, quiet)  # as reading used to store an empty day

    assert client.get("/daily/2026-04-02").status_code == 404
    assert "/daily/2026-04-02" not in client.get("/").text
    assert "/daily/2026-04-02" not in client.get("/feed.xml").text


def _post(engine: Engine, title: str, published: datetime) -> None:
    with Session(engine) as session:
        source = FeedSource(
            name="Netflix Tech Blog",
            company="Netflix",
            url="https://n.example/feed",
            edition="tech",
            status="ok",
        )
        session.add(source)
        session.commit()
        session.add(
            Article(
                url="https://n.example/" + title.lower().replace(" ", "-"),
                fingerprint=title[:16],
                source_id=source.id or 0,
                edition="tech",
                company="Netflix",
                title=title,
                text=f"{title}: we moved the write path. " * 20,
                words=120,
                published_at=published,
                first_seen_at=published,
            )
        )
        session.commit()


def test_a_past_day_with_posts_is_served_though_nobody_composed_it(
    client: httpx.Client, stored_digests: Engine
) -> None:
    _post(stored_digests, "Rebuilding the event store", datetime(2026, 4, 6, 9, tzinfo=UTC))

    day = client.get("/daily/2026-04-06")
    week = client.get("/weekly/2026-W15")

    assert day.status_code == 200 and "Rebuilding the event store" in day.text
    assert week.status_code == 200 and "Rebuilding the event store" in week.text
    assert client.get("/daily/2026-05-01").status_code == 404  # after the clock's today
    assert client.get("/weekly/2026-W20").status_code == 404
    with Session(stored_digests) as session:
        periods = {row.period for row in session.exec(select(Digest))}
    assert {"2026-04-06", "2026-W15"} <= periods and "2026-05-01" not in periods


def test_feed_items_are_dated_by_their_period_newest_first(
    client: httpx.Client, stored_digests: Engine
) -> None:
    store(stored_digests, daily_digest(date(2016, 1, 5)))  # composed today, about 2016

    entries = feedparser.parse(client.get("/feed.xml").content).entries

    dated = {e.link.removeprefix(BASE_URL): e.published_parsed[:3] for e in entries}
    assert dated["/daily/2016-01-05"] == (2016, 1, 5)
    assert dated["/daily/2026-04-01"] == (2026, 4, 1)
    assert dated["/weekly/2026-W14"] == (2026, 4, 5)  # the week's Sunday
    assert [e.link.removeprefix(BASE_URL) for e in entries][-1] == "/daily/2016-01-05"


def test_the_runtimes_sources_file_decides_the_editions_served(
    tmp_path: Path, sqlite_url: str, sqlite_engine: Engine, slack_api: SlackAPI
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(
        '[editions.zines]\ntitle = "Zine Digest"\n\n[[sources]]\nname = "A Zine"\n'
        'company = "Zine"\nurl = "https://zine.example/feed"\nedition = "zines"\n',
        encoding="utf-8",
    )
    settings = slack_settings(sqlite_url, slack_api)  # DIGEST_SOURCES: the bundled file
    runtime = Runtime(
        settings=settings, sources_path=str(other), database=sqlite_engine, clock=CLOCK
    )
    body = command_body(slack_api, "zines week")

    with serve_app(create_app(runtime)) as base:
        html = httpx.get(base + "/", timeout=10).text
        ack = httpx.post(base + "/slack/events", content=body, headers=signed_headers(body))
        [reply] = slack_api.wait_for("response")

    assert "Zine Digest" in html and "Engineering @ Scale" not in html
    assert ack.status_code == 200
    assert reply["text"] == "No zines posts yet in week 2026-W17."


def test_another_editions_digest_lives_under_its_name(client: httpx.Client) -> None:
    assert client.get("/reads/daily/2026-04-01").status_code == 200
    assert client.get("/reads/daily/2026-03-31").status_code == 404


def test_weekly_page_shows_the_week_in_review_and_top_stories(client: httpx.Client) -> None:
    response = client.get("/weekly/2026-W14")

    assert response.status_code == 200
    assert "Agentic infrastructure moved from demos to guardrails." in response.text
    assert (
        '<a href="https://blog.cloudflare.com/dynamic-workers/">Dynamic Workers</a>'
        in response.text
    )
    assert "2026-03-30 to 2026-04-05" in response.text


@pytest.mark.parametrize(
    "path", ["/daily/2026-01-01", "/daily/not-a-date", "/weekly/2026-W99", "/nope"]
)
def test_a_missing_page_is_a_readable_404(client: httpx.Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.text


def test_tag_page_lists_only_digests_carrying_exactly_that_tag(client: httpx.Client) -> None:
    response = client.get("/tags/security")

    assert response.status_code == 200
    assert 'href="/daily/2026-04-01"' in response.text
    assert 'href="/weekly/2026-W14"' in response.text
    assert "2026-03-31" not in response.text
    assert "/reads/daily/" not in response.text  # tagged security-research, not security


def test_feed_parses_back_with_feedparser(client: httpx.Client) -> None:
    response = client.get("/feed.xml")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/rss+xml")
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.feed.title == "Engineering @ Scale"
    assert len(feed.entries) == 4
    links = {entry.link for entry in feed.entries}
    assert f"{BASE_URL}/daily/2026-04-01" in links
    assert f"{BASE_URL}/reads/daily/2026-04-01" in links
    daily = next(e for e in feed.entries if e.link == f"{BASE_URL}/daily/2026-04-01")
    assert daily.title == "Engineering @ Scale — 2026-04-01"
    assert "Introducing EmDash &lt;the successor&gt;" in daily.description
    assert {t.term for t in daily.tags} == {"security", "distributed-systems"}
    assert daily.published_parsed is not None


def test_feed_shows_a_recomposed_digest(client: httpx.Client, stored_digests: Engine) -> None:
    client.get("/feed.xml")  # rendered once, kept
    store(stored_digests, replace(daily_digest(date(2026, 4, 1)), title="Recomposed title"))

    titles = {e.title for e in feedparser.parse(client.get("/feed.xml").content).entries}

    assert "Recomposed title" in titles


def test_tag_feed_holds_only_that_tags_digests(client: httpx.Client) -> None:
    feed = feedparser.parse(client.get("/tags/security/feed.xml").content)

    assert feed.bozo == 0
    assert sorted(e.link for e in feed.entries) == [
        f"{BASE_URL}/daily/2026-04-01",
        f"{BASE_URL}/weekly/2026-W14",
    ]
    assert feed.feed.title == "Engineering @ Scale · security"


def test_healthz_answers_when_the_database_does(client: httpx.Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_gone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'digest.db'}"
    settings = Settings.from_env({"DATABASE_URL": url})
    engine = make_engine(url)
    with serve_app(create_app(Runtime(settings=settings, database=engine, clock=CLOCK))) as base:
        response = httpx.get(base + "/healthz", timeout=10)
    engine.dispose()

    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_newsletter_pages_are_mounted(client: httpx.Client) -> None:
    response = client.get("/subscribe")

    assert response.status_code == 200
    assert 'name="email"' in response.text


def test_importing_and_building_the_web_app_starts_no_scheduler(sqlite_url: str) -> None:
    code = (
        "import sys, threading\n"
        "from app.web import create_app\n"
        "from core.config import Settings\n"
        "from app.wiring import Runtime\n"
        f"create_app(Runtime(settings=Settings.from_env({{'DATABASE_URL': {sqlite_url!r}}})))\n"
        "print('apscheduler' in sys.modules, threading.active_count())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "1"]


def test_slack_events_are_mounted_when_slack_is_configured(
    sqlite_url: str, sqlite_engine: Engine
) -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": sqlite_url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "shh",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
        }
    )
    with serve_app(
        create_app(Runtime(settings=settings, database=sqlite_engine, clock=CLOCK))
    ) as base:
        unsigned = httpx.post(base + "/slack/events", content=b"command=%2Fdigest", timeout=10)

    assert unsigned.status_code == 401  # bolt refuses a request without Slack's signature


def test_half_configured_slack_stops_the_web_app_with_one_line(
    sqlite_url: str, sqlite_engine: Engine
) -> None:
    settings = Settings.from_env({"DATABASE_URL": sqlite_url, "SLACK_SIGNING_SECRET": "shh"})

    with pytest.raises(DigestError, match="SLACK_BOT_TOKEN"):
        create_app(Runtime(settings=settings, database=sqlite_engine, clock=CLOCK))


def test_feed_answers_a_conditional_get_with_304(client: httpx.Client) -> None:
    first = client.get("/feed.xml")
    again = client.get("/feed.xml", headers={"If-None-Match": first.headers["etag"]})

    assert again.status_code == 304
    assert again.content == b""
    assert feedparser.parse(first.content).entries

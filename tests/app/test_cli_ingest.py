"""`digest ingest`, `digest sources`, `digest articles` through click, on a real feed server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import Session, select

from app.cli import cli
from app.commands.ingest import ingest_report
from app.pipeline import Pipeline
from app.wiring import Runtime
from core.config import Settings
from core.dates import iso_week
from storage.articles import list_articles
from storage.digests import list_digests
from storage.tables import Article
from tests.peers.feeds import FeedServer, feed_server
from tests.peers.tls import self_signed, server_context


def run_ingest(runtime: Runtime, **options: Any) -> dict[str, int]:
    """The ingest the worker runs, and the counts it records."""
    return Pipeline(runtime).ingest(**options).counts()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


@pytest.fixture
def runtime(
    server: FeedServer, tmp_path: Path, sqlite_url: str, now: datetime
) -> Iterator[Runtime]:
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f"""
[editions.tech]
title = "Engineering @ Scale"
[editions.videos]
title = "Tech Videos"

[[sources]]
name = "Example Medium"
company = "Example"
url = "{server.url("/medium-rss/feed.xml")}"
edition = "tech"
tags = ["distributed-systems"]

[[sources]]
name = "Example Talks"
company = "Example Conf"
url = "{server.url("/youtube/feed.xml")}"
edition = "videos"

[[sources]]
name = "Broken Host"
company = "Nobody"
url = "{server.url("/html-page/feed.xml")}"
edition = "tech"

[[sources]]
name = "Never Fetched"
company = "Quiet"
url = "{server.url("/rss091/feed.xml")}"
edition = "tech"
enabled = false
""",
        encoding="utf-8",
    )
    settings = Settings.from_env({"DATABASE_URL": sqlite_url, "DIGEST_SOURCES": str(sources)})
    runtime = Runtime(settings=settings, clock=lambda: now)
    yield runtime
    runtime.close()


def _invoke(runtime: Runtime, *args: str):
    return CliRunner().invoke(cli, list(args), obj=runtime, catch_exceptions=False)


def test_ingest_lists_the_sources_with_news_or_errors_and_counts_the_unchanged(runtime, server):
    first = _invoke(runtime, "ingest", "--no-fulltext")
    assert first.exit_code == 0, first.output
    assert "Example Medium" in first.output and "Example Talks" in first.output
    assert "error: the server sent an HTML page, not a feed" in first.output
    assert "3 sources: 3 new articles, 0 unchanged, 1 with errors" in first.output
    second = _invoke(runtime, "ingest", "--no-fulltext")
    assert "Example Medium" not in second.output and "unchanged (not" not in second.output
    assert "error: the server sent an HTML page, not a feed" in second.output
    assert "3 sources: 0 new articles, 2 unchanged, 1 with errors" in second.output
    every = _invoke(runtime, "ingest", "--no-fulltext", "--all")
    assert every.output.count("unchanged (not modified)") == 2, every.output
    assert "Example Medium" in every.output


def test_an_ingest_in_which_nothing_happened_prints_one_line(runtime, server):
    _invoke(runtime, "ingest", "--no-fulltext", "--source", "Example Medium")
    quiet = _invoke(runtime, "ingest", "--no-fulltext", "--source", "Example Medium")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.output == "1 source: 0 new articles, 1 unchanged, 0 with errors\n"


def test_ingest_one_edition_or_one_source(runtime, server):
    result = _invoke(runtime, "ingest", "--edition", "videos")
    assert "1 source: 1 new article" in result.output
    assert [r.path for r in server.requests] == ["/youtube/feed.xml"]  # no page for a video
    result = _invoke(runtime, "ingest", "--source", "example medium")
    assert "Example Medium" in result.output
    agents = {r.headers.get("user-agent") for r in server.requests}
    assert agents == {runtime.settings.user_agent}


def test_unknown_edition_is_one_plain_line(runtime):
    result = CliRunner().invoke(cli, ["ingest", "--edition", "nope"], obj=runtime)
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: unknown edition 'nope'")
    assert "Traceback" not in result.output


def test_run_ingest_returns_the_counts_the_worker_reads(runtime):
    counts = run_ingest(runtime, fulltext=False)
    assert {k: counts[k] for k in ("sources", "new", "unchanged", "errors")} == {
        "sources": 3,
        "new": 3,
        "unchanged": 0,
        "errors": 1,
    }
    again = run_ingest(runtime, fulltext=False)
    # only the failing source is parsed again: its body's hash is kept only after a success
    assert (again["new"], again["unchanged"], again["parsed"]) == (0, 2, 1)


def test_sources_json_lists_status_errors_and_counts(runtime):
    before = json.loads(_invoke(runtime, "sources", "--format", "json").output)
    assert {s["status"] for s in before} == {"never", "disabled"}
    run_ingest(runtime, fulltext=False)
    items = {
        s["name"]: s for s in json.loads(_invoke(runtime, "sources", "--format", "json").output)
    }
    medium = items["Example Medium"]
    assert {"name", "company", "url", "edition", "status", "error", "articles"} <= medium.keys()
    assert (medium["status"], medium["error"], medium["articles"]) == ("ok", None, 2)
    assert items["Broken Host"]["status"] == "error"
    assert items["Broken Host"]["error"] == "the server sent an HTML page, not a feed"
    assert items["Never Fetched"]["status"] == "disabled"
    table = _invoke(runtime, "sources").output
    assert "Example Medium" in table


def test_articles_json_lists_stored_articles(runtime):
    run_ingest(runtime, fulltext=False)
    items = json.loads(_invoke(runtime, "articles", "--format", "json").output)
    assert len(items) == 3
    first = items[0]
    assert {"title", "company", "source", "url", "published", "words", "text_kind"} <= first.keys()
    assert first["title"] == "Rebuilding the Event Store Write Path & What We Learned"
    assert first["published"] == "2026-03-31T17:45:12Z"
    assert first["source"] == "Example Medium"
    assert first["text_kind"] == "full"
    videos = json.loads(
        _invoke(runtime, "articles", "--edition", "videos", "--format", "json").output
    )
    assert [v["company"] for v in videos] == ["Example Conf"]
    since = json.loads(
        _invoke(runtime, "articles", "--since", "2026-03-31", "--format", "json").output
    )
    assert [a["title"] for a in since] == [
        "Rebuilding the Event Store Write Path & What We Learned"
    ]


def test_articles_never_writes_a_stored_escape_sequence_to_the_terminal(runtime):
    run_ingest(runtime, fulltext=False)
    with Session(runtime.engine) as session:  # a row stored before ingest stripped controls
        article = session.exec(select(Article).order_by(Article.url)).first()
        assert article is not None
        article.title = "Owned \x1b[2J\x1b]0;pwned\x07terminal\x00"
        article.company = "Evil\x1b[31m Corp"
        session.add(article)
        session.commit()

    output = _invoke(runtime, "articles").output

    assert "Owned [2J]0;pwnedterminal" in output and "Evil[31m Corp" in output
    assert not any(ch in output for ch in "\x1b\x07\x00"), repr(output)


def test_articles_rejects_a_bad_date_in_plain_words(runtime):
    result = CliRunner().invoke(cli, ["articles", "--since", "soon"], obj=runtime)
    assert result.exit_code == 1
    assert "not a date: 'soon'" in result.output


def test_run_ingest_with_a_progress_bar_counts_the_same(runtime):
    counts = ingest_report(runtime, edition="tech", fulltext=False, progress=True).counts()
    assert (counts["sources"], counts["new"], counts["errors"]) == (2, 2, 1)


def test_ingest_brings_the_recent_periods_with_posts_into_the_archive(runtime, now):
    _invoke(runtime, "ingest", "--no-fulltext")
    with Session(runtime.engine) as session:
        daily = {(d.edition, d.period) for d in list_digests(session=session, kind="daily")}
        weekly = {(d.edition, d.period) for d in list_digests(session=session, kind="weekly")}
        articles = [a for a, _ in list_articles(session=session)]
    today = now.astimezone(runtime.settings.tz).date()
    days = {
        (a.edition, a.published_at.astimezone(runtime.settings.tz).date().isoformat())
        for a in articles
        if a.published_at.astimezone(runtime.settings.tz).date() <= today
    }
    assert daily == days  # fewer than 7 days with posts: every one of them
    assert weekly == {(e, iso_week(date.fromisoformat(d))) for e, d in days}


def test_ingest_format_json_gives_the_counts_and_each_outcome(runtime):
    result = _invoke(runtime, "ingest", "--no-fulltext", "-e", "tech", "--format", "json")
    report = json.loads(result.output)
    assert report["counts"]["sources"] == 2 and report["counts"]["errors"] == 1
    outcomes = {item["name"]: item for item in report["sources"]}
    assert outcomes["Example Medium"]["status"] == "ok" and outcomes["Example Medium"]["new"] == 2
    assert outcomes["Broken Host"]["error"] == "the server sent an HTML page, not a feed"
    assert set(report) == {"counts", "sources", "backfill"}
    # Example Medium's two posts, on two days of one week, composed and stored
    assert report["backfill"] == {"tech": {"days": 2, "weeks": 1}}


def test_https_feeds_are_verified_against_the_systems_cas_or_ssl_cert_file(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A self-signed feed is refused in plain words; trusted through SSL_CERT_FILE (how an
    operator adds a CA to the system's store for OpenSSL) it is read. A fresh process each
    time: the trust store is read when aiohttp is imported."""
    cert, key = self_signed(tmp_path)
    with feed_server(tls=server_context(cert, key)) as server:
        sources = tmp_path / "sources.toml"
        sources.write_text(
            '[editions.tech]\ntitle = "T"\n[[sources]]\nname = "Secure"\ncompany = "S"\n'
            f'url = "{server.url("/medium-rss/feed.xml")}"\nedition = "tech"\n'
        )
        digest = str(Path(sys.executable).with_name("digest"))
        env = {**os.environ, "DATABASE_URL": sqlite_url, "DIGEST_SOURCES": str(sources)}
        env.pop("SSL_CERT_FILE", None)

        def ingest(**extra: str) -> dict[str, Any]:
            done = subprocess.run(
                [digest, "ingest", "--no-fulltext", "--format", "json"],
                env={**env, **extra},
                capture_output=True,
                text=True,
                check=True,
            )
            return json.loads(done.stdout)["sources"][0]

        refused = ingest()
        assert refused["status"] == "error"
        assert refused["error"].startswith("the certificate of 127.0.0.1 is not trusted")
        assert ingest(SSL_CERT_FILE=str(cert))["status"] == "ok"
    assert server.server is not None and server.server.url.startswith("https://")

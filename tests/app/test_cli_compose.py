"""`digest summarise | daily | weekly | run` through click, on a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import httpx
import pytest
from click.testing import CliRunner, Result
from lxml import etree
from sqlmodel import Session, func, select

from app.cli import cli
from app.web import create_app
from app.wiring import Runtime
from core.config import Settings
from storage import deliveries
from storage.digests import load_digest
from storage.tables import Article, DeepDiveRow, Digest, FeedSource
from tests.app.support import serve_app
from tests.peers.http import Request, Response, serve

ARTICLES = Path(__file__).resolve().parent.parent / "data" / "golden" / "articles"
DAY = date(2026, 4, 1)
NOW = datetime(2026, 4, 21, 9, 0, tzinfo=UTC)  # every runtime's clock: a Tuesday, weeks later

SOURCES_TOML = """
[editions.tech]
title = "Engineering @ Scale"
[editions.reads]
title = "Engineering Reads"
signal_title = "The Big Idea"

[[sources]]
name = "Datadog Engineering"
company = "Datadog"
url = "{base}/datadog.xml"
edition = "tech"
weight = 1.2

[[sources]]
name = "GitHub Blog"
company = "GitHub"
url = "{base}/github.xml"
edition = "tech"
tags = ["security"]

[[sources]]
name = "HashiCorp Blog"
company = "HashiCorp"
url = "{base}/hashicorp.xml"
edition = "tech"

[[sources]]
name = "Someone's Blog"
company = "Someone"
url = "{base}/someone.xml"
edition = "reads"
"""


def sample(name: str) -> dict[str, str]:
    lines = (ARTICLES / name).read_text(encoding="utf-8").split("\n")
    return {
        "title": lines[0],
        "company": lines[1],
        "url": lines[2],
        "published": lines[3],
        "text": "\n".join(lines[5:]),
    }


@pytest.fixture
def runtime(tmp_path: Path, sqlite_url: str) -> Iterator[Runtime]:
    sources = tmp_path / "sources.toml"
    sources.write_text(SOURCES_TOML.format(base="http://127.0.0.1:9"), encoding="utf-8")
    settings = Settings.from_env({"DATABASE_URL": sqlite_url, "DIGEST_FULLTEXT": "false"})
    runtime = Runtime(settings=settings, sources_path=str(sources), clock=lambda: NOW)
    with Session(runtime.engine) as session:
        for name, company, weight in [
            ("Datadog Engineering", "Datadog", 1.2),
            ("GitHub Blog", "GitHub", 1.0),
            ("HashiCorp Blog", "HashiCorp", 1.0),
        ]:
            session.add(
                FeedSource(
                    name=name, company=company, url="http://x", edition="tech", weight=weight
                )
            )
        session.commit()
    yield runtime
    runtime.close()


def add(runtime: Runtime, name: str, **fields: object) -> Article:
    data = sample(name)
    published = datetime.fromisoformat(data["published"])
    with Session(runtime.engine, expire_on_commit=False) as session:
        source = session.exec(select(FeedSource).where(FeedSource.company == data["company"])).one()
        values: dict[str, object] = {
            "url": data["url"],
            "fingerprint": data["url"][-40:],
            "source_id": source.id,
            "edition": "tech",
            "company": data["company"],
            "title": data["title"],
            "text": data["text"],
            "text_kind": "full",
            "words": len(data["text"].split()),
            "published_at": published,
            "first_seen_at": published,
            "updated_at": published,
        }
        values.update(fields)
        article = Article(**values)  # type: ignore[arg-type]
        session.add(article)
        session.commit()
        return article


def invoke(runtime: Runtime, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj=runtime, catch_exceptions=False)


def test_summarise_writes_deep_dives_once(runtime: Runtime) -> None:
    add(runtime, "datadog-replication.txt")
    add(runtime, "github-oidc.txt")
    first = invoke(runtime, "summarise")
    assert first.exit_code == 0
    assert "Summarised 2 articles (2 extractive)." in first.output
    again = invoke(runtime, "summarize")  # the alias
    assert again.exit_code == 0 and "Summarised 0 articles." in again.output
    with Session(runtime.engine) as session:
        rows = session.exec(select(DeepDiveRow)).all()
        tags = dict(session.exec(select(Article.company, Article.tags)).all())
    assert {r.summariser for r in rows} == {"extractive"} and len(rows) == 2
    assert tags["GitHub"].split(",")[0] == "security"
    assert "distributed-systems" in tags["Datadog"].split(",")


def test_summarise_since_skips_older_articles(runtime: Runtime) -> None:
    add(runtime, "datadog-replication.txt", published_at=datetime(2026, 3, 1, tzinfo=UTC))
    add(runtime, "github-oidc.txt")
    result = invoke(runtime, "summarise", "--since", "2026-03-31")
    assert "Summarised 1 article (1 extractive)." in result.output


def test_summarise_as_json_prints_the_counts_and_keeps_the_line_on_stderr(
    runtime: Runtime,
) -> None:
    add(runtime, "datadog-replication.txt", published_at=datetime(2026, 3, 1, tzinfo=UTC))
    add(runtime, "github-oidc.txt")
    result = invoke(runtime, "summarise", "--since", "2026-03-31", "--format", "json")
    assert json.loads(result.stdout) == {
        "since": "2026-03-31",
        "edition": None,
        "counts": {"pending": 1, "summarised": 1, "extractive": 1, "llm": 0, "title-only": 0},
    }
    assert "Summarised 1 article (1 extractive)." in result.stderr
    plan = invoke(runtime, "summarise", "-e", "tech", "--estimate", "--format", "json")
    assert json.loads(plan.stdout) == {
        "since": None,
        "edition": "tech",
        "pending": 1,
        "model": None,  # extractive: nothing would go to a model
        "token_budget": None,
        "estimate": None,
    }
    assert "1 article to summarise, all extractive" in plan.stderr
    elsewhere = invoke(runtime, "summarise", "-e", "reads", "--format", "json")
    assert json.loads(elsewhere.stdout)["counts"]["pending"] == 0  # the post is tech's
    rest = json.loads(invoke(runtime, "summarise", "--format", "json").stdout)
    assert rest == {
        "since": None,
        "edition": None,
        "counts": {"pending": 1, "summarised": 1, "extractive": 1, "llm": 0, "title-only": 0},
    }
    unknown = CliRunner().invoke(cli, ["summarise", "-e", "nope"], obj=runtime)
    assert unknown.exit_code != 0 and "unknown edition 'nope'" in unknown.output


def test_daily_json_is_the_stable_interface_and_is_stored(runtime: Runtime) -> None:
    for name in ("datadog-replication.txt", "github-oidc.txt", "hashicorp-delegation.txt"):
        add(runtime, name)
    result = invoke(runtime, "daily", "--date", "2026-04-01", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["title"] == "Engineering @ Scale — 2026-04-01"
    assert data["edition"] == "tech" and data["date"] == "2026-04-01"
    assert data["stats"]["sources_checked"] == 3  # the tech edition's sources
    assert data["stats"]["posts"] == 3
    assert data["sources"] == ["Datadog Engineering", "GitHub Blog", "HashiCorp Blog"]
    assert data["signal"]["company"] == "Datadog"
    assert data["signal"]["why"].startswith("Why it matters:")
    assert [d["summariser"] for d in data["deep_dives"]] == ["extractive"] * 3
    github = next(d for d in data["deep_dives"] if d["company"] == "GitHub")
    assert github["tags"][0] == "security"  # the source's default tag comes first
    assert any(set(p["companies"]) >= {"GitHub", "HashiCorp"} for p in data["patterns"])
    with Session(runtime.engine) as session:
        stored = load_digest(session=session, edition="tech", kind="daily", period="2026-04-01")
        assigned = session.exec(select(Article.digest_day)).all()
    assert stored == data
    assert set(assigned) == {DAY}


def test_a_post_stored_after_a_day_was_read_is_in_that_day_when_read_again(
    runtime: Runtime,
) -> None:
    add(runtime, "datadog-replication.txt")
    first = invoke(runtime, "daily", "--date", "2026-04-01", "--format", "md")
    assert "Securing the open source supply chain" not in first.output
    add(runtime, "github-oidc.txt")  # ingested later, published the same day
    again = invoke(runtime, "daily", "--date", "2026-04-01", "--format", "json")
    assert {d["company"] for d in json.loads(again.output)["deep_dives"]} == {"Datadog", "GitHub"}
    with Session(runtime.engine) as session:
        stored = load_digest(session=session, edition="tech", kind="daily", period="2026-04-01")
    assert stored == json.loads(again.output)  # the stored digest is what was printed


def test_a_new_deep_dive_recomposes_the_day(runtime: Runtime) -> None:
    add(runtime, "datadog-replication.txt")
    invoke(runtime, "daily", "--date", "2026-04-01")
    with Session(runtime.engine) as session:
        dive = session.exec(select(DeepDiveRow)).one()
        dive.text, dive.created_at = "A re-summarised deep dive.", NOW
        session.add(dive)
        session.commit()
    again = json.loads(invoke(runtime, "daily", "--date", "2026-04-01", "--format", "json").output)
    assert again["deep_dives"][0]["text"] == "A re-summarised deep dive."


def _deliver(runtime: Runtime, issue: str) -> None:
    """Record `issue` as delivered in the ledger, as the Slack post or the newsletter does."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        row = deliveries.claim(session=session, channel="slack", target="C1", issue=issue)
        assert row is not None
        deliveries.finish(session=session, delivery=row, status="sent", external_id="1.2")


def test_a_delivered_day_stays_as_delivered_and_a_late_post_goes_to_the_next_day(
    runtime: Runtime,
) -> None:
    add(runtime, "datadog-replication.txt")
    posted = invoke(runtime, "daily", "--date", "2026-04-01", "--format", "json").output
    _deliver(runtime, "tech/daily/2026-04-01")
    # published on the 1st, but first seen on the 2nd, after the 1st was posted
    add(runtime, "github-oidc.txt", first_seen_at=datetime(2026, 4, 2, 6, 0, tzinfo=UTC))
    day1 = invoke(runtime, "daily", "--date", "2026-04-01", "--format", "json").output
    assert json.loads(day1) == json.loads(posted)
    day2 = json.loads(invoke(runtime, "daily", "--date", "2026-04-02", "--format", "json").output)
    assert [d["company"] for d in day2["deep_dives"]] == ["GitHub"]
    forced = invoke(runtime, "daily", "--date", "2026-04-01", "--format", "json", "--force")
    assert json.loads(forced.output) == json.loads(posted)  # never rewritten once delivered


def test_force_composes_an_up_to_date_day_again(runtime: Runtime) -> None:
    add(runtime, "datadog-replication.txt")
    invoke(runtime, "daily", "--date", "2026-04-01")
    with Session(runtime.engine) as session:
        before = session.exec(select(Digest.composed_at)).one()
    invoke(runtime, "daily", "--date", "2026-04-01")
    with Session(runtime.engine) as session:
        assert session.exec(select(Digest.composed_at)).one() == before  # a read, no compose
    invoke(runtime, "daily", "--date", "2026-04-01", "--force")
    with Session(runtime.engine) as session:
        assert session.exec(select(Digest.composed_at)).one() > before


def test_a_future_day_is_refused_in_one_line_and_nothing_is_stored(runtime: Runtime) -> None:
    result = CliRunner().invoke(cli, ["daily", "--date", "2030-01-01"], obj=runtime)
    assert result.exit_code == 1
    assert result.output.startswith("Error: 2030-01-01 has not happened yet (today is 2026-04-21")
    assert "Traceback" not in result.output
    weekly = CliRunner().invoke(cli, ["weekly", "--week", "2030-W01"], obj=runtime)
    assert weekly.exit_code == 1 and "week 2030-W01 has not started yet" in weekly.output
    with Session(runtime.engine) as session:
        assert session.exec(select(Digest)).all() == []


def test_a_past_day_composed_for_the_first_time_shows_the_posts_published_that_day(
    runtime: Runtime,
) -> None:
    # a fresh install: last week's posts are first seen today, and their days never digested
    add(runtime, "github-oidc.txt", first_seen_at=datetime(2026, 4, 20, 6, 0, tzinfo=UTC))
    day = json.loads(invoke(runtime, "daily", "--date", "2026-04-01", "--format", "json").output)
    assert [d["company"] for d in day["deep_dives"]] == ["GitHub"]


def _feed_statuses(runtime: Runtime, status: dict[str, str], default: str = "ok") -> None:
    with Session(runtime.engine) as session:
        for feed in session.exec(select(FeedSource)).all():
            feed.status = status.get(feed.name, default)
            session.add(feed)
        session.commit()


def test_a_day_without_posts_prints_a_short_digest(runtime: Runtime) -> None:
    _feed_statuses(runtime, {})  # every feed read at the last fetch
    result = invoke(runtime, "daily", "--date", "2026-04-05", "--format", "text")
    assert result.exit_code == 0
    assert "3 blogs checked · 0 new posts · ~0 min of reading saved" in result.output
    assert "No new posts today: none of the 3 sources published anything new." in result.output
    weekly = invoke(runtime, "weekly", "--week", "2026-W10", "--format", "text")
    assert weekly.exit_code == 0 and "No new posts this week." in weekly.output
    with Session(runtime.engine) as session:  # a period without posts is never stored
        assert session.exec(select(Digest)).all() == []


def test_a_day_whose_feeds_could_not_be_read_says_so(runtime: Runtime) -> None:
    _feed_statuses(runtime, {"GitHub Blog": "ok"}, default="error")
    result = invoke(runtime, "daily", "--date", "2026-04-05", "--format", "md")
    assert "1 of 3 blogs read · 0 new posts" in result.output
    assert (
        "No new posts today: the one source read published nothing new (2 could not be read)."
        in result.output
    )


def test_weekly_rolls_up_the_week(runtime: Runtime) -> None:
    add(runtime, "datadog-replication.txt")
    add(runtime, "github-oidc.txt", published_at=datetime(2026, 4, 2, 9, tzinfo=UTC))
    add(runtime, "hashicorp-delegation.txt", published_at=datetime(2026, 3, 30, 9, tzinfo=UTC))
    invoke(runtime, "daily", "--date", "2026-04-01")  # some days digested, some not
    result = invoke(runtime, "weekly", "--week", "2026-W14", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["week"] == "2026-W14" and data["title"] == "Engineering @ Scale — Week 2026-W14"
    assert data["stats"]["posts"] == 3
    urls = {u for story in data["top_stories"] for u in story["urls"]}
    assert urls == {
        sample(n)["url"]
        for n in ("datadog-replication.txt", "github-oidc.txt", "hashicorp-delegation.txt")
    }
    md = invoke(runtime, "weekly", "--week", "2026-W14", "--format", "md").output
    assert "## Week in Review" in md and "## Top Stories" in md


def test_a_week_read_before_a_post_arrived_has_it_when_read_again(runtime: Runtime) -> None:
    add(runtime, "datadog-replication.txt")
    first = json.loads(invoke(runtime, "weekly", "--week", "2026-W14", "--format", "json").output)
    assert first["stats"]["posts"] == 1
    add(runtime, "github-oidc.txt", published_at=datetime(2026, 4, 3, 9, tzinfo=UTC))
    again = json.loads(invoke(runtime, "weekly", "--week", "2026-W14", "--format", "json").output)
    assert again["stats"]["posts"] == 2


def test_an_unknown_edition_is_one_plain_line(runtime: Runtime) -> None:
    result = CliRunner().invoke(cli, ["daily", "--edition", "nope"], obj=runtime)
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: unknown edition 'nope'")
    assert "Traceback" not in result.output


def test_a_bad_week_is_one_plain_line(runtime: Runtime) -> None:
    result = CliRunner().invoke(cli, ["weekly", "--week", "someday"], obj=runtime)
    assert result.exit_code == 1 and "not a week: 'someday'" in result.output


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["daily", "--date", "9999-12-31"], "date out of range: '9999-12-31'"),
        (["weekly", "--week", "9999-W52"], "week out of range: '9999-W52'"),
        (["summarise", "--since", "9999-12-31"], "date out of range: '9999-12-31'"),
        (["articles", "--since", "9999-12-31"], "date out of range: '9999-12-31'"),
        (["daily", "--date", "0001-01-01"], "date out of range: '0001-01-01'"),
    ],
)
def test_a_date_at_the_end_of_the_calendar_is_one_plain_line(
    runtime: Runtime, args: list[str], line: str
) -> None:
    result = CliRunner().invoke(cli, args, obj=runtime)

    assert result.exit_code == 1, result.output
    assert result.output == f"Error: {line} (the digest covers 1900 to 9998)\n"
    with Session(runtime.engine) as session:
        assert session.exec(select(func.count()).select_from(Digest)).one() == 0


def test_help_explains_the_commands() -> None:
    runner = CliRunner()
    assert "--since" in runner.invoke(cli, ["summarise", "--help"]).output
    assert "--week" in runner.invoke(cli, ["weekly", "--help"]).output
    assert "md|html|text|json" in runner.invoke(cli, ["daily", "--help"]).output
    assert "Ingest, summarise, compose" in runner.invoke(cli, ["run", "--help"]).output


def test_run_without_ingest_prints_todays_digest(runtime: Runtime) -> None:
    now = runtime.clock()
    add(runtime, "datadog-replication.txt", published_at=now, first_seen_at=now)
    result = invoke(runtime, "run", "--no-ingest", "--format", "md")
    assert result.exit_code == 0, result.output
    assert "Summarised 1 article (1 extractive)." in result.output
    assert f"# Engineering @ Scale — {now.date().isoformat()}" in result.output
    assert "How we redefined data replication at scale" in result.output


def _rss(items: list[dict[str, str]]) -> str:
    entries = "".join(
        f"<item><title>{escape(i['title'])}</title><link>{i['url']}</link><guid>{i['url']}</guid>"
        f"<pubDate>{i['date']}</pubDate><description>{escape(i['text'][:200])}</description>"
        f"<content:encoded>{escape('<p>' + i['text'].replace(chr(10) * 2, '</p><p>') + '</p>')}"
        f"</content:encoded></item>"
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Feed</title>'
        f"<link>https://example.com/</link><description>d</description>{entries}</channel></rss>"
    )


def test_run_ingests_summarises_composes_and_prints(tmp_path: Path, sqlite_url: str) -> None:
    now = NOW - timedelta(minutes=5)
    feeds: dict[str, str] = {}
    for slug, name in [
        ("datadog", "datadog-replication.txt"),
        ("github", "github-oidc.txt"),
        ("hashicorp", "hashicorp-delegation.txt"),
    ]:
        item = sample(name) | {"date": format_datetime(now)}
        feeds[f"/{slug}.xml"] = _rss([item])

    def handle(request: Request) -> Response:
        if request.path in feeds:
            return Response(200, feeds[request.path], {"Content-Type": "application/rss+xml"})
        return Response(404, "not found")

    with serve(handle) as server:
        sources = tmp_path / "sources.toml"
        sources.write_text(SOURCES_TOML.format(base=server.url), encoding="utf-8")
        settings = Settings.from_env({"DATABASE_URL": sqlite_url, "DIGEST_FULLTEXT": "false"})
        runtime = Runtime(settings=settings, sources_path=str(sources), clock=lambda: NOW)
        try:
            result = invoke(runtime, "run", "--format", "json")
        finally:
            runtime.close()
    assert result.exit_code == 0, result.output
    digest = json.loads(result.output[result.output.index("{") :])
    assert digest["stats"]["posts"] == 3
    assert {d["company"] for d in digest["deep_dives"]} == {"Datadog", "GitHub", "HashiCorp"}
    assert digest["signal"]["company"] == "Datadog"


def test_a_feed_full_of_control_characters_still_gives_a_valid_feed_xml(
    tmp_path: Path, sqlite_url: str
) -> None:
    item = sample("datadog-replication.txt") | {"date": format_datetime(NOW - timedelta(hours=1))}
    item["title"] = "Replication\x00 at \x1b[31mscale\x1b[0m\x0c"
    item["text"] = item["text"].replace(" ", " \x01", 3)
    feed = _rss([item])

    def handle(request: Request) -> Response:
        return Response(200, feed, {"Content-Type": "application/rss+xml"})

    with serve(handle) as server:
        sources = tmp_path / "sources.toml"
        sources.write_text(SOURCES_TOML.format(base=server.url), encoding="utf-8")
        settings = Settings.from_env({"DATABASE_URL": sqlite_url, "DIGEST_FULLTEXT": "false"})
        runtime = Runtime(settings=settings, sources_path=str(sources), clock=lambda: NOW)
        try:
            result = invoke(runtime, "run", "--format", "json")
            with serve_app(create_app(runtime)) as base:
                response = httpx.get(base + "/feed.xml", timeout=10)
        finally:
            runtime.close()

    assert result.exit_code == 0, result.output
    digest = json.loads(result.output[result.output.index("{") :])
    assert digest["signal"]["title"] == "Replication at [31mscale[0m"
    assert response.status_code == 200
    channel = etree.fromstring(response.content)  # strict XML: any control character fails
    assert "Replication at [31mscale[0m" in "".join(channel.itertext())


def test_run_says_why_feeds_failed(runtime: Runtime) -> None:
    # the runtime's feeds point at a port nobody listens on
    result = invoke(runtime, "run", "--format", "text")
    assert result.exit_code == 0, result.output
    assert "3 sources: 0 new articles, 0 unchanged, 3 with errors" in result.output
    assert "  Datadog Engineering: 127.0.0.1 refused the connection" in result.output
    # and the digest does not claim the blogs had nothing new
    assert "0 of 3 blogs read · 0 new posts" in result.output
    assert "No new posts today: none of the 3 sources could be read." in result.output
    assert "No feed could be read (no network?). To see a digest offline: digest demo" in (
        result.output
    )


def test_run_without_a_network_never_leaves_the_feeds_backing_off(runtime: Runtime) -> None:
    for _ in range(4):  # refused every time: as likely our network as theirs
        result = invoke(runtime, "run", "--format", "text")
        assert "3 sources: 0 new articles, 0 unchanged, 3 with errors" in result.output


def test_run_counts_feeds_left_alone_while_backing_off(runtime: Runtime) -> None:
    invoke(runtime, "run")  # the feeds' rows take their configured URLs
    with Session(runtime.engine) as session:
        for feed in session.exec(select(FeedSource)).all():
            if feed.name != "GitHub Blog":
                feed.status, feed.last_error = "error", "the server answered 500"
                feed.backoff_until = runtime.clock() + timedelta(hours=1)
                session.add(feed)
        session.commit()
    result = invoke(runtime, "run", "--format", "text")
    assert (
        "3 sources: 0 new articles, 0 unchanged, 1 with errors, 2 skipped (backing off after "
        "repeated errors)" in result.output
    )

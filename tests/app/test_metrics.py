"""/metrics over real HTTP (uvicorn on loopback), on SQLite and PostgreSQL: the figures a
scrape reads are the ones stored, the latency histogram moves with signed slash commands,
and the endpoint is off by default and never public."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select
from starlette.applications import Starlette

from app.metrics import build_metrics
from app.pipeline import Pipeline
from app.web import create_app
from app.wiring import Runtime
from core.config import Settings
from storage import deliveries
from storage import jobs as job_runs
from storage.db import make_engine
from storage.tables import Article, FeedSource
from tests.app.support import serve_app
from tests.bot.conftest import SIGNING_SECRET, command_body, signed_headers
from tests.peers.feeds import FeedServer, feed_server
from tests.peers.http import Response
from tests.peers.slack_api import SlackAPI, slack_api

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client, **headers: str) -> Samples:
    """GET /metrics and parse it with Prometheus's own parser: {(sample, labels): value}."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def by_label(samples: Samples, name: str, label: str, **where: str) -> dict[str, float]:
    """{label value: sample value} of one metric, e.g. feed states of one edition."""
    found = {}
    for (sample, labels), number in samples.items():
        labelled = dict(labels)
        if sample == name and where.items() <= labelled.items():
            found[labelled[label]] = number
    return found


def tech_feeds(samples: Samples) -> dict[str, float]:
    return by_label(samples, "digest_feeds", "state", edition="tech")


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


@pytest.fixture
def slack() -> Iterator[SlackAPI]:
    with slack_api() as api:
        yield api


def _sources(tmp_path: Path, server: FeedServer) -> str:
    path = tmp_path / "sources.toml"
    feeds = [
        ("Example Medium", "/medium-rss/feed.xml", "tech", True),
        ("Example Talks", "/youtube/feed.xml", "videos", True),
        ("Broken Host", "/html-page/feed.xml", "tech", True),
        ("Server Error", "/status/500", "tech", True),
        ("Switched Off", "/rss091/feed.xml", "tech", False),
        ("Gone For Good", "/status/410", "tech", True),
    ]
    text = '[editions.tech]\ntitle = "Engineering @ Scale"\n[editions.videos]\ntitle = "Videos"\n'
    for name, feed_path, edition, enabled in feeds:
        text += (
            f'\n[[sources]]\nname = "{name}"\ncompany = "{name}"\nurl = "{server.url(feed_path)}"\n'
            f'edition = "{edition}"\nenabled = {str(enabled).lower()}\n'
        )
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def runtime(
    database_url: str, tmp_path: Path, feeds: FeedServer, slack: SlackAPI, now: datetime
) -> Iterator[Runtime]:
    """Metrics and Slack on, sources on the loopback feed server, a fixed clock."""
    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "DIGEST_SOURCES": _sources(tmp_path, feeds),
            "METRICS": "1",
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.base_url,
        }
    )
    runtime = Runtime(settings=settings, clock=lambda: now)
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[httpx.Client]:
    with serve_app(create_app(runtime)) as url:
        with httpx.Client(base_url=url, timeout=10) as client:
            yield client


def test_metrics_are_off_unless_asked_for(database_url: str) -> None:
    settings = Settings.from_env({"DATABASE_URL": database_url})
    assert settings.metrics is False
    engine = make_engine(database_url)
    try:
        with serve_app(create_app(Runtime(settings=settings, database=engine))) as url:
            assert httpx.get(url + "/metrics", timeout=10).status_code == 404
            assert httpx.get(url + "/healthz", timeout=10).status_code == 200
    finally:
        engine.dispose()


def test_a_scrape_reports_feeds_articles_deliveries_and_jobs_as_stored(
    runtime: Runtime, client: httpx.Client, now: datetime
) -> None:
    empty = scrape(client)
    assert value(empty, "digest_storage_up") == 1
    assert tech_feeds(empty) == {"ok": 0, "failing": 0, "backing_off": 0, "disabled": 1, "never": 4}
    assert value(empty, "digest_articles", edition="tech") == 0

    counts = Pipeline(runtime).ingest(fulltext=False).counts()
    assert counts["errors"] == 3  # the HTML page, the 500 and the 410
    _fill_ledger(runtime.engine, now)
    _run_jobs(runtime.engine, now)
    samples = scrape(client)

    assert tech_feeds(samples) == {
        "ok": 1,
        "failing": 2,
        "backing_off": 0,
        "disabled": 2,
        "never": 0,
    }
    assert value(samples, "digest_feeds", edition="videos", state="ok") == 1
    with Session(runtime.engine) as session:
        failing = session.exec(select(FeedSource).where(FeedSource.status == "error")).all()
        gone = session.exec(select(FeedSource).where(FeedSource.status == "disabled")).all()
        stored = dict(
            session.exec(select(Article.edition, func.count()).group_by(Article.edition)).all()
        )
    assert sorted(f.name for f in failing) == ["Broken Host", "Server Error"]
    assert [f.name for f in gone] == ["Gone For Good"]  # the other one was never stored
    assert stored == {"tech": 2, "videos": 1}
    assert value(samples, "digest_articles", edition="tech") == stored["tech"]
    assert value(samples, "digest_articles", edition="videos") == stored["videos"]

    ledger = {
        (channel, status): value(samples, "digest_deliveries", channel=channel, status=status)
        for channel in ("slack", "email")
        for status in ("claimed", "sent", "deferred", "failed")
    }
    assert ledger == {
        ("slack", "claimed"): 0, ("slack", "sent"): 2, ("slack", "deferred"): 0,
        ("slack", "failed"): 1, ("email", "claimed"): 1, ("email", "sent"): 2,
        ("email", "deferred"): 1, ("email", "failed"): 1,
    }  # fmt: skip
    with Session(runtime.engine) as session:
        by_status = deliveries.counts(session=session)  # the ledger's own view, all channels
    assert by_status == {
        status: sum(n for (_, s), n in ledger.items() if s == status)
        for status in ("sent", "failed", "claimed", "deferred")
    }

    last_ok = {
        "ingest": (now + timedelta(minutes=2)).timestamp(),  # the later failed run does not count
        "daily": (now + timedelta(minutes=5)).timestamp(),
    }
    jobs = by_label(samples, "digest_job_last_success_timestamp_seconds", "job")
    assert jobs == last_ok  # weekly never succeeded: no series, so `absent()` can alert on it

    # sources.toml is read at each scrape: a feed taken out of it no longer counts as failing
    path = Path(runtime.settings.sources_path)
    blocks = path.read_text(encoding="utf-8").split("\n[[sources]]\n")
    kept = [b for b in blocks if 'name = "Server Error"' not in b]
    path.write_text("\n[[sources]]\n".join(kept), encoding="utf-8")
    assert len(kept) == len(blocks) - 1
    assert tech_feeds(scrape(client)) == {
        "ok": 1,
        "failing": 1,
        "backing_off": 0,
        "disabled": 2,
        "never": 0,
    }


def test_an_unreadable_sources_file_leaves_the_stored_feeds_reported(
    runtime: Runtime, client: httpx.Client
) -> None:
    Pipeline(runtime).ingest(fulltext=False).counts()
    Path(runtime.settings.sources_path).write_text("[[sources]\nname = ", encoding="utf-8")

    # as stored: the ingest stored every source of the file, the one switched off included
    assert tech_feeds(scrape(client)) == {
        "ok": 1,
        "failing": 2,
        "backing_off": 0,
        "disabled": 2,
        "never": 0,
    }


def test_a_signed_slash_command_moves_the_latency_histogram(
    client: httpx.Client, slack: SlackAPI
) -> None:
    before = scrape(client)
    assert not [name for name, _ in before if name.startswith("digest_slash_command")]

    body = command_body(slack, "help")
    assert (
        client.post("/slack/events", content=body, headers=signed_headers(body)).status_code == 200
    )
    forged = signed_headers(body, secret="not-the-secret")
    assert client.post("/slack/events", content=body, headers=forged).status_code == 401
    challenge = json.dumps({"type": "url_verification", "challenge": "c-1", "token": "x"})
    headers = {**signed_headers(challenge), "Content-Type": "application/json"}
    assert client.post("/slack/events", content=challenge, headers=headers).status_code == 200

    after = scrape(client)
    labels = {"command": "/digest"}
    # the command only: not the forged one (401), not the URL check (no command)
    assert value(after, "digest_slash_command_ack_seconds_count", **labels) == 1
    assert 0 < value(after, "digest_slash_command_ack_seconds_sum", **labels) < 3
    assert value(after, "digest_slash_command_ack_seconds_bucket", le="+Inf", **labels) == 1


def test_a_feed_backing_off_counts_until_its_backoff_ends(
    runtime: Runtime, feeds: FeedServer, now: datetime
) -> None:
    feeds.routes["/status/500"] = lambda request: Response(
        status=429, body=b"slow down", headers={"Retry-After": "3600"}
    )
    Pipeline(runtime).ingest(fulltext=False).counts()
    with Session(runtime.engine) as session:
        row = session.exec(select(FeedSource).where(FeedSource.name == "Server Error")).one()
    assert row.backoff_until == now + timedelta(hours=1)

    def tech_feeds_at(moment: datetime) -> dict[str, float]:
        metrics = build_metrics(runtime.settings, engine=runtime.engine, clock=lambda: moment)
        with serve_app(Starlette(routes=metrics.routes)) as url:
            with httpx.Client(base_url=url, timeout=10) as client:
                return tech_feeds(scrape(client))

    assert tech_feeds_at(now) == {
        "ok": 1,
        "failing": 1,
        "backing_off": 1,
        "disabled": 2,
        "never": 0,
    }
    later = tech_feeds_at(now + timedelta(hours=1, seconds=1))  # due again: failing, not waiting
    assert (later["backing_off"], later["failing"]) == (0, 2)


@pytest.fixture
def guarded(sqlite_url: str) -> Iterator[tuple[str, str]]:
    """Two apps with metrics on: loopback only, and with METRICS_TOKEN; yields their URLs."""
    open_one = Settings.from_env({"DATABASE_URL": sqlite_url, "METRICS": "1"})
    with_token = open_one.replace(metrics_token="s3cret-token")
    engine = make_engine(sqlite_url)
    with serve_app(create_app(Runtime(settings=open_one, database=engine))) as plain:
        with serve_app(create_app(Runtime(settings=with_token, database=engine))) as token:
            yield plain, token
    engine.dispose()


def test_without_a_token_only_loopback_clients_are_answered(guarded: tuple[str, str]) -> None:
    plain, _ = guarded
    with httpx.Client(base_url=plain, timeout=10) as client:
        assert value(scrape(client), "digest_storage_up") == 1
        # through a proxy (uvicorn takes the client from X-Forwarded-For; any relay header
        # counts): every visitor of a reverse proxy on this host would otherwise look local
        for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
            refused = client.get("/metrics", headers={header: "203.0.113.7"})
            assert refused.status_code == 403, header
            assert "loopback clients only" in refused.text
            assert "digest_" not in refused.text


def test_with_a_token_every_scrape_must_send_it(guarded: tuple[str, str]) -> None:
    _, token = guarded
    with httpx.Client(base_url=token, timeout=10) as client:
        for sent in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
            refused = client.get("/metrics", headers=sent)
            assert refused.status_code == 401, sent
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert "digest_" not in refused.text
        relayed = {"Authorization": "Bearer s3cret-token", "X-Forwarded-For": "203.0.113.7"}
        assert value(scrape(client, **relayed), "digest_storage_up") == 1


def test_an_unreadable_database_is_reported_not_a_failed_scrape(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'digest.db'}"
    settings = Settings.from_env({"DATABASE_URL": url, "METRICS": "1"})
    engine = make_engine(url)
    metrics = build_metrics(settings, engine=engine)
    try:
        with serve_app(Starlette(routes=metrics.routes)) as base:
            with httpx.Client(base_url=base, timeout=10) as client:
                samples = scrape(client)
    finally:
        engine.dispose()
    assert samples == {("digest_storage_up", frozenset()): 0}


def test_the_token_is_hidden_in_the_settings_repr() -> None:
    settings = Settings.from_env({"METRICS": "yes", "METRICS_TOKEN": "s3cret-token"})
    assert settings.metrics is True
    assert "s3cret-token" not in repr(settings)


# --- what the scrape should find ------------------------------------------------------------


def _fill_ledger(engine: Engine, now: datetime) -> None:
    """Through the ledger's own calls, as the Slack post and the newsletter make them."""
    with Session(engine) as session:
        for target, status in (("C1", "sent"), ("C2", "sent"), ("C3", "failed")):
            row = deliveries.claim(
                session=session,
                channel="slack",
                target=target,
                issue="tech/daily/2026-03-31",
                now=now,
            )
            assert row is not None
            deliveries.finish(session=session, delivery=row, status=status, now=now)
        claimed = deliveries.claim_many(
            session=session,
            channel="email",
            issue="tech/weekly/2026-W13",
            targets=["1", "2", "3", "4", "5"],
            now=now,
        )
        outcomes = [("1", "sent"), ("2", "sent"), ("3", "failed"), ("4", "deferred")]
        deliveries.finish_many(
            session=session,
            outcomes=[(claimed[t], s, None, None) for t, s in outcomes],  # 5 stays claimed
            now=now,
        )


def _run_jobs(engine: Engine, now: datetime) -> None:
    with Session(engine) as session:
        for job, period, status, minutes in (
            ("ingest", "2026-04-01T08:00Z", "ok", 2),
            ("ingest", "2026-04-01T09:00Z", "failed", 62),
            ("daily", "2026-03-31", "ok", 5),
            ("weekly", "2026-W13", "failed", 7),
        ):
            run = job_runs.claim_run(session=session, job=job, period=period, now=now)
            assert run is not None
            finished = now + timedelta(minutes=minutes)
            job_runs.finish_run(session=session, run=run, status=status, now=finished)

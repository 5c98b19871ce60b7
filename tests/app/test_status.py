"""`digest status`, the ops commands' start-up checks, the Procfile, and `worker --once` for real."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

from app.cli import cli
from app.jobs import run_claimed
from app.wiring import Runtime
from app.worker import Worker, _JobStore
from core.config import Settings
from storage import deliveries
from storage.db import make_engine
from storage.tables import Article, Digest, FeedSource, JobRun
from tests.app.fakes import FakeSteps
from tests.app.support import child
from tests.peers.http import Request, Response, serve

REPO = Path(__file__).resolve().parents[2]
FEED = (REPO / "tests" / "data" / "feeds" / "medium-rss" / "feed.xml").read_bytes()


NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _status(settings: Settings, *args: str, now: datetime = NOW) -> str:
    runtime = Runtime(settings=settings, clock=lambda: now)
    result = CliRunner().invoke(cli, ["status", *args], obj=runtime)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def status_settings(database_url: str, tmp_path: Path) -> Settings:
    sources = tmp_path / "sources.toml"
    sources.write_text(
        '[editions.tech]\ntitle = "Engineering @ Scale"\n\n[[sources]]\n'
        'name = "Cloudflare Blog"\ncompany = "Cloudflare"\n'
        'url = "https://blog.cloudflare.com/rss/"\nedition = "tech"\n',
        encoding="utf-8",
    )
    return Settings.from_env({"DATABASE_URL": database_url, "DIGEST_SOURCES": str(sources)})


def _seed(engine: Engine, now: datetime) -> None:
    run_claimed(
        engine=engine,
        job="ingest",
        period="2026-04-01T08:00Z",
        work=lambda: {"ingest": {"new": 7}},
        clock=lambda: now,
    )

    def broken() -> dict[str, int]:
        raise RuntimeError("Slack answered channel_not_found")

    run_claimed(engine=engine, job="daily", period="2026-03-31", work=broken, clock=lambda: now)
    with Session(engine) as session:
        session.add(
            FeedSource(
                name="Cloudflare Blog",
                company="Cloudflare",
                url="https://blog.cloudflare.com/rss/",
                edition="tech",
                status="error",
                error_count=3,
                last_error="feed answered 503 Service Unavailable",
                last_success_at=now - timedelta(days=1),
            )
        )
        session.commit()
        deliveries.claim(
            session=session, channel="email", target="17", issue="tech/weekly/2026-W14"
        )


def test_status_shows_jobs_sources_and_pending_deliveries(
    status_settings: Settings, engine: Engine, now: datetime
) -> None:
    _seed(engine, now)

    output = _status(status_settings)

    assert "2026-04-01T08:00Z" in output
    assert "ingest.new=7" in output
    assert "Slack answered channel_not_found" in output
    assert "never" in output  # weekly has not run yet
    assert "Cloudflare Blog" in output and "503 Service Unavailable" in output
    assert "Pending deliveries: 1" in output
    assert "tech/weekly/2026-W14" in output


def test_status_leaves_out_sources_the_file_no_longer_lists_and_shows_warnings(
    status_settings: Settings, engine: Engine, now: datetime
) -> None:
    _seed(engine, now)
    with Session(engine) as session:
        session.add(
            FeedSource(
                name="Old Blog",
                company="Gone",
                url="https://old.example/feed",
                edition="tech",
                status="error",
                error_count=40,
                last_error="connection refused",
            )
        )
        row = session.exec(select(FeedSource).where(FeedSource.name == "Cloudflare Blog")).one()
        row.status, row.last_error, row.last_warning = (
            "ok",
            None,
            "2 entries without a link skipped",
        )
        session.commit()

    report = json.loads(_status(status_settings, "--json"))
    output = _status(status_settings)

    assert [s["name"] for s in report["sources"]] == ["Cloudflare Blog"]
    assert report["sources"][0]["last_warning"] == "2 entries without a link skipped"
    assert "Old Blog" not in output and "2 entries without a link skipped" in output
    with Session(engine) as session:  # kept, with its history, only marked removed
        old = session.exec(select(FeedSource).where(FeedSource.name == "Old Blog")).one()
        assert old.removed_at is not None and old.error_count == 40


def test_status_as_json_names_the_next_run_of_each_job(
    status_settings: Settings, engine: Engine, now: datetime
) -> None:
    _seed(engine, now)

    report = json.loads(_status(status_settings, "--json"))

    jobs = {job["job"]: job for job in report["jobs"]}
    assert jobs["ingest"]["last_status"] == "ok"
    assert jobs["daily"]["last_status"] == "failed"
    assert jobs["weekly"]["last_status"] == "never"
    assert all(job["next_run"] for job in report["jobs"])
    assert report["sources"][0]["error_count"] == 3
    assert report["pending_deliveries"][0]["issue"] == "tech/weekly/2026-W14"


def test_status_of_a_fresh_database(status_settings: Settings) -> None:
    output = _status(status_settings)

    assert "none ingested yet" in output
    assert "Pending deliveries: none." in output


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DAILY_AT", "25:00", "Error: DAILY_AT: expected a time like 08:00, got '25:00'"),
        ("DIGEST_TZ", "Mars/Olympus", "Error: DIGEST_TZ: unknown time zone 'Mars/Olympus'"),
        ("DATABASE_URL", "nosuchdb://x", "Error: DATABASE_URL: cannot use 'nosuchdb://x'"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line(
    command: str, name: str, value: str, expected: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}", name: value}
    result = CliRunner().invoke(cli, [command], env=env)

    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(expected)


def test_every_procfile_line_is_a_real_command() -> None:
    processes = dict(
        line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines() if line.strip()
    )

    assert set(processes) == {"web", "worker", "release"}
    assert "--host 0.0.0.0" in processes["web"]  # the platform's router connects from outside
    for command in processes.values():
        words = shlex.split(command)
        assert words[0] == "digest"
        result = CliRunner().invoke(cli, [*words[1:], "--help"], env={})
        assert result.exit_code == 0, (command, result.output)


def test_worker_once_ingests_summarises_and_composes_through_the_real_steps(
    tmp_path: Path, sqlite_url: str
) -> None:
    def handle(request: Request) -> Response:
        return Response(200, FEED, {"Content-Type": "application/rss+xml"})

    # A Wednesday, an hour after DAILY_AT: the daily run is due (in grace), the weekly one
    # (Monday 09:00, a day's grace) is not, whatever the day this test runs on.
    wednesday = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    with serve(handle) as server:
        sources = tmp_path / "sources.toml"
        sources.write_text(
            '[editions.tech]\ntitle = "Engineering @ Scale"\n\n'
            f'[[sources]]\nname = "Airbnb Engineering"\ncompany = "Airbnb"\n'
            f'url = "{server.url}/feed.xml"\nedition = "tech"\n'
        )
        env = {
            "DATABASE_URL": sqlite_url,
            "DIGEST_SOURCES": str(sources),
            "DAILY_AT": "08:00",
            "WEEKLY_AT": "mon 09:00",
        }
        runtime = Runtime(settings=Settings.from_env(env), clock=lambda: wednesday)
        result = CliRunner().invoke(cli, ["worker", "--once"], obj=runtime)
        again = CliRunner().invoke(cli, ["worker", "--once", "--format", "json"], obj=runtime)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(re.fullmatch(r"ingest \S+: ok", line) for line in lines), result.output
    assert "daily 2026-03-31: ok" in lines, result.output
    assert not any(line.startswith("weekly") for line in lines), result.output
    assert again.exit_code == 0, again.output
    runs = {run["job"]: run for run in json.loads(again.stdout)["runs"]}
    assert set(runs) == {"ingest", "daily"}  # weekly is not due
    assert set(runs["daily"]) == {"job", "period", "status", "counts", "error", "duration_ms"}
    # the periods just run are done: a second catch-up skips them
    assert (runs["daily"]["period"], runs["daily"]["status"]) == ("2026-03-31", "skipped")
    assert server.requests, "the feed was never fetched"
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Article)).one() > 0
        stored = session.exec(select(Digest.kind, Digest.posts)).all()
    engine.dispose()
    # the ingest's backfill stored the days and the week with posts, and nothing empty
    assert {kind for kind, _ in stored} == {"daily", "weekly"}
    assert all(posts > 0 for _, posts in stored)


def test_serve_with_worker_runs_web_and_scheduler_and_stops_on_sigterm(
    tmp_path: Path, sqlite_url: str
) -> None:
    def handle(request: Request) -> Response:
        return Response(200, FEED, {"Content-Type": "application/rss+xml"})

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with serve(handle) as feeds:
        sources = tmp_path / "sources.toml"
        sources.write_text(
            '[editions.tech]\ntitle = "Engineering @ Scale"\n\n'
            f'[[sources]]\nname = "Airbnb Engineering"\ncompany = "Airbnb"\n'
            f'url = "{feeds.url}/feed.xml"\nedition = "tech"\n'
        )
        env = {**os.environ, "DATABASE_URL": sqlite_url, "DIGEST_SOURCES": str(sources)}
        digest = str(Path(sys.executable).with_name("digest"))
        with child([digest, "serve", "--port", str(port), "--with-worker"], env=env) as server:
            ingested = _wait_for_ingest(sqlite_url, server)
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            server.send_signal(signal.SIGTERM)
            output, _ = server.communicate(timeout=60)

    assert ingested, output
    assert health.status_code == 200
    assert server.returncode == 0, output
    assert "job=ingest" in output and "status=ok" in output
    assert "worker status=stopped" in output


def _wait_for_ingest(url: str, server: subprocess.Popen[str]) -> bool:
    """Until the embedded worker has recorded its first ingest (it runs at start-up)."""
    engine = make_engine(url)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with Session(engine) as session:
                    runs = session.exec(select(JobRun).where(JobRun.job == "ingest")).all()
            except OperationalError:
                runs = []  # the server is still creating the schema
            if any(run.status == "ok" for run in runs):
                return True
            time.sleep(0.1)  # polling another process, not timing anything
        return False
    finally:
        engine.dispose()


def test_status_says_when_no_worker_is_keeping_the_schedule(
    status_settings: Settings, engine: Engine
) -> None:
    assert "No worker has run on this database yet" in _status(status_settings)

    worker = Worker(status_settings, engine=engine, steps=FakeSteps().steps(), editions=["tech"])
    scheduler = worker.start(catch_up=False)
    worker.shutdown()
    fresh = {job["job"]: job for job in json.loads(_status(status_settings, "--json"))["jobs"]}
    # The worker stopped long ago: its planned daily run is now well past.
    store = _JobStore(engine=engine, dispatch=lambda job: None)
    store.start(scheduler, "default")
    job = store.lookup_job("daily")
    job.next_run_time = NOW - timedelta(hours=3)
    store.update_job(job)
    stale = {job["job"]: job for job in json.loads(_status(status_settings, "--json"))["jobs"]}

    assert fresh["daily"]["worker_next_run"] and not fresh["daily"]["overdue"]
    assert stale["daily"]["overdue"]
    assert "overdue: is a worker running?" in _status(status_settings)


def test_status_json_is_format_json_and_the_old_flag_stays_hidden(status_settings):
    assert json.loads(_status(status_settings, "--json")) == json.loads(
        _status(status_settings, "--format", "json")
    )
    assert "--json" not in _status(status_settings, "--help")

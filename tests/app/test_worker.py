"""The worker: made-up missed runs, one post per period across workers, failures, SIGTERM.

Time is injected (`clock=`), so nothing here sleeps until 08:00; the scheduler tests only
wait for APScheduler's own thread to hand a job over.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.worker import JOB_TABLE, Worker, _JobStore
from core.config import Settings
from storage.db import make_engine
from storage.tables import JobRun
from tests.app.fakes import FakeSteps
from tests.app.support import at_once, child

CHILD = Path(__file__).with_name("worker_child.py")
THURSDAY_1030 = datetime(2026, 4, 2, 10, 30, tzinfo=UTC)  # DAILY_AT 08:00 UTC has passed


@pytest.fixture
def fake() -> FakeSteps:
    return FakeSteps()


@pytest.fixture
def worker_settings(sqlite_url: str) -> Settings:
    return Settings.from_env({"DATABASE_URL": sqlite_url, "DAILY_AT": "08:00"})


def _worker(
    settings: Settings, engine: Engine, fake: FakeSteps, now: datetime | list[datetime]
) -> Worker:
    clock = (lambda: now[0]) if isinstance(now, list) else (lambda: now)
    return Worker(
        settings, engine=engine, steps=fake.steps(), editions=["tech", "reads"], clock=clock
    )


def _runs(engine: Engine) -> list[JobRun]:
    with Session(engine) as session:
        return list(session.exec(select(JobRun).order_by(JobRun.id)))


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Workers started by a test are shut down even when it fails."""
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.shutdown(wait=True)


# --- catching up, with an injected clock -------------------------------------------------


def test_a_missed_daily_run_is_made_up_once(
    worker_settings: Settings, sqlite_engine: Engine, fake: FakeSteps
) -> None:
    worker = _worker(worker_settings, sqlite_engine, fake, THURSDAY_1030)

    worker.catch_up()
    worker.catch_up()
    restarted = _worker(worker_settings, sqlite_engine, fake, THURSDAY_1030 + timedelta(minutes=5))
    restarted.catch_up()

    yesterday = date(2026, 4, 1)
    assert fake.named("post_daily") == [
        ("post_daily", "tech", yesterday),
        ("post_daily", "reads", yesterday),
    ]
    assert fake.named("compose_daily")[0] == ("compose_daily", "tech", yesterday)
    assert {(r.job, r.period, r.status) for r in _runs(sqlite_engine)} >= {
        ("daily", "2026-04-01", "ok"),
        ("ingest", "2026-04-02T10:00Z", "ok"),
    }


def test_a_run_missed_beyond_its_grace_is_not_made_up(
    worker_settings: Settings, sqlite_engine: Engine, fake: FakeSteps
) -> None:
    late_evening = datetime(2026, 4, 2, 21, 0, tzinfo=UTC)  # 13 h after 08:00
    worker = _worker(worker_settings, sqlite_engine, fake, late_evening)

    worker.catch_up()

    assert fake.named("post_daily") == []
    assert fake.named("send_weekly") == []  # Monday's mailing is three days old
    assert [call[0] for call in fake.calls] == ["ingest", "summarise", "backfill"]


def test_the_weekly_job_composes_and_mails_last_week(
    worker_settings: Settings, sqlite_engine: Engine, fake: FakeSteps
) -> None:
    monday_morning = datetime(2026, 4, 6, 9, 15, tzinfo=UTC)  # WEEKLY_AT is mon 09:00
    worker = _worker(worker_settings, sqlite_engine, fake, monday_morning)

    result = worker.fire("weekly")

    assert result is not None and result.status == "ok"
    assert fake.named("send_weekly") == [
        ("send_weekly", "tech", "2026-W14"),
        ("send_weekly", "reads", "2026-W14"),
    ]
    assert result.counts == {"tech": {"sent": 5, "failed": 0}, "reads": {"sent": 5, "failed": 0}}


def test_two_workers_on_one_database_post_once(
    worker_settings: Settings, database_url: str, fake: FakeSteps
) -> None:
    engines = [make_engine(database_url), make_engine(database_url)]
    pair = [_worker(worker_settings, e, fake, THURSDAY_1030) for e in engines]
    errors = at_once(*(functools.partial(w.fire, "daily") for w in pair))
    for engine in engines:
        engine.dispose()

    assert errors == []
    assert [call[1] for call in fake.named("post_daily")] == ["tech", "reads"]


def test_a_failing_job_is_retried_at_the_next_tick_and_the_worker_lives_on(
    worker_settings: Settings, sqlite_engine: Engine, fake: FakeSteps
) -> None:
    now = [THURSDAY_1030]
    worker = _worker(worker_settings, sqlite_engine, fake, now)
    fake.fail["post_daily"] = 1

    first = worker.fire("daily")
    now[0] += timedelta(hours=1)
    worker._dispatch("ingest")  # the hourly tick also retries a failed daily run

    assert first is not None and first.status == "failed"
    assert [call[1] for call in fake.named("post_daily")] == ["tech", "reads", "tech", "reads"]
    daily = [r for r in _runs(sqlite_engine) if r.job == "daily"]
    assert [(r.period, r.status) for r in daily] == [("2026-04-01", "ok")]


def test_a_step_raising_an_unexpected_error_does_not_escape_the_tick(
    worker_settings: Settings, sqlite_engine: Engine, fake: FakeSteps
) -> None:
    worker = _worker(worker_settings, sqlite_engine, fake, THURSDAY_1030)

    def explode() -> None:
        raise ZeroDivisionError("bug in a step")

    fake.before["ingest"] = explode
    worker._dispatch("ingest")

    statuses = {r.job: r.status for r in _runs(sqlite_engine)}
    assert statuses == {"ingest": "failed", "daily": "ok"}


# --- the real scheduler --------------------------------------------------------------------


def test_jobs_are_stored_once_in_the_database_across_restarts(
    worker_settings: Settings, engine: Engine, fake: FakeSteps, workers: list[Worker]
) -> None:
    for _ in range(2):
        worker = _worker(worker_settings, engine, fake, THURSDAY_1030)
        workers.append(worker)
        scheduler = worker.start(catch_up=False)
        jobs = {job.id: job for job in scheduler.get_jobs(jobstore="default")}
        worker.shutdown()

    assert sorted(jobs) == ["daily", "ingest", "weekly"]
    with engine.connect() as connection:
        assert connection.execute(text(f"SELECT count(*) FROM {JOB_TABLE}")).scalar() == 3
    daily = jobs["daily"].next_run_time
    assert (daily.hour, daily.minute) == (8, 0)
    assert jobs["weekly"].next_run_time.weekday() == 0


def test_a_run_missed_while_down_fires_once_when_the_worker_returns(
    worker_settings: Settings, engine: Engine, fake: FakeSteps, workers: list[Worker]
) -> None:
    first = _worker(worker_settings, engine, fake, THURSDAY_1030)
    workers.append(first)
    scheduler = first.start(catch_up=False)
    first.shutdown()
    # While no worker runs, the stored daily job falls due (written as APScheduler would).
    store = _JobStore(engine=engine, dispatch=lambda job: None)
    store.start(scheduler, "default")
    job = store.lookup_job("daily")
    # A fixed past time with no misfire limit: APScheduler compares it with its own clock,
    # so any moment in the past is due, whatever day the test runs.
    job.next_run_time = THURSDAY_1030 - timedelta(minutes=10)
    job.misfire_grace_time = None
    store.update_job(job)

    posted = threading.Event()
    fake.before["post_daily"] = posted.set
    second = _worker(worker_settings, engine, fake, THURSDAY_1030)
    workers.append(second)
    scheduler = second.start(catch_up=False)

    assert posted.wait(timeout=30), "the stored daily job was not made up"
    second.shutdown(wait=True)
    assert [call[1] for call in fake.named("post_daily")] == ["tech", "reads"]
    assert [r.status for r in _runs(engine) if r.job == "daily"] == ["ok"]


def test_sigterm_during_a_run_lets_it_finish_and_stops_cleanly(sqlite_url: str) -> None:
    with child([sys.executable, str(CHILD), sqlite_url]) as worker:
        assert worker.stdout is not None
        lines = []
        for line in worker.stdout:
            lines.append(line)
            if line.startswith("ingest started"):
                break
        worker.send_signal(signal.SIGTERM)
        rest, _ = worker.communicate(timeout=30)
    output = "".join(lines) + rest

    assert worker.returncode == 0, output
    assert "status=stopping signal=SIGTERM" in output
    assert "worker status=stopped" in output
    assert "calls ingest summarise" in output  # the run finished, nothing new started
    engine = make_engine(sqlite_url)
    runs = _runs(engine)
    engine.dispose()
    assert [(r.job, r.status) for r in runs] == [("ingest", "ok")]
    assert runs[0].finished_at is not None


def test_the_hour_repeated_when_clocks_go_back_posts_once(
    sqlite_url: str, sqlite_engine: Engine, fake: FakeSteps
) -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": sqlite_url, "DIGEST_TZ": "Europe/London", "DAILY_AT": "01:30"}
    )
    now = [datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]  # 01:30 BST, the first time
    worker = _worker(settings, sqlite_engine, fake, now)

    worker.fire("daily")
    now[0] += timedelta(hours=1)  # 01:30 GMT: the wall clock shows 01:30 again
    worker.fire("daily")

    assert fake.named("post_daily") == [
        ("post_daily", "tech", date(2026, 10, 24)),
        ("post_daily", "reads", date(2026, 10, 24)),
    ]


def test_a_tick_with_the_database_gone_is_logged_and_the_worker_carries_on(
    worker_settings: Settings, tmp_path: Path, fake: FakeSteps, caplog: pytest.LogCaptureFixture
) -> None:
    gone = make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'digest.db'}")
    worker = _worker(worker_settings, gone, fake, THURSDAY_1030)

    worker._dispatch("ingest")  # must not raise: the scheduler thread would log and go on anyway
    gone.dispose()

    assert fake.calls == []
    assert "job=ingest status=error reason=dispatch" in caplog.text

"""Jobs: which period is due, and each period claimed and run once (SQLite and PostgreSQL)."""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.jobs import Schedule, run_claimed, run_daily, run_ingest, run_weekly, steps_for
from app.pipeline import Pipeline
from app.wiring import Runtime
from core.config import Settings
from storage.db import make_engine
from storage.tables import JobRun
from tests.app.fakes import FakeSteps
from tests.app.support import at_once

LONDON = ZoneInfo("Europe/London")
ROOT = Path(__file__).resolve().parents[2]


def _schedule(**env: str) -> Schedule:
    return Schedule.from_settings(Settings.from_env(env))


def _rows(engine: Engine) -> list[JobRun]:
    with Session(engine) as session:
        return list(session.exec(select(JobRun).order_by(JobRun.id)))


# --- periods (pure) -------------------------------------------------------------------


def test_daily_period_is_the_day_that_ended_before_the_post() -> None:
    schedule = _schedule(DIGEST_TZ="Europe/London", DAILY_AT="08:00")
    now = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)  # 10:30 in London (BST)
    slot = schedule.latest_slot("daily", now)
    assert slot == datetime(2026, 4, 2, 8, 0, tzinfo=LONDON)
    assert schedule.period("daily", slot) == "2026-04-01"


def test_before_the_daily_time_the_latest_slot_is_yesterdays() -> None:
    schedule = _schedule(DIGEST_TZ="Europe/London", DAILY_AT="08:00")
    now = datetime(2026, 4, 2, 6, 0, tzinfo=UTC)  # 07:00 in London
    assert schedule.latest_slot("daily", now) == datetime(2026, 4, 1, 8, 0, tzinfo=LONDON)
    assert schedule.next_slot("daily", now) == datetime(2026, 4, 2, 8, 0, tzinfo=LONDON)


def test_daily_slot_keeps_wall_clock_time_across_a_dst_change() -> None:
    schedule = _schedule(DIGEST_TZ="Europe/London", DAILY_AT="08:00")
    before = schedule.latest_slot("daily", datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    after = schedule.next_slot(
        "daily", datetime(2026, 3, 28, 12, 0, tzinfo=UTC) + timedelta(days=1)
    )
    assert before.astimezone(UTC).hour == 8  # GMT
    assert after.astimezone(UTC).hour == 7  # BST: still 08:00 on the wall
    assert after.astimezone(LONDON).time() == time(8, 0)


def test_weekly_period_is_the_iso_week_that_ended() -> None:
    schedule = _schedule(WEEKLY_AT="mon 09:00")
    now = datetime(2026, 4, 8, 12, 0, tzinfo=UTC)  # Wednesday of W15
    slot = schedule.latest_slot("weekly", now)
    assert slot == datetime(2026, 4, 6, 9, 0, tzinfo=UTC)  # Monday of W15
    assert schedule.period("weekly", slot) == "2026-W14"
    assert schedule.next_slot("weekly", now) == datetime(2026, 4, 13, 9, 0, tzinfo=UTC)


def test_ingest_slots_are_aligned_so_every_worker_agrees() -> None:
    schedule = _schedule(INGEST_EVERY="30m")
    slot = schedule.latest_slot("ingest", datetime(2026, 4, 1, 8, 47, 13, tzinfo=UTC))
    assert slot == datetime(2026, 4, 1, 8, 30, tzinfo=UTC)
    assert schedule.period("ingest", slot) == "2026-04-01T08:30Z"
    assert schedule.next_slot("ingest", slot) == datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


# --- claims (real databases) ----------------------------------------------------------


def test_a_period_runs_once(engine: Engine, now: datetime) -> None:
    calls = []

    def work() -> dict[str, int]:
        calls.append(1)
        return {"new": 2}

    first = run_claimed(
        engine=engine, job="daily", period="2026-04-01", work=work, clock=lambda: now
    )
    second = run_claimed(
        engine=engine, job="daily", period="2026-04-01", work=work, clock=lambda: now
    )

    assert (first.status, second.status) == ("ok", "skipped")
    assert calls == [1]
    [row] = _rows(engine)
    assert (row.job, row.period, row.status) == ("daily", "2026-04-01", "ok")
    assert row.finished_at is not None
    detail = json.loads(row.detail or "{}")
    assert detail["counts"] == {"new": 2}
    assert "duration_ms" in detail


def test_a_failed_run_is_recorded_with_its_error_and_claimed_again(
    engine: Engine, now: datetime
) -> None:
    def broken() -> dict[str, int]:
        raise RuntimeError("feed server exploded")

    failed = run_claimed(engine=engine, job="ingest", period="p", work=broken, clock=lambda: now)
    assert failed.status == "failed"
    assert failed.error == "feed server exploded"
    [row] = _rows(engine)
    assert row.status == "failed"
    assert json.loads(row.detail or "{}")["error"] == "feed server exploded"

    retried = run_claimed(
        engine=engine, job="ingest", period="p", work=lambda: {}, clock=lambda: now
    )
    assert retried.status == "ok"
    assert [r.status for r in _rows(engine)] == ["ok"]


def test_a_run_left_running_by_a_dead_worker_is_taken_over_when_stale(
    engine: Engine, now: datetime
) -> None:
    with Session(engine) as session:
        session.add(JobRun(job="daily", period="d", status="running", started_at=now))
        session.commit()
    calls = []

    def work() -> dict[str, int]:
        calls.append(1)
        return {}

    fresh = run_claimed(
        engine=engine, job="daily", period="d", work=work, clock=lambda: now + timedelta(minutes=5)
    )
    stale = run_claimed(
        engine=engine, job="daily", period="d", work=work, clock=lambda: now + timedelta(hours=3)
    )
    assert (fresh.status, stale.status) == ("skipped", "ok")
    assert calls == [1]


def test_an_interrupted_run_is_marked_failed_not_left_running(
    engine: Engine, now: datetime
) -> None:
    def interrupted() -> dict[str, int]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_claimed(engine=engine, job="weekly", period="w", work=interrupted, clock=lambda: now)
    assert [r.status for r in _rows(engine)] == ["failed"]


def test_two_workers_racing_for_one_period_run_it_once(database_url: str, now: datetime) -> None:
    engines = [make_engine(database_url), make_engine(database_url)]
    calls = []
    results = []

    def work() -> dict[str, int]:
        calls.append(threading.current_thread().name)
        return {}

    def race(engine: Engine) -> None:
        results.append(
            run_claimed(
                engine=engine, job="daily", period="2026-04-01", work=work, clock=lambda: now
            )
        )

    errors = at_once(*(functools.partial(race, e) for e in engines))
    for engine in engines:
        engine.dispose()
    assert not errors, "".join(traceback.format_exception(errors[0]))
    assert len(calls) == 1
    assert sorted(r.status for r in results) == ["ok", "skipped"]


# --- the work of each job ---------------------------------------------------------------


def test_ingest_job_ingests_summarises_then_backfills() -> None:
    fake = FakeSteps()
    counts = run_ingest(steps=fake.steps())
    assert [c[0] for c in fake.calls] == ["ingest", "summarise", "backfill"]
    assert counts["ingest"]["new"] == 2
    assert counts["backfill"] == {"tech": {"days": 7, "weeks": 4}}


def test_one_failing_edition_spares_the_others(engine: Engine, now: datetime) -> None:
    fake = FakeSteps()
    fake.fail["post_daily"] = 1  # the first edition's post fails
    day = date(2026, 4, 1)

    result = run_claimed(
        engine=engine,
        job="daily",
        period="2026-04-01",
        work=lambda: run_daily(steps=fake.steps(), editions=["tech", "reads"], day=day),
        clock=lambda: now,
    )

    assert result.status == "failed"
    assert "tech: post_daily is down" in (result.error or "")
    assert fake.named("post_daily") == [("post_daily", "tech", day), ("post_daily", "reads", day)]
    assert result.counts == {"reads": {"sent": 1}}


def test_real_steps_skip_posting_and_mailing_when_slack_and_smtp_are_not_set(
    settings: Settings,
) -> None:
    steps = steps_for(Pipeline(Runtime(settings=settings)))

    assert steps.post_daily("tech", date(2026, 4, 1)) == {"unconfigured": 1}
    assert steps.send_weekly("tech", "2026-W14") == {"unconfigured": 1}


# What a use case may import where it runs, not at the top of its module: the front-ends a
# delivery uses (~0.3 s of slack_bolt, premailer, lxml and cssutils an ingest never needs).
DEFERRED = ("bot.", "newsletter.")


@pytest.mark.parametrize("module", ["app/jobs.py", "app/worker.py", "app/pipeline.py"])
def test_the_worker_and_the_pipeline_import_no_click_module(module: str) -> None:
    """The use cases live in the pipeline; the CLI is one of its front doors, not its home."""
    tree = ast.parse((Path(__file__).resolve().parents[2] / module).read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m == "click" or m.startswith(("app.commands", "app.cli"))}
    inner = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    # no import hidden in a function to dodge a cycle: only a front-end, deferred for its
    # weight, and front-ends never import the app (next test)
    assert {m for m in inner if not m.startswith(DEFERRED)} == set()


def test_the_deferred_front_ends_import_no_app_module() -> None:
    """What the pipeline imports inside its deliveries could not have been a cycle."""
    inner = sorted(
        node.module or ""
        for node in ast.walk(ast.parse((ROOT / "app/pipeline.py").read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(DEFERRED)
    )
    assert inner  # the deliveries do import their front-end
    probe = f"import json, sys\nfor m in {inner!r}: __import__(m)\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert "slack_sdk" in loaded and "premailer" in loaded  # the probe saw them load
    assert [m for m in loaded if m == "app" or m.startswith("app.")] == []


@pytest.mark.parametrize("job", ["ingest", "daily", "weekly"])
def test_each_job_runs_its_steps_inside_one_pipeline_run(job: str) -> None:
    fake = FakeSteps()

    @contextmanager
    def run() -> Iterator[None]:
        fake.calls.append(("run-begins",))
        yield
        fake.calls.append(("run-ends",))

    steps = replace(fake.steps(), run=run)
    if job == "ingest":
        run_ingest(steps=steps)
    elif job == "daily":
        run_daily(steps=steps, editions=["tech", "reads"], day=date(2026, 4, 1))
    else:
        run_weekly(steps=steps, editions=["tech", "reads"], week="2026-W14")
    names = [call[0] for call in fake.calls]
    assert names[0] == "run-begins" and names[-1] == "run-ends"
    assert names.count("run-begins") == 1 and len(names) > 3  # every step in between

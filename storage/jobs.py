"""Job runs: claim a (job, period) before running it, finish it after.

The unique key (job, period) is what makes "one post per day" true with two workers on one
database: the scheduler cannot coordinate processes, but an INSERT guarded by a unique
constraint works the same on SQLite and PostgreSQL. A run that failed, or one whose worker
died mid-run (still `running` long after it started), may be claimed again; the takeover
is a compare-and-set UPDATE, so only one of two racing workers wins it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import inspect, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, func, select

from storage.tables import JobRun, utcnow

__all__ = ["claim_run", "find_run", "finish_run", "last_runs", "next_run_times"]

_LOCK_RETRIES = 5


def claim_run(
    *,
    session: Session,
    job: str,
    period: str,
    stale_after: timedelta | None = None,
    now: datetime | None = None,
) -> JobRun | None:
    """Claim one run of `job` for `period`; None when it is done or another worker has it.

    A `failed` run is claimed again (that is how a failing job is retried), and so is a
    `running` one older than `stale_after` (its worker was killed). Commits.
    """
    for attempt in range(_LOCK_RETRIES):
        try:
            return _claim(session=session, job=job, period=period, stale_after=stale_after, now=now)
        except OperationalError as exc:
            # SQLite (WAL) refuses at once, without waiting, a write whose read snapshot
            # another writer has just made stale ("database is locked"); start over.
            session.rollback()
            if "locked" not in str(exc) or attempt == _LOCK_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    return None  # pragma: no cover - the loop returns or raises


def _claim(
    *,
    session: Session,
    job: str,
    period: str,
    stale_after: timedelta | None,
    now: datetime | None,
) -> JobRun | None:
    now = now or utcnow()
    existing = find_run(session=session, job=job, period=period)
    if existing is None:
        session.add(JobRun(job=job, period=period, status="running", started_at=now))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # another worker inserted it between our SELECT and INSERT
            existing = find_run(session=session, job=job, period=period)
        else:
            return find_run(session=session, job=job, period=period)
    if existing is None or not _takeable(existing, stale_after=stale_after, now=now):
        return None
    result = session.execute(
        update(JobRun)
        .where(col(JobRun.id) == existing.id)
        .where(col(JobRun.status) == existing.status)
        .where(col(JobRun.started_at) == existing.started_at)
        .values(status="running", started_at=now, finished_at=None)
    )
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None  # another worker took it over first
    session.refresh(existing)
    return existing


def _takeable(run: JobRun, *, stale_after: timedelta | None, now: datetime) -> bool:
    if run.status == "failed":
        return True
    return (
        run.status == "running" and stale_after is not None and run.started_at < now - stale_after
    )


def finish_run(
    *,
    session: Session,
    run: JobRun,
    status: str,
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """Record how a claimed run ended: ok | failed, with counts or the error. Commits."""
    if status not in ("ok", "failed"):
        raise ValueError(f"unknown job run status {status!r}")
    session.execute(
        update(JobRun)
        .where(col(JobRun.id) == run.id)
        .values(
            status=status,
            finished_at=now or utcnow(),
            detail=json.dumps(detail or {}, sort_keys=True, default=str),
        )
    )
    session.commit()


def find_run(*, session: Session, job: str, period: str) -> JobRun | None:
    return session.exec(select(JobRun).where(JobRun.job == job, JobRun.period == period)).first()


def last_runs(*, session: Session) -> dict[str, JobRun]:
    """The most recently started run of each job, {job: run}."""
    latest = (
        select(JobRun.job, func.max(JobRun.started_at).label("started"))
        .group_by(JobRun.job)
        .subquery()
    )
    query = select(JobRun).join(
        latest,
        (col(JobRun.job) == latest.c.job) & (col(JobRun.started_at) == latest.c.started),
    )
    return {run.job: run for run in session.exec(query)}


def next_run_times(*, session: Session, table: str) -> dict[str, datetime]:
    """{job id: next run} from the scheduler's job store `table`; empty when it does not exist.

    APScheduler creates and writes that table itself (app.worker names it), so it has no
    model here and is read as plain SQL. A paused job (no next run) is left out.
    """
    connection = session.connection()
    if not inspect(connection).has_table(table):
        return {}
    quoted = connection.dialect.identifier_preparer.quote(table)
    rows = connection.execute(text(f"SELECT id, next_run_time FROM {quoted}"))
    return {job_id: datetime.fromtimestamp(when, UTC) for job_id, when in rows if when is not None}

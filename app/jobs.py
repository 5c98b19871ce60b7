"""The worker's jobs: which period is due, claim it in the database, run the pipeline steps.

The scheduler only decides *when* to look; this module decides *what* is due and makes sure
it happens once. Each job covers a period, and a period is claimed in the `job_run` table
(unique per job and period) before anything runs, so two workers on one database, a
restart, or a made-up missed run never post or mail twice.

Periods, in DIGEST_TZ:

- `ingest`: one slot of INGEST_EVERY, aligned to midnight UTC 2000-01-01 (so every worker
  agrees on the slots), e.g. `2026-04-01T08:00Z`. Ingest, summarise, then bring the
  digests of the 7 most recent days and 4 most recent weeks with posts up to date.
- `daily`: the day that ended before DAILY_AT, e.g. at 08:00 on 2026-04-02 the period is
  `2026-04-01`: that day's digest is complete. Compose, then post, per edition.
- `weekly`: the ISO week that ended before WEEKLY_AT, e.g. on Monday 2026-04-06 the period is
  `2026-W14`. Compose the rollup, then send the newsletter, per edition.

The steps are injected (`Steps`), so tests pass recording fakes and `steps_for(pipeline)`
maps them onto the use cases of `app.pipeline.Pipeline`.
"""

from __future__ import annotations

import logging
import time as monotonic_clock
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.pipeline import Pipeline
from bot.app import oauth_enabled
from core.config import Settings, parse_clock, parse_duration, parse_weekly_at
from core.dates import day_of, iso_week, monday_of
from core.errors import DeliveryError, DigestError
from newsletter.send import Tally
from storage import jobs as job_runs

__all__ = [
    "JOBS",
    "Counts",
    "RunResult",
    "Schedule",
    "Steps",
    "run_claimed",
    "run_daily",
    "run_ingest",
    "run_weekly",
    "flat_counts",
    "steps_for",
]

log = logging.getLogger(__name__)

JOBS = ("ingest", "daily", "weekly")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # ingest slots count from here, in every worker


Counts = dict[str, object]
"""What a job did, for its log line and `digest status`: numbers, or counts per edition."""


@dataclass(frozen=True)
class Steps:
    """The pipeline steps the worker calls; each returns counts or a value we tally."""

    ingest: Callable[[], object]
    summarise: Callable[[], object]
    compose_daily: Callable[[str, date], object]  # (edition, day)
    post_daily: Callable[[str, date], object]  # (edition, day)
    compose_weekly: Callable[[str, str], object]  # (edition, ISO week)
    send_weekly: Callable[[str, str], object]  # (edition, ISO week)
    backfill: Callable[[], object] = dict  # the recent periods' digests, after an ingest
    # one run of the pipeline per tick: one LLM budget (tokens, seconds) for all its steps
    run: Callable[[], AbstractContextManager[object]] = nullcontext


@dataclass(frozen=True)
class RunResult:
    """What one attempt at a job did: ok | failed | skipped (done or claimed elsewhere)."""

    job: str
    period: str
    status: str
    counts: Counts = field(default_factory=dict)
    error: str | None = None
    duration_ms: int = 0


@dataclass(frozen=True)
class Schedule:
    """When each job is due, from INGEST_EVERY, DAILY_AT and WEEKLY_AT in DIGEST_TZ.

    `grace` is how late a run may still be made up: a daily post missed while the worker
    was down is sent once when it comes back the same morning, not at midnight.
    """

    tz: ZoneInfo
    ingest_every: timedelta
    daily_at: time
    weekly_day: int  # 0 = Monday
    weekly_at: time
    grace: dict[str, timedelta] = field(
        default_factory=lambda: {"daily": timedelta(hours=12), "weekly": timedelta(hours=24)}
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> Schedule:
        day, at = parse_weekly_at(settings.weekly_at, name="WEEKLY_AT")
        return cls(
            tz=settings.tz,
            ingest_every=parse_duration(settings.ingest_every, name="INGEST_EVERY"),
            daily_at=parse_clock(settings.daily_at, name="DAILY_AT"),
            weekly_day=day,
            weekly_at=at,
        )

    def grace_for(self, job: str) -> timedelta:
        return self.grace.get(job, self.ingest_every)

    def latest_slot(self, job: str, now: datetime) -> datetime:
        """The most recent scheduled time of `job` at or before `now` (aware)."""
        if job == "ingest":
            steps = (now - _EPOCH) // self.ingest_every
            return _EPOCH + steps * self.ingest_every
        local = now.astimezone(self.tz)
        if job == "daily":
            slot = _at(local.date(), self.daily_at, self.tz)
            return (
                slot
                if slot <= now
                else _at(local.date() - timedelta(days=1), self.daily_at, self.tz)
            )
        if job == "weekly":
            monday = monday_of(local.date())
            slot = _at(monday + timedelta(days=self.weekly_day), self.weekly_at, self.tz)
            return (
                slot
                if slot <= now
                else _at(slot.date() - timedelta(days=7), self.weekly_at, self.tz)
            )
        raise ValueError(f"unknown job {job!r}")

    def next_slot(self, job: str, now: datetime) -> datetime:
        """The next scheduled time of `job` strictly after `now` (aware)."""
        latest = self.latest_slot(job, now)
        if job == "ingest":
            return latest + self.ingest_every
        days = 1 if job == "daily" else 7
        at = self.daily_at if job == "daily" else self.weekly_at
        return _at(day_of(latest, self.tz) + timedelta(days=days), at, self.tz)

    def period(self, job: str, slot: datetime) -> str:
        """The period a run at `slot` covers (see the module docstring)."""
        if job == "ingest":
            return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
        local_day = day_of(slot, self.tz)
        if job == "daily":
            return (local_day - timedelta(days=1)).isoformat()
        return iso_week(local_day - timedelta(days=7))


def _at(day: date, at: time, tz: ZoneInfo) -> datetime:
    """`day` at wall-clock `at` in `tz`; a time skipped by DST resolves forward (fold=0)."""
    return datetime.combine(day, at, tzinfo=tz)


def run_claimed(
    *,
    engine: Engine,
    job: str,
    period: str,
    work: Callable[[], Counts],
    stale_after: timedelta | None = timedelta(hours=2),
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RunResult:
    """Claim (job, period), run `work()`, record the outcome. Never raises an `Exception`.

    A failure is logged and stored as `failed` (with its error), which lets the next tick
    claim the period again. `BaseException` (a forced exit) is recorded too and re-raised,
    so the table never shows a run as `running` that nobody is running.
    """
    with Session(engine, expire_on_commit=False) as session:
        run = job_runs.claim_run(
            session=session, job=job, period=period, stale_after=stale_after, now=clock()
        )
        if run is None:
            log.debug("job=%s period=%s status=skipped reason=done-or-claimed", job, period)
            return RunResult(job, period, "skipped")
        log.info("job=%s period=%s status=running", job, period)
        started = monotonic_clock.monotonic()
        try:
            counts = work()
        except BaseException as exc:
            duration_ms = int((monotonic_clock.monotonic() - started) * 1000)
            error = str(exc) or type(exc).__name__
            failed: Counts = getattr(exc, "counts", {})
            detail = {"error": error, "error_type": type(exc).__name__, "duration_ms": duration_ms}
            detail["counts"] = failed
            session.rollback()
            job_runs.finish_run(
                session=session, run=run, status="failed", detail=detail, now=clock()
            )
            log.error(
                "job=%s period=%s status=failed duration_ms=%d error=%r",
                job,
                period,
                duration_ms,
                error,
                exc_info=not isinstance(exc, DigestError),
            )
            if not isinstance(exc, Exception):
                raise
            return RunResult(job, period, "failed", failed, error, duration_ms)
        duration_ms = int((monotonic_clock.monotonic() - started) * 1000)
        detail = {"counts": counts, "duration_ms": duration_ms}
        job_runs.finish_run(session=session, run=run, status="ok", detail=detail, now=clock())
        log.info(
            "job=%s period=%s status=ok duration_ms=%d %s",
            job,
            period,
            duration_ms,
            flat_counts(counts),
        )
        return RunResult(job, period, "ok", counts, None, duration_ms)


class JobFailedError(DigestError):
    """Some editions of a job failed; carries the counts of the ones that worked."""

    def __init__(self, message: str, counts: Counts) -> None:
        super().__init__(message)
        self.counts = counts


def run_ingest(*, steps: Steps) -> Counts:
    """Ingest every source, summarise what is new, then bring the recent digests up to date."""
    with steps.run():
        return {
            "ingest": _tally(steps.ingest()),
            "summarise": _tally(steps.summarise()),
            "backfill": _tally(steps.backfill()),
        }


def run_daily(*, steps: Steps, editions: Sequence[str], day: date) -> Counts:
    """Compose and post `day`'s digest of each edition; one failing edition spares the rest."""
    with steps.run():
        return _per_edition(
            editions,
            lambda edition: (steps.compose_daily(edition, day), steps.post_daily(edition, day)),
        )


def run_weekly(*, steps: Steps, editions: Sequence[str], week: str) -> Counts:
    """Compose each edition's rollup of `week` and send its newsletter."""
    with steps.run():
        return _per_edition(
            editions,
            lambda edition: (steps.compose_weekly(edition, week), steps.send_weekly(edition, week)),
        )


def _per_edition(editions: Sequence[str], work: Callable[[str], tuple[object, object]]) -> Counts:
    counts: Counts = {}
    errors: list[str] = []
    for edition in editions:
        try:
            _, delivered = work(edition)
        except Exception as exc:  # noqa: BLE001 - one edition's failure must not stop the others
            errors.append(f"{edition}: {exc or type(exc).__name__}")
            log.warning(
                "edition=%s error=%r", edition, str(exc), exc_info=not isinstance(exc, DigestError)
            )
            continue
        counts[edition] = _tally(delivered)
    if errors:
        raise JobFailedError("; ".join(errors), counts)
    return counts


def _tally(value: object) -> Counts:
    """Counts from what a step returned: a dict as is, a list of outcomes by status."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list | tuple):
        return dict(Counter(getattr(item, "status", "done") for item in value))
    return {}


def flat_counts(counts: object, prefix: str = "") -> str:
    """{'tech': {'sent': 1}} → 'tech.sent=1': flat key=value pairs for the log line and
    `digest status` (anything but a dict as its text)."""
    if not isinstance(counts, dict):
        return str(counts)
    parts = []
    for key, value in counts.items():
        if isinstance(value, dict):
            parts.append(flat_counts(value, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key}={value}")
    return " ".join(p for p in parts if p)


def steps_for(pipeline: Pipeline) -> Steps:
    """The real steps: the pipeline's use cases.

    Ingest is followed by summarise and a backfill of the recent periods. Posting and
    mailing compose the period's digest themselves, and are skipped (counted as
    `unconfigured`) when Slack (a bot token or OAuth installs) or SMTP is not configured,
    so the embedded default still ingests and composes on schedule.
    """
    settings = pipeline.runtime.settings
    slack_on = bool(settings.slack_bot_token) or oauth_enabled(settings)

    def post_daily(edition: str, day: date) -> object:
        if not slack_on:
            return {"unconfigured": 1}  # no bot token, no per-workspace installs
        return pipeline.post_daily(edition, day)

    def send_weekly(edition: str, week: str) -> object:
        if not settings.smtp_url:
            return {"unconfigured": 1}  # no SMTP_URL
        tally = pipeline.send_weekly(edition, week)
        if tally is not None and tally.paused:
            raise DeliveryError(
                f"newsletter {edition} {week}: {tally.paused}; the next run resumes it",
                permanent=False,
            )
        return (tally or Tally()).as_dict()

    return Steps(
        ingest=lambda: pipeline.ingest().counts(),
        summarise=pipeline.summarise,
        compose_daily=pipeline.daily,
        post_daily=post_daily,
        compose_weekly=pipeline.weekly,
        send_weekly=send_weekly,
        backfill=pipeline.backfill,
        run=pipeline.run,
    )

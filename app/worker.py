"""The worker: an APScheduler 3 scheduler that runs the jobs of `app.jobs` on time.

Why it is built this way:

- **The job store is our database** (`apscheduler_jobs`, created by APScheduler itself), so
  a run that falls due while the worker is down is still known when it comes back and is
  fired once (`coalesce=True`, a `misfire_grace_time` per job). Jobs are stored with an
  explicit id and re-registered at boot only when their trigger changed, because replacing
  a job would recompute its next run time and forget the missed one.
- **Exactly once lives in `job_run`, not in the scheduler**: APScheduler cannot coordinate
  two processes, so every firing goes through `app.jobs.run_claimed`, which claims the
  period first. Two workers fire; one runs, the other skips.
- **Every ingest tick also looks at the daily and weekly periods**, so a run missed beyond
  APScheduler's reach, or one that failed, is made up (once it succeeds, never again)
  while it is still within its grace.
- **One job at a time** (a one-thread executor): the daily post waits for a running ingest
  rather than racing it, and SIGTERM has a single run to wait for.
- **Time is injected** (`clock`): tests call `fire()` / `catch_up()` at any instant, with no
  sleeping; APScheduler only decides when to call them in production.

The stored job refers to `app.worker:_stored_job` by name (a persistent store can only keep
importable references); the store hands each job to the live `Worker` that loaded it.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from app.jobs import (
    JOBS,
    Counts,
    RunResult,
    Schedule,
    Steps,
    run_claimed,
    run_daily,
    run_ingest,
)
from app.jobs import run_weekly as run_weekly_steps
from core.config import Settings
from core.dates import WEEKDAYS
from storage import jobs as job_runs

__all__ = ["JOB_TABLE", "Worker", "stored_next_runs"]

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"


def _stored_job(job: str) -> None:  # pragma: no cover - replaced when a Worker loads the job
    """The importable name the job store keeps; a live Worker swaps in its own dispatcher."""
    raise RuntimeError(f"job {job!r} was loaded without a Worker to run it")


class _JobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    """The SQLAlchemy job store, handing loaded jobs to the worker and sharing our engine."""

    def __init__(self, *, engine: Engine, dispatch: Callable[[str], None]) -> None:
        super().__init__(engine=engine, tablename=JOB_TABLE)
        self._dispatch = dispatch

    def _reconstitute_job(self, job_state: bytes) -> Job:
        job = super()._reconstitute_job(job_state)
        job.func = self._dispatch  # the stored reference stays `app.worker:_stored_job`
        return job

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        try:
            super().start(scheduler, alias)
        except DBAPIError:
            # Two workers starting on a fresh database both try CREATE TABLE; the loser
            # finds the table made by the other one on its second look.
            super().start(scheduler, alias)

    def shutdown(self) -> None:
        """Leave the engine alone: it belongs to the caller, not to the scheduler."""


def stored_next_runs(engine: Engine) -> dict[str, datetime]:
    """{job: next run} as the running worker(s) planned it; empty when no worker ever ran.

    `digest status` compares these with the clock: a next run well in the past means no
    worker is running.
    """
    with Session(engine) as session:
        return job_runs.next_run_times(session=session, table=JOB_TABLE)


class Worker:
    """Runs ingest, daily and weekly jobs on schedule; see the module docstring.

    Example:

    ```python
    worker = Worker(settings, engine=engine, steps=steps_for(Pipeline(runtime)), editions=["tech"])
    worker.run_forever()  # until SIGTERM or Ctrl-C
    ```

    Parameters:

    - `steps`: the pipeline steps (`app.jobs.Steps`); tests pass fakes.
    - `editions`: the editions composed and delivered by the daily and weekly jobs.
    - `clock`: returns the current aware datetime; decides which period is due.
    - `stale_after`: a `running` claim older than this is taken over (its worker died).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine,
        steps: Steps,
        editions: Sequence[str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        stale_after: timedelta = timedelta(hours=2),
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.steps = steps
        self.editions = tuple(editions)
        self.clock = clock
        self.stale_after = stale_after
        self.schedule = Schedule.from_settings(settings)
        self.scheduler: BackgroundScheduler | None = None
        self.stopping = threading.Event()

    # --- what runs -------------------------------------------------------------------

    def fire(self, job: str) -> RunResult | None:
        """Run `job` for its latest due period, unless done, claimed elsewhere or too late.

        Returns None when the latest period is past its grace (logged as missed).
        """
        now = self.clock()
        slot = self.schedule.latest_slot(job, now)
        period = self.schedule.period(job, slot)
        if now - slot > self.schedule.grace_for(job):
            log.debug("job=%s period=%s status=missed late_by=%s", job, period, now - slot)
            return None
        return run_claimed(
            engine=self.engine,
            job=job,
            period=period,
            work=self._work(job, period),
            stale_after=self.stale_after,
            clock=self.clock,
        )

    def catch_up(self) -> list[RunResult]:
        """Fire every job once: what is due and not done runs, the rest is skipped."""
        results = []
        for job in JOBS:
            if self.stopping.is_set():
                break
            result = self.fire(job)
            if result is not None:
                results.append(result)
        return results

    def _work(self, job: str, period: str) -> Callable[[], Counts]:
        if job == "ingest":
            return lambda: run_ingest(steps=self.steps)
        if job == "daily":
            day = date.fromisoformat(period)
            return lambda: run_daily(steps=self.steps, editions=self.editions, day=day)
        return lambda: run_weekly_steps(steps=self.steps, editions=self.editions, week=period)

    def _dispatch(self, job: str) -> None:
        """What the scheduler calls. An ingest tick also makes up daily/weekly runs."""
        try:
            if job == "ingest":
                self.catch_up()
            else:
                self.fire(job)
        except Exception:  # noqa: BLE001 - e.g. the database is down: log, keep the worker
            log.exception("job=%s status=error reason=dispatch", job)

    # --- the scheduler ---------------------------------------------------------------

    def triggers(self) -> dict[str, tuple[BaseTrigger, int]]:
        """{job: (trigger, misfire grace in seconds)} from the settings."""
        s = self.schedule
        return {
            "ingest": (
                IntervalTrigger(
                    seconds=int(s.ingest_every.total_seconds()),
                    start_date=datetime(2000, 1, 1, tzinfo=UTC),
                    timezone=UTC,
                ),
                max(int(s.ingest_every.total_seconds() // 2), 1),
            ),
            "daily": (
                CronTrigger(hour=s.daily_at.hour, minute=s.daily_at.minute, timezone=s.tz),
                int(s.grace_for("daily").total_seconds()),
            ),
            "weekly": (
                CronTrigger(
                    day_of_week=WEEKDAYS[s.weekly_day],
                    hour=s.weekly_at.hour,
                    minute=s.weekly_at.minute,
                    timezone=s.tz,
                ),
                int(s.grace_for("weekly").total_seconds()),
            ),
        }

    def start(self, *, catch_up: bool = True) -> BackgroundScheduler:
        """Start the scheduler in a background thread; with `catch_up`, fire due jobs now."""
        scheduler = BackgroundScheduler(
            jobstores={
                "default": _JobStore(engine=self.engine, dispatch=self._dispatch),
                "local": MemoryJobStore(),
            },
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=self.schedule.tz,
        )
        scheduler.add_listener(self._on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        scheduler.start(paused=True)
        self._register(scheduler)
        if catch_up:
            scheduler.add_job(self.catch_up, id="catch-up", jobstore="local")
        scheduler.resume()
        self.scheduler = scheduler
        for job in scheduler.get_jobs(jobstore="default"):
            log.info("job=%s next_run=%s", job.id, job.next_run_time.isoformat())
        return scheduler

    def _register(self, scheduler: BackgroundScheduler) -> None:
        wanted = self.triggers()
        for job in scheduler.get_jobs(jobstore="default"):
            if job.id not in wanted:
                scheduler.remove_job(job.id, jobstore="default")
        for job_id, (trigger, grace) in wanted.items():
            existing = scheduler.get_job(job_id, jobstore="default")
            if existing is not None and repr(existing.trigger) == repr(trigger):
                continue  # keep its next run time: a run missed while down still fires
            scheduler.add_job(
                "app.worker:_stored_job",
                trigger=trigger,
                args=(job_id,),
                id=job_id,
                name=job_id,
                jobstore="default",
                replace_existing=True,
                misfire_grace_time=grace,
                coalesce=True,
                max_instances=1,
            )

    def _on_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("job=%s status=missed scheduled=%s", event.job_id, event.scheduled_run_time)
        else:
            log.error("job=%s status=error error=%r", event.job_id, str(event.exception))

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop taking new runs; with `wait`, let the running one finish first."""
        self.stopping.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
            log.info("worker status=stopped")
        self.scheduler = None

    def run_forever(self, *, install_signals: bool = True) -> None:
        """Start, then block until SIGTERM or SIGINT; finish the running job and return."""
        stop = threading.Event()

        def _on_signal(signum: int, _frame: object) -> None:
            log.info("worker status=stopping signal=%s", signal.Signals(signum).name)
            self.stopping.set()
            stop.set()

        previous = {}
        if install_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, _on_signal)
        try:
            self.start()
            log.info("worker status=started editions=%s", ",".join(self.editions))
            while not stop.wait(1.0):
                pass
        finally:
            self.shutdown(wait=True)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

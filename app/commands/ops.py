"""Running the product: `digest db upgrade`, `digest serve`, `digest worker`, `digest status`."""

from __future__ import annotations

import dataclasses
import gc
import logging
import signal
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, TypedDict, cast

import click
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from app.commands.options import echo_json, format_option
from app.jobs import JOBS, Counts, Schedule, flat_counts, steps_for
from app.pipeline import Pipeline
from app.wiring import Runtime, open_engine
from core.dates import show_utc
from core.errors import ConfigError
from core.sources import mirror_catalogue
from storage import deliveries, feeds
from storage import jobs as job_runs
from storage.db import current_revision

if TYPE_CHECKING:
    from app.worker import Worker

__all__ = ["StatusReport", "build_worker", "status_report"]

_OVERDUE = timedelta(minutes=10)


@click.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(runtime: Runtime) -> None:
    """Apply pending migrations (also done automatically on first use)."""
    engine = open_engine(runtime.settings.database_url)
    click.echo(f"Database is at revision {current_revision(engine)}.")
    engine.dispose()


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on; 0.0.0.0 to accept outside connections (as on a server).",
)
@click.option("--port", type=int, default=None, help="Port to listen on [default: $PORT or 8000].")
@click.option(
    "--with-worker",
    is_flag=True,
    help="Also run the scheduler in this process (single-machine mode: one process does it all).",
)
@click.pass_obj
def serve(runtime: Runtime, host: str, port: int | None, with_worker: bool) -> None:
    """Serve the archive, feeds, Slack endpoints and newsletter pages over HTTP.

    \b
    Examples:
      digest serve                      # http://127.0.0.1:8000/
      digest serve --host 0.0.0.0       # on a server; the port comes from $PORT
      digest serve --with-worker        # web app and scheduler in one process
    """
    import uvicorn

    from app.web import create_app

    _ = runtime.engine  # a bad DATABASE_URL stops here, in one line
    app = create_app(runtime)  # the runtime's sources file, engine and clock
    worker = build_worker(runtime) if with_worker else None
    _log_jobs()
    if worker is not None:
        # uvicorn handles SIGTERM/SIGINT itself, then raises the signal again once it has
        # stopped; this handler receives that one, so the process lives on to stop the
        # worker gracefully below instead of dying with the job half done.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: worker.stopping.set())
        worker.start()
    # What start-up made lives as long as the process: left out of every collection, a full
    # one pauses a request by ~5 ms instead of ~80 ms (bench/slash.py's slowest acks).
    gc.collect()
    gc.freeze()
    try:
        uvicorn.run(
            app,
            host=host,
            port=port or runtime.settings.port,
            log_level="info",
            proxy_headers=True,
            server_header=False,
        )
    finally:
        if worker is not None:
            worker.shutdown(wait=True)  # uvicorn has handled SIGTERM; let the job finish


@click.command("worker")
@click.option(
    "--once",
    is_flag=True,
    help="Run whatever is due now (and not yet done), then exit; for cron-style platforms.",
)
@format_option("text", "json", default="text")
@click.pass_obj
def worker_command(runtime: Runtime, once: bool, fmt: str) -> None:
    """Run the scheduler: ingest every INGEST_EVERY, post daily at DAILY_AT, mail at WEEKLY_AT.

    Stops on SIGTERM or Ctrl-C after the running job has finished. Several workers may
    share one database: each period is claimed once, so nothing is posted or mailed twice.
    `--format json` is for `--once`: {runs: [{job, period, status, counts, error, duration_ms}]}.
    """
    if fmt == "json" and not once:
        raise click.UsageError("--format json reports the runs of --once: add --once")
    worker = build_worker(runtime)
    _log_jobs()
    if once:
        results = worker.catch_up()
        if fmt == "json":
            echo_json({"runs": [dataclasses.asdict(result) for result in results]})
            return
        for result in results:
            click.echo(f"{result.job} {result.period}: {result.status}")
        return
    settings = runtime.settings
    click.echo(
        f"Worker started: ingest every {settings.ingest_every}, daily digest at "
        f"{settings.daily_at}, weekly rollup {settings.weekly_at} ({settings.digest_tz}). "
        "Ctrl-C to stop."
    )
    worker.run_forever()


@click.command("status")
@format_option("table", "json", default="table")
@click.option("--json", "as_json", is_flag=True, hidden=True, help="Same as --format json.")
@click.pass_obj
def status(runtime: Runtime, fmt: str, as_json: bool) -> None:
    """Show each job's last and next run, the last ingest per source, and pending deliveries."""
    report = status_report(runtime, now=runtime.clock())
    if as_json or fmt == "json":
        echo_json(report)
        return
    console = Console(highlight=False)
    if not console.is_terminal:  # piped or captured: wide lines beat folded cells for grep
        console = Console(highlight=False, width=200)
    _print_report(report, console)


def build_worker(runtime: Runtime) -> Worker:
    """The real worker: every edition with enabled sources, steps from each area's run_*."""
    from app.worker import Worker

    catalogue = runtime.catalogue  # a bad sources.toml stops here, in one line
    editions = [key for key in catalogue.editions if catalogue.select(edition=key)]
    return Worker(
        runtime.settings,
        engine=runtime.engine,
        steps=steps_for(Pipeline(runtime)),
        editions=editions,
        clock=runtime.clock,
    )


class RunDetail(TypedDict, total=False):
    """What `app.jobs.run_claimed` records of a run (JSON in `job_run.detail`)."""

    counts: Counts
    duration_ms: int
    error: str
    error_type: str
    text: str | None  # a detail that is not JSON, as stored
    value: object  # JSON that is not an object


class JobStatus(TypedDict):
    job: str
    last_period: str | None
    last_status: str  # ok | failed | running | never
    last_started: datetime | None
    last_finished: datetime | None
    last_detail: RunDetail
    next_run: datetime
    worker_next_run: datetime | None  # the worker's own plan; long past: no worker runs
    overdue: bool


class SourceHealth(TypedDict):
    name: str
    edition: str
    status: str
    last_success: datetime | None
    last_attempt: datetime | None
    error_count: int
    last_error: str | None
    last_warning: str | None


class PendingDelivery(TypedDict):
    channel: str
    target: str
    issue: str
    status: str
    attempts: int
    claimed_at: datetime
    error: str | None


class StatusReport(TypedDict):
    """Everything `digest status` shows; `--format json` prints it (times in ISO 8601)."""

    jobs: list[JobStatus]
    sources: list[SourceHealth]
    pending_deliveries: list[PendingDelivery]


def status_report(runtime: Runtime, *, now: datetime) -> StatusReport:
    """Everything `digest status` shows, as plain data."""
    from app.worker import stored_next_runs

    schedule = Schedule.from_settings(runtime.settings)
    planned = stored_next_runs(runtime.engine)
    with Session(runtime.engine) as session:
        try:  # sources the file no longer lists leave the report, even before an ingest
            mirror_catalogue(runtime.catalogue, session=session, now=now)
        except ConfigError:
            pass  # a broken sources file must not hide the rest of the status
        last = job_runs.last_runs(session=session)
        sources = feeds.list_feeds(session=session)
        pending = deliveries.pending(session=session)
    jobs: list[JobStatus] = []
    for job in JOBS:
        run = last.get(job)
        jobs.append(
            {
                "job": job,
                "last_period": run.period if run else None,
                "last_status": run.status if run else "never",
                "last_started": run.started_at if run else None,
                "last_finished": run.finished_at if run else None,
                "last_detail": _detail(run.detail) if run else {},
                "next_run": schedule.next_slot(job, now),
                # the worker's own plan; long past means no worker is running
                "worker_next_run": planned.get(job),
                "overdue": job in planned and planned[job] < now - _OVERDUE,
            }
        )
    return {
        "jobs": jobs,
        "sources": [
            {
                "name": s.name,
                "edition": s.edition,
                "status": feeds.feed_status(s),
                "last_success": s.last_success_at,
                "last_attempt": s.last_attempt_at,
                "error_count": s.error_count,
                "last_error": s.last_error,
                "last_warning": s.last_warning,
            }
            for s in sources
        ],
        "pending_deliveries": [
            {
                "channel": d.channel,
                "target": d.target,
                "issue": d.issue,
                "status": d.status,
                "attempts": d.attempts,
                "claimed_at": d.claimed_at,
                "error": d.error,
            }
            for d in pending
        ],
    }


def _detail(text: str | None) -> RunDetail:
    import json

    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"text": text}
    # an object is what `run_claimed` wrote
    return cast(RunDetail, value) if isinstance(value, dict) else {"value": value}


def _when(moment: datetime | None, tz: tzinfo | None = None) -> str:
    if moment is None:
        return "—"
    if tz is None:
        return show_utc(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _print_report(report: StatusReport, console: Console) -> None:
    jobs = Table(title="Jobs", title_justify="left")
    for column in (
        "job",
        "last period",
        "status",
        "finished",
        "took",
        "counts / error",
        "next run",
    ):
        jobs.add_column(column, overflow="fold")
    for job in report["jobs"]:
        detail = job["last_detail"]
        took = f"{detail['duration_ms'] / 1000:.1f} s" if "duration_ms" in detail else "—"
        summary = detail.get("error") or flat_counts(detail.get("counts", {}))
        jobs.add_row(
            job["job"],
            job["last_period"] or "—",
            job["last_status"],
            _when(job["last_finished"]),
            took,
            summary or "—",
            _when(job["next_run"], job["next_run"].tzinfo)
            + (" (overdue: is a worker running?)" if job["overdue"] else ""),
        )
    console.print(jobs)
    if not any(job["worker_next_run"] for job in report["jobs"]):
        console.print("No worker has run on this database yet (start one with `digest worker`).")

    sources = Table(title="Sources (last ingest)", title_justify="left")
    for column in ("source", "edition", "status", "last success", "errors", "last error/warning"):
        sources.add_column(column, overflow="fold")
    for s in report["sources"]:
        sources.add_row(
            s["name"],
            s["edition"],
            s["status"],
            _when(s["last_success"]),
            str(s["error_count"]),
            (s["last_error"] or (f"warning: {s['last_warning']}" if s["last_warning"] else ""))[
                :80
            ],
        )
    if any(s["status"] != "never" for s in report["sources"]):
        console.print(sources)
    else:
        count = len(report["sources"])
        console.print(f"Sources: {count} configured, none ingested yet (run `digest ingest`).")

    pending = report["pending_deliveries"]
    if not pending:
        console.print("Pending deliveries: none.")
        return
    table = Table(title=f"Pending deliveries: {len(pending)}", title_justify="left")
    for column in ("channel", "target", "issue", "status", "attempts", "claimed", "error"):
        table.add_column(column, overflow="fold")
    for d in pending[:50]:
        table.add_row(
            d["channel"],
            d["target"],
            d["issue"],
            d["status"],
            str(d["attempts"]),
            _when(d["claimed_at"]),
            (d["error"] or "")[:60],
        )
    console.print(table)


def _log_jobs() -> None:
    """Job logs (key=value lines) at INFO even though the CLI's default level is WARNING."""
    logging.getLogger("app").setLevel(min(logging.getLogger().level, logging.INFO))

"""`digest summarise`, `digest daily`, `digest weekly` and `digest run`: thin doors on `app.pipeline`.

`daily` and `weekly` print the digest the stored posts make for any past period: the stored
one while its posts are unchanged (a database read), composed again when they changed, never
stored for a period without posts, refused for one in the future. `run` is the whole pipeline
for today, the README's main command: ingest → summarise → compose → print.
"""

from __future__ import annotations

from datetime import timedelta

import click

from app.commands.ingest import ingest_report, summary_line
from app.commands.options import echo_json, edition_option, format_option
from app.pipeline import Pipeline
from app.progress import progress_bar
from app.wiring import Runtime
from core.dates import iso_week, parse_day, parse_week
from core.errors import ComposeError
from core.render import render_daily, render_weekly
from core.summarise.llm import LLMSummariser

__all__ = ["daily_command", "run_command", "summarise_command", "weekly_command"]


# --- commands --------------------------------------------------------------------------------


def _summarise(
    pipeline: Pipeline,
    since: str | None,
    *,
    estimate: bool = False,
    edition: str | None = None,
    line: bool = True,
    fmt: str = "text",
) -> None:
    """Summarise and print the summary line (stderr); `line=False` leaves the LLM line to a
    run that has more steps (it prints one line for all of them). `fmt="json"` also prints
    the counts on stdout."""
    day = parse_day(since, today=pipeline.today()) if since else None
    asked = {"since": day.isoformat() if day else None, "edition": edition}  # heads the json
    if estimate:
        plan = pipeline.estimate(since=day, edition=edition)
        if fmt == "json":
            echo_json({**asked, **plan.as_dict()})
        click.echo(plan.sentence(), err=True)
        return
    with progress_bar("Summarising") as bar, pipeline.run() as summariser:
        counts = pipeline.summarise(
            since=day, edition=edition, on_progress=bar.update if bar else None
        )
    if fmt == "json":
        by_kind = {kind: counts.get(kind, 0) for kind in ("extractive", "llm", "title-only")}
        echo_json({**asked, "counts": {**counts, **by_kind}})
    used = ", ".join(
        f"{counts[k]} {k}" for k in ("llm", "extractive", "title-only") if counts.get(k)
    )
    text = f"Summarised {counts['summarised']} article{'s' if counts['summarised'] != 1 else ''}"
    click.echo(text + (f" ({used})." if used else "."), err=True)
    if line and isinstance(summariser, LLMSummariser):
        click.echo(f"LLM: {summariser.line()}.", err=True)


_SINCE = click.option(
    "--since",
    metavar="DATE",
    default=None,
    help="Only articles published on or after DATE (2026-04-01, today, yesterday).",
)


_ESTIMATE = click.option(
    "--estimate",
    is_flag=True,
    help="Only print how many posts would go to the model and about how many tokens that "
    "costs; send nothing.",
)


_SUMMARY_FORMAT = format_option("text", "json", default="text")


_ANY_EDITION = edition_option(unset="every edition")


@click.command("summarise")
@_SINCE
@_ANY_EDITION
@_ESTIMATE
@_SUMMARY_FORMAT
@click.pass_obj
def summarise_command(
    runtime: Runtime, since: str | None, edition: str | None, estimate: bool, fmt: str
) -> None:
    """Write deep dives for articles that have none (alias: summarize).

    Uses DIGEST_SUMMARISER: extractive (default, offline) or llm (LLM_BASE_URL, LLM_MODEL).
    Articles already summarised are skipped, so running it twice does nothing the second time.

    \b
    Examples:
      digest summarise --since yesterday
      digest summarise -e tech --estimate --format json   # {pending, model, estimate, …}
      digest summarise --format json   # {since, edition, counts: {pending, summarised, …}}
    """
    if edition is not None:
        runtime.catalogue.edition(edition)  # ConfigError for an unknown edition
    _summarise(Pipeline(runtime), since, edition=edition, estimate=estimate, fmt=fmt)


@click.command("summarize", hidden=True)
@_SINCE
@_ANY_EDITION
@_ESTIMATE
@_SUMMARY_FORMAT
@click.pass_context
def summarize_command(ctx: click.Context, /, **options: object) -> None:
    """Alias of `summarise`."""
    ctx.invoke(summarise_command, **options)


_EDITION = edition_option()
_FORMAT = format_option("md", "html", "text", "json", default="text")
_FORCE = click.option(
    "--force", is_flag=True, help="Compose again even if up to date (never once delivered)."
)


@click.command("daily")
@click.option(
    "--date", "when", default="today", show_default=True, help="Day: 2026-04-01, today, yesterday."
)
@_EDITION
@_FORMAT
@_FORCE
@click.pass_obj
def daily_command(runtime: Runtime, when: str, edition: str, fmt: str, force: bool) -> None:
    """Print the daily digest of one day, as its stored posts make it.

    The stored digest is printed while the day's posts are unchanged; when a post or deep
    dive changed it is composed again (unless it was already posted to Slack). A day
    without posts prints a short note and is not stored; a future day is refused.

    \b
    Examples:
      digest daily
      digest daily --date 2026-04-01 --format md
      digest daily --edition reads --format json
    """
    pipeline = Pipeline(runtime)
    today = pipeline.today()
    day = parse_day(when, today=today)
    digest = pipeline.daily(edition, day, force=force)
    if digest is None:
        raise ComposeError(
            f"{day.isoformat()} has not happened yet (today is {today.isoformat()} in "
            f"{runtime.settings.digest_tz}): there is no digest of it"
        )
    click.echo(render_daily(digest, fmt), nl=False)


@click.command("weekly")
@click.option(
    "--week",
    default="this",
    show_default=True,
    help="ISO week: 2026-W14, this or last.",
)
@_EDITION
@_FORMAT
@_FORCE
@click.pass_obj
def weekly_command(runtime: Runtime, week: str, edition: str, fmt: str, force: bool) -> None:
    """Print the weekly rollup of one ISO week, as its stored posts make it.

    Same rules as `digest daily`: recomposed when its posts changed (unless the newsletter
    already went out), never stored without posts; the current week is the rollup so far.

    \b
    Examples:
      digest weekly
      digest weekly --week last --format html > week.html
      digest weekly --week 2026-W14 --format json
    """
    pipeline = Pipeline(runtime)
    week = iso_week(parse_week(week, today=pipeline.today()))
    rollup = pipeline.weekly(edition, week, force=force)
    if rollup is None:
        raise ComposeError(f"week {week} has not started yet: there is no rollup of it")
    click.echo(render_weekly(rollup, fmt), nl=False)


_FAILURES_SHOWN = 5


@click.command("run")
@_EDITION
@_FORMAT
@click.option("--no-ingest", is_flag=True, help="Skip fetching feeds; use what is stored.")
@click.pass_obj
def run_command(runtime: Runtime, edition: str, fmt: str, no_ingest: bool) -> None:
    """Ingest, summarise, compose today's digest and print it: the whole pipeline.

    Needs no settings: feeds from the bundled sources.toml, a local SQLite file, and the
    offline extractive summariser. Progress goes to stderr, the digest to stdout.

    \b
    Examples:
      digest run
      digest run --edition reads --format md > today.md
    """
    runtime.catalogue.edition(edition)  # fail fast on an unknown edition
    if not no_ingest:
        report = ingest_report(runtime, edition=edition, progress=True)
        click.echo(summary_line(report.counts()), err=True)
        failed = [o for o in report.outcomes if o.status in ("error", "disabled")]
        for outcome in failed[:_FAILURES_SHOWN]:  # say why, or "0 new posts" reads as a quiet day
            click.echo(f"  {outcome.name}: {outcome.error}", err=True)
        if len(failed) > _FAILURES_SHOWN:
            click.echo(
                f"  … and {len(failed) - _FAILURES_SHOWN} more (see: digest sources)", err=True
            )
        if failed and len(failed) == len(report.outcomes):
            click.echo(
                "  No feed could be read (no network?). To see a digest offline: digest demo "
                "(or ./scripts/run --demo).",
                err=True,
            )
    # This week's posts are what today's digest and this week's rollup can show; older
    # history (a first run ingests whole feeds) is summarised on demand when composed.
    pipeline = Pipeline(runtime)
    today = pipeline.today()
    with pipeline.run() as summariser:  # one LLM budget and one LLM line for all the steps
        _summarise(pipeline, (today - timedelta(days=7)).isoformat(), line=False)
        pipeline.backfill(edition=edition)
        digest = pipeline.daily(edition, today)
    assert digest is not None  # today is never in the future
    if isinstance(summariser, LLMSummariser):
        click.echo(f"LLM: {summariser.line()}.", err=True)
    click.echo(render_daily(digest, fmt), nl=False)

"""`digest summarise`, `digest daily`, `digest weekly` and `digest run`, plus their `run_*` entry points.

Composing is once per period: `daily` and `weekly` print the stored digest and compose it only
when it is missing (or with `--force`), so reading one is a database read. `run` is the whole
pipeline for today, the README's main command: ingest → summarise → compose → print.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import click
from sqlmodel import Session

from app.commands.options import edition_option, format_option
from app.progress import progress_bar
from app.wiring import Runtime
from core.compose import (
    Post,
    belongs_to_day,
    compose_daily,
    compose_weekly,
    with_written_patterns,
    with_written_signal,
)
from core.dates import day_bounds, day_of, iso_week, parse_day, parse_week, week_bounds, week_days
from core.model import ArticleRef, DailyDigest, WeeklyRollup
from core.render import render_daily, render_weekly
from core.summarise import ArticleText, Summariser, summarise_pending, text_hash
from core.summarise.extractive import ExtractiveSummariser, summarise_extractive
from core.summarise.llm import LLMSummariser
from core.tags import merge_tags, tag_text
from storage import deep_dives
from storage.db import session_scope
from storage.digests import load_digest, save_digest
from storage.feeds import list_feeds

__all__ = [
    "build_summariser",
    "run_compose_daily",
    "run_compose_weekly",
    "run_summarise",
]


# --- wiring ----------------------------------------------------------------------------------


def build_summariser(runtime: Runtime) -> Summariser:
    """The summariser DIGEST_SUMMARISER names; the LLM one gets its own httpx client."""
    settings = runtime.settings
    if settings.summariser != "llm":
        return ExtractiveSummariser()
    return LLMSummariser(
        client=runtime.llm_client,
        model=settings.llm_model,
        api_key=settings.llm_api_key,
        token_budget=settings.llm_token_budget,
        concurrency=settings.llm_concurrency,
    )


def _pattern_writer(runtime: Runtime) -> LLMSummariser | None:
    """With DIGEST_SUMMARISER=llm, the model writes the signal's and patterns' paragraphs too."""
    summariser = build_summariser(runtime)
    return summariser if isinstance(summariser, LLMSummariser) else None


def _today(runtime: Runtime) -> date:
    return day_of(runtime.clock(), runtime.settings.tz)


# --- entry points ----------------------------------------------------------------------------


def run_summarise(
    runtime: Runtime, *, since: date | None = None, progress: bool = False
) -> dict[str, int]:
    """Summarise every article without a deep dive; returns counts.

    Counts: "pending", "summarised", one per summariser used ("extractive", "llm",
    "title-only"), and for the LLM summariser "llm_calls", "llm_tokens", "cache_hits",
    "fallbacks".
    """
    summariser = build_summariser(runtime)
    start = day_bounds(since, runtime.settings.tz)[0] if since else None
    with (
        progress_bar("Summarising", enabled=progress) as bar,
        session_scope(runtime.engine) as session,
    ):
        counts = summarise_pending(
            session=session,
            summariser=summariser,
            since=start,
            on_progress=bar.update if bar else None,
        )
    if isinstance(summariser, LLMSummariser):
        usage = summariser.usage
        counts.update(
            llm_calls=usage.calls,
            llm_tokens=usage.tokens,
            cache_hits=usage.cache_hits,
            fallbacks=usage.fallbacks,
        )
    return counts


def _posts(session: Session, rows: Sequence[deep_dives.ArticleRow]) -> list[Post]:
    """Compose's view of stored articles; one without a deep dive gets an extractive one now."""
    posts: list[Post] = []
    for row in rows:
        article, source, dive = row.article, row.source, row.deep_dive
        if dive is None:
            made = summarise_extractive(
                ArticleText(
                    url=article.url,
                    title=article.title,
                    company=article.company,
                    text=article.text,
                    text_kind=article.text_kind,
                )
            )
            assert article.id is not None
            dive = deep_dives.save_deep_dive(
                session=session,
                article_id=article.id,
                text=made.text,
                summariser=made.summariser,
                text_hash=text_hash(article.text),
            )
        defaults = [t for t in (source.tags or "").split(",") if t]
        tags = merge_tags(
            [t for t in (article.tags or "").split(",") if t],
            tag_text(article.title, article.text, defaults=defaults),
        )
        posts.append(
            Post(
                url=article.url,
                title=article.title,
                company=article.company,
                source=source.name,
                published=article.published_at,
                deep_dive=dive.text,
                summariser=dive.summariser,
                words=article.words or len(article.text.split()),
                text_kind=article.text_kind,
                tags=tags,
                source_weight=source.weight,
            )
        )
    return posts


def run_compose_daily(
    runtime: Runtime, *, edition: str, day: date, force: bool = False
) -> DailyDigest:
    """The stored daily digest for (edition, day), composing and storing it first if needed.

    Composing assigns the day's articles to it (`Article.digest_day`): a late post whose own
    day was already digested goes into the next digest composed (`core.compose.belongs_to_day`).
    """
    edition_info = runtime.catalogue.edition(edition)
    period = day.isoformat()
    tz = runtime.settings.tz
    with session_scope(runtime.engine) as session:
        if not force:
            stored = load_digest(session=session, edition=edition, kind="daily", period=period)
            if stored is not None:
                return DailyDigest.from_dict(stored)
        rows = deep_dives.articles_of_days(session=session, edition=edition, days=[day])
        digested = deep_dives.digested_days(session=session, edition=edition) - {day}
        end = day_bounds(day, tz)[1]
        late = [
            row
            for row in deep_dives.unassigned_articles(session=session, edition=edition, before=end)
            if belongs_to_day(
                published=day_of(row.article.published_at, tz),
                first_seen=day_of(row.article.first_seen_at, tz),
                day=day,
                digested=digested,
            )
        ]
        rows = rows + late
        sources = [s.name for s in runtime.catalogue.select(edition=edition)]
        read = {f.name for f in list_feeds(session=session) if f.status == "ok"}
        digest = compose_daily(
            edition=edition_info,
            day=day,
            posts=_posts(session, rows),
            sources=sources,
            unreachable=[name for name in sources if name not in read],
        )
        summariser = _pattern_writer(runtime)
        if summariser is not None:
            digest = with_written_signal(
                digest, write=lambda s, ref: summariser.write_signal(s, ref, session=session)
            )
            digest = with_written_patterns(
                digest,
                articles=digest.deep_dives,
                write=lambda p, refs: summariser.write_pattern(p, refs, session=session),
            )
        deep_dives.assign_digest_day(
            session=session,
            article_ids=[r.article.id for r in late if r.article.id is not None],
            day=day,
        )
        save_digest(
            session=session,
            edition=edition,
            kind="daily",
            period=period,
            title=digest.title,
            payload=digest.to_dict(),
            tags=digest.tags,
        )
    return digest


def run_compose_weekly(
    runtime: Runtime, *, edition: str, week: str, force: bool = False
) -> WeeklyRollup:
    """The stored weekly rollup for (edition, ISO week), composing and storing it first if needed.

    The week's posts are those reported in its daily digests, plus those published in it that
    no daily digest has reported yet.
    """
    edition_info = runtime.catalogue.edition(edition)
    tz = runtime.settings.tz
    with session_scope(runtime.engine) as session:
        if not force:
            stored = load_digest(session=session, edition=edition, kind="weekly", period=week)
            if stored is not None:
                return WeeklyRollup.from_dict(stored)
        monday, _ = week_days(week)
        days = [date.fromordinal(monday.toordinal() + i) for i in range(7)]
        start, end = week_bounds(week, tz)
        rows = {
            r.article.id: r
            for r in deep_dives.articles_of_days(session=session, edition=edition, days=days)
        }
        for row in deep_dives.articles_in_window(
            session=session, edition=edition, start=start, end=end
        ):
            if row.article.digest_day is None:
                rows.setdefault(row.article.id, row)
        sources = [s.name for s in runtime.catalogue.select(edition=edition)]
        posts = _posts(session, list(rows.values()))
        rollup = compose_weekly(edition=edition_info, week=week, posts=posts, sources=sources)
        summariser = _pattern_writer(runtime)
        if summariser is not None and rollup.patterns:
            refs = [
                ArticleRef(title=p.title, company=p.company, url=p.url, text=p.deep_dive)
                for p in posts
            ]
            rollup = with_written_patterns(
                rollup,
                articles=refs,
                write=lambda p, found: summariser.write_pattern(p, found, session=session),
            )
        save_digest(
            session=session,
            edition=edition,
            kind="weekly",
            period=week,
            title=rollup.title,
            payload=rollup.to_dict(),
            tags=rollup.tags,
        )
    return rollup


# --- commands --------------------------------------------------------------------------------


def _summarise(runtime: Runtime, since: str | None) -> None:
    day = parse_day(since, today=_today(runtime)) if since else None
    counts = run_summarise(runtime, since=day, progress=True)
    used = ", ".join(
        f"{counts[k]} {k}" for k in ("llm", "extractive", "title-only") if counts.get(k)
    )
    line = f"Summarised {counts['summarised']} article{'s' if counts['summarised'] != 1 else ''}"
    click.echo(line + (f" ({used})." if used else "."), err=True)
    if "llm_calls" in counts:
        click.echo(
            f"LLM: {counts['llm_calls']} calls, {counts['llm_tokens']:,} tokens, "
            f"{counts['cache_hits']} cached, {counts['fallbacks']} fell back to extractive.",
            err=True,
        )


_SINCE = click.option(
    "--since",
    metavar="DATE",
    default=None,
    help="Only articles published on or after DATE (2026-04-01, today, yesterday).",
)


@click.command("summarise")
@_SINCE
@click.pass_obj
def summarise_command(runtime: Runtime, since: str | None) -> None:
    """Write deep dives for articles that have none (alias: summarize).

    Uses DIGEST_SUMMARISER: extractive (default, offline) or llm (LLM_BASE_URL, LLM_MODEL).
    Articles already summarised are skipped, so running it twice does nothing the second time.
    """
    _summarise(runtime, since)


@click.command("summarize", hidden=True)
@_SINCE
@click.pass_obj
def summarize_command(runtime: Runtime, since: str | None) -> None:
    """Alias of `summarise`."""
    _summarise(runtime, since)


_EDITION = edition_option()
_FORMAT = format_option("md", "html", "text", "json", default="text")
_FORCE = click.option("--force", is_flag=True, help="Compose again even if already stored.")


@click.command("daily")
@click.option(
    "--date", "when", default="today", show_default=True, help="Day: 2026-04-01, today, yesterday."
)
@_EDITION
@_FORMAT
@_FORCE
@click.pass_obj
def daily_command(runtime: Runtime, when: str, edition: str, fmt: str, force: bool) -> None:
    """Print the daily digest of one day (composing and storing it first if needed).

    \b
    Examples:
      digest daily
      digest daily --date 2026-04-01 --format md
      digest daily --edition reads --format json
    """
    day = parse_day(when, today=_today(runtime))
    digest = run_compose_daily(runtime, edition=edition, day=day, force=force)
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
    """Print the weekly rollup of one ISO week (composing and storing it first if needed).

    \b
    Examples:
      digest weekly
      digest weekly --week last --format html > week.html
      digest weekly --week 2026-W14 --format json
    """
    monday = parse_week(week, today=_today(runtime))
    rollup = run_compose_weekly(runtime, edition=edition, week=iso_week(monday), force=force)
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
        from app.commands.ingest import ingest_report, summary_line

        report = ingest_report(runtime, edition=edition, progress=True)
        click.echo(summary_line(report.counts()), err=True)
        failed = [o for o in report.outcomes if o.status in ("error", "disabled")]
        for outcome in failed[:_FAILURES_SHOWN]:  # say why, or "0 new posts" reads as a quiet day
            click.echo(f"  {outcome.name}: {outcome.error}", err=True)
        if len(failed) > _FAILURES_SHOWN:
            click.echo(
                f"  … and {len(failed) - _FAILURES_SHOWN} more (see: digest sources)", err=True
            )
    # This week's posts are what today's digest and this week's rollup can show; older
    # history (a first run ingests whole feeds) is summarised on demand when composed.
    today = _today(runtime)
    _summarise(runtime, (today - timedelta(days=7)).isoformat())
    digest = run_compose_daily(runtime, edition=edition, day=today, force=True)
    click.echo(render_daily(digest, fmt), nl=False)

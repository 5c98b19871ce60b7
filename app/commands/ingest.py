"""`digest ingest`, `digest articles`; the ingest itself is `app.pipeline` (`digest sources` is
in sources.py)."""

from __future__ import annotations

import dataclasses
import sys
from datetime import date
from typing import TYPE_CHECKING, TypedDict

import click
from sqlmodel import Session

from app.commands.options import echo_json, edition_option, format_option
from app.progress import progress_bar
from app.wiring import Runtime
from core.dates import day_bounds, format_utc, parse_day, today
from storage.articles import list_articles

if TYPE_CHECKING:
    from rich.table import Table

    from core.ingest import IngestReport, SourceOutcome

# The pipeline (aiohttp, the fetcher, the composer) is imported by the two functions that
# ingest: `digest sources` and `digest articles` only read the database, and answer faster.
# An ingest imports the tables (rich) only when it has a row to print.

__all__ = ["ArticleItem", "ingest_report", "stored_articles", "summary_line"]


def ingest_report(
    runtime: Runtime,
    *,
    edition: str | None = None,
    source: str | None = None,
    fulltext: bool | None = None,
    progress: bool = False,
) -> IngestReport:
    """Run an ingest (`Pipeline.ingest`) with a progress bar; returns every source's outcome."""
    from app.pipeline import Pipeline

    total = len(runtime.catalogue.select(edition=edition, name=source))
    with progress_bar("Ingesting", total=total, enabled=progress) as bar:
        return Pipeline(runtime).ingest(
            edition=edition, source=source, fulltext=fulltext, on_done=bar.advance if bar else None
        )


# --- commands ---------------------------------------------------------------------------


@click.command("ingest")
@edition_option(unset="every edition")
@click.option("--source", "-s", "source_name", default=None, help="Only the source with this name.")
@click.option(
    "--no-fulltext",
    is_flag=True,
    help="Do not fetch article pages for feeds that carry only an excerpt.",
)
@click.option("--all", "show_all", is_flag=True, help="List every source, the unchanged ones too.")
@format_option("table", "json", default="table")
@click.pass_obj
def ingest_command(
    runtime: Runtime,
    edition: str | None,
    source_name: str | None,
    no_fulltext: bool,
    show_all: bool,
    fmt: str,
) -> None:
    """Fetch every enabled feed and store new posts, then print what happened.

    The sources with news, an error or a note are listed; the unchanged ones are only
    counted (`--all` lists them too), so an hourly run in which nothing happened prints one
    line. The digests of the 7 most recent days and 4 most recent weeks with posts are
    brought up to date afterwards. Feeds are fetched concurrently with conditional requests
    (a feed that has not changed costs a 304 and no parsing). One failing feed never stops
    the others.

    \b
    Examples:
      digest ingest
      digest ingest --edition reads --no-fulltext
      digest ingest --source "Netflix Tech Blog" --all
      digest ingest --format json     # the counts, every source's outcome, the digests composed
    """
    report = ingest_report(
        runtime,
        edition=edition,
        source=source_name,
        fulltext=False if no_fulltext else None,
        progress=sys.stdout.isatty(),
    )
    # the archive, its feeds and /digest list the recent periods with posts from here on
    from app.pipeline import Pipeline

    composed = Pipeline(runtime).backfill(edition=edition)
    if fmt == "json":
        outcomes = [dataclasses.asdict(outcome) for outcome in report.outcomes]
        echo_json({"counts": report.counts(), "sources": outcomes, "backfill": composed})
        return
    shown = [o for o in report.outcomes if show_all or o.status != "unchanged" or o.notes]
    if shown:
        from app.commands import tables

        tables.console().print(_report_table(shown))
    click.echo(summary_line(report.counts()))


def summary_line(counts: dict[str, int]) -> str:
    """'79 sources: 41 new articles, 70 unchanged, 2 with errors' (and how many were skipped)."""
    sources, new = counts["sources"], counts["new"]
    line = (
        f"{sources} source{'s' * (sources != 1)}: {new} new article{'s' * (new != 1)}, "
        f"{counts['unchanged']} unchanged, {counts['errors']} with errors"
    )
    if counts["skipped"]:
        line += f", {counts['skipped']} skipped (backing off after repeated errors)"
    return line


def _report_table(outcomes: list[SourceOutcome]) -> Table:
    from app.commands.tables import Table, cell

    table = Table(show_edge=False, pad_edge=False)
    table.add_column("Source")
    table.add_column("Edition")
    table.add_column("New", justify="right")
    table.add_column("Result")
    styles = {
        "ok": "green",
        "unchanged": "dim",
        "error": "red",
        "disabled": "red",
        "skipped": "yellow",
    }
    for outcome in outcomes:
        if outcome.status == "ok":
            result = f"ok ({outcome.entries} entries)"
        elif outcome.status == "unchanged":
            result = "unchanged (not modified)"
        else:
            result = f"{outcome.status}: {outcome.error}"
        if outcome.notes:
            result += "; " + "; ".join(outcome.notes)
        table.add_row(
            cell(outcome.name),
            outcome.edition,
            str(outcome.new),
            f"[{styles.get(outcome.status, '')}]{cell(result)}[/]",
        )
    return table


@click.command("articles")
@click.option(
    "--since",
    default=None,
    help="Only posts published on or after this day (2026-04-01, today, yesterday; DIGEST_TZ).",
)
@edition_option(unset="every edition")
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="At most this many (newest first)."
)
@format_option("table", "json", default="table")
@click.pass_obj
def articles_command(
    runtime: Runtime, since: str | None, edition: str | None, limit: int | None, fmt: str
) -> None:
    """List stored articles, newest first.

    \b
    Examples:
      digest articles --since yesterday
      digest articles --edition tech --format json
    """
    items = stored_articles(runtime, since=since, edition=edition, limit=limit)
    if fmt == "json":
        echo_json(items)
        return
    from app.commands.tables import Table, cell, console

    table = Table(show_edge=False, pad_edge=False)
    for name in ("Published", "Company", "Title", "Words", "Text"):
        table.add_column(name, justify="right" if name == "Words" else "left")
    for item in items:
        table.add_row(
            item["published"][:10],
            cell(item["company"]),
            cell(item["title"]),
            str(item["words"]),
            item["text_kind"],
        )
    console().print(table)
    click.echo(f"{len(items)} articles")


class ArticleItem(TypedDict):
    """One stored article as `digest articles --format json` prints it."""

    title: str
    company: str
    source: str
    url: str
    edition: str
    published: str
    first_seen: str
    author: str
    words: int
    text_kind: str
    tags: list[str]


def stored_articles(
    runtime: Runtime,
    *,
    since: str | date | None = None,
    edition: str | None = None,
    limit: int | None = None,
) -> list[ArticleItem]:
    """Stored articles as JSON-ready dicts (title, company, source, url, published, …)."""
    tz = runtime.settings.tz
    start = None
    if since is not None:
        day = (
            since if isinstance(since, date) else parse_day(since, today=today(tz, runtime.clock()))
        )
        start = day_bounds(day, tz)[0]
    if edition is not None:
        runtime.catalogue.edition(edition)
    with Session(runtime.engine) as session:
        rows = list_articles(session=session, since=start, edition=edition, limit=limit)
    return [
        {
            "title": article.title,
            "company": article.company,
            "source": source_name,
            "url": article.url,
            "edition": article.edition,
            "published": format_utc(article.published_at),
            "first_seen": format_utc(article.first_seen_at),
            "author": article.author,
            "words": article.words,
            "text_kind": article.text_kind,
            "tags": [t for t in article.tags.split(",") if t],
        }
        for article, source_name in rows
    ]

"""`digest sources`: list the feeds with their health, and change the sources file.

The sources file is the truth: `follow_catalogue` mirrors it into the feed table (a source
no longer in the file is kept, with its articles, and marked removed), and every listing
reads the table after that, so the CLI, `digest status` and `/digest sources` agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

import click
from sqlmodel import Session

from app.commands.options import echo_json, edition_option, format_option
from app.commands.tables import Table, cell, console, iso
from app.wiring import Runtime
from core.errors import ConfigError
from core.opml import read_opml, sources_from_opml, write_opml
from core.sources import (
    Catalogue,
    NewSource,
    add_sources,
    mirror_catalogue,
    remove_source,
    set_enabled,
)
from storage.feeds import article_counts, feed_status, list_feeds
from storage.tables import FeedSource

__all__ = ["SourceItem", "follow_catalogue", "source_statuses", "sources_group"]


def follow_catalogue(runtime: Runtime, *, now: datetime | None = None) -> Catalogue:
    """Mirror the sources file into the feed table: a row per source (enabled or not) and
    every other row marked removed. Returns the catalogue. Cheap: a few statements."""
    catalogue = runtime.catalogue
    with Session(runtime.engine, expire_on_commit=False) as session:
        mirror_catalogue(catalogue, session=session, now=now or runtime.clock())
    return catalogue


@click.group("sources", invoke_without_command=True)
@edition_option(unset="every edition")
@click.option("--all", "show_all", is_flag=True, help="Also sources no longer in the file.")
@format_option("table", "json", default="table")
@click.pass_context
def sources_group(ctx: click.Context, edition: str | None, show_all: bool, fmt: str) -> None:
    """List the sources with their last fetch status, warning and stored article counts;
    or change the sources file with a subcommand.

    \b
    Examples:
      digest sources
      digest sources --edition videos --format json
      digest sources --all
    """
    if ctx.invoked_subcommand is not None:
        return
    runtime: Runtime = ctx.obj
    items = source_statuses(runtime, edition=edition, removed=show_all)
    if fmt == "json":
        echo_json(items)
        return
    table = Table(show_edge=False, pad_edge=False)
    for name in ("Source", "Company", "Edition", "Status", "Articles", "Last success", "Note"):
        table.add_column(name, justify="right" if name == "Articles" else "left")
    for item in items:
        note = item["error"] or (f"warning: {item['warning']}" if item["warning"] else "")
        table.add_row(
            cell(item["name"]),
            cell(item["company"]),
            item["edition"],
            item["status"],
            str(item["articles"]),
            (item["last_success"] or "")[:16],
            cell(note),
        )
    console().print(table)


class SourceItem(TypedDict):
    """One source as `digest sources --format json` prints it (docs/ingest.md)."""

    name: str
    company: str
    url: str
    fetch_url: str | None  # after a permanent redirect
    edition: str
    tags: list[str]
    status: str
    error: str | None
    warning: str | None
    articles: int
    last_success: str | None
    backoff_until: str | None
    removed: str | None


def source_statuses(
    runtime: Runtime, *, edition: str | None = None, removed: bool = False
) -> list[SourceItem]:
    """Every configured source (or one edition's) with its fetch state, as JSON-ready dicts;
    with `removed`, also the sources that left the file (status "removed")."""
    catalogue = follow_catalogue(runtime)
    if edition is not None:
        catalogue.edition(edition)  # ConfigError for an unknown edition
    with Session(runtime.engine) as session:
        rows = {row.name: row for row in list_feeds(session=session, removed=True)}
        counts = article_counts(session=session)
    items: list[SourceItem] = []
    configured = {source.name for source in catalogue.sources}
    for source in catalogue.sources:
        if edition is not None and source.edition != edition:
            continue
        row = rows.get(source.name)
        status = feed_status(row, enabled=source.enabled)
        items.append(
            _item(
                source.name,
                source.company,
                source.url,
                source.edition,
                list(source.tags),
                status,
                row,
                counts,
            )
        )
    if removed:
        for row in rows.values():
            if row.name in configured or (edition is not None and row.edition != edition):
                continue
            tags = [t for t in row.tags.split(",") if t]
            items.append(
                _item(row.name, row.company, row.url, row.edition, tags, "removed", row, counts)
            )
    return items


def _item(
    name: str,
    company: str,
    url: str,
    edition: str,
    tags: list[str],
    status: str,
    row: FeedSource | None,
    counts: dict[int, int],
) -> SourceItem:
    return {
        "name": name,
        "company": company,
        "url": url,
        "fetch_url": row.fetch_url if row else None,
        "edition": edition,
        "tags": tags,
        "status": status,
        "error": row.last_error if row is not None and status not in ("ok", "removed") else None,
        "warning": row.last_warning if row is not None else None,
        "articles": counts.get(row.id, 0) if row is not None and row.id else 0,
        "last_success": iso(row.last_success_at) if row else None,
        "backoff_until": iso(row.backoff_until) if row else None,
        "removed": iso(row.removed_at) if row is not None else None,
    }


# --- changing the sources file ------------------------------------------------------------


def _path(runtime: Runtime) -> Path:
    return Path(runtime.sources_path or runtime.settings.sources_path)


def _changed(runtime: Runtime) -> None:
    """The file changed: read it afresh and mirror it into the feed table now, so listings
    and `/digest sources` show the change before the next ingest."""
    runtime.__dict__.pop("catalogue", None)
    follow_catalogue(runtime)


@sources_group.command("add")
@click.argument("url")
@edition_option()
@click.option("--company", "-c", default=None, help="Who publishes it (default: its name).")
@click.option("--name", "-n", default=None, help="Display name (default: the feed's title).")
@click.option("--tag", "-t", "tags", multiple=True, help="A default tag; repeat for more.")
@format_option("text", "json", default="text")
@click.pass_obj
def add_command(
    runtime: Runtime,
    url: str,
    edition: str,
    company: str | None,
    name: str | None,
    tags: tuple[str, ...],
    fmt: str,
) -> None:
    """Add a feed to the sources file. URL may be the feed or a page that names it
    (<link rel="alternate">); the feed is fetched once to check it.

    \b
    Examples:
      digest sources add https://blog.example.com/
      digest sources add https://blog.example.com/feed.xml --edition reads --tag data
      digest sources add https://blog.example.com/ --format json   # what was added
    """
    runtime.catalogue.edition(edition)  # an unknown edition fails before any fetch
    settings = runtime.settings
    # Here, not at the top: the fetcher and the pipeline (aiohttp, feedparser, the
    # front-ends) are for `add` alone; `digest sources` itself only reads the database.
    from app.pipeline import Pipeline
    from core.discover import discover_feed

    found = discover_feed(
        url.strip(),
        open_http=Pipeline(runtime).http_opener(),
        timeout=settings.fetch_timeout,
        max_bytes=settings.fetch_max_bytes,
    )
    chosen = (name or found.title or found.url).strip()
    new = NewSource(
        name=chosen,
        company=(company or chosen).strip(),
        url=found.url,
        edition=edition,
        tags=tuple(t.strip() for t in tags if t.strip()),
    )
    add_sources(_path(runtime), [new])
    _changed(runtime)
    found_on = url.strip() if found.url != url.strip() else None
    if fmt == "json":
        echo_json({**_new_item(new), "entries": found.entries, "found_on": found_on})
        return
    via = f" (found on {found_on})" if found_on else ""
    click.echo(f"Added {new.name} to {edition}: {found.url}{via}, {found.entries} entries now.")


class NewSourceItem(TypedDict):
    """A source added to the file, as `sources add` and `sources import` print it in json."""

    name: str
    company: str
    url: str
    edition: str
    tags: list[str]


def _new_item(source: NewSource) -> NewSourceItem:
    return {
        "name": source.name,
        "company": source.company,
        "url": source.url,
        "edition": source.edition,
        "tags": list(source.tags),
    }


@sources_group.command("remove")
@click.argument("name")
@click.pass_obj
def remove_command(runtime: Runtime, name: str) -> None:
    """Take a source out of the sources file. Its stored articles stay (listed with
    `digest sources --all`).

    \b
    Example:
      digest sources remove "Example Blog"
    """
    removed = remove_source(_path(runtime), name)
    _changed(runtime)
    click.echo(f"Removed {removed.name} from {removed.edition}; its stored articles stay.")


@sources_group.command("disable")
@click.argument("name")
@click.pass_obj
def disable_command(runtime: Runtime, name: str) -> None:
    """Stop fetching a source but keep it in the file (`enabled = false`)."""
    source = set_enabled(_path(runtime), name, False)
    _changed(runtime)
    click.echo(f"Disabled {source.name}: it is no longer fetched.")


@sources_group.command("enable")
@click.argument("name")
@click.pass_obj
def enable_command(runtime: Runtime, name: str) -> None:
    """Fetch a disabled source again."""
    source = set_enabled(_path(runtime), name, True)
    _changed(runtime)
    click.echo(f"Enabled {source.name}: the next ingest fetches it.")


@sources_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@edition_option(unset="the OPML folder's, else the first edition")
@format_option("text", "json", default="text")
@click.pass_obj
def import_command(runtime: Runtime, file: str, edition: str | None, fmt: str) -> None:
    """Add the feeds of an OPML file (another reader's export). Feeds already in the file are
    skipped; a folder or category named like an edition picks it. Feeds are not fetched.

    \b
    Example:
      digest sources import subscriptions.opml --edition reads
      digest sources import subscriptions.opml --format json   # added, skipped and why
    """
    try:
        body = Path(file).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from None
    feeds = read_opml(body, name=file)
    chosen, notes = sources_from_opml(feeds, catalogue=runtime.catalogue, edition=edition)
    add_sources(_path(runtime), chosen)
    _changed(runtime)
    if fmt == "json":
        echo_json({"feeds": len(feeds), "imported": [_new_item(s) for s in chosen], "notes": notes})
        return
    for note in notes:
        click.echo(note)
    click.echo(f"Imported {len(chosen)} of {len(feeds)} feeds from {file}.")


@sources_group.command("export")
@format_option("opml", "toml", default="opml")
@click.pass_obj
def export_command(runtime: Runtime, fmt: str) -> None:
    """Print the sources as OPML (for another reader) or as the TOML file itself.

    \b
    Examples:
      digest sources export > feeds.opml
      digest sources export --format toml > sources-backup.toml
    """
    catalogue = runtime.catalogue  # a broken file fails here, in one line
    if fmt == "toml":
        click.echo(_path(runtime).read_text(encoding="utf-8"), nl=False)
        return
    click.echo(
        write_opml(catalogue, now=datetime.now(UTC), title="Engineering @ Scale sources"), nl=False
    )

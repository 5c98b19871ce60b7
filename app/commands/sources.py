"""`digest sources`: list the feeds with their health, and change the sources file.

The sources file is the truth: `follow_catalogue` mirrors it into the feed table (a source
no longer in the file is kept, with its articles, and marked removed), and every listing
reads the table after that, so the CLI, `digest status` and `/digest sources` agree.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table
from sqlmodel import Session

from app.commands.ingest import _console, _escape, _iso
from app.wiring import Runtime
from core.sources import Catalogue, mirror_catalogue
from storage.feeds import article_counts, list_feeds

__all__ = ["follow_catalogue", "register", "source_statuses"]


def register(cli: click.Group) -> None:
    """Add `digest sources` and its subcommands to the `digest` group."""
    cli.add_command(sources_group)


def follow_catalogue(runtime: Runtime, *, now: datetime | None = None) -> Catalogue:
    """Mirror the sources file into the feed table: a row per source (enabled or not) and
    every other row marked removed. Returns the catalogue. Cheap: a few statements."""
    catalogue = runtime.catalogue
    with Session(runtime.engine, expire_on_commit=False) as session:
        mirror_catalogue(catalogue, session=session, now=now or datetime.now(UTC))
    return catalogue


@click.group("sources", invoke_without_command=True)
@click.option("--edition", "-e", default=None, help="Only this edition's sources.")
@click.option("--all", "show_all", is_flag=True, help="Also sources no longer in the file.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
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
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    table = Table(show_edge=False, pad_edge=False)
    for name in ("Source", "Company", "Edition", "Status", "Articles", "Last success", "Note"):
        table.add_column(name, justify="right" if name == "Articles" else "left")
    for item in items:
        note = item["error"] or (f"warning: {item['warning']}" if item["warning"] else "")
        table.add_row(
            item["name"], item["company"], item["edition"], item["status"],
            str(item["articles"]), (item["last_success"] or "")[:16], _escape(note),
        )  # fmt: skip
    _console().print(table)


def source_statuses(
    runtime: Runtime, *, edition: str | None = None, removed: bool = False
) -> list[dict[str, Any]]:
    """Every configured source (or one edition's) with its fetch state, as JSON-ready dicts;
    with `removed`, also the sources that left the file (status "removed")."""
    catalogue = follow_catalogue(runtime)
    if edition is not None:
        catalogue.edition(edition)  # ConfigError for an unknown edition
    with Session(runtime.engine) as session:
        rows = {row.name: row for row in list_feeds(session=session, removed=True)}
        counts = article_counts(session=session)
    items = []
    configured = {source.name for source in catalogue.sources}
    for source in catalogue.sources:
        if edition is not None and source.edition != edition:
            continue
        row = rows.get(source.name)
        status = "never"
        if not source.enabled or (row is not None and row.status == "disabled"):
            status = "disabled"
        elif row is not None:
            status = row.status
        items.append(_item(source.name, source.company, source.url, source.edition,
                           list(source.tags), status, row, counts))  # fmt: skip
    if removed:
        for row in rows.values():
            if row.name in configured or (edition is not None and row.edition != edition):
                continue
            tags = [t for t in row.tags.split(",") if t]
            items.append(_item(row.name, row.company, row.url, row.edition, tags,
                               "removed", row, counts))  # fmt: skip
    return items


def _item(name: str, company: str, url: str, edition: str, tags: list[str], status: str,
          row: Any, counts: dict[int, int]) -> dict[str, Any]:  # fmt: skip
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
        "last_success": _iso(row.last_success_at) if row else None,
        "backoff_until": _iso(row.backoff_until) if row else None,
        "removed": _iso(row.removed_at) if row is not None else None,
    }

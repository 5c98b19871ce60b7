"""`digest search WORDS`: the archive's full-text search from the command line."""

from __future__ import annotations

from typing import TypedDict

import click
from sqlmodel import Session

from app.commands.options import echo_json, edition_option, format_option
from app.commands.tables import Table, cell, console, iso
from app.wiring import Runtime
from storage.search import ArticleHit, search_articles

__all__ = ["HitItem", "search_command", "search_hits"]


class HitItem(TypedDict):
    """One search result as `digest search --format json` prints it."""

    title: str
    company: str
    url: str
    edition: str
    published: str | None
    tags: list[str]
    deep_dive: str  # '' when not summarised yet
    score: float  # higher is better, within one search


def search_hits(
    runtime: Runtime, query: str, *, edition: str | None = None, limit: int = 10
) -> list[HitItem]:
    """The best matches as JSON-ready dicts (title, company, url, published, score, …)."""
    if edition is not None:
        runtime.catalogue.edition(edition)  # ConfigError for an unknown edition
    with Session(runtime.engine) as session:
        hits = search_articles(session=session, query=query, edition=edition, limit=limit)
    return [_item(hit) for hit in hits]


def _item(hit: ArticleHit) -> HitItem:
    article = hit.article
    return {
        "title": article.title,
        "company": article.company,
        "url": article.url,
        "edition": article.edition,
        "published": iso(article.published_at),
        "tags": [t for t in article.tags.split(",") if t],
        "deep_dive": hit.deep_dive,
        "score": hit.score,
    }


@click.command("search")
@click.argument("words", nargs=-1, required=True)
@edition_option(unset="every edition")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@format_option("table", "json", default="table")
@click.pass_obj
def search_command(
    runtime: Runtime, words: tuple[str, ...], edition: str | None, limit: int, fmt: str
) -> None:
    """Search stored articles, most relevant first: words are stemmed ("caches" finds
    "caching"), all required; "a phrase", -word to exclude, `or` between alternatives.

    \b
    Examples:
      digest search kafka replication
      digest search '"feature flags"' -launchdarkly --edition tech --format json
    """
    query = " ".join(words)
    items = search_hits(runtime, query, edition=edition, limit=limit)
    if fmt == "json":
        echo_json(items)
        return
    if not items:
        click.echo(f"Nothing stored matches {query!r}.")
        return
    table = Table(show_edge=False, pad_edge=False)
    for name in ("Published", "Company", "Title", "URL"):
        table.add_column(name)
    for item in items:
        table.add_row(
            (item["published"] or "")[:10],
            cell(item["company"]),
            cell(item["title"]),
            item["url"],
        )
    console().print(table)

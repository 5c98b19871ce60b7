"""OPML, the subscription-list format every feed reader imports and exports.

Reading uses listparser (it copes with the OPML found in the wild: OPML 1.0 and 2.0, nested
folders, `category` attributes, odd encodings), always given bytes: given a string it would
fetch URLs. Writing is a small OPML 2.0 document: one folder per edition, a `category` for
the edition and the source's tags, so an export imports back into the same editions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from core.errors import ConfigError
from core.sources import Catalogue, NewSource

__all__ = ["OpmlFeed", "read_opml", "sources_from_opml", "write_opml"]


@dataclass(frozen=True)
class OpmlFeed:
    """One subscription in an OPML file."""

    url: str
    title: str
    categories: tuple[str, ...]  # folder names and category values, outermost first


def read_opml(body: bytes, *, name: str = "the OPML file") -> list[OpmlFeed]:
    """The feeds an OPML document lists. Raises `ConfigError` when it lists none."""
    import listparser  # only imports need it

    parsed = listparser.parse(body)
    feeds = []
    for raw in parsed.feeds:
        url = str(raw.get("url") or "").strip()
        if urlsplit(url).scheme not in ("http", "https"):
            continue
        flat = [part for group in raw.get("categories") or [] for part in group]
        categories = tuple(dict.fromkeys(c.strip() for c in flat if c.strip()))
        feeds.append(
            OpmlFeed(url=url, title=str(raw.get("title") or "").strip(), categories=categories)
        )
    if not feeds:
        problem = parsed.get("bozo_exception")
        reason = f" ({problem})" if parsed.get("bozo") and problem else ""
        raise ConfigError(f"{name} lists no feeds{reason}")
    return feeds


def sources_from_opml(
    feeds: list[OpmlFeed], *, catalogue: Catalogue, edition: str | None
) -> tuple[list[NewSource], list[str]]:
    """What to add: one source per feed not already in the catalogue (by URL or name), in
    the edition named by one of its categories, else `edition`. Returns (sources, notes)."""
    if edition is not None:
        catalogue.edition(edition)
    urls = {s.url for s in catalogue.sources}
    names = {s.name.lower() for s in catalogue.sources}
    chosen: list[NewSource] = []
    notes: list[str] = []
    for feed in feeds:
        name = feed.title or urlsplit(feed.url).hostname or feed.url
        if feed.url in urls:
            notes.append(f"skipped {name}: already in the sources file")
            continue
        if name.lower() in names:
            notes.append(f"skipped {name}: a source of that name is already in the sources file")
            continue
        target = next((c for c in feed.categories if c in catalogue.editions), edition)
        if target is None:
            notes.append(f"skipped {name}: no edition (pass --edition)")
            continue
        tags = tuple(
            c
            for c in feed.categories
            if c not in catalogue.editions and c.islower() and " " not in c
        )
        chosen.append(NewSource(name=name, company=name, url=feed.url, edition=target, tags=tags))
        urls.add(feed.url)
        names.add(name.lower())
    return chosen, notes


def write_opml(catalogue: Catalogue, *, now: datetime, title: str = "Sources") -> str:
    """The catalogue as OPML 2.0: a folder per edition, disabled sources included."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_text(title)}</title>",
        f"    <dateCreated>{format_datetime(now)}</dateCreated>",
        "  </head>",
        "  <body>",
    ]
    for key, edition in catalogue.editions.items():
        sources = [s for s in catalogue.sources if s.edition == key]
        if not sources:
            continue
        lines.append(f"    <outline text={quoteattr(edition.title)} title={quoteattr(key)}>")
        for source in sources:
            category = ",".join((key, *source.tags))
            lines.append(
                f'      <outline type="rss" text={quoteattr(source.name)} '
                f"title={quoteattr(source.name)} xmlUrl={quoteattr(source.url)} "
                f"category={quoteattr(category)}/>"
            )
        lines.append("    </outline>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

"""A URL someone typed → the feed behind it, checked by fetching it once.

`digest sources add` takes a feed URL or a blog's page. A page names its feeds in
`<link rel="alternate" type="application/rss+xml" href=…>` (the RSS autodiscovery
convention, as feed readers use it); the first that parses as a feed is taken. Every fetch
goes through `core.fetch` on a `core.netguard` session, like an ingest: the typed URL's host
may be a private address (the user named it, as in sources.toml), any other host a page
points to must be public.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import aiohttp

from core.errors import FetchError, ParseError
from core.fetch import fetch_feed, is_local_path
from core.model import FetchResult
from core.parse import parse_feed

__all__ = ["FoundFeed", "discover_feed", "feed_links"]

FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+xml",
    "application/xml",
    "text/xml",
)
MAX_CANDIDATES = 3  # feeds a page names that are tried, in its order


@dataclass(frozen=True)
class FoundFeed:
    """The feed found: its URL (after resolving a page), title and entry count."""

    url: str
    title: str
    entries: int


def discover_feed(
    url: str,
    *,
    open_http: Callable[[], aiohttp.ClientSession],
    timeout: float = 20.0,
    max_bytes: int = 10_000_000,
) -> FoundFeed:
    """Fetch `url`; a feed is returned as it is, a page is resolved to the feed it names.

    Raises `FetchError` in plain words when the URL cannot be fetched, or is neither a feed
    nor a page that names one. Runs its own event loop.
    """
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise FetchError(f"{url!r} is not an http(s) URL")
    return asyncio.run(_discover(url, open_http, timeout=timeout, max_bytes=max_bytes))


async def _discover(
    url: str, open_http: Callable[[], aiohttp.ClientSession], *, timeout: float, max_bytes: int
) -> FoundFeed:
    own = frozenset({(urlsplit(url).hostname or "").lower()})
    async with open_http() as session:

        async def get(target: str) -> FetchResult:
            return await fetch_feed(
                target, session=session, timeout=timeout, max_bytes=max_bytes, allowed_hosts=own
            )

        result = await get(url)
        if result.error:
            raise FetchError(f"could not fetch {url}: {result.error}")
        found, problem = _as_feed(result)
        if found is not None:
            return found
        candidates = feed_links(result.body, base=result.final_url)
        reasons = []
        for candidate in candidates[:MAX_CANDIDATES]:
            linked = await get(candidate)
            found, reason = _as_feed(linked) if not linked.error else (None, linked.error)
            if found is not None:
                return found
            reasons.append(reason)
        if candidates:
            raise FetchError(
                f"{url} names a feed ({candidates[0]}) that could not be read: {reasons[0]}"
            )
        raise FetchError(
            f'{url} is not a feed ({problem}), and names none in <link rel="alternate">'
        )


def _as_feed(result: FetchResult) -> tuple[FoundFeed | None, str]:
    try:
        feed = parse_feed(
            result.body, url=result.final_url, content_type=result.headers.get("content-type")
        )
    except ParseError as exc:
        return None, str(exc)
    if not feed.entries and not feed.title:
        return None, "no feed title or entries in it"
    return FoundFeed(url=result.final_url, title=feed.title.strip(), entries=len(feed.entries)), ""


def feed_links(body: bytes, *, base: str) -> list[str]:
    """The feeds a page names in `<link rel="alternate" type=… href=…>`, absolute, in order.

    Example: `feed_links(b'<link rel="alternate" type="application/rss+xml" href="/rss">',
    base="https://blog.example/")` → `["https://blog.example/rss"]`.
    """
    finder = _LinkFinder()
    finder.feed(body[:1_000_000].decode("utf-8", errors="replace"))
    links = []
    for href in finder.hrefs:
        absolute = urljoin(base, href.strip())
        if (
            is_local_path(absolute)
            or urlsplit(absolute).scheme not in ("http", "https")
            or absolute in links
        ):
            continue
        links.append(absolute)
    return links


class _LinkFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        values = {key.lower(): (value or "") for key, value in attrs}
        rel = values.get("rel", "").lower().split()
        kind = values.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in FEED_TYPES and values.get("href"):
            self.hrefs.append(values["href"])

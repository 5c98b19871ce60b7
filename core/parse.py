"""Feed bytes → `ParsedEntry` values, with feedparser, never letting it open anything itself.

feedparser is handed `io.BytesIO(body)`: given a `str` it would fetch URLs (file:// too) or
open local paths (see feedparser's `parse()` docstring). `content-location` carries the
final URL so relative links resolve against where the feed really came from.

Why `sanitize_html=False, resolve_relative_uris=False`: we keep only plain text
(`core.normalise.html_to_text` drops scripts, styles and every tag), so feedparser's HTML
sanitiser and its rewriting of every URI inside the HTML are pure cost, and they are most of
it: on 20-item feeds with ~3 kB of HTML per item they take parsing from 0.75 s/MB to
0.10 s/MB of CPU (measured with feedparser 6.0.14; bench/ingest.py). Entry links are still
resolved (feedparser resolves `link` regardless, and `_absolute` does it again). Nothing
here stores or renders feed HTML, so the sanitiser protected nothing we keep.

A feed with recoverable XML errors ("bozo") still yields its entries; a body with no
entries and a bozo error (an HTML page, truncated XML, an empty body) is a `ParseError`.
"""

from __future__ import annotations

import calendar
import io
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from core.errors import ParseError
from core.model import ParsedEntry

__all__ = ["ParsedFeed", "parse_feed"]

log = logging.getLogger(__name__)

_EARLIEST_YEAR = 1991
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html)[\s>]", re.I | re.S)


@dataclass(frozen=True)
class ParsedFeed:
    """A feed's title and entries, plus a warning when the XML needed repair."""

    title: str
    entries: list[ParsedEntry]
    warning: str | None = None


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse feed bytes (RSS 0.9x/1.0/2.0, Atom; Medium `content:encoded`; YouTube `media:`).

    Example:
        feed = parse_feed(result.body, url=result.final_url,
                          content_type=result.headers.get("content-type"))

    Raises `ParseError` in plain words when the body holds no feed at all.
    """
    if not body.strip():
        raise ParseError("the feed was empty")
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    warning = None
    problem = parsed.get("bozo_exception")
    # A missing or non-XML Content-Type, or a charset that had to be overridden, is not a
    # problem with the feed's XML; only real syntax errors are worth a remark.
    benign = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)
    if parsed.get("bozo") and not isinstance(problem, benign):
        warning = f"the feed has XML errors ({_describe(problem)})"
    if not parsed.entries:
        if _HTML_START.match(body[:2000]):
            raise ParseError("the server sent an HTML page, not a feed")
        if warning and not parsed.feed.get("title"):
            raise ParseError(f"not a readable feed: {_describe(parsed.get('bozo_exception'))}")
    entries = [_entry(raw, base=url) for raw in parsed.entries]
    return ParsedFeed(title=str(parsed.feed.get("title", "")), entries=entries, warning=warning)


def _describe(problem: Any) -> str:
    if problem is None:
        return "unknown problem"
    text = str(getattr(problem, "getMessage", lambda: problem)())
    return text.strip().splitlines()[0] if text.strip() else type(problem).__name__


def _entry(raw: Any, *, base: str) -> ParsedEntry:
    link = raw.get("feedburner_origlink") or raw.get("link") or ""
    guid = str(raw.get("id") or raw.get("guid") or "")
    if not link and guid.startswith(("http://", "https://")):
        link = guid
    summary = str(raw.get("summary") or "")
    richest = summary
    for content in raw.get("content") or ():
        value = str(content.get("value") or "")
        if len(value) > len(richest):
            richest = value
    media = _media_description(raw)
    if len(media) > len(richest):
        richest = media
    # The feed says it carries the post (content:encoded, Atom <content>), not a summary.
    has_content = bool(raw.get("content"))
    return ParsedEntry(
        title=str(raw.get("title") or ""),
        link=_absolute(str(link), base),
        guid=guid,
        html=richest,
        summary_html=summary,
        published=_utc(raw.get("published_parsed")),
        # dict.get: feedparser's own get() maps a missing updated to published, with a warning
        updated=_utc(dict.get(raw, "updated_parsed")),
        author=str(raw.get("author") or ""),
        is_full_content=has_content,
    )


def _media_description(raw: Any) -> str:
    """YouTube's `media:group/media:description` (feedparser keeps it apart from summary)."""
    value = raw.get("media_description")
    if isinstance(value, str):
        return value
    for group in raw.get("media_content") or ():
        if isinstance(group, dict) and isinstance(group.get("description"), str):
            return str(group["description"])
    return ""


def _absolute(link: str, base: str) -> str:
    link = link.strip()
    if not link:
        return ""
    return urljoin(base, link) if base.startswith(("http://", "https://")) else link


def _utc(parsed: Any) -> datetime | None:
    """feedparser's 9-tuples are already UTC; unreadable dates come back as None."""
    if not parsed:
        return None
    try:
        moment = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, TypeError, OSError):
        return None
    # Static-site generators write year 0001 for "no date"; nothing we read predates the web.
    return moment if moment.year >= _EARLIEST_YEAR else None

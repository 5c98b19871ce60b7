"""Parsed entries → articles ready to store: canonical URL, clean title, plain text, UTC dates.

Pure functions, no I/O, so `prepare_feed` (parse + normalise in one call) can run in a worker
process: that keeps feedparser and the HTML-to-text pass off the coordinating thread and
spreads them over every core.

Two keys decide "the same post":
- `url`: the canonical URL (tracking parameters and fragments dropped, host lower-cased);
  one article per canonical URL across all feeds;
- `fingerprint`: a hash of the normalised title and the first words of the text, which folds
  near-identical copies under different URLs (a company blog and its Medium mirror).
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.model import ParsedEntry

if TYPE_CHECKING:
    from lxml import etree

__all__ = [
    "NormalisedArticle",
    "PreparedFeed",
    "canonical_url",
    "clean_title",
    "fingerprint",
    "html_to_text",
    "normalise_entries",
    "prepare_feed",
    "strip_controls",
]

FULL_TEXT_WORDS = 150  # a feed body shorter than this is treated as an excerpt
LONG_SUMMARY_WORDS = 300  # a summary this long, not cut off, is the whole post
_TRUNCATED = re.compile(
    r"(\.\.\.|…|\[…\]|\[\.\.\.\]|read more|continue reading\W*|read the full \w+\W*)$", re.I
)
FINGERPRINT_WORDS = 12
_TRACKING = {
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "igshid",
    "gi",  # Medium
    "sk",  # Medium friend links
    "ref",
    "ref_src",
    "cmpid",
    "ncid",
    "yclid",
    "spm",
    "wt_mc",
    "wt_zmc",
}
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_BLOCKS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
    "blockquote", "tr", "table", "section", "article", "header", "footer", "figure",
    "figcaption", "hr", "dd", "dt", "dl",
}  # fmt: skip
_DROP = {"script", "style", "noscript", "iframe", "object", "embed", "svg", "template", "head"}
# C0 controls but tab and newline, DEL, and C1 controls (0x9b is a terminal's CSI too).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class NormalisedArticle(NamedTuple):
    """One post as it will be stored (the `Article` row's fields, minus ids).

    A named tuple, not a dataclass: workers send 10,000s of these to the coordinating
    process, and a tuple unpickles without rebuilding an instance dict per article.
    """

    url: str
    fingerprint: str
    guid: str
    title: str
    author: str
    text: str
    text_kind: str  # full | excerpt
    words: int
    published_at: datetime
    content_hash: str

    def with_text(self, text: str, kind: str) -> NormalisedArticle:
        text = strip_controls(text)
        return self._replace(
            text=text,
            text_kind=kind,
            words=len(text.split()),
            fingerprint=self.fingerprint,  # the fold key stays that of the feed's copy
            content_hash=_hash(text),
        )


@dataclass(frozen=True)
class PreparedFeed:
    """The result of parsing and normalising one feed body."""

    title: str
    articles: list[NormalisedArticle]
    notes: list[str]  # plain-words remarks: XML repaired, entries without a link skipped


def prepare_feed(body: bytes, *, url: str, content_type: str | None, now: datetime) -> PreparedFeed:
    """Parse and normalise one feed body. Raises `ParseError` when it holds no feed.

    Runs in a worker process: arguments and result are plain picklable values. feedparser
    is imported here, on the first body: the process that fetches (and an hourly run of
    unchanged feeds) never needs it.
    """
    from core.parse import parse_feed

    feed = parse_feed(body, url=url, content_type=content_type)
    articles, skipped = normalise_entries(feed.entries, now=now)
    notes = [feed.warning] if feed.warning else []
    if skipped:
        notes.append(f"{skipped} {'entry' if skipped == 1 else 'entries'} without a link skipped")
    return PreparedFeed(title=clean_title(feed.title), articles=articles, notes=notes)


def normalise_entries(
    entries: list[ParsedEntry], *, now: datetime
) -> tuple[list[NormalisedArticle], int]:
    """Normalise entries; drop those without a usable link and fold repeats within the feed.

    Returns the articles (first occurrence wins) and how many entries had no link.
    """
    articles: list[NormalisedArticle] = []
    seen: set[str] = set()
    skipped = 0
    for entry in entries:
        url = canonical_url(strip_controls(entry.link)) if entry.link else ""
        if not url.startswith(("http://", "https://")):
            skipped += 1
            continue
        if url in seen:
            continue
        seen.add(url)
        articles.append(_article(entry, url, now=now))
    return articles, skipped


def _article(entry: ParsedEntry, url: str, *, now: datetime) -> NormalisedArticle:
    text = html_to_text(entry.html)
    title = clean_title(entry.title) or _title_from_text(text) or url
    words = len(text.split())
    if entry.is_full_content:
        full = words >= FULL_TEXT_WORDS
    else:  # RSS that puts the whole post in <description>
        full = words >= LONG_SUMMARY_WORDS and not _TRUNCATED.search(text[-40:].strip())
    published = entry.published or entry.updated or now
    if published > now + timedelta(days=1):  # a feed dated in the future: it is new now
        published = now
    return NormalisedArticle(
        url=url,
        fingerprint=fingerprint(title, text),
        guid=strip_controls(entry.guid)[:2000],
        title=title[:1000],
        author=clean_title(entry.author)[:500],
        text=text,
        text_kind="full" if full else "excerpt",
        words=words,
        published_at=published,
        content_hash=_hash(text),
    )


def canonical_url(url: str) -> str:
    """One spelling per page: lower-case scheme and host, no default port, no fragment,
    no tracking parameters (`utm_*`, `fbclid`, Medium's `source=rss…`), sorted query.

    >>> canonical_url("HTTPS://Example.com:443/a?utm_source=x&b=2&a=1#top")
    'https://example.com/a?a=1&b=2'
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_tracking(key, value)
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


def _is_tracking(key: str, value: str) -> bool:
    key = key.lower()
    if key.startswith(("utm_", "hmb_", "pk_", "mtm_", "ga_")) or key in _TRACKING:
        return True
    return key == "source" and value.lower().startswith("rss")  # Medium: ?source=rss----…


def strip_controls(text: str) -> str:
    """Text without control characters, but tab and newline (a CR ends a line).

    Feeds carry them (feedparser's loose parser lets a raw NUL or ESC through, and `&#27;`
    decodes to one): PostgreSQL refuses a NUL in a text column, XML 1.0 allows none of
    them, and an ESC sequence printed by `digest articles` would drive the reader's terminal.

    >>> strip_controls("Hello\\x00world \\x1b[31mred\\r\\n")
    'Helloworld [31mred\\n'
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", text)


def clean_title(raw: str) -> str:
    """Tags stripped (escaped ones too), entities decoded, controls dropped, whitespace
    collapsed."""
    text = html.unescape(raw) if "&" in raw else raw
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:  # double-escaped titles (`&amp;amp;`) are common in the wild
        text = html.unescape(text)
    return " ".join(strip_controls(text).split())


def html_to_text(markup: str) -> str:
    """HTML (or plain text) → plain text with paragraph breaks; scripts and styles dropped."""
    if not markup or not markup.strip():
        return ""
    markup = strip_controls(markup)  # before lxml, which turns a NUL into U+FFFD
    if "<" not in markup:
        return _tidy(html.unescape(markup))
    # lxml here, in the workers that parse (as feedparser): the fetching process, and an
    # hourly run of unchanged feeds, never convert HTML (~20 ms of imports)
    from lxml import etree
    from lxml import html as lxml_html

    try:
        root = lxml_html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return _tidy(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    parts: list[str] = []
    _walk(root, parts)
    return _tidy("".join(parts))


def _walk(node: etree._Element, parts: list[str]) -> None:
    tag = node.tag if isinstance(node.tag, str) else ""
    tag = tag.lower()
    if tag in _DROP:
        if node.tail:
            parts.append(node.tail)
        return
    block = tag in _BLOCKS
    if block:
        parts.append("\n")
    if node.text and isinstance(node.tag, str):
        parts.append(node.text)
    for child in node:
        _walk(child, parts)
    if block:
        parts.append("\n")
    if node.tail:
        parts.append(node.tail)


def _tidy(text: str) -> str:
    text = strip_controls(text).replace("\xa0", " ")  # again: `&#27;` unescapes to one
    lines = [" ".join(line.split()) for line in text.splitlines()]
    paragraphs: list[str] = []
    for line in lines:
        if line:
            paragraphs.append(line)
    return "\n\n".join(paragraphs)


def _title_from_text(text: str) -> str:
    words = text.split()[:12]
    return " ".join(words) + ("…" if len(text.split()) > 12 else "")


def fingerprint(title: str, text: str) -> str:
    """Same for near-identical copies of one post: normalised title + its first words."""
    words = _fold(text).split()[:FINGERPRINT_WORDS]
    key = _fold(title) + "|" + " ".join(words)
    return hashlib.sha256(key.encode()).hexdigest()


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()

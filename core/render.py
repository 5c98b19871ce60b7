"""Digests → Markdown, plain text, standalone HTML or JSON, through jinja2 templates.

Why templates: wording and layout change far more often than the data, and the newsletter and
web archive reuse the same blocks: `templates/partials/{daily,weekly}_body.html` are the one
HTML body of each digest, included by the standalone HTML, the archive pages, the archive's
RSS items and the email. `make_environment(medium)` is the one jinja2 Environment factory;
the media differ only in options (strict undefined and kept trailing newlines for files,
lenient for web pages, XML autoescaped for feeds). HTML is autoescaped (feed titles are untrusted text); the
Markdown templates escape through the `md` filter, and every link goes through `safe_url`, so
a `javascript:` link in a feed never becomes a clickable link anywhere. JSON is `to_dict()`
exactly: it is the stable interface for scripts.
"""

from __future__ import annotations

import json
import re
import textwrap
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2

from core.errors import ConfigError
from core.model import DailyDigest, WeeklyRollup
from core.sources import DEFAULT_EDITION  # the edition the archive serves at /

__all__ = [
    "FORMATS",
    "MEDIA",
    "DEFAULT_EDITION",
    "TEMPLATES",
    "archive_url",
    "make_environment",
    "render_daily",
    "render_weekly",
    "safe_url",
    "shorten",
    "stats_line",
]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FORMATS = {"md": "markdown", "markdown": "markdown", "html": "html", "text": "text", "txt": "text"}
_NOUNS = {"videos": "channels"}  # what an edition checks: blogs, or YouTube channels


TITLE_LIMIT = 200  # characters of a title shown (the link keeps the rest)


def safe_url(url: str) -> str:
    """Only http(s) links and our own site paths survive; anything else (javascript:, data:,
    a protocol-relative //host) becomes '#'.

    Every link in every template goes through this one check.

    Example: `safe_url("javascript:alert(1)")` → "#"; `safe_url("/weekly/2026-W14")` is kept.
    """
    url = (url or "").strip()
    return url if re.match(r"^(https?://|/(?![/\\]))", url, re.IGNORECASE) else "#"


_ARCHIVE_PATHS = {
    "index": "/",
    "feed": "/feed.xml",
    "tag": "/tags/{tag}",
    "tag_feed": "/tags/{tag}/feed.xml",
    "daily": "{prefix}/daily/{period}",
    "weekly": "{prefix}/weekly/{period}",
}


def archive_url(
    base_url: str = "",
    *,
    kind: str,
    edition: str | None = None,
    period: str = "",
    tag: str = "",
    default_edition: str = DEFAULT_EDITION,
) -> str:
    """The web archive's address of a page: the one place that spells the URL scheme, for
    the archive's own links, the email's "read on the web" and Slack's "more in the archive".

    `kind` is index | daily | weekly | tag | feed | tag_feed. The default edition lives at
    the root, the others under `/<edition>/` (their index at `/?edition=<edition>`). With
    `base_url` (PUBLIC_BASE_URL) the address is absolute, as mail, Slack and feeds need.

    ```
    >>> archive_url("https://digest.example/", edition="reads", kind="daily", period="2026-04-01")
    'https://digest.example/reads/daily/2026-04-01'
    >>> archive_url(kind="tag", tag="security")
    '/tags/security'
    ```
    """
    other = edition is not None and edition != default_edition
    path = _ARCHIVE_PATHS[kind].format(
        prefix=f"/{edition}" if other else "", period=period, tag=tag
    )
    if kind == "index" and other:
        path += f"?edition={edition}"
    return base_url.rstrip("/") + path


def shorten(text: str, limit: int = TITLE_LIMIT) -> str:
    """A title for display: at most `limit` characters, cut at a word where there is one."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit // 2, limit)
    return text[: cut if cut > 0 else limit - 1].rstrip() + "…"


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=72, break_long_words=False, break_on_hyphens=False)


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]


def _md(text: str) -> str:
    """Escape Markdown's active characters in feed-provided text."""
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text or "")


def _md_url(url: str) -> str:
    return quote(safe_url(url), safe=":/?#[]@!$&'*+,;=%~.-_")


def _when(day: Any) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


# Per-medium options. "files" are the digests we print and mail (markdown, text, html,
# email): a missing value is a bug, so undefined is strict, and the last newline is kept.
# "web" pages tolerate an absent optional value (a page without a feed link) and feeds are
# XML, escaped like HTML.
MEDIA: dict[str, dict[str, Any]] = {
    "files": {"undefined": jinja2.StrictUndefined, "keep_trailing_newline": True},
    "web": {"undefined": jinja2.Undefined, "keep_trailing_newline": False},
}


@lru_cache(maxsize=8)
def make_environment(medium: str = "files", path: str = str(TEMPLATES)) -> jinja2.Environment:
    """The jinja2 environment over `templates/` for one medium ("files" or "web"): the
    same loader, autoescaping and filters everywhere, the options of `MEDIA[medium]`.

    Example: `make_environment("web").get_template("web/index.html")`.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(path),
        autoescape=jinja2.select_autoescape(["html", "html.j2", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
        **MEDIA[medium],
    )
    env.filters.update(
        md=_md,
        md_url=_md_url,
        safe_url=safe_url,
        when=_when,
        shorten=shorten,
        host=_host,
        wrap=_wrap,
        paragraphs=_paragraphs,
    )
    return env


def _format(fmt: str) -> str:
    key = fmt.strip().lower()
    if key == "json" or key in FORMATS:
        return key
    raise ConfigError(f"unknown format {fmt!r} (choose md, html, text or json)")


def _render(kind: str, value: DailyDigest | WeeklyRollup, fmt: str) -> str:
    key = _format(fmt)
    if key == "json":
        return json.dumps(value.to_dict(), ensure_ascii=False, indent=2) + "\n"
    medium = FORMATS[key]
    suffix = {"markdown": "md", "html": "html", "text": "txt"}[medium]
    template = make_environment().get_template(f"{medium}/{kind}.{suffix}.j2")
    body = {"daily": "digest", "weekly": "rollup"}[kind]  # the partials' name for it
    text = template.render({"d": value, body: value, "stats_line": stats_line(value)})
    return re.sub(r"\n{3,}", "\n\n", text)


def stats_line(value: DailyDigest | WeeklyRollup) -> str:
    """'31 blogs checked · 5 new posts …' with the edition's noun (blogs, channels)."""
    return value.stats.line(_NOUNS.get(value.edition, "blogs"))


def render_daily(digest: DailyDigest, fmt: str = "md") -> str:
    """A daily digest as text in `fmt`: md | html | text | json.

    Example: `render_daily(digest, "md")` → "# Engineering @ Scale — 2026-04-01\\n\\n31 blogs …".
    Raises `ConfigError` for an unknown format.
    """
    return _render("daily", digest, fmt)


def render_weekly(rollup: WeeklyRollup, fmt: str = "md") -> str:
    """A weekly rollup as text in `fmt`: md | html | text | json."""
    return _render("weekly", rollup, fmt)

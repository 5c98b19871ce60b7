"""Digests → Markdown, plain text, standalone HTML or JSON, through jinja2 templates.

Why templates: wording and layout change far more often than the data, and the newsletter and
web archive reuse the same blocks. HTML is autoescaped (feed titles are untrusted text); the
Markdown templates escape through the `md` filter, and every link goes through `safe_url`, so
a `javascript:` link in a feed never becomes a clickable link anywhere. JSON is `to_dict()`
exactly: it is the stable interface for scripts.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from core.errors import ConfigError
from core.model import DailyDigest, WeeklyRollup

__all__ = [
    "FORMATS",
    "TEMPLATES",
    "archive_url",
    "make_environment",
    "render_daily",
    "render_weekly",
    "safe_url",
]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FORMATS = {"md": "markdown", "markdown": "markdown", "html": "html", "text": "text", "txt": "text"}
_NOUNS = {"videos": "channels"}  # what an edition checks: blogs, or YouTube channels


def safe_url(url: str) -> str:
    """Only http(s) links survive; anything else (javascript:, data:) becomes '#'.

    Every medium that links feed-provided URLs (digests, email, web) uses this one check.
    """
    url = (url or "").strip()
    return url if re.match(r"^https?://", url, re.IGNORECASE) else "#"


def archive_url(
    base_url: str, *, edition: str, kind: str, period: str, default_edition: str = "tech"
) -> str:
    """The web archive's address of one digest, for links from mail and Slack.

    The archive (app/web.py) serves the default edition at `/daily/D` and `/weekly/W`, the
    others under their key: `/reads/daily/D`.

    ```
    >>> archive_url("https://digest.example/", edition="reads", kind="daily", period="2026-04-01")
    'https://digest.example/reads/daily/2026-04-01'
    ```
    """
    prefix = "" if edition == default_edition else f"/{edition}"
    return f"{base_url.rstrip('/')}{prefix}/{kind}/{period}"


def _md(text: str) -> str:
    """Escape Markdown's active characters in feed-provided text."""
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text or "")


def _md_url(url: str) -> str:
    return quote(safe_url(url), safe=":/?#[]@!$&'*+,;=%~.-_")


def _when(day: Any) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


@lru_cache(maxsize=4)
def make_environment(path: str = str(TEMPLATES)) -> jinja2.Environment:
    """The jinja2 environment over `templates/`: autoescape for .html, strict undefined."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(path),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=_md, md_url=_md_url, safe_url=safe_url, when=_when)
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
    noun = _NOUNS.get(value.edition, "blogs")
    text = template.render(d=value, stats_line=value.stats.line(noun))
    return re.sub(r"\n{3,}", "\n\n", text)


def render_daily(digest: DailyDigest, fmt: str = "md") -> str:
    """A daily digest as text in `fmt`: md | html | text | json.

    Example: `render_daily(digest, "md")` → "# Engineering @ Scale — 2026-04-01\\n\\n31 blogs …".
    Raises `ConfigError` for an unknown format.
    """
    return _render("daily", digest, fmt)


def render_weekly(rollup: WeeklyRollup, fmt: str = "md") -> str:
    """A weekly rollup as text in `fmt`: md | html | text | json."""
    return _render("weekly", rollup, fmt)

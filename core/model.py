"""Frozen values passed between pipeline stages.

Digests (`DailyDigest`, `WeeklyRollup`) are stored as JSON (`to_dict` / `from_dict`) and
read back by every front-end, so their field names are a stable interface: the `--format
json` output of `digest daily` / `digest weekly` is exactly `to_dict()`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

__all__ = [
    "ArticleRef",
    "DailyDigest",
    "DeepDive",
    "Edition",
    "FetchResult",
    "ParsedEntry",
    "Pattern",
    "Signal",
    "Source",
    "Stats",
    "Story",
    "WeeklyRollup",
]


@dataclass(frozen=True)
class Edition:
    """A named digest over a set of sources, with its own section names."""

    key: str
    title: str
    description: str = ""
    signal_title: str = "Signal of the Day"
    deep_dives_title: str = "Deep Dives"
    patterns_title: str = "Patterns Across Companies"


@dataclass(frozen=True)
class Source:
    """One feed as configured in sources.toml."""

    name: str
    company: str
    url: str
    edition: str
    tags: tuple[str, ...] = ()
    weight: float = 1.0
    enabled: bool = True


@dataclass(frozen=True)
class FetchResult:
    """What one conditional GET of a feed produced."""

    url: str  # the URL requested
    final_url: str  # after redirects
    status: int  # HTTP status (200, 304, …); 0 when no response arrived
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # new URL to remember after a 301/308
    retry_after: datetime | None = None  # back off until then (429/503)
    error: str | None = None  # plain-words reason when the fetch failed
    never_connected: bool = False  # failed before any connection: DNS, refused, unreachable

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class ParsedEntry:
    """One feed entry as parsed, before normalisation."""

    title: str
    link: str
    guid: str
    html: str  # the richest body the feed carried (content:encoded, content, summary, media:description)
    summary_html: str  # the short description, if any
    published: datetime | None  # UTC
    updated: datetime | None  # UTC
    author: str = ""
    is_full_content: bool = False  # the feed carried the full post, not an excerpt


@dataclass(frozen=True)
class DeepDive:
    """The summary of one article."""

    article_url: str
    text: str
    summariser: str  # "extractive" | "llm" | "title-only"
    model: str = ""
    tokens: int = 0


@dataclass(frozen=True)
class ArticleRef:
    """An article as it appears inside a digest: enough to show and link it."""

    title: str
    company: str
    url: str
    source: str = ""
    published: str = ""  # ISO 8601
    text: str = ""  # its deep dive
    tags: tuple[str, ...] = ()
    summariser: str = ""
    score: float = 0.0


@dataclass(frozen=True)
class Signal:
    """The day's most significant post, and why it was chosen."""

    url: str
    title: str
    company: str
    text: str
    why: str
    related: tuple[str, ...] = ()  # URLs of the other companies' posts on its theme that day


@dataclass(frozen=True)
class Pattern:
    """A theme shared by several companies."""

    theme: str
    companies: tuple[str, ...]
    urls: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Story:
    """One of the week's top stories: a theme grouping one or more posts."""

    theme: str
    companies: tuple[str, ...]
    urls: tuple[str, ...]
    text: str
    articles: tuple[ArticleRef, ...] = ()


@dataclass(frozen=True)
class Stats:
    sources_checked: int = 0
    posts: int = 0
    minutes_saved: int = 0
    unreachable: int = 0  # of the sources, those whose last fetch failed (or never happened)

    def line(self, noun: str = "blogs") -> str:
        """'31 blogs checked · 7 new posts · ~54 min of reading saved'.

        With unreachable sources: '28 of 31 blogs read · 7 new posts · …'.
        """
        posts = "post" if self.posts == 1 else "posts"
        if self.sources_checked == 1 and noun.endswith("s"):
            noun = noun[:-1]
        checked = f"{self.sources_checked} {noun} checked"
        if self.unreachable:
            checked = (
                f"{self.sources_checked - self.unreachable} of {self.sources_checked} {noun} read"
            )
        return f"{checked} · {self.posts} new {posts} · ~{self.minutes_saved} min of reading saved"

    def quiet_day(self) -> str:
        """Why a daily digest has no posts, without blaming publishers for our failed fetches."""
        total, failed = self.sources_checked, self.unreachable
        read = total - failed
        if failed and not read:
            if total == 1:
                return "No new posts today: the source could not be read."
            return f"No new posts today: none of the {total} sources could be read."
        if failed:
            if read == 1:
                return (
                    f"No new posts today: the one source read published nothing new "
                    f"({failed} could not be read)."
                )
            return (
                f"No new posts today: none of the {read} sources read published anything "
                f"new ({failed} could not be read)."
            )
        if total == 1:
            return "No new posts today: the source published nothing new."
        return f"No new posts today: none of the {total} sources published anything new."


@dataclass(frozen=True)
class DailyDigest:
    edition: str
    date: date
    title: str  # "Engineering @ Scale — 2026-04-01"
    stats: Stats
    sources: tuple[str, ...]  # names of the sources checked
    signal: Signal | None
    deep_dives: tuple[ArticleRef, ...]
    patterns: tuple[Pattern, ...]
    tags: tuple[str, ...] = ()
    section_titles: dict[str, str] = field(default_factory=dict)  # signal/deep_dives/patterns

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["date"] = self.date.isoformat()
        plain: dict[str, Any] = _lists(data)
        return plain

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DailyDigest:
        return cls(
            edition=data["edition"],
            date=date.fromisoformat(data["date"]),
            title=data["title"],
            stats=Stats(**data["stats"]),
            sources=tuple(data.get("sources", ())),
            signal=_signal(data["signal"]) if data.get("signal") else None,
            deep_dives=tuple(_article(a) for a in data.get("deep_dives", ())),
            patterns=tuple(_pattern(p) for p in data.get("patterns", ())),
            tags=tuple(data.get("tags", ())),
            section_titles=dict(data.get("section_titles", {})),
        )


@dataclass(frozen=True)
class WeeklyRollup:
    edition: str
    week: str  # ISO week, "2026-W14"
    title: str  # "Engineering @ Scale — Week 2026-W14"
    start: date  # Monday
    end: date  # Sunday
    stats: Stats
    week_in_review: str
    top_stories: tuple[Story, ...]
    patterns: tuple[Pattern, ...]
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        plain: dict[str, Any] = _lists(data)
        return plain

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WeeklyRollup:
        return cls(
            edition=data["edition"],
            week=data["week"],
            title=data["title"],
            start=date.fromisoformat(data["start"]),
            end=date.fromisoformat(data["end"]),
            stats=Stats(**data["stats"]),
            week_in_review=data["week_in_review"],
            top_stories=tuple(
                Story(
                    theme=s["theme"],
                    companies=tuple(s["companies"]),
                    urls=tuple(s["urls"]),
                    text=s["text"],
                    articles=tuple(_article(a) for a in s.get("articles", ())),
                )
                for s in data.get("top_stories", ())
            ),
            patterns=tuple(_pattern(p) for p in data.get("patterns", ())),
            tags=tuple(data.get("tags", ())),
        )


def _signal(data: dict[str, Any]) -> Signal:
    return Signal(**{**data, "related": tuple(data.get("related", ()))})


def _article(data: dict[str, Any]) -> ArticleRef:
    return ArticleRef(**{**data, "tags": tuple(data.get("tags", ()))})


def _pattern(data: dict[str, Any]) -> Pattern:
    return Pattern(
        theme=data["theme"],
        companies=tuple(data["companies"]),
        urls=tuple(data["urls"]),
        text=data["text"],
    )


def _lists(value: Any) -> Any:
    """Tuples become lists so the dict is plain JSON and compares equal after a round trip."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value

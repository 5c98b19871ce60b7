"""The archive's pages and our own RSS feeds, over the stored digests.

A page is any past period's digest as its stored posts make it (`core.digests.Digests`: the
stored digest while its posts are unchanged, composed again when they changed); lists and
feeds show the stored digests, which every ingest brings up to date for the recent periods
with posts. Addresses come from `core.render.archive_url`, the one place that spells them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from archive.search import search_route
from core import render
from core.config import Settings
from core.dates import day_bounds, iso_week, parse_iso_week, week_days
from core.digests import Digests
from core.errors import DigestError
from core.model import DailyDigest, Edition, WeeklyRollup
from core.sources import default_edition
from storage.digests import list_digests, load_digest
from storage.tables import Digest

__all__ = ["Archive"]

log = logging.getLogger(__name__)

_TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
_EDITION = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
_FEED_ITEMS = 30
_FEED_CACHE = 64  # feed bodies kept (one per tag, plus the main feed)


class Archive:
    """The archive's endpoints. Sync on purpose: Starlette runs them in its thread pool,
    so a slow database never blocks the event loop that answers Slack."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        editions: dict[str, Edition],
        digests: Digests,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.digests = digests
        self.tz = settings.tz
        self.base_url = settings.public_base_url.rstrip("/")
        self.editions = editions
        self.default = default_edition(list(self.editions))
        # the shared environment, with this archive's url() and title on an overlay
        self.env = render.make_environment("web").overlay()
        self.env.globals.update(url=self.url, site_title=self._title(self.default))
        self._feeds: dict[tuple[Any, ...], str] = {}
        self._feeds_lock = threading.Lock()

    def routes(self) -> list[BaseRoute]:
        """Every archive address, for app/web.py to mount beside the other front-ends."""
        return [
            Route("/", self.index, name="index"),
            Route("/feed.xml", self.feed, name="feed"),
            Route("/tags/{tag}", self.tag, name="tag"),
            Route("/tags/{tag}/feed.xml", self.feed, name="tag_feed"),
            Route("/daily/{day}", self.daily, name="daily"),
            Route("/weekly/{week}", self.weekly, name="weekly"),
            search_route(engine=self.engine, env=self.env, editions=self.editions),
            Route("/{edition}/daily/{day}", self.daily, name="edition_daily"),
            Route("/{edition}/weekly/{week}", self.weekly, name="edition_weekly"),
        ]

    # --- pages --------------------------------------------------------------------------

    def index(self, request: Request) -> Response:
        edition = request.query_params.get("edition") or self.default
        if not _EDITION.match(edition) or (self.editions and edition not in self.editions):
            raise HTTPException(404)
        with Session(self.engine) as session:  # payloads read: each entry shows its headline
            weekly = list_digests(session=session, edition=edition, kind="weekly", limit=8)
            daily = list_digests(session=session, edition=edition, kind="daily", limit=60)
        return self._page(
            request=request,
            template="index.html",
            edition=edition,
            edition_title=self._title(edition),
            description=self.editions.get(edition, Edition(edition, edition)).description,
            editions=self._edition_links(),
            weekly=[self._entry(r) for r in weekly],
            daily=[self._entry(r) for r in daily],
            tags=_tag_counts(weekly + daily),
            page_description=self._description(edition),
        )

    def daily(self, request: Request) -> Response:
        edition = self._edition_param(request)
        try:
            day = date.fromisoformat(request.path_params["day"])
        except ValueError:
            raise HTTPException(404) from None
        digest = self.digests.daily(edition, day) if edition in self.editions else None
        if digest is None or not digest.deep_dives:  # a future day, or one without posts
            raise HTTPException(404)
        return self._page(
            request=request,
            template="daily.html",
            digest=digest,
            stats_line=render.stats_line(digest),
            edition=edition,
            edition_title=self._title(edition),
            page_description=_headline(digest.to_dict(), "daily")[1] or self._description(edition),
            neighbours=self._neighbours(edition, "daily", day.isoformat()),
        )

    def weekly(self, request: Request) -> Response:
        edition = self._edition_param(request)
        try:
            monday = parse_iso_week(request.path_params["week"])
        except DigestError:
            raise HTTPException(404) from None
        week = iso_week(monday)
        rollup = self.digests.weekly(edition, week) if edition in self.editions else None
        if rollup is None or rollup.stats.posts == 0:  # not started, or without posts
            raise HTTPException(404)
        return self._page(
            request=request,
            template="weekly.html",
            rollup=rollup,
            stats_line=render.stats_line(rollup),
            edition=edition,
            edition_title=self._title(edition),
            page_description=_headline(rollup.to_dict(), "weekly")[1] or self._description(edition),
            neighbours=self._neighbours(edition, "weekly", week),
        )

    def tag(self, request: Request) -> Response:
        tag = self._tag_param(request)
        rows = self._tagged(tag, limit=60)
        if not rows:  # a tag no digest carries is not a page (the feed stays, empty)
            raise HTTPException(404)
        return self._page(
            request=request,
            template="tag.html",
            tag=tag,
            entries=[self._entry(r) for r in rows],
            feed_url=self.url("tag_feed", tag=tag),
        )

    def feed(self, request: Request) -> Response:
        """RSS 2.0, newest period first; each item carries the whole digest as HTML and is
        dated by its period (a day, or a week's Sunday), not by when it was composed.

        Rendering 30 whole digests is most of a feed's cost, and feed readers poll far more
        often than digests change, so the body is kept per (tag, digests listed, their
        composed_at) and rebuilt only when one of them changes.
        """
        tag = self._tag_param(request) if "tag" in request.path_params else None
        with Session(self.engine) as session:
            if tag:
                rows = self._tagged(tag, limit=_FEED_ITEMS, session=session)
            else:
                heads = {"with_payload": False}
                rows = list_digests(session=session, kind="daily", limit=_FEED_ITEMS, **heads)
                rows += list_digests(
                    session=session, kind="weekly", limit=_FEED_ITEMS // 5, **heads
                )
            rows = sorted(rows, key=self._period_start, reverse=True)[:_FEED_ITEMS]
            key = (tag, tuple((r.id, r.composed_at) for r in rows))
            with self._feeds_lock:
                body = self._feeds.get(key)
            if body is None:
                body = self._render_feed(tag, rows, session=session)
                with self._feeds_lock:
                    if len(self._feeds) >= _FEED_CACHE:
                        self._feeds.pop(next(iter(self._feeds)))
                    self._feeds[key] = body
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)  # readers poll; most polls end here
        return Response(body, media_type="application/rss+xml; charset=utf-8", headers=headers)

    def _render_feed(self, tag: str | None, rows: list[Digest], *, session: Session) -> str:
        if tag:
            title = f"{self._title(self.default)} · {tag}"
            self_url = self.url("tag_feed", tag=tag, absolute=True)
            home = self.url("tag", tag=tag, absolute=True)
        else:
            title = self._title(self.default)
            self_url, home = self.url("feed", absolute=True), self.url("index", absolute=True)
        return self.env.get_template("web/feed.xml").render(
            title=title,
            home=home,
            self_url=self_url,
            description=f"Daily digests and weekly rollups from {title}",
            updated=format_datetime(max(r.composed_at for r in rows)) if rows else None,
            items=[self._feed_item(r, session=session) for r in rows],
        )

    def not_found(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return self._page(
            template="not_found.html", request=request, status_code=status, path=request.url.path
        )

    # --- helpers ------------------------------------------------------------------------

    def url(self, name: str, *, absolute: bool = False, **params: Any) -> str:
        """The path of a page; `absolute` prefixes PUBLIC_BASE_URL (feeds need whole URLs).

        Pages link by path so they work under any host name the app is reached by.
        """
        period = str(params.get("day") or params.get("week") or "")
        return render.archive_url(
            self.base_url if absolute else "",
            kind=name,
            edition=params.get("edition"),
            period=period,
            tag=str(params.get("tag", "")),
            default_edition=self.default,
        )

    def _page(
        self, template: str, *, request: Request, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        context.setdefault("page_description", self._description(self.default))
        context["page_url"] = self.base_url + request.url.path  # OpenGraph wants it whole
        if request.url.query:
            context["page_url"] += "?" + request.url.query
        html = self.env.get_template(f"web/{template}").render(**context)
        return HTMLResponse(html, status_code=status_code)

    def _tagged(self, tag: str, *, limit: int, session: Session | None = None) -> list[Digest]:
        if session is None:
            with Session(self.engine) as own:
                return self._tagged(tag, limit=limit, session=own)
        rows = list_digests(session=session, tag=tag, limit=limit * 4, with_payload=False)
        return [r for r in rows if tag in r.tags.split(",")][:limit]  # `contains` is a substring

    def _edition_param(self, request: Request) -> str:
        edition = request.path_params.get("edition", self.default)
        if not _EDITION.match(edition) or edition == "tags":
            raise HTTPException(404)
        return str(edition)

    def _tag_param(self, request: Request) -> str:
        tag = str(request.path_params["tag"]).lower()
        if not _TAG.match(tag):
            raise HTTPException(404)
        return tag

    def _description(self, edition: str) -> str:
        found = self.editions.get(edition)
        return (found.description if found else "") or (
            f"Daily digests and weekly rollups from {self._title(edition)}"
        )

    def _neighbours(self, edition: str, kind: str, period: str) -> dict[str, dict[str, str]]:
        """The previous and next stored issues of the same edition and kind, as links."""
        with Session(self.engine) as session:
            rows = list_digests(
                session=session, edition=edition, kind=kind, limit=1000, with_payload=False
            )
        periods = [r.period for r in rows]  # newest first
        if period not in periods:
            return {}
        at = periods.index(period)
        found: dict[str, dict[str, str]] = {}
        for name, index in (("next", at - 1), ("previous", at + 1)):
            if 0 <= index < len(rows):
                found[name] = self._entry(rows[index])
        return found

    def _title(self, edition: str) -> str:
        found = self.editions.get(edition)
        return found.title if found else "Engineering @ Scale"

    def _edition_links(self) -> list[dict[str, str]]:
        return [
            {"key": key, "title": e.title, "url": self.url("index", edition=key)}
            for key, e in self.editions.items()
        ]

    def _entry(self, row: Digest, *, absolute: bool = False) -> dict[str, Any]:
        if row.kind == "daily":
            link = self.url("daily", edition=row.edition, day=row.period, absolute=absolute)
        else:
            link = self.url("weekly", edition=row.edition, week=row.period, absolute=absolute)
        headline, teaser = _headline(_payload(row), row.kind)
        return {
            "title": row.title,
            "headline": headline,
            "teaser": teaser,
            "kind": row.kind,
            "period": row.period,
            "edition": row.edition,
            "url": link,
            "tags": [t for t in row.tags.split(",") if t],
            "when": _period_label(row.kind, row.period),
        }

    def _feed_item(self, row: Digest, *, session: Session) -> dict[str, Any]:
        """One feed item; rows are listed without their payload, loaded here one by one."""
        entry = self._entry(row, absolute=True)
        payload = (
            load_digest(session=session, edition=row.edition, kind=row.kind, period=row.period)
            or {}
        )
        if row.kind == "daily":
            digest = DailyDigest.from_dict(payload)
            html = self.env.get_template("partials/daily_body.html").render(
                digest=digest, stats_line=render.stats_line(digest)
            )
        else:
            html = self.env.get_template("partials/weekly_body.html").render(
                rollup=WeeklyRollup.from_dict(payload)
            )
        return {**entry, "html": html, "published": format_datetime(self._period_start(row))}

    def _period_start(self, row: Digest) -> datetime:
        """When an item's period is dated: its day, or its week's Sunday (after the week's
        days), at midnight in DIGEST_TZ. Undated rows sort last."""
        try:
            day = (
                date.fromisoformat(row.period) if row.kind == "daily" else week_days(row.period)[1]
            )
        except (ValueError, DigestError):
            return datetime.min.replace(tzinfo=UTC)
        return day_bounds(day, self.tz)[0].astimezone(self.tz)


def _period_label(kind: str, period: str) -> str:
    """'2026-04-01' → 'Wed 1 Apr 2026'; '2026-W14' → 'Week 14: 30 Mar – 5 Apr 2026'."""
    try:
        if kind == "daily":
            day = date.fromisoformat(period)
            return f"{day:%a} {day.day} {day:%b %Y}"
        monday, sunday = week_days(period)
        return f"Week {monday.isocalendar()[1]}: {monday.day} {monday:%b} – {sunday.day} {sunday:%b %Y}"
    except (ValueError, DigestError):
        return period


def _payload(row: Digest) -> dict[str, Any]:
    """The row's stored digest as a dict; {} when the list left it unread or it is damaged."""
    if "payload" not in row.__dict__:  # deferred by `with_payload=False`
        return {}
    try:
        value = json.loads(row.payload)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _headline(payload: dict[str, Any], kind: str) -> tuple[str, str]:
    """(headline, one-line teaser) of a stored digest: the Signal and its first sentence for
    a day, the lead story and the review's first sentence for a week."""
    if kind == "daily":
        signal = payload.get("signal") or {}
        headline, text = str(signal.get("title") or ""), str(signal.get("text") or "")
    else:
        stories = payload.get("top_stories") or [{}]
        headline = str(stories[0].get("theme") or "")
        text = str(payload.get("week_in_review") or "")
    return render.shorten(headline), _first_sentence(text)


def _first_sentence(text: str, limit: int = 180) -> str:
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return render.shorten(match.group(1) if match else text, limit)


def _tag_counts(rows: list[Digest]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for row in rows:
        for tag in filter(None, row.tags.split(",")):
            counts[tag] = counts.get(tag, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:30]

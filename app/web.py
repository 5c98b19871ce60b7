"""The one ASGI app of `digest serve`: Slack, the newsletter pages, the archive, feeds, health.

Pages are plain server-rendered HTML (`templates/web/`). A page is any past period's digest
as its stored posts make it (`app.pipeline.Pipeline`: the stored digest while its posts are
unchanged, composed again when they changed); lists and feeds show the stored digests, which
every ingest brings up to date for the recent periods with posts. The Slack and newsletter routes are built by
their own front-ends (`build_routes`) and mounted here; this module owns only the archive:

```
/                          index of digests (?edition=reads for another edition)
/daily/2026-04-01          a daily digest of the default edition (/reads/daily/… for others)
/weekly/2026-W14           a weekly rollup (/reads/weekly/… for others)
/tags/<tag>                digests carrying a tag
/search?q=…                full-text search of the articles (app/search_page.py)
/feed.xml                  RSS 2.0 of our own digests; /tags/<tag>/feed.xml per tag
/healthz                   200 when the database answers, 503 when it does not
```

No scheduler is started here (a web process may run several copies of this app); see
`app.worker` and `digest serve --with-worker`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.http_guard import HttpGuard
from app.metrics import build_metrics
from app.pipeline import Pipeline
from app.search_page import search_route
from app.wiring import Runtime
from bot.web import MAX_BODY as SLACK_MAX_BODY
from bot.web import build_routes as slack_routes
from core import render
from core.config import Settings
from core.dates import day_bounds, iso_week, parse_iso_week, week_days
from core.digests import Digests
from core.errors import DigestError
from core.model import DailyDigest, Edition, WeeklyRollup
from newsletter.web import MAX_FORM
from newsletter.web import build_routes as newsletter_routes
from storage.digests import list_digests, load_digest
from storage.tables import Digest

__all__ = ["TEMPLATES", "create_app"]

log = logging.getLogger(__name__)

TEMPLATES = render.TEMPLATES / "web"
DEFAULT_EDITION = "tech"
_TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
_EDITION = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
_FEED_ITEMS = 30
_FEED_CACHE = 64  # feed bodies kept (one per tag, plus the main feed)


def create_app(runtime: Runtime) -> Starlette:
    """Build the web app over one runtime: its settings, its sources file's editions, its
    engine (opened, and migrated, on first use) and its clock.

    Example:

    ```python
    runtime = Runtime(settings=Settings.from_env(os.environ), sources_path="other.toml")
    uvicorn.run(create_app(runtime), port=8000)
    ```
    """
    settings, engine = runtime.settings, runtime.engine
    pipeline = Pipeline(runtime)
    editions = _editions(runtime)
    archive = _Archive(settings=settings, engine=engine, editions=editions, digests=pipeline.reads)
    metrics = build_metrics(settings, engine=engine)  # /metrics when METRICS=1
    routes: list[BaseRoute] = [
        Route("/", archive.index, name="index"),
        Route("/healthz", archive.healthz, name="healthz"),
        Route("/feed.xml", archive.feed, name="feed"),
        Route("/tags/{tag}", archive.tag, name="tag"),
        Route("/tags/{tag}/feed.xml", archive.feed, name="tag_feed"),
        Route("/daily/{day}", archive.daily, name="daily"),
        Route("/weekly/{week}", archive.weekly, name="weekly"),
        search_route(engine=engine, env=archive.env, editions=archive.editions),
        *metrics.routes,
        *slack_routes(
            settings=settings,
            engine=engine,
            editions=list(editions),
            digests=pipeline.reads,
            clock=runtime.clock,
            observe_ack=metrics.observe_ack,
        ),
        *newsletter_routes(settings=settings, engine=engine),
        Route("/{edition}/daily/{day}", archive.daily, name="edition_daily"),
        Route("/{edition}/weekly/{week}", archive.weekly, name="edition_weekly"),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={404: archive.not_found, 405: archive.not_found},
        # headers, body limits and relative redirects for every route (app/http_guard.py)
        middleware=[
            Middleware(HttpGuard, limits=[("/slack/", SLACK_MAX_BODY)], default_limit=MAX_FORM)
        ],
    )


class _Archive:
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
        self.default = (
            DEFAULT_EDITION if DEFAULT_EDITION in self.editions else _first(self.editions)
        )
        self.env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(["html", "xml"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(url=self.url, site_title=self._title(self.default))
        self._feeds: dict[tuple[Any, ...], str] = {}
        self._feeds_lock = threading.Lock()

    # --- pages --------------------------------------------------------------------------

    def index(self, request: Request) -> Response:
        edition = request.query_params.get("edition") or self.default
        if not _EDITION.match(edition):
            raise HTTPException(404)
        with Session(self.engine) as session:
            heads = {"edition": edition, "with_payload": False}
            weekly = list_digests(session=session, kind="weekly", limit=8, **heads)
            daily = list_digests(session=session, kind="daily", limit=60, **heads)
        return self._page(
            "index.html",
            edition=edition,
            edition_title=self._title(edition),
            description=self.editions.get(edition, Edition(edition, edition)).description,
            editions=self._edition_links(),
            weekly=[self._entry(r) for r in weekly],
            daily=[self._entry(r) for r in daily],
            tags=_tag_counts(weekly + daily),
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
            "daily.html", digest=digest, edition=edition, edition_title=self._title(edition)
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
            "weekly.html", rollup=rollup, edition=edition, edition_title=self._title(edition)
        )

    def tag(self, request: Request) -> Response:
        tag = self._tag_param(request)
        rows = self._tagged(tag, limit=60)
        return self._page(
            "tag.html",
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
        return self.env.get_template("feed.xml").render(
            title=title,
            home=home,
            self_url=self_url,
            description=f"Daily digests and weekly rollups from {title}",
            updated=format_datetime(max(r.composed_at for r in rows)) if rows else None,
            items=[self._feed_item(r, session=session) for r in rows],
        )

    def healthz(self, request: Request) -> Response:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            log.warning("healthz database=unreachable error=%r", str(exc).splitlines()[0])
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    def not_found(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return self._page("not_found.html", status_code=status, path=request.url.path)

    # --- helpers ------------------------------------------------------------------------

    def url(self, name: str, *, absolute: bool = False, **params: Any) -> str:
        """The path of a page; `absolute` prefixes PUBLIC_BASE_URL (feeds need whole URLs).

        Pages link by path so they work under any host name the app is reached by.
        """
        edition = params.pop("edition", None)
        if name in ("daily", "weekly") and edition and edition != self.default:
            name, params["edition"] = f"edition_{name}", edition
        paths = {
            "index": "/",
            "feed": "/feed.xml",
            "tag": "/tags/{tag}",
            "tag_feed": "/tags/{tag}/feed.xml",
            "daily": "/daily/{day}",
            "weekly": "/weekly/{week}",
            "edition_daily": "/{edition}/daily/{day}",
            "edition_weekly": "/{edition}/weekly/{week}",
        }
        path = paths[name].format(**params)
        if name == "index" and edition and edition != self.default:
            path += f"?edition={edition}"
        return self.base_url + path if absolute else path

    def _page(self, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(**context)
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
        return {
            "title": row.title,
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
            html = self.env.get_template("_daily_body.html").render(
                digest=DailyDigest.from_dict(payload)
            )
        else:
            html = self.env.get_template("_weekly_body.html").render(
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


def _editions(runtime: Runtime) -> dict[str, Edition]:
    """The runtime's editions; the archive still works when the sources file is unreadable."""
    try:
        return dict(runtime.catalogue.editions)
    except DigestError as exc:
        log.warning("archive editions=unknown error=%r", str(exc))
        return {}


def _first(editions: dict[str, Edition]) -> str:
    return next(iter(editions), DEFAULT_EDITION)


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


def _tag_counts(rows: list[Digest]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for row in rows:
        for tag in filter(None, row.tags.split(",")):
            counts[tag] = counts.get(tag, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:30]

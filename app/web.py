"""The one ASGI app of `digest serve`: Slack, the newsletter pages, the archive, feeds, health.

Each front-end builds its own routes (`bot.web`, `newsletter.web`, `archive.Archive`, which
reads through `app.pipeline.Pipeline.reads`) and they are mounted here; this module owns only
`/healthz` (200 when the database answers, 503 when it does not) and the wiring.

No scheduler is started here (a web process may run several copies of this app); see
`app.worker` and `digest serve --with-worker`.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.http_guard import HttpGuard, server_error
from app.metrics import build_metrics
from app.pipeline import Pipeline
from app.wiring import Runtime
from archive import Archive
from bot.web import MAX_BODY as SLACK_MAX_BODY
from bot.web import build_routes as slack_routes
from core.errors import DigestError
from core.model import Edition
from newsletter.web import MAX_FORM
from newsletter.web import build_routes as newsletter_routes
from storage.db import ping

__all__ = ["create_app"]

log = logging.getLogger(__name__)


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
    archive = Archive(settings=settings, engine=engine, editions=editions, digests=pipeline.reads)
    metrics = build_metrics(settings, engine=engine)  # /metrics when METRICS=1
    routes: list[BaseRoute] = [
        *archive.routes(),
        _healthz(engine),
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
    ]
    return Starlette(
        routes=routes,
        exception_handlers={404: archive.not_found, 405: archive.not_found, 500: server_error},
        # headers, body limits and relative redirects for every route (app/http_guard.py)
        middleware=[
            Middleware(HttpGuard, limits=[("/slack/", SLACK_MAX_BODY)], default_limit=MAX_FORM)
        ],
    )


def _healthz(engine: Engine) -> Route:
    def healthz(request: Request) -> Response:
        try:
            ping(engine)
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            log.warning("healthz database=unreachable error=%r", str(exc).splitlines()[0])
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    return Route("/healthz", healthz, name="healthz")


def _editions(runtime: Runtime) -> dict[str, Edition]:
    """The runtime's editions; the archive still works when the sources file is unreadable."""
    try:
        return dict(runtime.catalogue.editions)
    except DigestError as exc:
        log.warning("archive editions=unknown error=%r", str(exc))
        return {}

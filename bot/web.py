"""HTTP routes of the Slack front-end, mounted by app/web.py.

`POST /slack/events` receives slash commands, button clicks and events. The signature
(v0 HMAC over `v0:{ts}:{body}`, at most 5 minutes old) is verified on the raw bytes before
anything is parsed, so forged, replayed or garbage requests (broken JSON, a non-JSON
`payload=`, a timestamp `abc`) get a 401 without any work: bolt would parse the body
first, and its parser raises on garbage (a 500 and a traceback per request). A signed
body that still cannot be parsed is a 400. With
SLACK_CLIENT_ID/SECRET set, `GET /slack/install` and `GET /slack/oauth_redirect` run
bolt's OAuth flow and store installations in our database.

Why not `slack_bolt.adapter.starlette.SlackRequestHandler.handle` as it comes: it calls
the synchronous `App.dispatch` inside the event loop, so one request blocks every other
one. We use the adapter's request/response converters and run `dispatch` in Starlette's
thread pool instead, so a burst of commands is acknowledged in parallel.

`observe_ack` is how an operator's metrics see the ack path without this package knowing
about Prometheus: `app/metrics.py` passes a callable that feeds its latency histogram.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.acks import acking
from bot.app import build_app
from core.config import Settings
from core.digests import Digests

__all__ = ["MAX_BODY", "AckObserver", "build_routes", "slack_configured", "slack_routes"]

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000  # Slack's payloads are a few kB; refuse anything absurd before parsing

AckObserver = Callable[[str, float], None]
"""Told of each acknowledged slash command: its name (`/digest`) and the seconds from the
request's arrival to the ack being ready (signature check, parse, ack), i.e. the part of
Slack's 3-second deadline we spend. Forged, refused and non-command requests are not told."""


def slack_configured(settings: Settings) -> bool:
    """Whether the web process should serve Slack over HTTP.

    Only SLACK_APP_TOKEN (Socket Mode) and no signing secret means the bot runs in
    `digest slack socket`, not here; nothing set at all means no Slack.
    """
    http_settings = (
        settings.slack_signing_secret,
        settings.slack_client_id,
        settings.slack_client_secret,
    )
    if any(http_settings):
        return True
    return bool(settings.slack_bot_token) and not settings.slack_app_token


def build_routes(
    *,
    settings: Settings,
    engine: Engine,
    editions: Sequence[str],
    digests: Digests,
    clock: Callable[[], datetime] | None = None,
    observe_ack: AckObserver | None = None,
) -> list[BaseRoute]:
    """Starlette routes for /slack/events (and the OAuth install flow when configured).

    Returns no routes when Slack is not configured; raises `ConfigError` naming the
    missing settings when it is half-configured. `observe_ack`: see `AckObserver`.
    """
    if not slack_configured(settings):
        log.info("slack disabled: no SLACK_SIGNING_SECRET / SLACK_BOT_TOKEN set")
        return []
    app = build_app(
        settings, engine=engine, editions=editions, digests=digests, mode="http", clock=clock
    )
    return slack_routes(app, signing_secret=settings.slack_signing_secret, observe_ack=observe_ack)


def slack_routes(
    app: App, *, signing_secret: str, observe_ack: AckObserver | None = None
) -> list[BaseRoute]:
    """The routes serving one bolt App (tests build the App themselves)."""
    verifier = SignatureVerifier(signing_secret)

    async def events(request: Request) -> Response:
        with acking():  # answers running in this process step aside meanwhile
            return await _event(request)

    async def _event(request: Request) -> Response:
        started = time.perf_counter()  # a duration, not a date: monotonic
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("Payload too large", status_code=413)
        if not _signed(verifier, body, request):
            log.info("slack request refused reason=signature bytes=%d", len(body))
            return PlainTextResponse("Invalid request signature", status_code=401)
        try:
            bolt_request = to_bolt_request(request, body)
        except UnicodeDecodeError:
            return PlainTextResponse("Body is not UTF-8", status_code=400)
        except ValueError:  # JSONDecodeError included: signed, yet not Slack's format
            log.warning("slack request refused reason=unparseable bytes=%d", len(body))
            return PlainTextResponse("Body is not a Slack payload", status_code=400)
        bolt_response = await run_in_threadpool(app.dispatch, bolt_request)
        if observe_ack is not None and bolt_response.status == 200:
            parsed = bolt_request.body
            command = parsed.get("command") if isinstance(parsed, dict) else None
            if isinstance(command, str):
                observe_ack(command, time.perf_counter() - started)
        return to_starlette_response(bolt_response)

    routes: list[BaseRoute] = [Route("/slack/events", events, methods=["POST"])]
    flow = app.oauth_flow
    if flow is not None:

        async def install(request: Request) -> Response:
            bolt_request = to_bolt_request(request, b"")
            return to_starlette_response(
                await run_in_threadpool(flow.handle_installation, bolt_request)
            )

        async def oauth_redirect(request: Request) -> Response:
            bolt_request = to_bolt_request(request, b"")
            return to_starlette_response(
                await run_in_threadpool(flow.handle_callback, bolt_request)
            )

        routes += [
            Route(flow.install_path, install, methods=["GET"]),
            Route(flow.redirect_uri_path, oauth_redirect, methods=["GET"]),
        ]
    return routes


def _signed(verifier: SignatureVerifier, body: bytes, request: Request) -> bool:
    """Whether Slack signed these exact bytes within the last five minutes."""
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False  # `abc`, `1e99`, `-1`: slack_sdk would raise on int() or overflow
    return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)

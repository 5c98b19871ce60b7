"""The one slack-bolt App, served over HTTP (`bot.web`) or Socket Mode (`bot.socket`).

Acks never wait behind slow work. Bolt's default listener executor has 5 threads, shared
with lazy listeners; a burst of slow answers pushed later acks to 2 s in our measurement
(shared/research/performance.md, B5). So the App runs with `process_before_response=True`
(the ack function runs inline in the request thread and is pure parsing) and a dedicated,
larger executor for the lazy listeners that read storage and reply via `response_url`.

No module-level App: `build_app()` is the factory, each listener module has `register()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy.engine import Engine

from bot import commands
from bot.acks import AnswerPool, watch
from core.config import Settings
from core.digests import Digests
from core.errors import ConfigError

__all__ = [
    "BOT_SCOPES",
    "build_app",
    "check_settings",
    "installation_store",
    "oauth_enabled",
    "web_client",
]

log = logging.getLogger(__name__)

BOT_SCOPES = ["commands", "chat:write", "chat:write.public", "channels:join"]
LAZY_WORKERS = 32


def oauth_enabled(settings: Settings) -> bool:
    """True when the app is installed per workspace (SLACK_CLIENT_ID/SECRET set)."""
    return bool(settings.slack_client_id and settings.slack_client_secret)


def check_settings(settings: Settings, *, mode: str) -> None:
    """Stop start-up with one line naming the missing Slack settings.

    `mode` is `http` (the /slack/events endpoint), `socket` (Socket Mode) or `post`
    (the daily post from the CLI or the worker).
    """
    missing: list[str] = []
    if bool(settings.slack_client_id) != bool(settings.slack_client_secret):
        missing.append("SLACK_CLIENT_SECRET" if settings.slack_client_id else "SLACK_CLIENT_ID")
    if mode == "http" and not settings.slack_signing_secret:
        missing.append("SLACK_SIGNING_SECRET")
    if mode == "socket" and not settings.slack_app_token:
        missing.append("SLACK_APP_TOKEN")
    if not settings.slack_bot_token and (mode == "socket" or not oauth_enabled(settings)):
        missing.append("SLACK_BOT_TOKEN")
    if (
        mode == "socket"
        and settings.slack_app_token
        and not settings.slack_app_token.startswith("xapp-")
    ):
        raise ConfigError("SLACK_APP_TOKEN: expected an app-level token starting with xapp-")
    if missing:
        what = {"http": "the Slack endpoint", "socket": "Socket Mode", "post": "posting to Slack"}
        raise ConfigError(f"{what.get(mode, 'Slack')} needs {' and '.join(dict.fromkeys(missing))}")


def web_client(
    settings: Settings, token: str | None = None, *, retry_connections: bool = True
) -> WebClient:
    """A Web API client on SLACK_API_URL that retries 429s after Retry-After.

    slack_sdk retries only connection errors by default; the rate-limit handler is opt-in
    (it sleeps `Retry-After` plus jitter). Two retries, then the caller sees the error.
    A 429 means "not posted", so retrying it can never duplicate a message. A dropped
    connection may come after Slack posted, so the daily post passes
    `retry_connections=False`: `bot.post` retries (next run) only what surely did not go out.
    """
    base_url = settings.slack_api_url.rstrip("/") + "/"
    handlers: list[RetryHandler] = [RateLimitErrorRetryHandler(max_retry_count=2)]
    if retry_connections:
        handlers.insert(0, ConnectionErrorRetryHandler(max_retry_count=1))
    return WebClient(token=token or None, base_url=base_url, timeout=15, retry_handlers=handlers)


def installation_store(settings: Settings, *, engine: Engine) -> SQLAlchemyInstallationStore:
    """Bolt's SQLAlchemy installation store in our database (tables created if missing).

    Its tables (`slack_bots`, `slack_installations`) belong to slack_sdk's schema, so they
    are created with its own `create_tables()` (CREATE … IF NOT EXISTS), not by our
    Alembic migrations.
    """
    store = SQLAlchemyInstallationStore(client_id=settings.slack_client_id, engine=engine)
    store.create_tables()
    return store


def _ssl_check(body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse | None:
    """Slack's certificate check: a plain 200, once the signature has been verified."""
    if body.get("ssl_check") == "1":
        return BoltResponse(status=200, body="")
    return next()


def build_app(
    settings: Settings,
    *,
    engine: Engine,
    editions: Sequence[str],
    digests: Digests,
    client: WebClient | None = None,
    mode: str = "http",
    clock: Callable[[], datetime] | None = None,
    executor: Executor | None = None,
) -> App:
    """The bolt App with every listener registered.

    - `editions`: the edition keys `/digest` knows (the runtime's sources file's).
    - `digests`: gives any past period's digest, composed on demand (`core.digests.Digests`).
    - `client`: the Web API client (default: `web_client(settings)` with the bot token).
    - `mode`: `http` or `socket`; decides which settings are required.
    - `clock`: returns an aware datetime (tests fix it); decides what `today` is.
    - `executor`: runs the lazy listeners (default: a dedicated pool of 32 threads whose
      answers step aside while an ack is being made, `bot.acks`).
    """
    check_settings(settings, mode=mode)
    executor = executor or AnswerPool(LAZY_WORKERS, thread_name_prefix="digest-slack")
    watch(engine)  # answers step aside for acks before each statement (bot.acks)
    oauth = oauth_enabled(settings) and mode == "http"
    options: dict[str, object] = {
        "name": "engineering-digest",
        "signing_secret": settings.slack_signing_secret,
        "process_before_response": True,
        "listener_executor": executor,
        # bolt answers ssl_check before verifying the signature; we answer it after.
        "ssl_check_enabled": False,
        "before_authorize": _ssl_check,
        "logger": logging.getLogger("bot.bolt"),
    }
    if oauth:
        store = installation_store(settings, engine=engine)
        state_store = SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=engine)
        state_store.metadata.create_all(engine)
        oauth_settings = OAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=BOT_SCOPES,
            installation_store=store,
            installation_store_bot_only=True,
            state_store=state_store,
            redirect_uri=settings.public_base_url.rstrip("/") + "/slack/oauth_redirect",
        )
        options["client"] = client or web_client(settings)
        options["oauth_flow"] = OAuthFlow(client=options["client"], settings=oauth_settings)  # type: ignore[arg-type]
        options["installation_store"] = store
        options["installation_store_bot_only"] = True
    else:
        # auth.test runs on the first request (and is cached), not at start-up, so the web
        # process starts even while Slack is unreachable.
        options["client"] = client or web_client(settings, settings.slack_bot_token)
        options["token_verification_enabled"] = False
    app = App(**options)  # type: ignore[arg-type]
    if oauth:
        # app_uninstalled / tokens_revoked delete that workspace's rows from the store.
        app.enable_token_revocation_listeners()
    commands.register(
        app,
        engine=engine,
        editions=list(editions),
        digests=digests,
        clock=clock or (lambda: datetime.now(UTC)),
        tz=settings.tz,
    )
    return app

"""Socket Mode: the same App over a WebSocket, for teams without a public URL.

Runs in the worker-like `digest slack socket` process, never inside the web process (one
transport per deployment). Slack allows at most 10 Socket Mode connections per app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from slack_bolt.adapter.socket_mode import SocketModeHandler
from sqlalchemy.engine import Engine

from bot.app import build_app, check_settings
from core.config import Settings
from core.digests import Digests

__all__ = ["socket_handler"]

log = logging.getLogger(__name__)


def socket_handler(
    settings: Settings,
    *,
    engine: Engine,
    editions: Sequence[str],
    digests: Digests,
    clock: Callable[[], datetime] | None = None,
) -> SocketModeHandler:
    """A Socket Mode handler for the App; call `.start()` to block, `.close()` to stop.

    Needs SLACK_APP_TOKEN (xapp-…, scope connections:write) and SLACK_BOT_TOKEN; raises
    `ConfigError` naming whichever is missing.
    """
    check_settings(settings, mode="socket")
    app = build_app(
        settings, engine=engine, editions=editions, digests=digests, mode="socket", clock=clock
    )
    return SocketModeHandler(app, settings.slack_app_token)

"""HTTP routes of the Slack front-end, mounted by app/web.py (placeholder until issue 4)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from starlette.routing import BaseRoute

from core.config import Settings

__all__ = ["build_routes"]


def build_routes(*, settings: Settings, engine: Engine) -> list[BaseRoute]:
    """Starlette routes for /slack/events (and the OAuth install flow when configured)."""
    return []

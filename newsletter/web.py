"""HTTP routes of the newsletter: subscribe, confirm, unsubscribe (placeholder until issue 5)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from starlette.routing import BaseRoute

from core.config import Settings

__all__ = ["build_routes"]


def build_routes(*, settings: Settings, engine: Engine) -> list[BaseRoute]:
    """Starlette routes for /subscribe, /confirm and /unsubscribe."""
    return []

"""`digest` commands for this area (placeholder: filled in by its issue)."""

from __future__ import annotations

from datetime import date

import click

from app.wiring import Runtime
from core.deliver import Outcome

__all__ = ["register", "run_post_daily"]


def register(cli: click.Group) -> None:
    """Add this area's commands to the `digest` group."""


def run_post_daily(
    runtime: Runtime, *, day: date, edition: str = "tech", channel: str | None = None
) -> list[Outcome]:
    """Post the day's digest to every subscribed channel (or `channel`), once each."""
    raise NotImplementedError("issue 4")

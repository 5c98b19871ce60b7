"""`digest` commands for this area (placeholder: filled in by its issue)."""

from __future__ import annotations

from datetime import date

import click

from app.wiring import Runtime
from core.model import DailyDigest, WeeklyRollup

__all__ = ["register", "run_summarise", "run_compose_daily", "run_compose_weekly"]


def register(cli: click.Group) -> None:
    """Add this area's commands to the `digest` group."""


def run_summarise(
    runtime: Runtime, *, since: date | None = None, progress: bool = False
) -> dict[str, int]:
    """Summarise every article without a deep dive; returns counts."""
    raise NotImplementedError("issue 3")


def run_compose_daily(
    runtime: Runtime, *, edition: str, day: date, force: bool = False
) -> DailyDigest:
    """The stored daily digest for (edition, day), composing and storing it first if needed."""
    raise NotImplementedError("issue 3")


def run_compose_weekly(
    runtime: Runtime, *, edition: str, week: str, force: bool = False
) -> WeeklyRollup:
    """The stored weekly rollup for (edition, ISO week), composing and storing it first if needed."""
    raise NotImplementedError("issue 3")

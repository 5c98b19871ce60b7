"""`digest` commands for this area (placeholder: filled in by its issue)."""

from __future__ import annotations

import click

from app.wiring import Runtime

__all__ = ["register", "run_send_weekly"]


def register(cli: click.Group) -> None:
    """Add this area's commands to the `digest` group."""


def run_send_weekly(runtime: Runtime, *, week: str, edition: str = "tech") -> dict[str, int]:
    """Send the week's issue to every confirmed subscriber, once each; returns a tally."""
    raise NotImplementedError("issue 5")

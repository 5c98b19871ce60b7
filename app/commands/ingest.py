"""`digest` commands for this area (placeholder: filled in by its issue)."""

from __future__ import annotations

import click

from app.wiring import Runtime

__all__ = ["register", "run_ingest"]


def register(cli: click.Group) -> None:
    """Add this area's commands to the `digest` group."""


def run_ingest(
    runtime: Runtime,
    *,
    edition: str | None = None,
    source: str | None = None,
    fulltext: bool | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Ingest enabled sources; returns counts {"sources", "new", "unchanged", "errors"}."""
    raise NotImplementedError("issue 2")

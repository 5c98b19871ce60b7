"""`digest` commands for this area (placeholder: filled in by its issue)."""

from __future__ import annotations

import click

__all__ = ["register"]


def register(cli: click.Group) -> None:
    """Add this area's commands to the `digest` group."""

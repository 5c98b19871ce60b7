"""`digest db …` (and, with issue 6: serve, worker, status)."""

from __future__ import annotations

import click

from app.wiring import Runtime, open_engine
from storage.db import current_revision

__all__ = ["register"]


@click.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(runtime: Runtime) -> None:
    """Apply pending migrations (also done automatically on first use)."""
    engine = open_engine(runtime.settings.database_url)
    click.echo(f"Database is at revision {current_revision(engine)}.")
    engine.dispose()


def register(cli: click.Group) -> None:
    cli.add_command(db)

"""Engine and sessions. No module-level engine: callers build one from a URL.

SQLite gets WAL, foreign keys and a busy timeout on every connection; PostgreSQL is used
as it comes. The schema is managed by Alembic (`upgrade`), applied on first use; a database
already up to date costs one query, without importing Alembic (every command and every
hourly ingest starts with this check).
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

__all__ = [
    "SchemaError",
    "make_engine",
    "ping",
    "session_scope",
    "upgrade",
    "script_heads",
    "applied_revisions",
    "MIGRATIONS",
]

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for `url` (SQLite gets WAL + foreign keys + busy timeout)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def ping(engine: Engine) -> None:
    """Ask the database for `SELECT 1`; raises the driver's error when it does not answer.

    The web app's /healthz calls it on every probe, so it opens a connection and nothing more.
    """
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _alembic_config(engine: Engine):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Apply every migration not yet applied (idempotent; safe to call on every start).

    When the database already stands at the heads of `migrations/versions`, this is one
    query and Alembic is not imported (importing it costs ~0.1 s, a third of a short
    command's budget); otherwise Alembic applies what is missing, as before.
    """
    heads = script_heads()
    if revision == "heads" and heads and applied_revisions(engine) == heads:
        return
    from alembic import command
    from alembic.util import CommandError

    try:
        command.upgrade(_alembic_config(engine), revision)
    except CommandError as exc:  # e.g. a revision this version does not know
        raise SchemaError(str(exc)) from exc


class SchemaError(RuntimeError):
    """The database's schema cannot be brought up to date by these migrations (it was
    migrated by another version of the program, say)."""


def script_heads() -> frozenset[str]:
    """The head revisions of `migrations/versions`, read from each file's `revision` and
    `down_revision` lines (what Alembic's ScriptDirectory computes, without loading it).
    Empty when a file cannot be read this way, which makes `upgrade` ask Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        try:
            revision = _assigned("revision", source)
            down = _assigned("down_revision", source)
        except (ValueError, SyntaxError):
            return frozenset()
        if isinstance(revision, str):
            revisions.add(revision)
            if isinstance(down, str):
                parents.add(down)
            elif isinstance(down, tuple | list):
                parents.update(str(parent) for parent in down)
    return frozenset(revisions - parents)


def _assigned(name: str, source: str) -> object:
    match = re.search(rf"^{name}\b[^=\n]*=\s*(.+)$", source, re.MULTILINE)
    return ast.literal_eval(match.group(1).strip()) if match else None


def applied_revisions(engine: Engine) -> frozenset[str] | None:
    """The revisions recorded in the database, or None before the first migration."""
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, "alembic_version"):
            return None
        rows = connection.execute(text("SELECT version_num FROM alembic_version"))
        return frozenset(rows.scalars())


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()

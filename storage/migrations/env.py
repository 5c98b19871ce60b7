"""Alembic environment: the engine is passed in by storage.db.upgrade (no alembic.ini needed)."""

from alembic import context
from sqlmodel import SQLModel

import storage.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def _ours(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    """Autogenerate looks only at our tables: APScheduler's job store (apscheduler_jobs) and
    slack_sdk's installation store (slack_*) create and own theirs."""
    if type_ == "table" and reflected and compare_to is None:
        return name in target_metadata.tables
    return True


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from storage.db import make_engine

        url = config.get_main_option("sqlalchemy.url")
        if url is None:
            raise RuntimeError("no database URL: set DATABASE_URL or pass an engine")
        engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            include_object=_ours,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()

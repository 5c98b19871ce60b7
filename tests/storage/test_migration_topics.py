"""Migration 0005_topics_editions keeps every existing channel and reader, both ways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine

from storage.db import _alembic_config, make_engine, upgrade
from tests.conftest import new_postgres_database

REVISION = "0005_topics_editions"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def blank(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with no schema at all."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'blank.db'}")
        yield engine
        engine.dispose()
        return
    with new_postgres_database("digest_migration") as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def _rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def test_channels_and_readers_survive_the_upgrade_and_the_downgrade(blank: Engine) -> None:
    upgrade(blank, "0001")
    with blank.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO slack_subscription (team_id, channel_id, edition, created_by, "
                "created_at) VALUES ('T1', 'C1', 'tech', 'U1', '2026-04-01 08:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO subscriber (email, status, edition, created_at) "
                "VALUES ('a@example.com', 'confirmed', 'reads', '2026-04-01 08:00:00')"
            )
        )
    upgrade(blank, REVISION)
    assert _rows(blank, "SELECT channel_id, edition, topics FROM slack_subscription") == [
        ("C1", "tech", "")
    ]
    assert _rows(blank, "SELECT email, editions FROM subscriber") == [("a@example.com", "reads")]

    with blank.begin() as connection:
        connection.execute(text("UPDATE subscriber SET editions = 'videos,tech'"))
        connection.execute(text("UPDATE slack_subscription SET topics = 'security'"))
    command.downgrade(_alembic_config(blank), "0001")
    assert _rows(blank, "SELECT email, edition FROM subscriber") == [("a@example.com", "videos")]
    assert _rows(blank, "SELECT channel_id, edition FROM slack_subscription") == [("C1", "tech")]

"""app.wiring.open_engine: a database it cannot use is one line naming DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import text

from app.cli import cli
from storage.db import make_engine, upgrade


def test_a_database_migrated_by_another_version_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as connection:  # as if a newer (or forked) digest had migrated it
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_elsewhere'"))
    engine.dispose()

    result = CliRunner().invoke(cli, ["articles"], env={"DATABASE_URL": url})

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    message = result.output.strip().splitlines()
    assert len(message) == 1, result.output
    assert message[0].startswith("Error: DATABASE_URL: the database at ")
    assert "9999_from_elsewhere" in message[0]

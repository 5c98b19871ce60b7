"""Start-up migration check: a database at the heads is not handed to Alembic."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from storage.db import _alembic_config, applied_revisions, make_engine, script_heads, upgrade


def test_script_heads_are_alembics() -> None:
    """The file scan agrees with Alembic on every migration in the tree, whoever adds one."""
    expected = ScriptDirectory.from_config(_alembic_config(None)).get_heads()  # type: ignore[arg-type]
    assert script_heads() == frozenset(expected)
    assert script_heads()  # at least the initial schema


def test_an_up_to_date_database_is_not_given_to_alembic(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert applied_revisions(engine) == script_heads()

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("Alembic was asked to upgrade a current database")

    monkeypatch.setattr(command, "upgrade", refuse)
    upgrade(engine)  # one query, no Alembic


def test_a_new_database_is_migrated(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert applied_revisions(engine) is None
    upgrade(engine)
    assert applied_revisions(engine) == script_heads()
    assert "article" in inspect(engine).get_table_names()
    engine.dispose()


def test_an_unreadable_migration_file_falls_back_to_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "0001_a.py").write_text('revision = "0001"  # first\ndown_revision = None\n')
    (versions / "0002_b.py").write_text('revision: str = "0002"\ndown_revision = ("0001",)\n')
    monkeypatch.setattr("storage.db.MIGRATIONS", tmp_path)
    assert script_heads() == {"0002"}
    (versions / "0003_c.py").write_text('revision = REVISION\ndown_revision = "0002"\n')
    assert script_heads() == frozenset()  # so upgrade() asks Alembic

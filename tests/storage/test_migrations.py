"""The migrations form one line: branches merged in parallel must be chained, not left as heads."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

VERSIONS = Path(__file__).resolve().parents[2] / "storage" / "migrations"


def test_migrations_have_one_head_and_one_base() -> None:
    config = Config()
    config.set_main_option("script_location", str(VERSIONS))
    script = ScriptDirectory.from_config(config)

    assert len(script.get_heads()) == 1, script.get_heads()
    assert len(script.get_bases()) == 1, script.get_bases()
    revisions = list(script.walk_revisions())
    files = sorted(p.name for p in (VERSIONS / "versions").glob("0*.py"))
    assert len(revisions) == len(files)
    # the file names' numbers follow the chain, oldest first
    chain = [r.module.__file__ for r in reversed(revisions)]
    assert [Path(f).name for f in chain] == files

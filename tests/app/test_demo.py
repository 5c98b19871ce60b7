"""`digest demo`: the bundled sample feeds through the whole pipeline, offline."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner
from sqlmodel import Session, func, select

from app.cli import cli
from app.wiring import Runtime
from core.config import Settings
from storage.db import make_engine
from storage.tables import Article
from tests.conftest import FIXED_NOW

REPO = Path(__file__).resolve().parents[2]


def test_demo_prints_todays_digest_of_the_sample_feeds_and_leaves_your_database_alone(
    sqlite_url: str,
) -> None:
    runtime = Runtime(
        settings=Settings.from_env({"DATABASE_URL": sqlite_url}), clock=lambda: FIXED_NOW
    )
    result = CliRunner().invoke(cli, ["demo", "--no-serve", "--format", "json"], obj=runtime)

    assert result.exit_code == 0, result.output
    digest = json.loads(result.stdout)
    assert digest["date"] == FIXED_NOW.date().isoformat()
    titles = {dive["title"] for dive in digest["deep_dives"]}
    assert "How we cut checkout latency by caching price rules at the edge" in titles
    assert "Retiring our last cron box" not in titles  # yesterday's post
    assert len(titles) == 4 and digest["stats"]["sources_checked"] == 3
    assert "3 sources: 5 new articles, 0 unchanged, 0 with errors" in result.stderr
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Article)).one() == 0
    engine.dispose()


def test_scripts_run_passes_group_options_before_the_command(tmp_path: Path) -> None:
    """scripts/run with a stand-in `digest` that prints its arguments."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "run").write_text((REPO / "scripts" / "run").read_text())
    (tmp_path / "scripts" / "setup").write_text("#!/usr/bin/env bash\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "digest").write_text('#!/usr/bin/env bash\necho "$@"\n')
    for name in ("scripts/run", "scripts/setup", ".venv/bin/digest"):
        (tmp_path / name).chmod(0o755)

    def run(*args: str) -> str:
        done = subprocess.run(
            [str(tmp_path / "scripts" / "run"), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return done.stdout.strip()

    assert run() == "run"
    assert run("--sources", "my.toml", "--edition", "reads", "--debug") == (
        "--sources my.toml --debug run --edition reads"
    )
    assert run("--demo", "--sources=x.toml", "--no-serve") == "--sources=x.toml demo --no-serve"

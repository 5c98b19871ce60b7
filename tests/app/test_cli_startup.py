"""`digest --help` imports no command module: the lazy group lists commands from its table."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import click
import pytest

from app.cli import COMMANDS, cli
from app.pipeline import Pipeline
from app.wiring import Runtime
from core.config import Settings
from tests.peers.feeds import feed_server

ROOT = Path(__file__).resolve().parents[2]
# What a command may import when it runs, never when the CLI starts or prints its help.
HEAVY = ("trafilatura", "premailer", "slack_bolt", "aiohttp", "feedparser", "sqlalchemy", "httpx")


def _modules_after(code: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}


def test_import_app_cli_pulls_in_no_heavy_library() -> None:
    loaded = _modules_after("import app.cli")
    assert "click" in loaded  # the probe does see what was imported
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_help_imports_no_command_module() -> None:
    code = (
        "from app.cli import cli\n"
        "try:\n    cli(['--help'], prog_name='digest')\nexcept SystemExit:\n    pass"
    )
    loaded = _modules_after(code)
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    full = _modules_after(code + "\nimport app.pipeline")  # the probe would notice
    assert "aiohttp" in full


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_matches_each_command(name: str) -> None:
    """The help `--help` shows without importing is the command's own first line."""
    entry = COMMANDS[name]
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.name == name
    assert command.get_short_help_str(limit=10_000) == entry.help
    assert command.hidden == entry.hidden


def test_help_lists_every_visible_command_and_runs_one(tmp_path: Path) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["--help"], prog_name="digest")
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line}
    assert listed == {name for name, entry in COMMANDS.items() if not entry.hidden}
    result = CliRunner().invoke(cli, ["nope"])
    assert result.exit_code == 2 and "No such command 'nope'" in result.output


_PROBE = """
import json, sys
from datetime import datetime
from app.cli import cli
from app.wiring import Runtime
from core.config import Settings

settings = Settings.from_env({"DATABASE_URL": sys.argv[1], "DIGEST_SOURCES": sys.argv[2]})
later = datetime.fromisoformat(sys.argv[3])  # a fixed clock, as in the test
runtime = Runtime(settings=settings, clock=lambda: later)
cli.main(sys.argv[4:], obj=runtime, standalone_mode=False)
import storage.tables as tables
built = [n for n in tables.__all__ if getattr(getattr(tables, n), "__pydantic_complete__", False)]
print(json.dumps(built))
print(json.dumps(sorted(sys.modules)))
"""


def test_an_ingest_of_unchanged_feeds_loads_no_parser_and_no_alembic(
    tmp_path: Path, sqlite_url: str, now: datetime
) -> None:
    """The hourly run's fixed cost: 304s need neither feedparser, nor Alembic (the schema is
    current), nor the PostgreSQL dialect on SQLite, nor the front-ends' libraries (Slack,
    email, page extraction), nor httpx (the model's client: composing after an ingest asks no
    model when DIGEST_SUMMARISER is extractive), nor lxml (HTML is made text in the workers),
    nor rich (nothing to list), nor pydantic's schema of any table (rows are never validated)."""
    with feed_server() as server:
        sources = tmp_path / "sources.toml"
        sources.write_text(
            '[editions.tech]\ntitle = "T"\n'
            + "".join(
                f'[[sources]]\nname = "{name}"\ncompany = "C"\nurl = "{server.url(path)}"\n'
                'edition = "tech"\n'
                for name, path in (("A", "/medium-rss/feed.xml"), ("B", "/youtube/feed.xml"))
            )
        )
        settings = Settings.from_env({"DATABASE_URL": sqlite_url, "DIGEST_SOURCES": str(sources)})
        runtime = Runtime(settings=settings, clock=lambda: now)
        assert (
            Pipeline(runtime).ingest(fulltext=False).counts()["parsed"] == 2
        )  # the first run parses
        runtime.close()
        later = (now + timedelta(hours=1)).isoformat()
        result = subprocess.run(
            [sys.executable, "-c", _PROBE, sqlite_url, str(sources), later, "ingest"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    output = result.stdout.splitlines()
    assert "2 sources: 0 new articles, 2 unchanged, 0 with errors" in output[-3]
    assert json.loads(output[-2]) == []  # no table built pydantic's schema: rows never need it
    loaded = set(json.loads(output[-1]))
    assert "aiohttp" in loaded  # it did fetch
    avoidable = {
        "feedparser",
        "alembic",
        "sqlalchemy.dialects.postgresql",
        "trafilatura",
        "premailer",
        "slack_bolt",
        "slack_sdk",
        "httpx",
        "lxml",
        "rich",
    }
    assert loaded.isdisjoint(avoidable), sorted(loaded & avoidable)


def test_every_top_level_command_is_in_the_table() -> None:
    """A command added to app/commands/ without a line in COMMANDS would never be reachable."""
    import importlib
    import pkgutil

    import app.commands

    defined, nested = set(), set()
    for module in pkgutil.iter_modules(app.commands.__path__):
        loaded = importlib.import_module(f"app.commands.{module.name}")
        for attribute, value in vars(loaded).items():
            if isinstance(value, click.Command) and _home(value) == loaded.__name__:
                defined.add((f"{loaded.__name__}:{attribute}", value))
                if isinstance(value, click.Group):
                    nested.update(id(sub) for sub in value.commands.values())
    top = {target for target, command in defined if id(command) not in nested}
    assert top == {entry.target for entry in COMMANDS.values()}


def _home(command: click.Command) -> str | None:
    """The module a command's function is defined in (not one that imported it)."""
    return getattr(command.callback, "__module__", None)


@pytest.mark.parametrize("command", ["sources", "articles"])
def test_listing_commands_read_the_database_without_the_fetcher(
    command: str, tmp_path: Path, sqlite_url: str, now: datetime
) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(
        '[editions.tech]\ntitle = "T"\n[[sources]]\nname = "A"\ncompany = "C"\n'
        'url = "http://127.0.0.1:9/feed.xml"\nedition = "tech"\n'
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            sqlite_url,
            str(sources),
            now.isoformat(),
            command,
            "--format",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}
    assert "sqlalchemy" in loaded  # it did read the database
    assert loaded.isdisjoint(HEAVY[:-2]), sorted(loaded & set(HEAVY))


def test_a_command_is_imported_with_the_collector_paused_then_frozen() -> None:
    """The collector is back on after the import, and what the import made is frozen."""
    probe = (
        "import gc, click\nfrom app.cli import cli\n"
        "assert gc.isenabled() and gc.get_freeze_count() == 0\n"
        "cli.get_command(click.Context(cli), 'sources')\n"
        "print(gc.isenabled(), gc.get_freeze_count() > 10_000)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True", "True"]

"""`digest --help` imports no command module: the lazy group lists commands from its table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from app.cli import COMMANDS, cli

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
    full = _modules_after(code + "\nimport app.commands.ingest")  # the probe would notice
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

"""One dialect: every command spells -e/--edition and --format the same way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from app.cli import COMMANDS, cli
from app.commands.options import EDITION_HELP
from app.wiring import Runtime
from core.config import Settings

NOW = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)


def _commands() -> Iterator[tuple[str, click.Command]]:
    """Every command, subcommands of groups included, as ("digest newsletter send", command)."""
    stack: list[tuple[str, click.Command]] = [
        (f"digest {name}", command)
        for name in sorted(COMMANDS)
        if (command := cli.get_command(click.Context(cli), name)) is not None
    ]
    while stack:
        path, command = stack.pop()
        yield path, command
        if isinstance(command, click.Group):
            stack.extend((f"{path} {name}", sub) for name, sub in command.commands.items())


COMMAND_LIST = list(_commands())


def _options(command: click.Command) -> dict[str, click.Option]:
    return {p.name or "": p for p in command.params if isinstance(p, click.Option)}


@pytest.mark.parametrize(("path", "command"), COMMAND_LIST, ids=[p for p, _ in COMMAND_LIST])
def test_shared_options_are_spelled_and_explained_alike(path: str, command: click.Command) -> None:
    options = _options(command)
    if "edition" in options:
        assert sorted(options["edition"].opts) == ["--edition", "-e"], path
        assert options["edition"].help == EDITION_HELP, path
    if "fmt" in options:
        assert options["fmt"].opts == ["--format"], path
    visible = {opt for o in options.values() if not o.hidden for opt in o.opts}
    assert "--json" not in visible, f"{path}: use --format json"


def test_the_commands_that_print_results_for_scripts_offer_json() -> None:
    offering = {path for path, command in COMMAND_LIST if "json" in _choices(command)}
    assert {
        "digest ingest",
        "digest sources",
        "digest articles",
        "digest daily",
        "digest weekly",
        "digest run",
        "digest status",
        "digest summarise",
        "digest worker",
        "digest slack post-daily",
        "digest newsletter subscribers",
        "digest newsletter subscribe",
        "digest newsletter import",
        "digest newsletter preview",
        "digest newsletter send",
        "digest sources add",
        "digest sources import",
    } <= offering


def _choices(command: click.Command) -> list[str]:
    option = _options(command).get("fmt")
    return list(option.type.choices) if option and isinstance(option.type, click.Choice) else []


def test_a_command_about_one_edition_defaults_to_the_catalogues_default(
    tmp_path: Path, sqlite_url: str
) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text('[editions.reads]\ntitle = "Engineering Reads"\n', encoding="utf-8")
    settings = Settings.from_env({"DATABASE_URL": sqlite_url})
    runtime = Runtime(settings=settings, sources_path=str(sources), clock=lambda: NOW)
    try:
        result = CliRunner().invoke(cli, ["daily", "--format", "json"], obj=runtime)
        named = CliRunner().invoke(cli, ["daily", "-e", "tech"], obj=runtime)
    finally:
        runtime.close()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["edition"] == "reads"  # no tech here: the file's first
    assert named.exit_code == 1
    assert named.output == "Error: unknown edition 'tech' (known: reads)\n"


def test_worker_json_is_for_the_runs_of_once(sqlite_url: str) -> None:
    runtime = Runtime(settings=Settings.from_env({"DATABASE_URL": sqlite_url}))
    result = CliRunner().invoke(cli, ["worker", "--format", "json"], obj=runtime)
    assert result.exit_code == 2 and "add --once" in result.stderr

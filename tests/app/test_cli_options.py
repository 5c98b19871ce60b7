"""One dialect: every command spells -e/--edition and --format the same way."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from app.cli import COMMANDS, cli
from app.commands.options import EDITION_HELP


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
        "digest newsletter subscribers",
    } <= offering


def _choices(command: click.Command) -> list[str]:
    option = _options(command).get("fmt")
    return list(option.type.choices) if option and isinstance(option.type, click.Choice) else []

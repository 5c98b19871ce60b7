"""The options several commands share, spelled and explained the same way everywhere.

`-e/--edition` picks an edition (a command that works on one defaults to tech; one that
lists or fetches defaults to every edition), and `--format` picks how the result is
printed, with json for scripts wherever a command has a result worth reading back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from core.sources import DEFAULT_EDITION

__all__ = ["EDITION_HELP", "edition_option", "format_option"]

F = TypeVar("F", bound=Callable[..., object])  # the command function being decorated

EDITION_HELP = "Edition, as named in sources.toml (tech, reads, videos, …)."
_FORMAT_HELP = "How to print the result."
_JSON_HELP = "How to print the result; json is stable, for scripts."


def edition_option(
    default: str | None = DEFAULT_EDITION, *, shown: str = "every edition"
) -> Callable[[F], F]:
    """`-e/--edition NAME`; with `default=None`, `shown` says what no edition means."""
    return click.option(
        "--edition",
        "-e",
        metavar="NAME",
        default=default,
        show_default=True if default is not None else shown,
        help=EDITION_HELP,
    )


def format_option(*choices: str, default: str) -> Callable[[F], F]:
    """`--format CHOICE`, stored as `fmt` (`format` is a builtin)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices, case_sensitive=False),
        default=default,
        show_default=True,
        help=_JSON_HELP if "json" in choices else _FORMAT_HELP,
    )

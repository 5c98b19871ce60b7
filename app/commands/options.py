"""The options several commands share, spelled and explained the same way everywhere.

`-e/--edition` picks an edition (a command that works on one defaults to the catalogue's
default, tech unless the sources file has none; one that lists or fetches defaults to every
edition), and `--format` picks how the result is printed, with json for scripts wherever a
command has a result worth reading back: one document on stdout (`echo_json`), progress and
notes on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import click

from app.wiring import Runtime
from core.sources import DEFAULT_EDITION

__all__ = ["EDITION_HELP", "echo_json", "edition_option", "format_option"]

F = TypeVar("F", bound=Callable[..., object])  # the command function being decorated

EDITION_HELP = "Edition, as named in sources.toml (tech, reads, videos, …)."
_FORMAT_HELP = "How to print the result."
_JSON_HELP = "How to print the result; json is stable, for scripts."


def edition_option(*, unset: str | None = None) -> Callable[[F], F]:
    """`-e/--edition NAME`. Without `unset`, a command about one edition gets the
    catalogue's default when none is named (`Catalogue.default`: tech, else the file's
    first); with `unset`, no edition is None and the help says what that means ("every
    edition")."""
    if unset is not None:
        return click.option(
            "--edition", "-e", metavar="NAME", default=None, show_default=unset, help=EDITION_HELP
        )
    return click.option(
        "--edition",
        "-e",
        metavar="NAME",
        default=None,
        show_default=f"{DEFAULT_EDITION}, else the first in the sources file",
        callback=_catalogue_default,
        help=EDITION_HELP,
    )


def _catalogue_default(ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    if value is not None:
        return value
    runtime = ctx.find_object(Runtime)  # read here, after `digest`'s own options
    return runtime.catalogue.default if runtime is not None else DEFAULT_EDITION


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


def echo_json(document: object) -> None:
    """Print what `--format json` promises: one JSON document on stdout, UTF-8 as is.
    Datetimes are printed as `str()` gives them (`digest status` has always done so)."""
    click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))

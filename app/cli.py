"""The `digest` command line. Each area registers its commands from `app/commands/`."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from app.wiring import Runtime
from core.config import Settings
from core.errors import DigestError

__all__ = ["cli", "main"]


class _Group(click.Group):
    """Prints a `DigestError` as one plain line (exit 1); `--debug` shows the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DigestError as exc:
            if ctx.meta.get("digest.debug"):
                raise
            click.secho(f"Error: {exc}", fg="red", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--sources",
    "sources_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="sources.toml to use (default: $DIGEST_SOURCES or the bundled one).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="engineering-at-scale-digest")
@click.pass_context
def cli(ctx: click.Context, sources_path: str | None, debug: bool) -> None:
    """Engineering @ Scale digest: read ~30 engineering blogs, hand back what matters.

    Settings come from the environment (DATABASE_URL, DIGEST_TZ, SLACK_*, SMTP_URL, …);
    see the README. With none set, everything runs locally on a SQLite file.
    """
    ctx.meta["digest.debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if ctx.obj is None:
        try:
            settings = Settings.from_env(os.environ)
        except DigestError as exc:
            if debug:
                raise
            click.secho(f"Error: {exc}", fg="red", err=True)
            ctx.exit(1)
        ctx.obj = Runtime(settings=settings, sources_path=sources_path)
    elif sources_path:
        ctx.obj.sources_path = sources_path
    ctx.call_on_close(ctx.obj.close)


def _register_all() -> None:
    from app.commands import compose, demo, ingest, newsletter, ops, search, slack, sources

    for module in (ingest, sources, search, compose, slack, newsletter, ops, demo):
        module.register(cli)


_register_all()


def main() -> None:  # pragma: no cover - console entry point
    cli(prog_name="digest")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

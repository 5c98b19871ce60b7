"""`digest slack …`: the daily post and the Socket Mode runner."""

from __future__ import annotations

import dataclasses

import click

from app.commands.options import echo_json, edition_option, format_option
from app.pipeline import Pipeline
from app.progress import progress_bar
from app.wiring import Runtime
from bot.app import check_settings
from bot.post import targets, undelivered
from bot.socket import socket_handler
from core.dates import parse_day

__all__ = ["slack"]

_STYLE = {"sent": "green", "skipped": "blue", "deferred": "yellow", "failed": "red"}


@click.group("slack")
def slack() -> None:
    """Slack: post the daily digest, run the bot over Socket Mode.

    Needs SLACK_BOT_TOKEN (and SLACK_SIGNING_SECRET for the HTTP endpoint served by
    `digest serve`). See the README's Slack section for creating the app from
    slack/manifest.yml.
    """


@slack.command("post-daily")
@click.option(
    "--date",
    "day",
    default="today",
    show_default=True,
    help="Day to post: 2026-04-01, today or yesterday.",
)
@click.option(
    "--channel",
    default=None,
    help="Post to this channel id only (default: SLACK_CHANNEL and every subscribed channel).",
)
@edition_option()
@format_option("text", "json", default="text")
@click.pass_obj
def post_daily_command(
    runtime: Runtime, day: str, channel: str | None, edition: str, fmt: str
) -> None:
    """Post the day's Signal of the Day, deep dives in the thread; once per channel.

    The day's digest is composed from its stored posts first, and what is posted is what
    stays stored for that day. Safe to re-run: channels that already have the post are skipped, and failed or
    rate-limited ones are retried.

    \b
    Examples:
      digest slack post-daily --date 2026-04-01 --channel C0123456789
      digest slack post-daily --format json   # {edition, date, posts: [{target, status, …}]}
    """
    check_settings(runtime.settings, mode="post")  # before opening anything
    runtime.catalogue.edition(edition)  # unknown editions fail with the list of known ones
    pipeline = Pipeline(runtime)
    when = parse_day(day, today=pipeline.today())
    settings, engine = runtime.settings, runtime.engine
    total = len(targets(settings, engine=engine, edition=edition, channel=channel))
    with progress_bar("Posting to Slack", total=total, enabled=total >= 2) as bar:
        outcomes = pipeline.post_daily(
            edition, when, channel=channel, on_outcome=bar.advance if bar else None
        )
    if fmt == "json":
        posts = [dataclasses.asdict(outcome) for outcome in outcomes]
        echo_json({"edition": edition, "date": when.isoformat(), "posts": posts})
    else:
        for outcome in outcomes:
            reason = f": {outcome.error}" if outcome.error else ""
            style = _STYLE.get(outcome.status)
            click.secho(f"{outcome.status:>8}  {outcome.target}{reason}", fg=style)
    if not outcomes:  # a note for people: beside the json, on stderr
        click.echo(
            "Nothing to post to: set SLACK_CHANNEL, pass --channel, or run /digest subscribe "
            "in a channel.",
            err=fmt == "json",
        )
    if not outcomes or undelivered(outcomes):  # could not post: say so to cron and CI
        raise click.exceptions.Exit(1)


@slack.command("socket")
@click.pass_obj
def socket_command(runtime: Runtime) -> None:
    """Run the bot over Socket Mode (no public URL needed; needs SLACK_APP_TOKEN).

    Use this instead of the HTTP endpoint when Slack cannot reach `digest serve`.
    Stops with Ctrl-C.
    """
    check_settings(runtime.settings, mode="socket")  # before opening the database
    pipeline = Pipeline(runtime)
    handler = socket_handler(
        runtime.settings,
        engine=runtime.engine,
        editions=list(runtime.catalogue.editions),
        digests=pipeline.reads,
        clock=runtime.clock,
    )
    click.echo("Connected to Slack over Socket Mode; Ctrl-C to stop.")
    try:
        handler.start()
    except KeyboardInterrupt:
        pass
    finally:
        handler.close()

"""`digest newsletter …`: subscribers, preview and sending of the weekly email."""

from __future__ import annotations

import logging
import sys
from typing import TypedDict

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlmodel import Session

from app.commands.options import echo_json, edition_option, format_option
from app.commands.tables import iso
from app.pipeline import Pipeline
from app.progress import progress_bar
from app.wiring import Runtime
from core.config import parse_duration
from core.dates import iso_week, parse_week
from core.errors import ComposeError, ConfigError, DeliveryError
from newsletter import subscribers
from newsletter.render import Issue, issue_key
from newsletter.send import Tally
from newsletter.smtp import SMTPSender
from storage import deliveries
from storage import subscribers as store
from storage.tables import Subscriber

__all__ = ["newsletter_group", "resolve_week"]

log = logging.getLogger(__name__)


def resolve_week(runtime: Runtime, text: str) -> str:
    """'last' | 'this' | '2026-W14' → '2026-W14', with "today" taken in DIGEST_TZ."""
    return iso_week(parse_week(text, today=Pipeline(runtime).today()))


# --- commands -----------------------------------------------------------------------------


@click.group("newsletter")
def newsletter_group() -> None:
    """The weekly email: subscribers, preview and sending.

    Mail goes out over SMTP_URL from MAIL_FROM; links in it point at PUBLIC_BASE_URL.
    """


@newsletter_group.command("subscribe")
@click.argument("email")
@edition_option()
@format_option("text", "json", default="text")
@click.pass_obj
def subscribe_command(runtime: Runtime, email: str, edition: str, fmt: str) -> None:
    """Subscribe EMAIL: it receives a confirmation link and nothing else until it is used.

    \b
    Examples:
      digest newsletter subscribe reader@example.com
      digest newsletter subscribe reader@example.com --format json   # status, mailed, link
    """
    with Session(runtime.engine, expire_on_commit=False) as session:
        result = subscribers.subscribe(email, session=session, editions=[edition])
    row = result.subscriber
    confirmed = not result.needs_confirmation or result.editions is not None  # as it is
    link = None
    if confirmed:
        text = f"{row.email} is already subscribed (confirmed)."
    elif not runtime.settings.smtp_url:
        link = subscribers.confirm_url(runtime.settings, row)
        text = (
            f"{row.email} is pending. SMTP_URL is not set, so no mail was sent; "
            f"the confirmation link is:\n{link}"
        )
    else:
        message = subscribers.confirmation_message(row, settings=runtime.settings)
        with SMTPSender.from_url(runtime.settings.smtp_url) as sender:
            sender.send_message(message)
        text = f"{row.email} is pending: a confirmation link was mailed to it."
    if fmt == "json":
        mailed = not confirmed and link is None
        echo_json({"email": row.email, "status": row.status, "mailed": mailed, "confirm_url": link})
    else:
        click.echo(text)


@newsletter_group.command("unsubscribe")
@click.argument("email")
@click.pass_obj
def unsubscribe_command(runtime: Runtime, email: str) -> None:
    """Unsubscribe EMAIL at once (for requests that arrive by mail or by hand)."""
    address = subscribers.normalise_email(email)
    with Session(runtime.engine, expire_on_commit=False) as session:
        row = store.find_by_email(session=session, email=address)
        if row is None:
            raise ConfigError(f"{address} is not a subscriber")
        store.set_status(session=session, subscriber=row, status="unsubscribed")
    click.echo(f"{address} is unsubscribed.")


@newsletter_group.command("subscribers")
@click.option("--status", type=click.Choice(store.STATES), default=None, help="Only this state.")
@format_option("table", "json", default="table")
@click.pass_obj
def subscribers_command(runtime: Runtime, status: str | None, fmt: str) -> None:
    """List subscribers and their state (pending, confirmed, unsubscribed, bounced).

    \b
    Examples:
      digest newsletter subscribers
      digest newsletter subscribers --status bounced --format json
    """
    with Session(runtime.engine) as session:
        rows = store.list_subscribers(session=session, status=status)
    items = [_subscriber_dict(r) for r in rows]
    if fmt == "json":
        echo_json(items)
        return
    table = Table(show_edge=False, pad_edge=False)
    for name in ("Id", "Email", "Edition", "Status", "Since", "Last error"):
        table.add_column(name, justify="right" if name == "Id" else "left")
    for item in items:
        since = item["confirmed_at"] or item["created_at"]
        table.add_row(
            str(item["id"]),
            escape(item["email"]),
            ",".join(item["editions"]),
            item["status"],
            (since or "")[:16],
            escape(item["last_error"] or ""),
        )
    console = Console()
    console.print(table)
    counts: dict[str, int] = {}
    for item in items:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "No subscribers yet.")


class SubscriberItem(TypedDict):
    """One subscriber as `digest newsletter subscribers --format json` prints it."""

    id: int | None
    email: str
    editions: list[str]
    status: str
    created_at: str | None
    confirmed_at: str | None
    unsubscribed_at: str | None
    bounced_at: str | None
    last_error: str | None


def _subscriber_dict(row: Subscriber) -> SubscriberItem:
    return {
        "id": row.id,
        "email": row.email,
        "editions": list(store.editions_of(row)),
        "status": row.status,
        "created_at": iso(row.created_at),
        "confirmed_at": iso(row.confirmed_at),
        "unsubscribed_at": iso(row.unsubscribed_at),
        "bounced_at": iso(row.bounced_at),
        "last_error": row.last_error,
    }


@newsletter_group.command("import")
@click.argument("path", metavar="FILE.csv", type=click.Path(dir_okay=False))
@edition_option()
@format_option("text", "json", default="text")
@click.pass_obj
def import_command(runtime: Runtime, path: str, edition: str, fmt: str) -> None:
    """Import an existing, already-confirmed list from a CSV file with an `email` column.

    Addresses already known keep their state: an import never re-subscribes someone who
    unsubscribed or bounced. Invalid addresses are listed and skipped.

    \b
    Examples:
      digest newsletter import subscribers.csv
      digest newsletter import subscribers.csv --format json   # counts and invalid lines
    """
    with Session(runtime.engine, expire_on_commit=False) as session:
        report = subscribers.import_csv(path, session=session, edition=edition)
    if fmt == "json":
        invalid = [{"line": n, "value": value, "reason": why} for n, value, why in report.invalid]
        echo_json(
            {
                "edition": edition,
                "added": report.added,
                "existing": report.existing,
                "duplicates": report.duplicates,
                "invalid": invalid,
            }
        )
        return
    console = Console()
    for line, value, reason in report.invalid:
        console.print(f"[yellow]line {line}: skipped {escape(value)!s}: {escape(reason)}[/]")
    console.print(
        f"Imported {report.added} confirmed subscribers; {report.existing} already known, "
        f"{report.duplicates} duplicates in the file, {len(report.invalid)} invalid."
    )


@newsletter_group.command("preview")
@click.option(
    "--week", "-w", default="last", show_default=True, help="ISO week (2026-W14), this or last."
)
@edition_option()
@format_option("html", "text", "eml", "json", default="html")
@click.pass_obj
def preview_command(runtime: Runtime, week: str, edition: str, fmt: str) -> None:
    """Print the week's issue exactly as subscribers get it (to open in a browser).

    \b
    Examples:
      digest newsletter preview --week 2026-W14 > issue.html
      digest newsletter preview --format eml > issue.eml
      digest newsletter preview --format json   # subject, sizes, stories, html and text
    """
    week = resolve_week(runtime, week)
    issue = Pipeline(runtime).issue(edition, week)
    if issue is None:
        raise ComposeError(f"the {edition} rollup for {week} has no posts: there is no issue")
    url = f"{runtime.settings.public_base_url.rstrip('/')}/unsubscribe?token=preview"
    message = issue.message_for(
        subscriber_id=0,
        email="preview@example.invalid",
        unsubscribe_url=url,
        mailto=f"mailto:{runtime.settings.mail_from_address}?subject=unsubscribe",
    )
    if fmt == "eml":
        sys.stdout.buffer.write(message.as_bytes())
        return
    html, text = (message.get_body((kind,)) for kind in ("html", "plain"))
    assert html is not None and text is not None
    if fmt == "json":
        body = {"html": html.get_content(), "text": text.get_content()}
        echo_json({"edition": edition, "week": week, **_issue_item(issue), **body})
        return
    click.echo((html if fmt == "html" else text).get_content(), nl=False)
    if issue.stories_shown < issue.stories_total:
        click.echo(
            f"(size limit: {issue.stories_shown} of {issue.stories_total} stories in the mail; "
            "the rest are linked to the web archive)",
            err=True,
        )


@newsletter_group.command("send")
@click.option(
    "--week", "-w", default="last", show_default=True, help="ISO week (2026-W14), this or last."
)
@edition_option()
@click.option("--dry-run", is_flag=True, help="Show who would receive it; send nothing.")
@click.option(
    "--retake-after",
    metavar="DURATION",
    default=None,
    help="Also send deliveries left claimed this long ago by a run that was killed "
    "(e.g. 1h). Some of them may have gone out already: off by default.",
)
@format_option("text", "json", default="text")
@click.pass_obj
def send_command(
    runtime: Runtime, week: str, edition: str, dry_run: bool, retake_after: str | None, fmt: str
) -> None:
    """Mail the week's issue to every confirmed subscriber who has not had it yet.

    Safe to run again: whatever was delivered is never sent twice, and what failed for a
    passing reason (a 4xx reply, a dropped connection) is retried. Rate and parallelism
    come from MAIL_RATE and MAIL_CONCURRENCY.

    \b
    Examples:
      digest newsletter send --dry-run
      digest newsletter send --week 2026-W14
      digest newsletter send --week 2026-W14 --retake-after 1h   # after a kill -9
      digest newsletter send --dry-run --format json
    """
    week = resolve_week(runtime, week)
    stale_after = parse_duration(retake_after, name="--retake-after") if retake_after else None
    console = Console(stderr=True)
    pipeline = Pipeline(runtime)
    if dry_run:  # the same rollup and checks as a send, composed now
        _print_plan(pipeline.plan_weekly(edition, week), edition=edition, week=week, fmt=fmt)
        return
    with progress_bar(f"Sending {edition} {week}", console=console) as bar:
        tally = pipeline.send_weekly(
            edition,
            week,
            on_outcome=bar.advance if bar else None,
            on_plan=bar.total if bar else None,
            stale_after=stale_after,
        )
    with Session(runtime.engine) as session:  # this run's and earlier runs' failures
        failed = deliveries.counts(session=session, issue=issue_key(edition, week)).get("failed", 0)
    if fmt == "json":
        counts = (tally or Tally()).as_dict()
        paused = tally.paused if tally else ""
        head = {"edition": edition, "week": week, "dry_run": False, "has_posts": tally is not None}
        echo_json({**head, **counts, "failed_for_good": failed, "paused": paused or None})
    elif tally is None:
        click.echo(f"The {edition} rollup for {week} has no posts; nothing was sent.")
    else:
        click.echo(_tally_line(tally))
    if tally is None:
        return
    if tally.paused:
        raise DeliveryError(
            f"{tally.paused}; run the same command again to resume", permanent=False
        )
    if failed > tally.failed and fmt != "json":  # this run's line counts only its own failures
        noun = "delivery" if failed == 1 else "deliveries"
        click.echo(f"{failed} {noun} of this issue failed for good earlier; not retried.")
    # exit 1 while a subscriber is not known to have the issue: failed (now or in an
    # earlier run), deferred, or claimed by a run that never recorded it; cron should hear
    if failed or tally.deferred or tally.unrecorded:
        raise click.exceptions.Exit(1)


def _print_plan(plan: tuple[Issue, int, int] | None, *, edition: str, week: str, fmt: str) -> None:
    """What `send --dry-run` prints of `Pipeline.plan_weekly`: (issue, audience, done)."""
    issue, audience, done = plan or (None, 0, 0)
    if fmt == "json":
        echo_json(
            {
                "edition": edition,
                "week": week,
                "dry_run": True,
                "has_posts": issue is not None,
                "issue": _issue_item(issue) if issue else None,
                "audience": audience,
                "already": done,
                "would_send": audience - done,
            }
        )
    elif issue is None:
        click.echo(f"The {edition} rollup for {week} has no posts; nothing would be sent.")
    else:
        click.echo(
            f"{issue.subject}: {audience} confirmed subscribers, {done} already done, "
            f"{audience - done} would be sent now "
            f"({len(issue.html.encode()) // 1024} KB HTML, {issue.stories_shown} of "
            f"{issue.stories_total} stories). Nothing was sent."
        )


class IssueItem(TypedDict):
    """What `preview` and `send --dry-run` print of an issue in json, besides its body."""

    subject: str
    html_bytes: int
    stories_shown: int
    stories_total: int


def _issue_item(issue: Issue) -> IssueItem:
    return {
        "subject": issue.subject,
        "html_bytes": len(issue.html.encode()),
        "stories_shown": issue.stories_shown,
        "stories_total": issue.stories_total,
    }


def _tally_line(tally: Tally) -> str:
    parts = [f"{tally.sent} sent"]
    if tally.already:
        parts.append(f"{tally.already} already done")
    if tally.unrecorded:
        parts.append(
            f"{tally.unrecorded} claimed by another run that has not recorded them (if no other "
            "send is running, one was killed mid-send: --retake-after 1h sends them again, "
            "and any of them that did go out arrive twice)"
        )
    if tally.deferred:
        parts.append(f"{tally.deferred} deferred (retried next run)")
    if tally.failed:
        parts.append(f"{tally.failed} failed ({tally.bounced} bounced)")
    if tally.unsubscribed:
        parts.append(f"{tally.unsubscribed} unsubscribed meanwhile")
    if tally.remaining:
        parts.append(f"{tally.remaining} not attempted")
    return f"{tally.audience} subscribers: " + ", ".join(parts) + "."

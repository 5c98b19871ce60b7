"""The daily post: the signal as the channel message, the deep dives as a thread reply.

Exactly once per channel and digest. Each message goes through the delivery ledger
(`core.deliver.deliver_once`): the channel message under issue `tech/daily/2026-04-01`,
each thread reply under `…/thread/1`, `…/thread/2`, replying to the `ts` the ledger
recorded for the channel message. A re-run, a restart or a second worker skips what is
sent and resumes what is not: a thread that failed on a 429 is retried by the next run
without posting the channel message again.

A channel that follows topics (`/digest subscribe security`) gets the digest cut down to
the deep dives with those tags (`for_topics`); on a day with none, nothing is posted there
and the outcome is a skip (`OFF_TOPIC`), like a day with no posts at all: there was
nothing to post, which is not a failure.

Claims are never taken over (`stale_after=None`): if a worker dies between Slack
accepting a message and the ledger recording it, that message stays `claimed` rather
than risk a second copy in the channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot import blocks
from bot.app import check_settings, installation_store, oauth_enabled, web_client
from bot.blocks import Message
from core.config import Settings
from core.dates import show_utc
from core.deliver import Outcome, deliver_once
from core.errors import DeliveryError
from core.model import DailyDigest, Signal
from core.render import archive_url
from storage import channels as subscriptions
from storage import deliveries
from storage.db import session_scope
from storage.tables import Delivery

__all__ = [
    "SlackChannel",
    "SlackMessage",
    "Target",
    "for_topics",
    "post_daily",
    "post_digest",
    "targets",
    "undelivered",
]

log = logging.getLogger(__name__)

QUIET_DAY = "no new posts that day"
OFF_TOPIC = "no posts on this channel's topics that day"
NOTHING_TO_POST = (QUIET_DAY, OFF_TOPIC)  # skips that are not failures

# Slack error codes → (plain words, permanent?). Permanent failures are not retried by
# later runs; "deferred" ones are (after the bot is invited, the token fixed, …).
_ERRORS: dict[str, tuple[str, bool]] = {
    "channel_not_found": (
        "channel {channel} was not found (deleted, or private and the bot is not in it)",
        True,
    ),
    "is_archived": ("channel {channel} is archived", True),
    "not_in_channel": (
        "the bot is not in channel {channel}: invite it with /invite, then re-run",
        False,
    ),
    "restricted_action": ("posting in channel {channel} is restricted by the workspace", False),
    "invalid_auth": (
        "Slack refused the bot token (invalid_auth): check SLACK_BOT_TOKEN or reinstall the app",
        False,
    ),
    "not_authed": ("no bot token was sent: set SLACK_BOT_TOKEN", False),
    "token_revoked": (
        "the bot token was revoked: reinstall the app and update SLACK_BOT_TOKEN",
        False,
    ),
    "account_inactive": (
        "the bot's token belongs to a deactivated app or user: reinstall the app",
        False,
    ),
    "missing_scope": (
        "the bot lacks the chat:write scope: reinstall the app from slack/manifest.yml",
        False,
    ),
    "msg_too_long": ("Slack refused the message as too long", True),
    "invalid_blocks": ("Slack refused the message's blocks (invalid_blocks)", True),
}


@dataclass(frozen=True)
class SlackMessage:
    """One message to post, optionally as a reply in a thread."""

    message: Message
    thread_ts: str | None = None


class SlackChannel:
    """`core.deliver.Channel` over `chat.postMessage`; returns the message's `ts`."""

    name = "slack"

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def send(self, target: str, payload: SlackMessage) -> str | None:
        """Post to channel `target`; Slack errors become `DeliveryError` in plain words."""
        try:
            response = self.client.chat_postMessage(
                channel=target,
                text=payload.message.text,
                blocks=payload.message.blocks,
                thread_ts=payload.thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            raise _delivery_error(exc, target) from None
        except URLError as exc:  # refused, DNS, or failed while sending: nothing was posted
            raise DeliveryError(f"could not reach Slack: {exc.reason}", permanent=False) from None
        except OSError as exc:
            # Sent, but no answer (a read timeout, a reset): Slack may have posted it. Retrying
            # could post twice, so this one is not retried; a person checks the channel.
            raise DeliveryError(
                f"Slack did not answer after the post was sent to {target} ({exc or type(exc).__name__}); "
                "it may have been posted, so it is not sent again: check the channel",
                permanent=True,
            ) from None
        return str(response.get("ts") or "") or None


def _delivery_error(exc: SlackApiError, channel: str) -> DeliveryError:
    status = exc.response.status_code
    error = str(exc.response.get("error") or "")
    if status == 429 or error == "ratelimited":
        retry = exc.response.headers.get("retry-after", "?")
        return DeliveryError(
            f"Slack is rate-limiting posts to {channel} (429, Retry-After {retry}s) after retries; "
            "the next run tries again",
            permanent=False,
        )
    if status >= 500:
        return DeliveryError(f"Slack answered {status}; the next run tries again", permanent=False)
    words, permanent = _ERRORS.get(
        error, (f"Slack refused the post to {{channel}}: {error}", False)
    )
    return DeliveryError(words.format(channel=channel), permanent=permanent)


@dataclass(frozen=True)
class Target:
    """A channel to post to; `team` is set for multi-workspace installs; `topics` are the
    tags it follows (none: every deep dive)."""

    channel: str
    team: str = ""
    topics: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The ledger's target: the channel, prefixed by the team when per workspace."""
        return f"{self.team}/{self.channel}" if self.team else self.channel


def targets(
    settings: Settings, *, engine: Engine, edition: str, channel: str | None = None
) -> list[Target]:
    """Where the daily post goes: `channel`, or SLACK_CHANNEL plus subscribed channels.

    A channel keeps the topics it subscribed with, also when it is SLACK_CHANNEL or named
    by `channel`.
    """
    per_team = oauth_enabled(settings)
    with session_scope(engine) as session:
        rows = [
            (row.channel_id, row.team_id if per_team else "", subscriptions.topics_of(row))
            for row in subscriptions.subscriptions(session=session, edition=edition)
        ]
    topics = {channel_id: tags for channel_id, _team, tags in rows}
    if channel:
        return [Target(channel, topics=topics.get(channel, ()))]
    found: dict[str, Target] = {}
    if settings.slack_channel:
        found[settings.slack_channel] = Target(
            settings.slack_channel, topics=topics.get(settings.slack_channel, ())
        )
    for channel_id, team, tags in rows:
        target = Target(channel_id, team, tags)
        found.setdefault(target.key, target)
    return list(found.values())


def for_topics(digest: DailyDigest, topics: Sequence[str]) -> DailyDigest | None:
    """The digest cut down to the deep dives tagged with any of `topics`; None when none is.

    No topics: the digest as it is. The signal stays when it is on topic; otherwise the
    best-ranked deep dive on topic takes its place (deep dives are ranked by compose).
    Patterns stay when one of their posts does; the counts are those of the posts kept.
    """
    if not topics:
        return digest
    wanted = set(topics)
    kept = tuple(a for a in digest.deep_dives if wanted & set(a.tags))
    if not kept:
        return None
    urls = {a.url for a in kept}
    signal = digest.signal
    if signal is None or signal.url not in urls:
        top = kept[0]
        tag = next(t for t in top.tags if t in wanted)
        signal = Signal(
            url=top.url,
            title=top.title,
            company=top.company,
            text=top.text,
            why=f"The day's top post tagged {tag}.",
        )
    share = len(kept) / max(1, len(digest.deep_dives))
    stats = replace(
        digest.stats,
        posts=len(kept),
        minutes_saved=max(1, round(digest.stats.minutes_saved * share)),
    )
    return replace(
        digest,
        signal=signal,
        deep_dives=kept,
        patterns=tuple(p for p in digest.patterns if urls & set(p.urls)),
        stats=stats,
        tags=tuple(t for t in digest.tags if t in wanted) or tuple(sorted(wanted)),
    )


def post_digest(
    digest: DailyDigest,
    target: Target,
    *,
    engine: Engine,
    client: WebClient,
    archive: str = "",
) -> Outcome:
    """Post one digest to one channel through the ledger: channel message, then thread.

    `digest` is what this channel gets (already cut to its topics); `archive` is the day's
    archive page, linked from the thread when it lists only the first deep dives.
    """
    channel = SlackChannel(client)
    issue = f"{digest.edition}/daily/{digest.date.isoformat()}"
    first, *overflow = blocks.daily_post(digest, topics=target.topics)
    thread = overflow + blocks.daily_thread(digest, archive_url=archive)
    main = deliver_once(
        engine=engine,
        channel=channel.name,
        target=target.key,
        issue=issue,
        send=lambda: channel.send(target.channel, SlackMessage(first)),
    )
    if main.status not in ("sent", "skipped"):
        return main
    with session_scope(engine) as session:
        row = deliveries.find(session=session, channel=channel.name, target=target.key, issue=issue)
    if row is None or row.status != "sent" or not row.external_id:
        return _why_skipped(main, row)
    ts = row.external_id
    for number, message in enumerate(thread, start=1):
        part = deliver_once(
            engine=engine,
            channel=channel.name,
            target=target.key,
            issue=f"{issue}/thread/{number}",
            send=lambda message=message: channel.send(target.channel, SlackMessage(message, ts)),
        )
        if part.status in ("deferred", "failed"):
            return Outcome(part.status, target.key, f"thread reply: {part.error}", ts)
    return Outcome(main.status, target.key, main.error, ts)


def undelivered(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """The channels that do not have the post: failed or deferred now, failed earlier, or
    claimed by a run that has not recorded it. Already sent, quiet days and days with
    nothing on a channel's topics are not among them (a skipped outcome carries no reason
    only when the post is already there)."""
    return [
        o
        for o in outcomes
        if o.status in ("failed", "deferred")
        or (o.status == "skipped" and o.error is not None and o.error not in NOTHING_TO_POST)
    ]


def _why_skipped(outcome: Outcome, row: Delivery | None) -> Outcome:
    """A skipped post says why: failed for good earlier, or claimed by another run."""
    if outcome.status != "skipped" or row is None:
        return outcome
    if row.status == "failed":
        return Outcome("skipped", outcome.target, f"failed earlier: {row.error}")
    if row.status == "claimed":
        since = show_utc(row.claimed_at)
        return Outcome(
            "skipped",
            outcome.target,
            f"another run has been posting it since {since} (if that run crashed, check "
            "the channel: the post is never sent twice)",
        )
    return outcome


def post_daily(
    settings: Settings,
    *,
    engine: Engine,
    digest: DailyDigest,
    channel: str | None = None,
    client: WebClient | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Post a day's digest to every target, once each.

    The app composes the digest just before (`app.pipeline.Pipeline.post_daily`): what is
    posted is the day's digest as its stored posts make it, and stays stored as posted.

    Returns one `Outcome` per channel: `sent`, `skipped` (already posted, or nothing new
    that day), `deferred` (retried by the next run) or `failed`, with the reason in plain
    words. One channel's failure never stops the others.
    """
    check_settings(settings, mode="post")
    edition, day = digest.edition, digest.date
    chosen = targets(settings, engine=engine, edition=edition, channel=channel)
    outcomes: list[Outcome] = []
    store = installation_store(settings, engine=engine) if oauth_enabled(settings) else None
    default_client = client or web_client(
        settings, settings.slack_bot_token, retry_connections=False
    )
    archive = archive_url(
        settings.public_base_url, edition=edition, kind="daily", period=day.isoformat()
    )
    for target in chosen:
        mine = for_topics(digest, target.topics)
        if digest.signal is None and not digest.deep_dives:
            outcome = Outcome("skipped", target.key, QUIET_DAY)
        elif mine is None:
            outcome = Outcome("skipped", target.key, OFF_TOPIC)
        else:
            outcome = _post_to(
                mine, target, engine, settings, store, default_client, client, archive
            )
        log.info(
            "daily post status=%s target=%s edition=%s day=%s error=%s",
            outcome.status,
            target.key,
            edition,
            day,
            outcome.error,
        )
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def _post_to(
    digest: DailyDigest,
    target: Target,
    engine: Engine,
    settings: Settings,
    store: object,
    default_client: WebClient,
    client: WebClient | None,
    archive: str,
) -> Outcome:
    chosen = default_client
    if target.team and store is not None and client is None:
        bot = store.find_bot(enterprise_id=None, team_id=target.team)  # type: ignore[attr-defined]
        if bot is None or not bot.bot_token:
            return Outcome(
                "failed", target.key, f"the app is not installed in workspace {target.team}"
            )
        chosen = web_client(settings, bot.bot_token, retry_connections=False)
    return post_digest(digest, target, engine=engine, client=chosen, archive=archive)

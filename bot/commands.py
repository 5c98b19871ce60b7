"""`/digest`: parse in the ack, answer after it (composing on demand), reply via response_url.

Two halves, on purpose:

- `parse_command` is pure and takes microseconds. It runs inside `ack()` (bolt's
  `process_before_response=True`), so the HTTP 200 Slack waits for never depends on the
  database. Help and malformed input are answered right in the ack body.
- `answer` reads digests (through the `core.digests.Digests` it is handed: a stored digest,
  or one composed now when its period's posts changed), articles and feeds, and builds
  Block Kit. It runs in a lazy listener on the app's own executor, then replies with `respond()`, i.e.
  the command's `response_url`: that works in channels the bot is not a member of and
  makes ephemeral replies possible, which `say()` (chat.postMessage) cannot.

Replies are ephemeral with a *Share to channel* button; its value is the resolved query
(`tech day 2026-04-01`, not `today`), so a reply shared tomorrow still shows the same day.
At most 4 messages per answer: Slack allows 5 uses of a response_url, one stays spare.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import blocks
from bot.blocks import FeedHealth, Message
from core import dates
from core.dates import iso_week, parse_day, parse_week
from core.digests import Digests
from core.errors import ConfigError
from core.model import ArticleRef
from core.sources import DEFAULT_EDITION, default_edition
from core.tags import TAGS
from storage import channels as subscriptions
from storage import search
from storage.db import session_scope
from storage.digests import list_digests
from storage.feeds import feed_status, feed_tags, list_feeds
from storage.tables import FeedSource

__all__ = ["Query", "answer", "parse_command", "register"]

log = logging.getLogger(__name__)

MAX_TEXT = 300  # longer /digest text gets a short answer instead of a search
MAX_REPLIES = 4  # response_url allows 5 uses in 30 minutes; one stays spare
STALE_AFTER = timedelta(hours=48)


@dataclass(frozen=True)
class Query:
    """A parsed `/digest` request. `problem` set means: answer with the help and say why."""

    kind: str
    edition: str
    arg: str = ""
    problem: str = ""

    def canonical(self) -> str:
        """The resolved command text: `tech day 2026-04-01`, `tech search kafka`."""
        return " ".join(x for x in (self.edition, self.kind, self.arg) if x)


def parse_command(
    text: str, *, editions: Sequence[str], today: date, default_edition: str = DEFAULT_EDITION
) -> Query:
    """Turn `/digest` text into a `Query`; never raises.

    Examples (today = 2026-04-01): `"week last"` → week 2026-W13; `"reads today"` →
    the reads edition's 2026-04-01; `"frobnicate"` → help, with the reason.
    """
    text = " ".join(text.split())
    edition = default_edition

    def helpful(problem: str) -> Query:
        return Query("help", edition, problem=problem)

    if len(text) > MAX_TEXT:
        return helpful(f"That is {len(text):,} characters; keep /digest under {MAX_TEXT}.")
    words = text.split(" ") if text else []
    if words and words[0].lower() in editions:
        edition = words.pop(0).lower()
    if not words:
        return Query("help", edition)
    verb, rest = words[0].lower(), " ".join(words[1:])
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", verb) and not rest:  # `/digest 2026-04-01`
        verb, rest = "day", verb
    elif re.fullmatch(r"\d{4}-?w\d{1,2}", verb) and not rest:  # `/digest 2026-W14`
        verb, rest = "week", verb
    try:
        if verb in ("help", "?"):
            return Query("help", edition)
        if verb in ("today", "yesterday"):
            verb, rest = "day", verb
        if verb in ("day", "daily"):
            return Query("day", edition, parse_day(rest or "today", today=today).isoformat())
        if verb in ("week", "weekly"):
            return Query("week", edition, iso_week(parse_week(rest or "this", today=today)))
    except ConfigError as exc:
        return helpful(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
    if verb in ("search", "find"):
        if not search.search_words(rest):
            return helpful("Search for at least one word, e.g. `/digest search kafka`.")
        return Query("search", edition, rest)
    if verb in ("tags", "topics") or (verb == "tag" and not rest):
        if rest:
            return helpful(f"`/digest {verb}` takes nothing after it.")
        return Query("tags", edition)
    if verb in ("tag", "company"):
        if not rest or len(rest) > 100 or not re.search(r"\w", rest):
            return helpful(f"Name a {verb}, e.g. `/digest {verb} {_EXAMPLE[verb]}`.")
        return Query(verb, edition, rest)
    if verb in ("subscribe", "unsubscribe"):
        return _subscription_query(verb, rest, edition) or helpful(_TOPIC_HELP[verb])
    if verb in ("sources", "feeds"):
        if rest:
            return helpful(f"`/digest {verb}` takes nothing after it.")
        return Query("sources", edition)
    shown = verb if len(verb) <= 30 else verb[:29] + "…"
    return helpful(f"I don't know `{shown}`.")


_EXAMPLE = {"tag": "security", "company": "Netflix"}
_TOPIC = re.compile(r"[a-z0-9][a-z0-9-]{0,49}")
MAX_TOPICS = 10
_TOPIC_HELP = {
    "subscribe": "Name tags like `security` or `ml-infrastructure` (at most 10), e.g. "
    "`/digest subscribe security data`; `/digest tags` lists them.",
    "unsubscribe": "Name one tag to stop following, e.g. `/digest unsubscribe security`, or "
    "nothing to stop the daily post.",
}


def _subscription_query(verb: str, rest: str, edition: str) -> Query | None:
    """`subscribe [TAG …]` / `unsubscribe [TAG]`; None when the tags are malformed.

    Tags may be separated by spaces or commas and start with `#`: people paste them.
    """
    words = [w.lstrip("#").lower() for w in re.split(r"[\s,]+", rest) if w.lstrip("#")]
    if not all(_TOPIC.fullmatch(w) for w in words):
        return None
    if len(words) > (MAX_TOPICS if verb == "subscribe" else 1):
        return None
    return Query(verb, edition, " ".join(dict.fromkeys(words)))


# --- answers (database reads; run after the ack) ------------------------------------------


def answer(
    query: Query,
    *,
    engine: Engine,
    digests: Digests,
    now: datetime,
    tz: Any,
    channel: tuple[str, str] | None = None,
) -> list[Message]:
    """Build the reply to a query: at most `MAX_REPLIES` messages.

    Days and weeks come from `digests` (any past period, composed on demand when its posts
    changed); searches, tags, companies and sources are database reads. `channel` (team id,
    channel id) is where the command was typed: `/digest tags` then also says which of the
    tags that channel follows.
    """
    if query.kind == "help":
        return [blocks.help_answer(problem=query.problem)]
    today = dates.today(tz, now)
    if query.kind == "day":
        return _day(digests, query, today=today)
    if query.kind == "week":
        return _week(digests, query, today=today)
    with session_scope(engine) as session:
        if query.kind == "tags":
            return [_tags(session, query, channel=channel)]
        if query.kind in ("search", "tag", "company"):
            return _articles(session, query)
        if query.kind == "sources":
            return _sources(session, query, now=now)
    return [blocks.help_answer()]


def _day(digests: Digests, query: Query, *, today: date) -> list[Message]:
    day = date.fromisoformat(query.arg)
    digest = digests.daily(query.edition, day) if day <= today else None
    if digest is None:
        return [blocks.notice(f"{query.arg} has not happened yet.")]
    if not digest.deep_dives:
        yet = " yet" if day == today else ""
        return [blocks.notice(f"No {query.edition} posts{yet} on {query.arg}.")]
    return blocks.daily_answer(digest, max_messages=MAX_REPLIES, reserve=1)


def _week(digests: Digests, query: Query, *, today: date) -> list[Message]:
    """A finished week is its rollup; the current week is each day with posts so far."""
    monday = parse_week(query.arg, today=today)
    if monday > today:
        return [blocks.notice(f"Week {query.arg} has not started yet.")]
    if today <= monday + timedelta(days=6):
        days = [day for day in dates.days_of_week(query.arg) if day <= today]
        dailies = [d for d in (digests.daily(query.edition, day) for day in days) if d]
        with_posts = [d for d in dailies if d.deep_dives]
        if not with_posts:
            return [blocks.notice(f"No {query.edition} posts yet in week {query.arg}.")]
        return blocks.week_so_far(query.arg, with_posts, max_messages=MAX_REPLIES, reserve=1)
    rollup = digests.weekly(query.edition, query.arg)
    if rollup is None or rollup.stats.posts == 0:
        return [blocks.notice(f"No {query.edition} posts in week {query.arg}.")]
    return blocks.weekly_answer(rollup, max_messages=MAX_REPLIES, reserve=1)


def _articles(session: Session, query: Query) -> list[Message]:
    if query.kind == "search":
        hits = search.search_articles(session=session, query=query.arg, edition=query.edition)
        title = f"Search: {query.arg}: {len(hits)} best matches"
        empty = f"Nothing in the archive matches “{query.arg}”."
    elif query.kind == "tag":
        hits = search.articles_by_tag(session=session, tag=query.arg, edition=query.edition)
        title = f"Recent articles tagged {query.arg}"
        tags = _known_tags(session, query.edition)
        empty = f"No articles tagged “{query.arg}”." + (
            f" Tags in use: {', '.join(tags)}." if tags else ""
        )
    else:
        hits = search.articles_by_company(session=session, company=query.arg, edition=query.edition)
        title = f"Recent articles from {query.arg}"
        empty = f"No articles from “{query.arg}”."
    refs = [
        ArticleRef(
            title=hit.article.title,
            company=hit.article.company,
            url=hit.article.url,
            published=hit.article.published_at.isoformat(),
            text=hit.deep_dive,
            tags=tuple(t for t in hit.article.tags.split(",") if t),
        )
        for hit in hits
    ]
    return blocks.article_list(title, refs, empty=empty, reserve=1)


def _known_tags(session: Session, edition: str) -> list[str]:
    rows = list_digests(session=session, edition=edition, limit=30)
    return sorted({t for row in rows for t in row.tags.split(",") if t})[:15]


def available_tags(session: Session, edition: str) -> list[str]:
    """The tags a channel can follow: the tagger's own, the feeds' default tags
    (sources.toml) and any found on the edition's recent digests."""
    found = feed_tags(session=session, edition=edition)
    return sorted(set(TAGS) | found | set(_known_tags(session, edition)))


def _tags(session: Session, query: Query, *, channel: tuple[str, str] | None) -> Message:
    tags = available_tags(session, query.edition)
    text = f"Tags of the {query.edition} edition: " + ", ".join(f"`{t}`" for t in tags) + "."
    row = (
        subscriptions.find_subscription(session=session, team_id=channel[0], channel_id=channel[1])
        if channel
        else None
    )
    if row is not None and row.edition == query.edition:
        text += " " + _following(row.edition, subscriptions.topics_of(row))
    else:
        text += " `/digest subscribe security` makes this channel's daily post carry only those."
    return blocks.notice(text)


def _following(edition: str, topics: Sequence[str]) -> str:
    if not topics:
        return f"This channel gets every deep dive of the daily {edition} post."
    names = ", ".join(f"`{t}`" for t in topics)
    return (
        f"This channel gets the daily {edition} post with only the deep dives tagged {names} "
        "(no post on a day without them)."
    )


def _sources(session: Session, query: Query, *, now: datetime) -> list[Message]:
    rows = list_feeds(session=session, edition=query.edition)
    return blocks.sources_answer([feed_health(row, now=now) for row in rows], now=now)


def feed_health(row: FeedSource, *, now: datetime) -> FeedHealth:
    """A feed's health (`storage.feeds.feed_status`) in `/digest sources`' words."""
    status = feed_status(row, enabled=row.enabled)
    if status in ("disabled", "error"):
        state = "failing" if status == "error" else status
    elif row.last_success_at is None:
        state = "never"
    elif row.last_success_at < now - STALE_AFTER:
        state = "stale"
    else:
        state = "ok"
    return FeedHealth(
        name=row.name,
        company=row.company,
        state=state,
        last_success=row.last_success_at,
        error=row.last_error or "",
        error_count=row.error_count,
        warning=row.last_warning or "",
    )


# --- listeners ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Deps:
    engine: Engine
    digests: Digests
    editions: tuple[str, ...]
    default_edition: str
    clock: Callable[[], datetime]
    tz: Any
    # At most this many answers read the database and build blocks at once (one per CPU).
    # A burst of 20 searches would otherwise take every core and the acks of the next
    # commands would wait for CPU; waiting here costs nothing, replies are I/O-bound after.
    slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
    )


def register(
    app: Any,
    *,
    engine: Engine,
    digests: Digests,
    editions: Sequence[str],
    clock: Callable[[], datetime],
    tz: Any,
) -> None:
    """Add the `/digest` command and its share button to a bolt App."""
    default = default_edition(editions)
    deps = _Deps(engine, digests, tuple(editions), default, clock, tz)

    def parse(text: str) -> Query:
        today = dates.today(deps.tz, deps.clock())
        return parse_command(
            text, editions=deps.editions, today=today, default_edition=deps.default_edition
        )

    def ack_command(ack: Ack, command: dict[str, Any]) -> None:
        query = parse(command.get("text", ""))
        if query.kind == "help":  # pure: answer in the ack itself, nothing runs later
            help_message = blocks.help_answer(
                problem=query.problem,
                editions=deps.editions,
                default_edition=deps.default_edition,
            )
            ack(response_type="ephemeral", **help_message.as_kwargs())
        else:
            ack()

    def answer_command(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        query = parse(command.get("text", ""))
        if query.kind == "help":
            return
        if query.kind in ("subscribe", "unsubscribe"):
            try:
                reply = _subscription(query, command, client=client, engine=deps.engine)
            except Exception:  # noqa: BLE001 - the user gets a line; the log gets the traceback
                log.exception("subscription failed channel=%s", command.get("channel_id"))
                reply = blocks.notice("Sorry, that could not be saved just now; try again.")
            respond(response_type="ephemeral", **reply.as_kwargs())
            return
        where = (command.get("team_id", ""), command.get("channel_id", ""))
        _reply(respond, _safe_answer(query, deps, channel=where), share=query.canonical())

    def ack_share(ack: Ack) -> None:
        ack()

    def share(body: dict[str, Any], respond: Respond) -> None:
        value = (body.get("actions") or [{}])[0].get("value", "")
        query = parse(value)
        if query.kind in ("help", "subscribe", "unsubscribe"):
            return
        messages = _safe_answer(query, deps)
        user = body.get("user", {}).get("id", "")
        if user and messages and len(messages[-1].blocks) < blocks.MAX_BLOCKS:
            messages[-1].blocks.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": f"Shared by <@{user}>"}],
                }
            )
        for message in messages:
            respond(response_type="in_channel", replace_original=False, **message.as_kwargs())

    app.command("/digest")(ack=ack_command, lazy=[answer_command])
    app.action(blocks.SHARE_ACTION)(ack=ack_share, lazy=[share])


def _safe_answer(
    query: Query, deps: _Deps, *, channel: tuple[str, str] | None = None
) -> list[Message]:
    """The answer, or one plain line when storage fails (never a silent no-reply)."""
    try:
        with deps.slots:
            return answer(
                query,
                engine=deps.engine,
                digests=deps.digests,
                now=deps.clock(),
                tz=deps.tz,
                channel=channel,
            )
    except Exception:  # noqa: BLE001 - the user gets a line; the log gets the traceback
        log.exception("slash answer failed query=%r", query.canonical())
        return [blocks.notice("Sorry, the digest archive could not be read just now; try again.")]


def _reply(respond: Respond, messages: list[Message], *, share: str) -> None:
    for i, message in enumerate(messages[:MAX_REPLIES]):
        payload = message.as_kwargs()
        if i == len(messages[:MAX_REPLIES]) - 1 and len(message.blocks) < blocks.MAX_BLOCKS:
            payload["blocks"] = [*message.blocks, blocks.share_button(share)]
        respond(response_type="ephemeral", replace_original=False, **payload)


def _subscription(
    query: Query, command: dict[str, Any], *, client: WebClient, engine: Engine
) -> Message:
    channel = command.get("channel_id", "")
    team = command.get("team_id", "")
    if not channel or channel.startswith("D") or command.get("channel_name") == "directmessage":
        return blocks.notice("Run /digest subscribe in the channel that should get the daily post.")
    topics = query.arg.split()
    with session_scope(engine) as session:
        if query.kind == "unsubscribe":
            return _unsubscribe(session, team, channel, topics)
        unknown = sorted(set(topics) - set(available_tags(session, query.edition)))
        if unknown:
            names = ", ".join(f"`{t}`" for t in unknown)
            what = "is not a tag" if len(unknown) == 1 else "are not tags"
            return blocks.notice(
                f"Nothing changed: {names} {what} of the {query.edition} edition. "
                "`/digest tags` lists them."
            )
        before = subscriptions.find_subscription(session=session, team_id=team, channel_id=channel)
        had = before is not None and before.edition == query.edition
        new = subscriptions.subscribe(
            session=session,
            team_id=team,
            channel_id=channel,
            edition=query.edition,
            topics=topics,
            created_by=command.get("user_id", ""),
        )
        row = subscriptions.find_subscription(session=session, team_id=team, channel_id=channel)
        following = subscriptions.topics_of(row) if row is not None else ()
    if not new:
        text = "Nothing changed. " + _following(query.edition, following)
    elif not had and not following:
        text = f"This channel now gets the daily {query.edition} post."
    else:
        text = _following(query.edition, following).replace(" gets ", " now gets ", 1)
    try:  # the daily post needs the bot in the channel; public channels it can join itself
        client.conversations_join(channel=channel)
    except SlackApiError as exc:
        log.info(
            "conversations.join failed channel=%s error=%s", channel, exc.response.get("error")
        )
        text += " Invite me with /invite so I can post here."
    return blocks.notice(text)


def _unsubscribe(session: Session, team: str, channel: str, topics: Sequence[str]) -> Message:
    """`/digest unsubscribe` stops the post; `/digest unsubscribe TAG` one topic of it."""
    if not topics:
        done = subscriptions.unsubscribe(session=session, team_id=team, channel_id=channel)
        return blocks.notice(
            "This channel no longer gets the daily post."
            if done
            else "This channel was not subscribed."
        )
    [topic] = topics
    row = subscriptions.find_subscription(session=session, team_id=team, channel_id=channel)
    if row is None:
        return blocks.notice("This channel was not subscribed.")
    left = subscriptions.remove_topic(
        session=session, team_id=team, channel_id=channel, topic=topic
    )
    if left is None:
        return blocks.notice(
            f"This channel does not follow `{topic}`. "
            + _following(row.edition, subscriptions.topics_of(row))
        )
    text = f"This channel no longer follows `{topic}`. " + _following(row.edition, left)
    if not left:
        text += " `/digest unsubscribe` stops the post."
    return blocks.notice(text)

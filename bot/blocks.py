"""Digests → Block Kit messages (pure: no Slack client, no database).

Built in Python rather than templated JSON so that escaping and Slack's limits are
enforced in one place:

- at most 50 blocks per message, section text at most 3,000 characters, header text at
  most 150 (https://docs.slack.dev/reference/block-kit/blocks);
- a message is also kept under ~11,000 characters in total, because Slack rejects some
  payloads (`msg_blocks_too_long`) well under the per-block limits (bolt-js #2509);
- long content is split across sections and messages, never cut off silently: anything
  that does not fit the message budget is announced ("…and 3 more sections not shown");
- every feed-derived string goes through `escape()` (`&`, `<`, `>` are Slack's control
  characters: an article titled `<!channel>` must not ping the workspace);
- every message carries a plain `text` fallback for notifications and screen readers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from core.model import ArticleRef, DailyDigest, Pattern, WeeklyRollup
from core.sources import DEFAULT_EDITION

__all__ = [
    "HEADER_MAX",
    "MAX_BLOCKS",
    "MESSAGE_CHARS",
    "SECTION_MAX",
    "Message",
    "article_list",
    "daily_answer",
    "daily_post",
    "daily_thread",
    "escape",
    "help_answer",
    "link",
    "notice",
    "paginate",
    "share_button",
    "sources_answer",
    "week_so_far",
    "weekly_answer",
]

MAX_BLOCKS = 50
SECTION_MAX = 3000
HEADER_MAX = 150
MESSAGE_CHARS = 11_000  # headroom under msg_blocks_too_long
TITLE_MAX = 250  # longer article titles are shortened with a visible "…"
THREAD_DIVES = 10  # the daily post's thread lists this many deep dives; the archive has the rest
SHARE_ACTION = "digest_share"


@dataclass(frozen=True)
class Message:
    """One Slack message: Block Kit blocks plus the plain-text fallback."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


# --- escaping and small pieces ----------------------------------------------------------


def escape(text: str) -> str:
    """Make feed text inert in mrkdwn: `&`, `<` and `>` become entities.

    Example: `escape("<!channel> & co")` → `"&lt;!channel&gt; &amp; co"`.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """`<url|label>` for http(s) URLs; just the escaped label for anything else.

    `javascript:` or relative URLs from a feed are dropped rather than linked. The
    separator `|` and the brackets are percent-encoded inside the URL so a crafted URL
    cannot end the link early.
    """
    label = escape(_shorten(label.strip() or url, TITLE_MAX))
    if urlsplit(url.strip()).scheme.lower() not in ("http", "https"):
        return label
    safe = url.strip().replace("&", "&amp;")
    safe = safe.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")
    return f"<{safe}|{label}>"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _plain(text: str, limit: int = HEADER_MAX) -> dict[str, Any]:
    return {"type": "plain_text", "text": _shorten(text, limit) or " ", "emoji": True}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": _plain(text)}


def _context(mrkdwn: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn[:SECTION_MAX]}]}


def _divider() -> dict[str, Any]:
    return {"type": "divider"}


_TOKEN = re.compile(r"<[^<>]*>|\S+|\s+")


def _sections(mrkdwn: str) -> list[dict[str, Any]]:
    """Section blocks holding `mrkdwn` in full, each under 3,000 characters.

    Split between lines, so `*bold*` or `` `code` `` on one line stays whole; only a line
    longer than a section is split inside, at whitespace. Links (`<url|label>`) are never
    cut in two, entities (`&amp;`) neither.
    """
    chunks: list[str] = []
    current = ""
    for line in mrkdwn.split("\n"):
        if current and len(current) + 1 + len(line) <= SECTION_MAX:
            current += "\n" + line
        elif len(line) <= SECTION_MAX:
            chunks.append(current)
            current = line
        else:
            chunks.append(current)
            chunks += _split_line(line)
            current = ""
    chunks.append(current)
    texts = [c.strip() for c in chunks if c.strip()]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": t}} for t in texts]


def _split_line(line: str) -> list[str]:
    """One line longer than a section, cut at whitespace (or inside one enormous word)."""
    chunks: list[str] = []
    current = ""
    for token in _TOKEN.findall(line):
        for piece in _pieces(token):
            if len(current) + len(piece) > SECTION_MAX:
                chunks.append(current)
                current = "" if piece.isspace() else piece
            else:
                current += piece
    chunks.append(current)
    return chunks


def _pieces(token: str) -> Iterable[str]:
    """A token longer than a section (one enormous "word"), cut outside any entity."""
    while len(token) > SECTION_MAX:
        cut = SECTION_MAX
        amp = token.rfind("&", cut - 8, cut)
        if amp != -1 and ";" not in token[amp:cut]:
            cut = amp
        yield token[:cut]
        token = token[cut:]
    yield token


def share_button(value: str) -> dict[str, Any]:
    """An actions block whose button re-posts the answer to the channel."""
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": _plain("Share to channel"),
                "action_id": SHARE_ACTION,
                "value": value[:2000],
            }
        ],
    }


# --- pagination -------------------------------------------------------------------------


def _size(block: dict[str, Any]) -> int:
    size = 0
    for key in ("text",):
        if isinstance(block.get(key), dict):
            size += len(block[key].get("text", ""))
    for element in block.get("elements", ()):
        if isinstance(element, dict) and isinstance(element.get("text"), str):
            size += len(element["text"])
    return size


def paginate(
    blocks: Sequence[dict[str, Any]],
    *,
    text: str,
    max_messages: int | None = None,
    reserve: int = 0,
) -> list[Message]:
    """Split blocks into messages of ≤ 50 blocks and ≤ ~11,000 characters each.

    `text` is the plain fallback, escaped here: Slack notifies on `<!channel>` or `<@U…>`
    in a message's `text` (and shows it in notifications), and titles come from feeds.
    `reserve` keeps room in the last message (e.g. for a share button). With
    `max_messages`, blocks beyond the budget are replaced by a context block saying how
    many sections were left out, so nothing disappears without a word.
    """
    text = escape(text)
    pages: list[list[dict[str, Any]]] = [[]]
    chars = 0
    for block in blocks:
        size = _size(block)
        if pages[-1] and (len(pages[-1]) >= MAX_BLOCKS or chars + size > MESSAGE_CHARS):
            pages.append([])
            chars = 0
        pages[-1].append(block)
        chars += size
    if reserve and len(pages[-1]) + reserve > MAX_BLOCKS:
        pages.append([pages[-1].pop()])
    if max_messages is not None and len(pages) > max_messages:
        kept = pages[:max_messages]
        left_out = sum(1 for page in pages[max_messages:] for b in page if b["type"] == "section")
        last = kept[-1]
        while len(last) + 1 + reserve > MAX_BLOCKS:
            last.pop()
            left_out += 1
        noun = "section" if left_out == 1 else "sections"
        last.append(_context(f"…and {left_out} more {noun} not shown (Slack's reply limit)."))
        pages = kept
    total = len(pages)
    return [
        Message(text=text if i == 0 else f"{text} (continued {i + 1}/{total})", blocks=page)
        for i, page in enumerate(pages)
        if page
    ]


# --- digests ----------------------------------------------------------------------------


def _article_text(article: ArticleRef, *, with_text: bool = True) -> str:
    meta = " · ".join(x for x in (escape(article.company), _day(article.published)) if x)
    head = f"*{link(article.url, article.title)}*" + (f"\n{meta}" if meta else "")
    body = escape(article.text.strip()) if with_text and article.text.strip() else ""
    return f"{head}\n{body}" if body else head


def _day(published: str | date | datetime | None) -> str:
    if not published:
        return ""
    if isinstance(published, date | datetime):
        return published.isoformat()[:10]
    return str(published)[:10]


def _title(digest: DailyDigest, key: str, default: str) -> str:
    return digest.section_titles.get(key) or default


def _signal_blocks(digest: DailyDigest) -> list[dict[str, Any]]:
    title = _title(digest, "signal", "Signal of the Day")
    signal = digest.signal
    if signal is None:
        return _sections(f"*{escape(title)}*\nNo standout post today.")
    text = (
        f"*{escape(title)}*\n*{link(signal.url, signal.title)}* · {escape(signal.company)}\n"
        f"{escape(signal.text.strip())}"
    )
    blocks = _sections(text)
    why = signal.why.strip()
    if why:  # compose may already phrase it as "Why this one: …"
        label = "" if why.lower().startswith("why") else "_Why this one:_ "
        blocks.append(_context(f"{label}{escape(_shorten(why, 1000))}"))
    return blocks


def _pattern_blocks(patterns: Iterable[Pattern], title: str) -> list[dict[str, Any]]:
    patterns = list(patterns)
    if not patterns:
        return []
    blocks = _sections(f"*{escape(title)}*")
    for pattern in patterns:
        companies = ", ".join(escape(c) for c in pattern.companies)
        head = f"*{escape(pattern.theme)}*" + (f" · {companies}" if companies else "")
        blocks += _sections(f"{head}\n{escape(pattern.text.strip())}")
    return blocks


def _fallback(digest: DailyDigest) -> str:
    if digest.signal is None:
        return f"{digest.title}: {digest.stats.line()}"
    title = _title(digest, "signal", "Signal of the Day")
    return f"{digest.title}: {title}: {digest.signal.title} ({digest.signal.company})"


def daily_post(digest: DailyDigest, *, topics: Sequence[str] = ()) -> list[Message]:
    """The channel message: header, stats, the signal and a pointer to the thread.

    Kept to one short message on purpose: the deep dives go in the thread
    (`daily_thread`) so the channel stays quiet. Should the signal alone overflow one
    message, the first message is the channel post and the rest belong in the thread.
    `topics` are the tags the channel follows (the digest is already cut down to them).
    """
    blocks = [_header(digest.title), _context(escape(digest.stats.line()))]
    if topics:
        names = ", ".join(f"`{escape(t)}`" for t in topics)
        blocks.append(_context(f"Only posts tagged {names} (`/digest subscribe` to change)."))
    blocks += _signal_blocks(digest)
    if digest.signal is None:
        blocks.append(_context(escape(digest.stats.quiet_day())))
    if digest.deep_dives:
        n = len(digest.deep_dives)
        label = _title(digest, "deep_dives", "Deep Dives")
        noun = "post" if n == 1 else "posts"
        shown = f"the top {THREAD_DIVES} of {n} {noun}" if n > THREAD_DIVES else f"{n} {noun}"
        blocks.append(_context(f"🧵 {escape(label)} on {shown} in the thread."))
    return paginate(blocks, text=_fallback(digest))


def daily_thread(digest: DailyDigest, *, archive_url: str = "") -> list[Message]:
    """The thread reply: the first `THREAD_DIVES` deep dives, then the patterns.

    A busy day (47 posts) would otherwise fill three dense messages; the rest are one
    link away, on the day's archive page (`archive_url`).
    """
    label = _title(digest, "deep_dives", "Deep Dives")
    blocks: list[dict[str, Any]] = []
    if digest.deep_dives:
        blocks += _sections(f"*{escape(label)}*")
        for article in digest.deep_dives[:THREAD_DIVES]:
            blocks += _sections(_article_text(article))
        rest = len(digest.deep_dives) - THREAD_DIVES
        if rest > 0:
            noun = "post" if rest == 1 else "posts"
            where = link(archive_url, "the archive") if archive_url else "the archive"
            blocks += _sections(f"…and {rest} more {noun} on {where}.")
    blocks += _pattern_blocks(digest.patterns, _title(digest, "patterns", "Patterns"))
    if not blocks:
        return []
    return paginate(blocks, text=f"{digest.title}: {label}")


def daily_answer(digest: DailyDigest, *, max_messages: int = 4, reserve: int = 0) -> list[Message]:
    """The whole daily digest as a `/digest today` answer (at most `max_messages`)."""
    blocks = [_header(digest.title), _context(escape(digest.stats.line()))]
    blocks += _signal_blocks(digest)
    if digest.signal is None:
        blocks.append(_context(escape(digest.stats.quiet_day())))
    if digest.deep_dives:
        blocks.append(_divider())
        blocks += _sections(f"*{escape(_title(digest, 'deep_dives', 'Deep Dives'))}*")
        for article in digest.deep_dives:
            blocks += _sections(_article_text(article))
    if digest.patterns:
        blocks.append(_divider())
        blocks += _pattern_blocks(digest.patterns, _title(digest, "patterns", "Patterns"))
    return paginate(blocks, text=_fallback(digest), max_messages=max_messages, reserve=reserve)


def weekly_answer(
    rollup: WeeklyRollup, *, max_messages: int = 4, reserve: int = 0
) -> list[Message]:
    """A weekly rollup: review, top stories with their posts, patterns."""
    period = f"{rollup.start.isoformat()} – {rollup.end.isoformat()}"
    blocks = [_header(rollup.title), _context(f"{period} · {escape(rollup.stats.line())}")]
    if rollup.week_in_review.strip():
        blocks += _sections(f"*Week in Review*\n{escape(rollup.week_in_review.strip())}")
    if rollup.top_stories:
        blocks.append(_divider())
        blocks += _sections("*Top Stories*")
        for story in rollup.top_stories:
            companies = ", ".join(escape(c) for c in story.companies)
            lines = [f"*{escape(story.theme)}*" + (f" · {companies}" if companies else "")]
            if story.text.strip():
                lines.append(escape(story.text.strip()))
            if story.articles:
                lines += [f"• {link(a.url, a.title)} · {escape(a.company)}" for a in story.articles]
            else:
                lines += [f"• {link(url, url)}" for url in story.urls]
            blocks += _sections("\n".join(lines))
    if rollup.patterns:
        blocks.append(_divider())
        blocks += _pattern_blocks(rollup.patterns, "Patterns")
    text = f"{rollup.title}: {len(rollup.top_stories)} top stories"
    return paginate(blocks, text=text, max_messages=max_messages, reserve=reserve)


def week_so_far(
    week: str, dailies: Sequence[DailyDigest], *, max_messages: int = 4, reserve: int = 0
) -> list[Message]:
    """A week whose rollup is not composed yet: each day's signal, as stored so far."""
    blocks = [
        _header(f"Week {week} so far"),
        _context("The weekly rollup is not out yet; here is each day's signal."),
    ]
    for digest in sorted(dailies, key=lambda d: d.date):
        day = digest.date.strftime("%a %Y-%m-%d")
        if digest.signal is None:
            body = escape(digest.stats.line())
        else:
            body = (
                f"*{link(digest.signal.url, digest.signal.title)}* · "
                f"{escape(digest.signal.company)}\n{escape(_shorten(digest.signal.text, 600))}"
            )
        blocks += _sections(f"*{day}*\n{body}")
    return paginate(blocks, text=f"Week {week} so far", max_messages=max_messages, reserve=reserve)


def article_list(
    title: str, articles: Sequence[ArticleRef], *, empty: str, reserve: int = 0
) -> list[Message]:
    """Search/tag/company results: title, company, date and link of each article."""
    if not articles:
        return [notice(empty)]
    blocks = _sections(f"*{escape(title)}*")
    for article in articles:
        line = _article_text(article, with_text=False)
        if article.tags:
            line += " · " + ", ".join(f"`{escape(t)}`" for t in article.tags)
        if article.text.strip():
            line += "\n" + escape(_shorten(article.text, 280))
        blocks += _sections(line)
    return paginate(blocks, text=title, max_messages=1, reserve=reserve)


@dataclass(frozen=True)
class FeedHealth:
    """One feed as `/digest sources` shows it (built by the caller from the feed table)."""

    name: str
    company: str
    state: str  # ok | failing | stale | never | disabled
    last_success: datetime | None
    error: str = ""
    error_count: int = 0
    warning: str = ""  # the last successful fetch's remark (XML repaired, entries skipped)


_STATE_ICON = {"ok": "✅", "failing": "❌", "stale": "⚠️", "never": "⏳", "disabled": "⏸️"}


def sources_answer(feeds: Sequence[FeedHealth], *, now: datetime) -> list[Message]:
    """Each feed with its health; failing and stale feeds named first."""
    if not feeds:
        return [notice("No feeds yet: run `digest ingest` once to load sources.toml.")]
    counts = {state: sum(1 for f in feeds if f.state == state) for state in _STATE_ICON}
    summary = " · ".join(f"{n} {state}" for state, n in counts.items() if n)
    blocks = [_header("Sources"), _context(f"{len(feeds)} feeds · {summary}")]
    order = {"failing": 0, "stale": 1, "never": 2, "disabled": 3, "ok": 4}
    lines = []
    for feed in sorted(feeds, key=lambda f: (order.get(f.state, 5), f.name.lower())):
        seen = _ago(feed.last_success, now) if feed.last_success else "never succeeded"
        line = f"{_STATE_ICON.get(feed.state, '•')} *{escape(feed.name)}* · {seen}"
        if feed.state == "failing" and feed.error:
            line += f" · {feed.error_count}× `{escape(_shorten(feed.error, 160))}`"
        elif feed.warning:
            line += f" · warning: {escape(_shorten(feed.warning, 160))}"
        lines.append(line)
    blocks += _sections("\n".join(lines))
    return paginate(blocks, text=f"Sources: {summary}", max_messages=4)


def _ago(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 3600:
        return f"last success {seconds // 60} min ago"
    if seconds < 86400 * 2:
        return f"last success {seconds // 3600} h ago"
    return f"last success {seconds // 86400} days ago"


HELP = """\
*`/digest` answers from the stored digests:*
• `/digest today` or `/digest day 2026-04-01`: a daily digest
• `/digest week`, `/digest week last`, `/digest week 2026-W14`: a weekly rollup
• `/digest search <words>`: the best-matching articles across the archive
• `/digest tag <tag>`, `/digest company <name>`: recent articles for a tag or a company
• `/digest sources`: every feed and its health
• `/digest subscribe` / `/digest unsubscribe`: this channel gets (or stops getting) the daily post
• `/digest subscribe <tag> …` / `/digest unsubscribe <tag>`: only the deep dives with those tags; `/digest tags` lists them
• `/digest help`: this message
Put an edition first to pick it: `/digest {example} today`. Answers are only visible to you; \
use *Share to channel* to post one."""


def help_answer(
    *, problem: str = "", editions: Sequence[str] = (), default_edition: str = DEFAULT_EDITION
) -> Message:
    """The usage text, with the reason first when a command could not be understood.

    The example of picking an edition names one of `editions` other than the default (the
    one a command means without it).
    """
    example = next((e for e in editions if e != default_edition), "reads")
    text = HELP.replace("{example}", escape(example))
    blocks = []
    if problem:
        blocks += _sections(f":thinking_face: {escape(problem)}")
    blocks += _sections(text)
    return Message(text=escape(problem or "How to use /digest"), blocks=blocks)


def notice(text: str) -> Message:
    """A short plain answer (nothing found, a bad date, a confirmation)."""
    return Message(text=escape(text), blocks=_sections(escape(text)))

"""WeeklyRollup → the weekly issue: HTML (inlined once) + plain text → per-subscriber MIME bytes.

Inlining CSS with premailer costs tens of milliseconds and building a MIME message a few
more, so both happen once per issue: `render_issue` produces a serialised message whose
per-subscriber parts (To, Message-ID, unsubscribe links) are placeholders, and
`Issue.personalise` fills them with `bytes.replace` in microseconds. That only works
when no transfer encoding can split a placeholder, so the HTML part is made pure ASCII
(character references) and sent as 7bit with lines wrapped under SMTP's 998-byte limit,
and the text part goes out as 7bit or 8bit (every relay we target speaks 8BITMIME;
`Issue.message_for` builds a conventional quoted-printable message for the others).

SMTP refuses any line over 998 bytes ("500 Line too long"), and some content cannot be
wrapped: a 1,100-character URL is one word in both parts. An issue with such a line gets
no template; each subscriber's copy is then built by `message_for`, whose parts go out
quoted-printable (lines of 76), a few milliseconds each instead of microseconds. Titles
are shortened for display (`shorten`); URLs are always kept whole.

Everything we are given is plain text (titles, deep dives, themes: parse keeps no feed
HTML), so templates autoescape it all: only markup we write is markup. premailer never
touches the network (`allow_network=False`).
"""

from __future__ import annotations

import html as htmllib
import logging
import re
import textwrap
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, quote
from urllib.parse import urlsplit

from premailer import Premailer

from core.config import Settings
from core.model import WeeklyRollup
from core.render import archive_url as archive_page
from core.render import make_environment, shorten
from storage.tables import utcnow

__all__ = ["HTML_BUDGET", "Issue", "inline_css", "issue_key", "render_issue", "subject_for"]

log = logging.getLogger(__name__)

# Gmail clips a message whose HTML passes ~102 KB; stay well under it after personalising.
HTML_BUDGET = 90_000
_LINE_LIMIT = 900  # SMTP allows 998 bytes per line; leave room for substituted values

_TO = b"recipient@placeholder.invalid"
_MSGID = b"msgid-placeholder"
_HREF = b"__UNSUBSCRIBE_HREF__"
_URL = b"__UNSUBSCRIBE_URL__"
_MAILTO = b"__UNSUBSCRIBE_MAILTO__"


def issue_key(edition: str, week: str) -> str:
    """The ledger's name for one weekly issue: 'tech/weekly/2026-W14'."""
    return f"{edition}/weekly/{week}"


@dataclass(frozen=True)
class Issue:
    """One rendered weekly issue, ready to personalise for each subscriber."""

    edition: str
    week: str
    subject: str
    html: str  # inlined, with __UNSUBSCRIBE_HREF__ where the subscriber's link goes
    text: str  # with __UNSUBSCRIBE_URL__
    archive_url: str
    list_id: str
    mail_from: str  # the bare address: the envelope sender
    from_header: str  # MAIL_FROM with its display name, for the From header
    domain: str
    date: str  # RFC 5322 Date of the issue
    stories_shown: int
    stories_total: int
    template: bytes  # the serialised message with placeholders

    @property
    def key(self) -> str:
        return issue_key(self.edition, self.week)

    def message_id(self, subscriber_id: int) -> str:
        """Stable per (issue, subscriber): a resend after a crash carries the same id,
        so receiving systems can fold the duplicate."""
        return f"<{self.edition}.{self.week}.s{subscriber_id}@{self.domain}>"

    def personalise(
        self, *, subscriber_id: int, email: str, unsubscribe_url: str, mailto: str
    ) -> bytes:
        """The message for one subscriber, as SMTP-ready bytes (CRLF line ends).

        `email` must be ASCII (internationalised addresses go through `message_for`).
        An issue with lines too long to send as they are (no template) is encoded here.
        """
        if not self.template:
            message = self.message_for(
                subscriber_id=subscriber_id,
                email=email,
                unsubscribe_url=unsubscribe_url,
                mailto=mailto,
            )
            return message.as_bytes(policy=SMTP)
        return (
            self.template.replace(_TO, email.encode("ascii"))
            .replace(_MSGID, self.message_id(subscriber_id)[1:-1].encode("ascii"))
            .replace(_HREF, htmllib.escape(unsubscribe_url).encode("ascii"))
            .replace(_URL, unsubscribe_url.encode("ascii"))
            .replace(_MAILTO, mailto.encode("ascii"))
        )

    def message_for(
        self, *, subscriber_id: int, email: str, unsubscribe_url: str, mailto: str
    ) -> EmailMessage:
        """The same message built conventionally (slow: ~5 ms); for previews and for
        servers or addresses the fast path cannot serve (no 8BITMIME, SMTPUTF8)."""
        message = EmailMessage(policy=SMTP)
        _headers(
            message,
            issue=self,
            to=email,
            message_id=self.message_id(subscriber_id),
            list_unsubscribe=f"<{unsubscribe_url}>, <{mailto}>",
        )
        message.set_content(self.text.replace(_URL.decode(), unsubscribe_url))
        message.add_alternative(
            self.html.replace(_HREF.decode(), htmllib.escape(unsubscribe_url)), subtype="html"
        )
        return message

    @property
    def eight_bit(self) -> bool:
        return not self.text.isascii()


def render_issue(
    rollup: WeeklyRollup,
    *,
    settings: Settings,
    edition_title: str | None = None,
    number: int | None = None,
    now: datetime | None = None,
    budget: int = HTML_BUDGET,
) -> Issue:
    """Render, inline (premailer, once) and serialise the issue for `rollup`.

    A long week is cut to the stories that fit in `budget` bytes of HTML; the email then
    links to the web archive for the rest. `number` is the issue's number in its edition
    (shown as "Issue 12"; omitted when unknown).
    """
    now = now or utcnow()
    title = edition_title or rollup.title.split(" — ")[0]
    base_url = settings.public_base_url.rstrip("/")
    archive_url = archive_page(base_url, edition=rollup.edition, kind="weekly", period=rollup.week)
    domain = settings.mail_domain
    total = len(rollup.top_stories)
    shown = total
    while True:
        context = _context(rollup, title=title, archive_url=archive_url, shown=shown)
        context["base_host"] = urlsplit(base_url).hostname or base_url
        context["number"] = number
        context["subscribe_url"] = f"{base_url}/subscribe"
        html = inline_css(
            make_environment("files").get_template("email/weekly.html").render(context)
        )
        size = len(html.encode("ascii", "xmlcharrefreplace"))
        if size <= budget or shown == 0:
            break
        # Shrink in proportion to the overshoot; a few passes at most, once per issue.
        shown = min(shown - 1, int(shown * budget / size * 0.95))
        shown = max(shown, 0)
        log.info(
            "issue too large edition=%s week=%s bytes=%d stories=%d",
            rollup.edition,
            rollup.week,
            size,
            shown,
        )
    text = make_environment("files").get_template("email/weekly.txt").render(context)
    html = _ascii_lines(html)
    issue = Issue(
        edition=rollup.edition,
        week=rollup.week,
        subject=subject_for(rollup, edition_title=title),
        html=html,
        text=_normalise_text(text),
        archive_url=archive_url,
        # RFC 2919: a phrase, then <id>; the phrase is quoted (titles may hold '@')
        list_id=f'"{quote(title)}" <{rollup.edition}.weekly.{domain}>',
        mail_from=settings.mail_from_address,
        from_header=settings.mail_from_header,
        domain=domain,
        date=format_datetime(now),
        stories_shown=shown,
        stories_total=total,
        template=b"",
    )
    return _with_template(issue)


def subject_for(rollup: WeeklyRollup, *, edition_title: str) -> str:
    """'Engineering @ Scale, week of 30 Mar: <the week's lead story>' (no lead: no colon).

    The lead story says what the issue is about in the inbox list, where a week number
    says nothing; it is shortened so the header stays one readable line.
    """
    week = f"{edition_title}, week of {rollup.start.day} {rollup.start:%b}"
    lead = rollup.top_stories[0].theme if rollup.top_stories else ""
    return f"{week}: {shorten(lead, 120)}" if lead.strip() else week


def inline_css(html: str) -> str:
    """premailer over trusted template output; never fetches (allow_network=False).

    No `base_url`: every link we write is absolute already, and premailer would otherwise
    "absolutise" the per-subscriber placeholders into the wrong URL.
    """
    return str(
        Premailer(
            html,
            allow_network=False,
            strip_important=False,  # the dark-mode rules must still beat inline styles
            cssutils_logging_level=logging.CRITICAL,
            remove_classes=False,
        ).transform()
    )


# --- helpers ----------------------------------------------------------------------------


def _with_template(issue: Issue) -> Issue:
    """The issue with its placeholder template, or with none when a line is too long to
    travel as 7bit/8bit (then `personalise` encodes each copy quoted-printable)."""
    longest = max(len(line.encode()) for line in (issue.html + issue.text).splitlines())
    if longest > _LINE_LIMIT:
        log.info(
            "issue has a %d-byte line edition=%s week=%s: sent quoted-printable",
            longest,
            issue.edition,
            issue.week,
        )
        return issue
    message = EmailMessage(policy=SMTP)
    _headers(
        message,
        issue=issue,
        to=_TO.decode(),
        message_id=f"<{_MSGID.decode()}>",
        list_unsubscribe=f"<{_URL.decode()}>, <{_MAILTO.decode()}>",
    )
    message.set_content(issue.text, cte="8bit" if issue.eight_bit else "7bit")
    message.add_alternative(issue.html, subtype="html", cte="7bit")
    template = message.as_bytes(policy=SMTP)
    return Issue(**{**issue.__dict__, "template": template})


def _headers(
    message: EmailMessage, *, issue: Issue, to: str, message_id: str, list_unsubscribe: str
) -> None:
    message["From"] = issue.from_header
    message["To"] = to
    message["Subject"] = issue.subject
    message["Date"] = issue.date
    message["Message-ID"] = message_id
    message["List-Id"] = issue.list_id
    message["List-Unsubscribe"] = list_unsubscribe
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["List-Archive"] = f"<{issue.archive_url}>"
    message["Precedence"] = "bulk"


def _context(
    rollup: WeeklyRollup, *, title: str, archive_url: str, shown: int
) -> dict[str, object]:
    return {
        "rollup": rollup,
        "edition_title": title,
        "archive_url": archive_url,
        "period": _period(rollup.start, rollup.end),
        "preheader": textwrap.shorten(rollup.week_in_review, 140, placeholder="…"),
        "stories": rollup.top_stories[:shown],
        "stories_left": len(rollup.top_stories) - shown,
        "patterns": rollup.patterns,
    }


def _period(start: date, end: date) -> str:
    """'30 March – 5 April 2026'."""
    left = f"{start.day} {start:%B}" + (f" {start.year}" if start.year != end.year else "")
    return f"{left} – {end.day} {end:%B} {end.year}"


def _ascii_lines(html: str) -> str:
    """Pure ASCII (non-ASCII as character references) in lines of at most _LINE_LIMIT, so
    the part can travel as 7bit and placeholders can be replaced in the bytes.

    Short lines are also packed together (a newline and a space are the same whitespace
    to HTML, and our template has no <pre>): a few dozen
    long lines instead of hundreds of short ones, which every SMTP server reads faster.
    """
    html = html.encode("ascii", "xmlcharrefreplace").decode("ascii")
    out: list[str] = []
    for line in html.splitlines():
        while len(line) > _LINE_LIMIT:
            cut = line.rfind(" ", 0, _LINE_LIMIT)
            if cut <= 0:  # no space to break at (never in our template): cut between tags
                cut = line.rfind("><", 0, _LINE_LIMIT) + 1
            if cut <= 0:
                break
            out.append(line[:cut])
            line = line[cut + 1 :] if line[cut] == " " else line[cut:]
        out.append(line)
    packed: list[str] = []
    for line in out:
        line = line.strip()
        if not line:
            continue
        if packed and len(packed[-1]) + 1 + len(line) <= _LINE_LIMIT:
            packed[-1] += " " + line
        else:
            packed.append(line)
    return "\n".join(packed) + "\n"


def _normalise_text(text: str) -> str:
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"
    return "\n".join(line.rstrip() if line != "-- " else line for line in text.splitlines()) + "\n"

"""Content the weekly mail must survive, sent through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re
from dataclasses import replace

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.config import Settings
from core.model import ArticleRef, Story
from newsletter.render import render_issue
from newsletter.send import send_issue
from newsletter.smtp import SMTPSender
from storage import deliveries
from tests.peers.smtp import Sink

LONG_URL = "https://blog.example.com/posts/" + "a1b2c3d4e5" * 107  # 1,101 characters
LONG_TITLE = "Scaling " + "x" * 9_992  # 10,000 characters, one unbreakable word


def send(issue, engine: Engine, settings: Settings, sink: Sink):
    return send_issue(
        issue, engine=engine, settings=settings, connect=lambda: SMTPSender.from_url(sink.url)
    )


def test_unbreakable_titles_words_and_urls_still_make_a_deliverable_issue(
    engine: Engine, mail_settings: Settings, sink: Sink, make_rollup, add_subscribers
) -> None:
    story = Story(
        theme="Long " + "y" * 3_000,
        companies=("Example",),
        urls=(LONG_URL,),
        text="A deep dive with one very long word: " + "z" * 2_500 + " and then the end.",
        articles=(ArticleRef(title=LONG_TITLE, company="Example", url=LONG_URL),),
    )
    rollup = replace(make_rollup(1), top_stories=(story,))
    add_subscribers(["a@example.com", "zoë@example.com"])  # the fast and the slow path
    issue = render_issue(rollup, settings=mail_settings)

    tally = send(issue, engine, mail_settings, sink)

    assert (tally.sent, tally.failed) == (2, 0)
    assert sorted(sink.recipients()) == ["a@example.com", "zoë@example.com"]
    for received in sink.messages:
        longest = max(len(line) for line in received.data.split(b"\r\n"))
        assert longest <= 998
        message = received.message
        html = message.get_body(("html",)).get_content()
        plain = message.get_body(("plain",)).get_content()
        assert f'href="{LONG_URL}"' in html  # whole, once decoded
        assert f"  {LONG_URL}" in plain
        assert "x" * 9_992 not in html and "x" * 9_992 not in plain  # shortened for display
        assert re.search(r"Scaling x{100,}(…|&#8230;)", html)
        assert "z" * 2_500 in html  # the text itself is never cut
    with Session(engine) as session:
        assert deliveries.counts(session=session, issue=issue.key) == {"sent": 2}
    # A re-run has nothing left to do, and says so truthfully: all were sent.
    again = send(issue, engine, mail_settings, sink)
    assert (again.sent, again.already, again.failed) == (0, 2, 0)


def test_a_deep_dive_that_shows_a_link_is_text_in_the_mail_not_a_link(
    engine: Engine, mail_settings: Settings, sink: Sink, make_rollup, add_subscribers
) -> None:
    shown = '<a href="https://phish.example">re-verify your account</a>'
    rollup = make_rollup(1)
    story = replace(rollup.top_stories[0], text=f"The post quoted {shown} as its example.")
    pattern = replace(rollup.patterns[0], text=f"Also: {shown}")
    rollup = replace(rollup, top_stories=(story,), patterns=(pattern,), week_in_review=shown)
    add_subscribers(["reader@example.com"])

    send(render_issue(rollup, settings=mail_settings), engine, mail_settings, sink)

    (received,) = sink.messages
    html = received.message.get_body(("html",)).get_content()
    assert "phish.example" in html
    assert not re.search(r"<a\b[^>]*phish\.example", html)  # no live link anywhere
    assert html.count("&lt;a href=") >= 3 and "re-verify your account&lt;/a&gt;" in html
    plain = received.message.get_body(("plain",)).get_content()
    assert f"The post quoted {shown} as its example." in " ".join(plain.split())

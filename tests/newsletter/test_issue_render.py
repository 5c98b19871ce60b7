"""The weekly issue: MIME structure, headers, safety of feed text, size, inline-once."""

from __future__ import annotations

import re
from dataclasses import replace
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

import premailer
import pytest

from core.config import Settings
from core.model import ArticleRef, Story, WeeklyRollup
from newsletter.render import HTML_BUDGET, render_issue
from tests.peers.http import Response, serve

UNSUB = "https://digest.example.org/unsubscribe?token=abc.def-ghi"
MAILTO = "mailto:digest@news.example.org?subject=unsubscribe%20abc"


def personal(issue, subscriber_id: int = 7, email: str = "reader@example.com"):
    data = issue.personalise(
        subscriber_id=subscriber_id, email=email, unsubscribe_url=UNSUB, mailto=MAILTO
    )
    return data, BytesParser(policy=policy.default).parsebytes(data)


def test_issue_is_multipart_alternative_with_plain_text_first(rollup, mail_settings) -> None:
    _, message = personal(render_issue(rollup, settings=mail_settings))
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Week in Review" in body and "Top Stories" in body
        assert "Introducing EmDash 0" in body and "Ephemeral trust" in body
    assert "https://blog.cloudflare.com/post-0" in text
    assert 'href="https://blog.cloudflare.com/post-0"' in html


def test_headers_identify_sender_list_and_one_click_unsubscribe(rollup, mail_settings, now) -> None:
    issue = render_issue(rollup, settings=mail_settings, now=now)
    _, message = personal(issue, subscriber_id=7)
    assert message["From"] == "digest@news.example.org"
    assert message["To"] == "reader@example.com"
    assert message["Subject"] == "Engineering @ Scale, week of 30 Mar: Zero-trust boundaries 0"
    assert parsedate_to_datetime(message["Date"]) == now
    assert message["Message-ID"] == "<tech.2026-W14.s7@news.example.org>"
    assert message["List-Id"] == '"Engineering @ Scale" <tech.weekly.news.example.org>'
    assert message["List-Unsubscribe"] == f"<{UNSUB}>, <{MAILTO}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Archive"] == "<https://digest.example.org/weekly/2026-W14>"
    _, other = personal(issue, subscriber_id=8)
    assert other["Message-ID"] != message["Message-ID"]


def test_body_has_visible_unsubscribe_and_archive_links(rollup, mail_settings) -> None:
    _, message = personal(render_issue(rollup, settings=mail_settings))
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert f'href="{UNSUB}"' in html and ">Unsubscribe</a>" in html
    assert f"Unsubscribe with one click: {UNSUB}" in text
    assert 'href="https://digest.example.org/weekly/2026-W14"' in html
    assert "__UNSUBSCRIBE" not in html + text


def test_wire_format_is_smtp_safe(rollup, mail_settings) -> None:
    data, _ = personal(render_issue(rollup, settings=mail_settings))
    lines = data.split(b"\r\n")
    assert b"\n" not in b"".join(lines)  # CRLF only: no bare LF for strict servers
    assert max(len(line) for line in lines) <= 998
    html_part = data.split(b"Content-Type: text/html")[1]
    assert html_part.isascii()


def test_personalised_bytes_match_the_conventional_message(rollup, mail_settings) -> None:
    issue = render_issue(rollup, settings=mail_settings)
    _, fast = personal(issue)
    slow = issue.message_for(
        subscriber_id=7, email="reader@example.com", unsubscribe_url=UNSUB, mailto=MAILTO
    )
    for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe"):
        assert fast[name] == slow[name]
    for kind in ("plain", "html"):
        wire = fast.get_body((kind,)).get_content().replace("\r\n", "\n")
        assert wire == slow.get_body((kind,)).get_content()


def test_text_is_escaped_never_markup_and_bad_urls_are_dropped(mail_settings, make_rollup) -> None:
    hostile = Story(
        theme="<b>&",
        companies=("Evil <Corp>",),
        urls=("javascript:alert(1)",),
        text='Good <b>bold</b> <script>alert(1)</script><img src=x onerror="alert(2)">'
        '<a href="javascript:alert(3)">x</a>',
        articles=(ArticleRef(title="<i>T</i>", company="C", url="javascript:alert(4)"),),
    )
    rollup = replace(make_rollup(0), top_stories=(hostile,))
    _, message = personal(render_issue(rollup, settings=mail_settings))
    html = message.get_body(("html",)).get_content()
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert '<a href="javascript:' not in html and '<a href="#"' in html
    assert "&lt;b&gt;&amp;" in html and "&lt;i&gt;T&lt;/i&gt;" in html
    assert "Good &lt;b&gt;bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;" in html
    plain = message.get_body(("plain",)).get_content()
    assert "Good <b>bold</b>" in plain  # plain text stays exactly what it says
    assert "  javascript:alert(4)" not in plain


def test_inlining_never_touches_the_network(mail_settings, make_rollup) -> None:
    with serve(lambda request: Response(200, "body { color: red }")) as server:
        text = (
            f'<link rel="stylesheet" href="{server.url}/x.css">'
            f"<style>@import url({server.url}/y.css);</style> plain words"
        )
        rollup = replace(make_rollup(1), week_in_review=text)
        render_issue(rollup, settings=mail_settings.replace(public_base_url=server.url))
        assert server.requests == []


def test_premailer_runs_once_per_issue_not_per_subscriber(
    rollup, mail_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = premailer.Premailer.transform

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(premailer.Premailer, "transform", counting)
    issue = render_issue(rollup, settings=mail_settings)
    for n in range(50):
        personal(issue, subscriber_id=n, email=f"r{n}@example.com")
    assert len(calls) == 1


def test_css_is_inlined_and_dark_mode_and_mobile_rules_kept(rollup, mail_settings) -> None:
    html = render_issue(rollup, settings=mail_settings).html
    assert re.search(r'<h1 style="[^"]*font-size:\s*24px', html)
    assert "@media (prefers-color-scheme: dark)" in html and "!important" in html
    assert "@media only screen and (max-width: 620px)" in html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "<img" not in html  # nothing to lose with images off
    assert 'role="presentation"' in html


def test_a_long_week_is_cut_to_fit_and_links_the_archive(make_rollup, mail_settings) -> None:
    rollup: WeeklyRollup = make_rollup(400)
    issue = render_issue(rollup, settings=mail_settings)
    assert len(issue.html.encode()) <= HTML_BUDGET
    assert 0 < issue.stories_shown < 400 and issue.stories_total == 400
    left = 400 - issue.stories_shown
    assert f"{left} more stories in the web edition" in issue.html
    assert (
        f"{left} more stories on the web: https://digest.example.org/weekly/2026-W14" in issue.text
    )


def test_archive_link_names_other_editions(make_rollup, mail_settings: Settings) -> None:
    issue = render_issue(make_rollup(1, edition="reads"), settings=mail_settings)
    assert issue.archive_url == "https://digest.example.org/reads/weekly/2026-W14"
    assert issue.key == "reads/weekly/2026-W14"


def test_the_issue_reads_like_a_newsletter(rollup, mail_settings) -> None:
    """Subject with the lead story, one heading style in the text part, the issue number
    and a line for whoever was forwarded it."""
    issue = render_issue(rollup, settings=mail_settings, number=12)
    assert issue.subject == "Engineering @ Scale, week of 30 Mar: Zero-trust boundaries 0"
    _, message = personal(issue)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    lines = text.splitlines()
    assert not [line for line in lines if line and set(line) <= set("-=")]  # no underlines
    headings = [line for line in lines if line.startswith("#")]
    assert headings[:3] == [f"# {rollup.title}", "## Week in Review", "## Top Stories"]
    assert "Engineering @ Scale · Issue 12 · " in text and "Issue 12" in html
    assert "Forwarded this? Subscribe at https://" in text and "/subscribe" in text
    assert "Forwarded this?" in html
    assert max(len(line) for line in message.as_bytes().splitlines()) <= 998


def test_a_week_without_stories_has_a_plain_subject(rollup, mail_settings) -> None:
    from dataclasses import replace

    quiet = replace(rollup, top_stories=[])
    assert render_issue(quiet, settings=mail_settings).subject == (
        "Engineering @ Scale, week of 30 Mar"
    )

"""Benchmark: one weekly issue to 10,000 subscribers, against a naive sender in the same run.

    .venv/bin/python bench/newsletter.py [--subscribers 10000] [--naive 300] [--rate 250]

The SMTP sink (aiosmtpd) runs in a separate process on loopback and records every
message's Message-ID, recipient and arrival time, so the figures include a real SMTP
conversation and nothing is counted that did not arrive.

- **naive**: what the issue warns against: the template filled and inlined by premailer
  per message, an EmailMessage built per message, a new SMTP connection per message, no
  ledger. Measured on `--naive` subscribers (it is slow) and reported as messages/s.
- **ours**: `newsletter.send.send_issue`: render + inline once, personalise bytes,
  MAIL_CONCURRENCY reused connections, every message through the delivery ledger
  (SQLite file), rate cap off.
- **re-run**: the same issue again: must send nothing.
- **rate cap**: another edition's issue to `--capped` subscribers with MAIL_RATE=`--rate`;
  the busiest one-second window seen by the sink must stay within 5 % of the cap.

Targets (from issue 5): ours ≥ 20× naive, ≥ 10,000 messages/min, 0 lost, 0 duplicated.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import Settings  # noqa: E402
from core.model import ArticleRef, Pattern, Stats, Story, WeeklyRollup  # noqa: E402
from core.render import make_environment  # noqa: E402
from newsletter import render  # noqa: E402
from newsletter.render import render_issue  # noqa: E402
from newsletter.send import send_issue  # noqa: E402
from newsletter.smtp import SMTPSender  # noqa: E402
from newsletter.subscribers import unsubscribe_url  # noqa: E402
from storage import subscribers as store  # noqa: E402
from storage.db import make_engine, session_scope, upgrade  # noqa: E402

_MESSAGE_ID = re.compile(rb"\r\nMessage-ID: (<[^>]+>)", re.IGNORECASE)


# --- the sink, in its own process --------------------------------------------------------


def _sink_main(port: int, ready: Any, control: Any) -> None:
    from aiosmtpd.controller import Controller

    arrivals: list[tuple[bytes, str, float]] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            match = _MESSAGE_ID.search(envelope.original_content or b"")
            arrivals.append(
                (match.group(1) if match else b"?", envelope.rcpt_tos[0], time.monotonic())
            )
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    ready.set()
    while True:
        command = control.recv()
        if command == "take":
            control.send(list(arrivals))
            arrivals.clear()
        elif command == "stop":
            break
    controller.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- fixtures ----------------------------------------------------------------------------


def _rollup(edition: str = "tech", week: str = "2026-W14") -> WeeklyRollup:
    """A realistic, ~40 KB-after-inlining issue: 12 stories, 2–3 posts each."""
    text = (
        "Cloudflare moved plugins into V8 isolates with declared capabilities, trading the "
        "unbounded flexibility of PHP plugins for install-time verification — a shift of "
        "security enforcement from marketplaces to the runtime. "
    )
    stories = tuple(
        Story(
            theme=f"Theme {n}: capability-scoped sandboxes",
            companies=("Cloudflare", "GitHub", "HashiCorp")[: 2 + n % 2],
            urls=tuple(f"https://blog.example.com/{n}/{k}" for k in range(2 + n % 2)),
            text=text * 2,
            articles=tuple(
                ArticleRef(
                    title=f"Post {n}.{k}: how we rebuilt replication",
                    company=("Cloudflare", "GitHub", "HashiCorp")[k],
                    url=f"https://blog.example.com/{n}/{k}",
                )
                for k in range(2 + n % 2)
            ),
        )
        for n in range(12)
    )
    return WeeklyRollup(
        edition=edition,
        week=week,
        title=f"Engineering @ Scale — Week {week}",
        start=date(2026, 3, 30),
        end=date(2026, 4, 5),
        stats=Stats(31, 64, 420),
        week_in_review=(text * 3 + "\n\n") * 2,
        top_stories=stories,
        patterns=tuple(
            Pattern(theme=f"Pattern {n}", companies=("A", "B"), urls=(), text=text)
            for n in range(3)
        ),
    )


def _naive_send(
    rollup: WeeklyRollup, settings: Settings, url: str, audience: list[tuple[int, str]]
) -> float:
    """The textbook way: per recipient, fill the template, inline it with premailer, build
    an EmailMessage (the email package picks quoted-printable), open an SMTP connection."""
    context = render._context(
        rollup,
        title="Engineering @ Scale",
        archive_url="https://digest.example.org/weekly/x",
        shown=len(rollup.top_stories),
    )
    context["base_host"] = "digest.example.org"
    context["subscribe_url"] = "https://digest.example.org/subscribe"
    context["number"] = None
    template = make_environment("files").get_template("email/weekly.html")
    text = make_environment("files").get_template("email/weekly.txt").render(context)
    start = time.perf_counter()
    for subscriber_id, email in audience:
        link = unsubscribe_url(settings, subscriber_id, email)
        html = render.inline_css(template.render(context).replace("__UNSUBSCRIBE_HREF__", link))
        message = EmailMessage()
        message["From"] = settings.mail_from
        message["To"] = email
        message["Subject"] = rollup.title
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain="news.example.org")
        message["List-Unsubscribe"] = f"<{link}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(text.replace("__UNSUBSCRIBE_URL__", link))
        message.add_alternative(html, subtype="html")
        with SMTPSender.from_url(url) as sender:
            sender.send_message(message)
    return time.perf_counter() - start


def _busiest_window(times: list[float], width: float = 1.0) -> int:
    times = sorted(times)
    best, left = 0, 0
    for right, moment in enumerate(times):
        while moment - times[left] >= width:
            left += 1
        best = max(best, right - left + 1)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--naive", type=int, default=300, help="messages for the naive sender")
    parser.add_argument("--capped", type=int, default=1_000, help="messages for the rate-cap run")
    parser.add_argument("--rate", type=float, default=250.0, help="MAIL_RATE for the rate-cap run")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-newsletter-"))
    port = _free_port()
    ready = multiprocessing.Event()
    control, remote = multiprocessing.Pipe()
    sink = multiprocessing.Process(target=_sink_main, args=(port, ready, remote), daemon=True)
    sink.start()
    if not ready.wait(15):
        print("SMTP sink did not start", file=sys.stderr)
        return 2
    url = f"smtp://127.0.0.1:{port}"
    settings = Settings.from_env(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "MAIL_FROM": "digest@news.example.org",
            "PUBLIC_BASE_URL": "https://digest.example.org",
            "SECRET_KEY": "bench",
            "MAIL_CONCURRENCY": str(args.concurrency),
        }
    )
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with session_scope(engine) as session:
        store.add_confirmed(
            session=session,
            emails=(f"reader{n}@example.com" for n in range(args.subscribers)),
            editions=["tech"],
        )
        store.add_confirmed(
            session=session,
            emails=(f"capped{n}@example.com" for n in range(args.capped)),
            editions=["reads"],
        )
        audience = store.recipients(session=session, edition="tech")
    rollup = _rollup()
    html_kb = len(render_issue(rollup, settings=settings).html.encode()) / 1024

    # 1. naive sender on a sample
    naive_seconds = _naive_send(rollup, settings, url, audience[: args.naive])
    control.send("take")
    naive_arrivals = control.recv()
    naive_rate = len(naive_arrivals) / naive_seconds

    # 2. ours, the whole list, no rate cap
    start = time.perf_counter()
    issue = render_issue(rollup, settings=settings)
    tally = send_issue(
        issue,
        engine=engine,
        settings=settings,
        connect=lambda: SMTPSender.from_url(url),
        rate=0,
    )
    ours_seconds = time.perf_counter() - start
    control.send("take")
    arrivals = control.recv()
    ours_rate = len(arrivals) / ours_seconds
    ids = Counter(message_id for message_id, _, _ in arrivals)
    rcpts = Counter(rcpt for _, rcpt, _ in arrivals)
    expected = {email for _, email in audience}
    lost = len(expected - set(rcpts))
    duplicated = sum(n - 1 for n in rcpts.values() if n > 1) + sum(
        n - 1 for n in ids.values() if n > 1
    )

    # 3. the same issue again: nothing to send
    start = time.perf_counter()
    again = send_issue(
        issue, engine=engine, settings=settings, connect=lambda: SMTPSender.from_url(url), rate=0
    )
    rerun_seconds = time.perf_counter() - start
    control.send("take")
    rerun_arrivals = control.recv()

    # 4. rate cap respected
    capped_issue = render_issue(replace(rollup, edition="reads"), settings=settings)
    start = time.perf_counter()
    send_issue(
        capped_issue,
        engine=engine,
        settings=settings,
        connect=lambda: SMTPSender.from_url(url),
        rate=args.rate,
    )
    capped_seconds = time.perf_counter() - start
    control.send("take")
    capped = control.recv()
    busiest = _busiest_window([t for _, _, t in capped])
    control.send("stop")
    sink.join(10)

    ratio = ours_rate / naive_rate
    per_minute = ours_rate * 60
    checks = {
        "ours >= 20x naive": ratio >= 20,
        ">= 10,000 messages/min": per_minute >= 10_000,
        "0 lost": lost == 0 and tally.sent == args.subscribers,
        "0 duplicated": duplicated == 0,
        "re-run sends nothing": again.sent == 0 and not rerun_arrivals,
        f"busiest 1 s window <= 1.05 x {args.rate:g}": busiest <= args.rate * 1.05,
    }
    print(f"issue: {html_kb:.1f} KB of inlined HTML, {issue.stories_shown} stories")
    print(
        f"naive : {len(naive_arrivals):>6} msgs in {naive_seconds:7.2f} s = {naive_rate:8.1f} msg/s"
    )
    print(
        f"ours  : {len(arrivals):>6} msgs in {ours_seconds:7.2f} s = {ours_rate:8.1f} msg/s "
        f"({per_minute:,.0f}/min, {args.concurrency} connections, ledger on SQLite)"
    )
    print(f"ratio : {ratio:.1f}x the naive sender")
    print(
        f"re-run: {again.already} already sent, {len(rerun_arrivals)} sent, {rerun_seconds:.2f} s"
    )
    print(
        f"capped: {len(capped)} msgs in {capped_seconds:.2f} s at MAIL_RATE={args.rate:g} "
        f"= {len(capped) / capped_seconds:.1f} msg/s; busiest 1 s window {busiest}"
    )
    print(f"lost {lost}, duplicated {duplicated}")
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'MISS'}] {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

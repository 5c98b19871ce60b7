"""Send one weekly issue to every confirmed subscriber, exactly once, through the ledger.

The audience is read once; each message then goes through `core.deliver.deliver_once`,
which claims the (email, subscriber, issue) row before the SMTP conversation and records
the outcome after it, so a re-run, a crash or a second worker sends only what is missing.

- **Concurrency:** `concurrency` threads, each with its own reused SMTP connection
  (SMTP is sequential per connection; more throughput means more connections).
- **Rate cap:** one limiter shared by all threads spaces messages 1/rate seconds apart,
  so no window of any length sees more than rate × seconds + 1 messages.
- **Failures:** 4xx replies and dropped connections are retried with exponential backoff,
  then left `deferred` for the next run; 5xx replies fail that delivery, and a 5xx about
  the mailbox itself (550, 5.1.x) marks the subscriber bounced. Neither stops the others.
- **Error budget:** after `error_budget` transient failures in a row (the server is down
  or throttling everyone) the run pauses instead of deferring the whole list one by one.
- **Unsubscribes during a send:** each subscriber's state is re-read just before their
  message is claimed; anyone no longer confirmed is skipped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.config import Settings
from core.deliver import Outcome, deliver_once
from newsletter.render import Issue
from newsletter.smtp import MailError, SMTPSender
from newsletter.subscribers import mailto_unsubscribe, unsubscribe_token, unsubscribe_url
from storage import subscribers as store
from storage.tables import Delivery, Subscriber

__all__ = ["CHANNEL", "RateLimiter", "Tally", "plan_issue", "send_issue"]

log = logging.getLogger(__name__)

CHANNEL = "email"


@dataclass
class Tally:
    """What one run did. `remaining` counts subscribers not attempted (a pause)."""

    audience: int = 0
    sent: int = 0
    already: int = 0  # sent or failed for good by an earlier run, or claimed by another worker
    deferred: int = 0
    failed: int = 0
    bounced: int = 0  # of the failed: the subscriber is now marked bounced
    unsubscribed: int = 0  # left the list after the audience was read
    remaining: int = 0
    paused: str = ""  # why the run stopped early, if it did

    def as_dict(self) -> dict[str, int]:
        return {
            "audience": self.audience,
            "sent": self.sent,
            "already": self.already,
            "deferred": self.deferred,
            "failed": self.failed,
            "bounced": self.bounced,
            "unsubscribed": self.unsubscribed,
            "remaining": self.remaining,
        }


class RateLimiter:
    """Spaces calls 1/rate seconds apart across threads (no bursts); rate <= 0: no cap."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


@dataclass
class _Run:
    issue: Issue
    engine: Engine
    settings: Settings
    connect: Callable[[], SMTPSender]
    limiter: RateLimiter
    retries: int
    backoff: float
    error_budget: int
    on_outcome: Callable[[str], None] | None
    tally: Tally
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    transient_streak: int = 0
    errors: list[BaseException] = field(default_factory=list)


def plan_issue(issue: Issue, *, engine: Engine) -> tuple[list[tuple[int, str]], dict[str, str]]:
    """The issue's audience and the ledger's state for it: ([(id, email)], {target: status})."""
    with Session(engine) as session:
        audience = store.recipients(session=session, edition=issue.edition)
        rows = session.exec(
            select(Delivery.target, Delivery.status).where(
                Delivery.channel == CHANNEL, Delivery.issue == issue.key
            )
        )
        ledger = {target: status for target, status in rows}
    return audience, ledger


def send_issue(
    issue: Issue,
    *,
    engine: Engine,
    settings: Settings,
    connect: Callable[[], SMTPSender],
    concurrency: int | None = None,
    rate: float | None = None,
    retries: int = 3,
    backoff: float = 2.0,
    error_budget: int | None = None,
    stale_after: timedelta | None = None,
    on_outcome: Callable[[str], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> Tally:
    """Mail `issue` to every confirmed subscriber not yet served; returns the tally.

    `connect()` makes one `SMTPSender` per thread (`SMTPSender.from_url(SMTP_URL)` in
    production). `on_plan(audience)` is called once the audience is known and
    `on_outcome(status)` once per subscriber (a progress bar).
    A `KeyboardInterrupt` or a bug stops the run: messages in flight are recorded
    deferred by the ledger and the next run sends them.
    """
    concurrency = max(1, concurrency or settings.mail_concurrency)
    audience, ledger = plan_issue(issue, engine=engine)
    tally = Tally(audience=len(audience))
    if on_plan:
        on_plan(len(audience))
    work: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()
    for subscriber_id, email in audience:
        if ledger.get(str(subscriber_id)) in ("sent", "failed"):
            tally.already += 1  # skip without touching the ledger: re-runs stay cheap
            if on_outcome:
                on_outcome("already")
        else:
            work.put((subscriber_id, email))
    run = _Run(
        issue=issue,
        engine=engine,
        settings=settings,
        connect=connect,
        limiter=RateLimiter(settings.mail_rate if rate is None else rate),
        retries=retries,
        backoff=backoff,
        error_budget=error_budget or max(10, 3 * concurrency),
        on_outcome=on_outcome,
        tally=tally,
    )
    threads = [
        threading.Thread(target=_worker, args=(run, work, stale_after), name=f"mail-{n}")
        for n in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except BaseException:
        run.stop.set()  # Ctrl-C: let each thread finish (and record) its current message
        for thread in threads:
            thread.join()
        raise
    tally.remaining = work.qsize()
    if run.errors:
        raise run.errors[0]
    log.info(
        "newsletter issue=%s %s",
        issue.key,
        " ".join(f"{k}={v}" for k, v in tally.as_dict().items()),
    )
    return tally


def _worker(
    run: _Run, work: queue.SimpleQueue[tuple[int, str]], stale_after: timedelta | None
) -> None:
    sender: SMTPSender | None = None
    session = Session(run.engine)
    try:
        while not run.stop.is_set():
            try:
                subscriber_id, email = work.get_nowait()
            except queue.Empty:
                return
            if not _still_confirmed(session, subscriber_id):
                _count(run, "unsubscribed")
                continue
            if sender is None:
                sender = run.connect()
            failures: list[MailError] = []
            outcome = deliver_once(
                engine=run.engine,
                channel=CHANNEL,
                target=str(subscriber_id),
                issue=run.issue.key,
                send=_sender_for(run, sender, subscriber_id, email, failures),
                stale_after=stale_after,
            )
            bounced = outcome.status == "failed" and any(f.mailbox for f in failures)
            _record(run, session, subscriber_id, outcome, bounced=bounced)
    except BaseException as exc:  # a bug or Ctrl-C in this thread: stop everyone
        run.stop.set()
        with run.lock:
            run.errors.append(exc)
    finally:
        session.close()
        if sender is not None:
            sender.close()


def _still_confirmed(session: Session, subscriber_id: int) -> bool:
    status = session.exec(
        select(Subscriber.status).where(col(Subscriber.id) == subscriber_id)
    ).first()
    session.rollback()  # end the read transaction so the next read sees fresh state
    return status == "confirmed"


def _sender_for(
    run: _Run, sender: SMTPSender, subscriber_id: int, email: str, failures: list[MailError]
) -> Callable[[], str]:
    def send() -> str:
        issue, settings = run.issue, run.settings
        url = unsubscribe_url(settings, subscriber_id, email)
        mailto = mailto_unsubscribe(settings, unsubscribe_token(settings, subscriber_id, email))
        for attempt in range(run.retries + 1):
            run.limiter.wait()
            try:
                if email.isascii() and (not issue.eight_bit or sender.supports_8bitmime):
                    data = issue.personalise(
                        subscriber_id=subscriber_id, email=email, unsubscribe_url=url, mailto=mailto
                    )
                    sender.send(issue.mail_from, email, data, eight_bit=issue.eight_bit)
                else:
                    sender.send_message(
                        issue.message_for(
                            subscriber_id=subscriber_id,
                            email=email,
                            unsubscribe_url=url,
                            mailto=mailto,
                        )
                    )
                return issue.message_id(subscriber_id)
            except MailError as exc:
                failures.append(exc)
                if exc.permanent or attempt == run.retries or run.stop.is_set():
                    raise
                log.info(
                    "smtp retry subscriber=%s attempt=%d error=%s", subscriber_id, attempt + 1, exc
                )
                time.sleep(run.backoff * (2**attempt))
        raise AssertionError("unreachable")

    return send


def _record(
    run: _Run, session: Session, subscriber_id: int, outcome: Outcome, *, bounced: bool
) -> None:
    status = {"skipped": "already"}.get(outcome.status, outcome.status)
    if bounced:
        store.mark_bounced(session=session, subscriber_id=subscriber_id, error=outcome.error or "")
        _count(run, "bounced")
    _count(run, status)
    with run.lock:
        if outcome.status == "deferred":
            run.transient_streak += 1
            if run.transient_streak >= run.error_budget and not run.stop.is_set():
                run.tally.paused = (
                    f"paused after {run.transient_streak} transient failures in a row; "
                    f"last: {outcome.error}"
                )
                run.stop.set()
        elif outcome.status in ("sent", "failed"):
            run.transient_streak = 0


def _count(run: _Run, status: str) -> None:
    with run.lock:
        setattr(run.tally, status, getattr(run.tally, status) + 1)
    if run.on_outcome and status != "bounced":
        run.on_outcome(status)

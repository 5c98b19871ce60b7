"""Send one weekly issue to every confirmed subscriber, exactly once, through the ledger.

The audience is read once. Every message is claimed in the delivery ledger
(`storage.deliveries`: a unique row per email/subscriber/issue) before its SMTP
conversation starts and its outcome recorded after, so a re-run, a crash or a second
worker sends only what is missing. Claims and outcomes are written a small batch at a
time (`claim_many` / `finish_many`): one transaction per batch instead of two per
message, which is what lets a single process keep several SMTP connections busy.

- **Concurrency:** `concurrency` threads, each with its own reused SMTP connection
  (SMTP is sequential per connection; more throughput means more connections).
- **Rate cap:** one limiter shared by all threads spaces messages 1/rate seconds apart,
  so no window of any length sees more than rate × seconds + 1 messages.
- **Failures:** 4xx replies and dropped connections are retried with exponential backoff,
  then left `deferred` for the next run; 5xx replies fail that delivery, and a 5xx about
  the mailbox itself (550, 5.1.x) marks the subscriber bounced. Neither stops the others.
- **Error budget:** after `error_budget` transient failures in a row (the server is down
  or throttling everyone) the run pauses instead of deferring the whole list one by one.
- **Unsubscribes during a send:** states are re-read just before each batch is claimed
  (a batch is at most ~0.2 s of sending at the rate cap); anyone no longer confirmed is
  skipped.
- **Crashes:** Ctrl-C or a bug stops the run; messages sent are recorded sent, the one in
  flight and the rest of its batch are recorded deferred, and the next run sends them. A
  hard kill (kill -9, power loss) leaves the rest of a batch `claimed`, including up to
  `_FLUSH` messages sent but not yet recorded: never re-sent (at most once) unless the
  next run passes `stale_after` (`digest newsletter send --retake-after 1h`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.config import Settings
from newsletter.render import Issue
from newsletter.smtp import MailError, SMTPSender
from newsletter.subscribers import mailto_unsubscribe, unsubscribe_token, unsubscribe_url
from storage import deliveries
from storage import subscribers as store

__all__ = ["CHANNEL", "RateLimiter", "Tally", "plan_issue", "send_issue"]

log = logging.getLogger(__name__)

CHANNEL = "email"


@dataclass
class Tally:
    """What one run did. `remaining` counts subscribers not attempted (a pause)."""

    audience: int = 0
    sent: int = 0
    already: int = 0  # sent or failed for good by an earlier run, or claimed by another worker
    unrecorded: int = 0  # claimed by a run that has not recorded the outcome (running, or killed)
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
            "unrecorded": self.unrecorded,
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
    batch: int
    stale_after: timedelta | None
    on_outcome: Callable[[str], None] | None
    tally: Tally
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    transient_streak: int = 0
    errors: list[BaseException] = field(default_factory=list)
    ledger_lock: AbstractContextManager[object] = field(default_factory=nullcontext)


def plan_issue(issue: Issue, *, engine: Engine) -> tuple[list[tuple[int, str]], dict[str, str]]:
    """The issue's audience and the ledger's state for it: ([(id, email)], {target: status})."""
    with Session(engine) as session:
        audience = store.recipients(session=session, edition=issue.edition)
        ledger = deliveries.statuses(session=session, channel=CHANNEL, issue=issue.key)
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
    A `KeyboardInterrupt` or a bug stops the run (see the module docstring).
    """
    settings.check_secret_key()
    concurrency = max(1, concurrency or settings.mail_concurrency)
    audience, ledger = plan_issue(issue, engine=engine)
    tally = Tally(audience=len(audience))
    if on_plan:
        on_plan(len(audience))
    work: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()
    for subscriber_id, email in audience:
        status = ledger.get(str(subscriber_id))
        if status in ("sent", "failed"):
            tally.already += 1  # skip without touching the ledger: re-runs stay cheap
        elif status == "claimed" and stale_after is None:
            tally.unrecorded += 1  # another run's: it may be sending it right now, or have died
        else:
            work.put((subscriber_id, email))
            continue
        if on_outcome:
            on_outcome("already")
    cap = settings.mail_rate if rate is None else rate
    run = _Run(
        issue=issue,
        engine=engine,
        settings=settings,
        connect=connect,
        limiter=RateLimiter(cap),
        retries=retries,
        backoff=backoff,
        error_budget=error_budget or max(10, 3 * concurrency),
        # ~0.2 s of sending per batch at the cap, so an unsubscribe is honoured quickly
        batch=max(1, min(_BATCH, int(cap * 0.2 / concurrency))) if cap > 0 else _BATCH,
        stale_after=stale_after,
        on_outcome=on_outcome,
        tally=tally,
    )
    if engine.dialect.name == "sqlite":
        # SQLite has one writer at a time; queueing our own threads here is far cheaper
        # than letting them collide and sleep in SQLite's busy handler.
        run.ledger_lock = threading.Lock()
    threads = [
        threading.Thread(target=_worker, args=(run, work), name=f"mail-{n}")
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
    tally.remaining += work.qsize()
    if run.errors:
        raise run.errors[0]
    log.info(
        "newsletter issue=%s %s",
        issue.key,
        " ".join(f"{k}={v}" for k, v in tally.as_dict().items()),
    )
    return tally


_BATCH = 50  # deliveries claimed per transaction
_FLUSH = 10  # outcomes recorded per transaction


def _worker(run: _Run, work: queue.SimpleQueue[tuple[int, str]]) -> None:
    """One SMTP connection's loop: take a batch, claim it, send it, record it."""
    sender: SMTPSender | None = None
    session = Session(run.engine, expire_on_commit=False)
    try:
        while not run.stop.is_set():
            batch = _take(work, run.batch)
            if not batch:
                return
            if sender is None:
                sender = run.connect()
            _send_batch(run, session, sender, batch)
    except BaseException as exc:  # a bug or Ctrl-C in this thread: stop everyone
        run.stop.set()
        with run.lock:
            run.errors.append(exc)
    finally:
        session.close()
        if sender is not None:
            sender.close()


def _take(work: queue.SimpleQueue[tuple[int, str]], n: int) -> list[tuple[int, str]]:
    batch = []
    for _ in range(n):
        try:
            batch.append(work.get_nowait())
        except queue.Empty:
            break
    return batch


def _send_batch(
    run: _Run, session: Session, sender: SMTPSender, batch: list[tuple[int, str]]
) -> None:
    states = store.statuses(session=session, ids=[i for i, _ in batch])
    session.commit()  # end the read, so the next batch sees fresh states
    live = []
    for subscriber_id, email in batch:
        if states.get(subscriber_id) == "confirmed":
            live.append((subscriber_id, email))
        else:
            _count(run, "unsubscribed")
    claimed = _claim(run, session, live)
    outcomes: list[tuple[int, str, str | None, str | None]] = []
    done = 0
    try:
        for delivery_id, subscriber_id, email in claimed:
            if run.stop.is_set():
                break
            status, error, message_id = _deliver(run, session, sender, subscriber_id, email)
            outcomes.append((delivery_id, status, error, message_id))
            done += 1
            if len(outcomes) >= _FLUSH:  # keep what a hard kill can leave unrecorded small
                with run.ledger_lock:
                    deliveries.finish_many(session=session, outcomes=outcomes)
                outcomes = []
    finally:
        # Whatever was not sent (a pause, Ctrl-C, a bug) is released for the next run; the
        # message in flight during a crash is among them: its fate is unknown.
        unsent = claimed[done:]
        outcomes.extend((d, "deferred", "not sent: the run stopped", None) for d, _, _ in unsent)
        with run.lock:
            run.tally.remaining += len(unsent)
        with run.ledger_lock:
            deliveries.finish_many(session=session, outcomes=outcomes)


def _claim(run: _Run, session: Session, live: list[tuple[int, str]]) -> list[tuple[int, int, str]]:
    """[(delivery id, subscriber id, email)] this worker may send, in subscriber order."""
    key = run.issue.key
    with run.ledger_lock:
        fresh = deliveries.claim_many(
            session=session, channel=CHANNEL, issue=key, targets=[str(i) for i, _ in live]
        )
    claimed = []
    for subscriber_id, email in live:
        delivery_id = fresh.get(str(subscriber_id))
        if delivery_id is None:  # already in the ledger: deferred or stale rows may be retaken
            with run.ledger_lock:
                row = deliveries.claim(
                    session=session,
                    channel=CHANNEL,
                    target=str(subscriber_id),
                    issue=key,
                    stale_after=run.stale_after,
                )
            if row is None:
                _count(run, "already")
                continue
            delivery_id = int(row.id or 0)
        claimed.append((delivery_id, subscriber_id, email))
    return claimed


def _deliver(
    run: _Run, session: Session, sender: SMTPSender, subscriber_id: int, email: str
) -> tuple[str, str | None, str | None]:
    """Send one message with retries; returns (status, error, Message-ID)."""
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
                        subscriber_id=subscriber_id, email=email, unsubscribe_url=url, mailto=mailto
                    )
                )
        except MailError as exc:
            if not exc.permanent and attempt < run.retries and not run.stop.is_set():
                log.info(
                    "smtp retry subscriber=%s attempt=%d error=%s", subscriber_id, attempt + 1, exc
                )
                time.sleep(run.backoff * (2**attempt))
                continue
            if exc.permanent:
                if exc.mailbox:
                    store.mark_bounced(session=session, subscriber_id=subscriber_id, error=str(exc))
                    _count(run, "bounced")
                _settle(run, "failed", str(exc))
                return "failed", str(exc), None
            _settle(run, "deferred", str(exc))
            return "deferred", str(exc), None
        _settle(run, "sent", None)
        return "sent", None, issue.message_id(subscriber_id)
    raise AssertionError("unreachable")


def _settle(run: _Run, status: str, error: str | None) -> None:
    """Count an outcome and keep the error budget: too many transient failures in a row
    (the server is down or throttling us) pause the run instead of deferring everyone."""
    _count(run, status)
    with run.lock:
        if status == "deferred":
            run.transient_streak += 1
            if run.transient_streak >= run.error_budget and not run.stop.is_set():
                run.tally.paused = (
                    f"paused after {run.transient_streak} transient failures in a row; "
                    f"last: {error}"
                )
                run.stop.set()
        else:
            run.transient_streak = 0


def _count(run: _Run, status: str) -> None:
    with run.lock:
        setattr(run.tally, status, getattr(run.tally, status) + 1)
    if run.on_outcome and status != "bounced":
        run.on_outcome(status)

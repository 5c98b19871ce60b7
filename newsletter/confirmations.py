"""Subscribe requests handled off the request: store the row, then mail the confirmation.

The form answers at once and the same way for every address, so neither its words nor
its timing say whether an address is new, pending or already subscribed (a confirmed
address answered in 0.9 ms, an unknown one in 23.5 ms while the mail went out inline).
One thread per web process takes requests from a bounded queue, at most
`MAILS_PER_WINDOW` confirmation mails per `MAIL_WINDOW`; a request that cannot be queued
is refused before anything is stored. Requests still queued when the process stops are
lost (the visitor sees no mail and can submit again); nothing half-done is left behind.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.config import Settings
from newsletter import subscribers
from newsletter.smtp import MailError, SMTPSender
from newsletter.throttle import Throttle, mailbox_key
from storage.tables import utcnow

__all__ = ["MAILS_PER_WINDOW", "MAIL_WINDOW", "ConfirmationMailer"]

log = logging.getLogger(__name__)

MAIL_WINDOW = 600.0  # seconds
MAILS_PER_WINDOW = 100  # confirmation mails per window, all addresses together
_QUEUE = 1_000  # requests waiting at most; past it the form answers 503
_IDLE = 2.0  # seconds without work before the thread stops (the next request restarts it)
_EXPIRE_EVERY = 600.0  # seconds between sweeps of expired pending subscriptions


class ConfirmationMailer:
    """The queue and thread behind the subscribe form. `submit` never blocks.

    `connect` makes the SMTP sender (default: from SMTP_URL; with no SMTP_URL the link
    is logged, which is enough on a developer machine). `mailbox_throttle` is told when
    a mail could not be sent, so the visitor's retry is not held back.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        connect: Callable[[], SMTPSender] | None = None,
        mails_per_window: int = MAILS_PER_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = utcnow,
        mailbox_throttle: Throttle | None = None,
        queue_size: int = _QUEUE,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.connect = connect
        self.clock = clock
        self.sleep = sleep
        self.now = now
        self.mailbox_throttle = mailbox_throttle
        self.sent = Throttle(mails_per_window, MAIL_WINDOW, clock=clock)
        self._queue: queue.Queue[tuple[str, tuple[str, ...]]] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._expired_at: float | None = None

    def submit(self, address: str, *, editions: tuple[str, ...]) -> bool:
        """Queue a subscribe request for a normalised address and the editions it chose;
        False when the queue is full."""
        try:
            self._queue.put_nowait((address, editions))
        except queue.Full:
            return False
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="confirmations", daemon=True)
                self._thread.start()
        return True

    def join(self) -> None:
        """Wait until every queued request has been handled (tests, orderly shutdown)."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            try:
                address, editions = self._queue.get(timeout=_IDLE)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():  # a submit after this sees a dead thread
                        self._thread = None
                        return
                continue
            try:
                self._handle(address, editions)
            except Exception:  # noqa: BLE001 - one bad request must not stop the others
                log.exception("subscribe request failed")
            finally:
                self._queue.task_done()

    def _handle(self, address: str, editions: tuple[str, ...]) -> None:
        self._expire()
        with Session(self.engine, expire_on_commit=False) as session:
            result = subscribers.subscribe(
                address, session=session, editions=editions, now=self.now()
            )
        if not result.needs_confirmation:
            return
        row = result.subscriber
        while not self.sent.allow("*"):  # the ceiling on all confirmation mails
            self.sleep(min(self.sent.retry_after("*"), 5.0) or 0.05)
        message = subscribers.confirmation_message(
            row, settings=self.settings, now=self.now(), editions=result.editions
        )
        if self.connect is None and not self.settings.smtp_url:
            log.warning(
                "SMTP_URL is not set; confirmation link for subscriber=%s: %s",
                row.id,
                subscribers.confirm_url(self.settings, row, editions=result.editions),
            )
            return
        connect = self.connect or (lambda: SMTPSender.from_url(self.settings.smtp_url))
        try:
            with connect() as sender:
                sender.send_message(message)
        except MailError as exc:
            log.warning("confirmation mail failed subscriber=%s error=%s", row.id, exc)
            self.sent.forget("*")
            if self.mailbox_throttle is not None:  # not mailed after all: let a retry through
                self.mailbox_throttle.forget(mailbox_key(address))
            return
        log.info("confirmation mailed subscriber=%s", row.id)

    def _expire(self) -> None:
        moment = self.clock()
        if self._expired_at is not None and moment - self._expired_at < _EXPIRE_EVERY:
            return
        self._expired_at = moment
        with Session(self.engine) as session:
            subscribers.expire_pending(session=session, now=self.now())

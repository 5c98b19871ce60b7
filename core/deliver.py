"""Delivery through the ledger: claim before, record after, never twice.

Front-ends implement `Channel` (Slack, email); `deliver_once` wraps one send in the ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from core.errors import DeliveryError
from storage import deliveries
from storage.db import session_scope

__all__ = ["Channel", "Outcome", "deliver_once"]

log = logging.getLogger(__name__)


class Channel(Protocol):
    """A place digests are delivered to (a Slack channel, a mailbox)."""

    name: str

    def send(self, target: str, payload: Any) -> str | None:
        """Deliver `payload` to `target`; return an external id (Slack ts, Message-ID).

        Raise `DeliveryError(permanent=False)` for a failure worth retrying later.
        """
        ...


@dataclass(frozen=True)
class Outcome:
    status: str  # sent | skipped | deferred | failed
    target: str
    error: str | None = None
    external_id: str | None = None


def deliver_once(
    *,
    engine: Engine,
    channel: str,
    target: str,
    issue: str,
    send: Callable[[], str | None],
    stale_after: timedelta | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Run `send()` at most once per (channel, target, issue) across runs and workers.

    Returns `skipped` when the delivery is already sent, failed for good, or claimed by
    another worker. A `DeliveryError` from `send` is recorded (deferred or failed) and
    returned, never raised, so one bad target does not stop the others.
    """
    with session_scope(engine) as session:
        claimed = deliveries.claim(
            session=session,
            channel=channel,
            target=target,
            issue=issue,
            stale_after=stale_after,
            now=now,
        )
        if claimed is None:
            return Outcome("skipped", target)
        try:
            external_id = send()
        except DeliveryError as exc:
            status = "failed" if exc.permanent else "deferred"
            deliveries.finish(session=session, delivery=claimed, status=status, error=str(exc))
            log.warning(
                "delivery %s channel=%s target=%s issue=%s error=%s",
                status,
                channel,
                target,
                issue,
                exc,
            )
            return Outcome(status, target, error=str(exc))
        except BaseException:
            # Unknown outcome (a bug, Ctrl-C): leave it deferred so a re-run retries it.
            deliveries.finish(
                session=session, delivery=claimed, status="deferred", error="interrupted"
            )
            raise
        deliveries.finish(session=session, delivery=claimed, status="sent", external_id=external_id)
        return Outcome("sent", target, external_id=external_id)

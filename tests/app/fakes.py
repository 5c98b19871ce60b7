"""Recording fakes of the pipeline steps the worker calls (they stand in for other areas)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from app.jobs import Steps
from core.deliver import Outcome
from core.errors import DeliveryError


class FakeSteps:
    """Records every call; `fail[name] = n` makes the next n calls of that step raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail: dict[str, int] = {}
        self.before: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()

    def _record(self, name: str, *args: Any) -> None:
        with self._lock:
            self.calls.append((name, *args))
            failing = self.fail.get(name, 0) > 0
            if failing:
                self.fail[name] -= 1
        if name in self.before:
            self.before[name]()
        if failing:
            raise DeliveryError(f"{name} is down", permanent=False)

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] == name]

    def steps(self) -> Steps:
        def ingest() -> dict[str, int]:
            self._record("ingest")
            return {"sources": 3, "new": 2, "unchanged": 1, "errors": 0}

        def summarise() -> dict[str, int]:
            self._record("summarise")
            return {"summarised": 2}

        def compose_daily(edition: str, day: date) -> None:
            self._record("compose_daily", edition, day)

        def post_daily(edition: str, day: date) -> list[Outcome]:
            self._record("post_daily", edition, day)
            return [Outcome("sent", "C123")]

        def compose_weekly(edition: str, week: str) -> None:
            self._record("compose_weekly", edition, week)

        def send_weekly(edition: str, week: str) -> dict[str, int]:
            self._record("send_weekly", edition, week)
            return {"sent": 5, "failed": 0}

        def backfill() -> dict[str, Any]:
            self._record("backfill")
            return {"tech": {"days": 7, "weeks": 4}}

        return Steps(
            ingest=ingest,
            summarise=summarise,
            compose_daily=compose_daily,
            post_daily=post_daily,
            compose_weekly=compose_weekly,
            send_weekly=send_weekly,
            backfill=backfill,
        )

"""The archive's daily page over real HTTP: the Signal of the Day's reason, said once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import httpx
from sqlalchemy.engine import Engine

from app.web import create_app
from app.wiring import Runtime
from core.config import Settings
from tests.app.support import BASE_URL, daily_digest, serve_app, store


def test_the_reason_for_the_signal_is_labelled_once(sqlite_engine: Engine) -> None:
    day = date(2026, 4, 1)
    digest = daily_digest(day)
    # What compose stores (core.score phrases the reason itself) and what older digests hold.
    store(
        sqlite_engine,
        replace(
            digest, signal=replace(digest.signal, why="Why this one: concrete results (4 figures).")
        ),
    )
    store(sqlite_engine, daily_digest(date(2026, 3, 31)))
    settings = Settings.from_env(
        {"DATABASE_URL": "sqlite://", "PUBLIC_BASE_URL": BASE_URL, "SECRET_KEY": "test-secret"}
    )

    clock = lambda: datetime(2026, 4, 2, 9, tzinfo=UTC)  # noqa: E731
    with serve_app(
        create_app(Runtime(settings=settings, database=sqlite_engine, clock=clock))
    ) as url:
        composed = httpx.get(f"{url}/daily/2026-04-01").text
        older = httpx.get(f"{url}/daily/2026-03-31").text

    assert composed.count("Why this one:") == 1
    assert "Why this one: concrete results (4 figures).</p>" in composed
    assert "Why it matters: Capability sandboxing replaces marketplace trust.</p>" in older

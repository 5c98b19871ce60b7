"""Fixtures of tests/app: stored sample digests (helpers live in support.py)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.engine import Engine

from tests.app.support import daily_digest, store, weekly_rollup


@pytest.fixture
def stored_digests(engine: Engine) -> Engine:
    """Two tech dailies (one tagged security), one reads daily and one weekly rollup."""
    store(engine, daily_digest(date(2026, 3, 31), tags=("distributed-systems",)))
    store(engine, daily_digest(date(2026, 4, 1), tags=("security", "distributed-systems")))
    store(engine, daily_digest(date(2026, 4, 1), edition="reads", tags=("security-research",)))
    store(engine, weekly_rollup("2026-W14", tags=("security",)))
    return engine

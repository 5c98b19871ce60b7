"""Fixtures for the newsletter: a weekly rollup, mail settings, subscribers, an SMTP sink."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import pytest
from sqlalchemy.engine import Engine

from core.config import Settings
from core.model import ArticleRef, Pattern, Stats, Story, WeeklyRollup
from storage import subscribers as store
from storage.db import session_scope
from tests.peers.smtp import Sink, smtp_sink


def _make_rollup(
    stories: int = 3, *, week: str = "2026-W14", edition: str = "tech"
) -> WeeklyRollup:
    return WeeklyRollup(
        edition=edition,
        week=week,
        title=f"Engineering @ Scale — Week {week}",
        start=date(2026, 3, 30),
        end=date(2026, 4, 5),
        stats=Stats(sources_checked=31, posts=42, minutes_saved=300),
        week_in_review=(
            "Isolation won the week: V8 isolates for plugins, OIDC for CI secrets.\n\n"
            "Data layers kept decoupling — async CDC over synchronous joins."
        ),
        top_stories=tuple(
            Story(
                theme=f"Zero-trust boundaries {n}",
                companies=("Cloudflare", "GitHub"),
                urls=(f"https://blog.cloudflare.com/post-{n}",),
                text=f"Story {n}: plugins move into capability-scoped sandboxes. " * 4,
                articles=(
                    ArticleRef(
                        title=f"Introducing EmDash {n}",
                        company="Cloudflare",
                        url=f"https://blog.cloudflare.com/post-{n}",
                    ),
                ),
            )
            for n in range(stories)
        ),
        patterns=(
            Pattern(
                theme="Ephemeral trust",
                companies=("GitHub", "HashiCorp"),
                urls=("https://github.blog/x",),
                text="Static secrets are giving way to just-in-time identities.",
            ),
        ),
    )


@pytest.fixture
def make_rollup() -> Callable[..., WeeklyRollup]:
    """make_rollup(stories=3, week="2026-W14", edition="tech") → a WeeklyRollup."""
    return _make_rollup


@pytest.fixture
def rollup() -> WeeklyRollup:
    return _make_rollup()


@pytest.fixture
def mail_settings(settings: Settings) -> Settings:
    return settings.replace(
        mail_from="digest@news.example.org",
        public_base_url="https://digest.example.org",
        secret_key="test-secret",
        mail_rate=0.0,
        mail_concurrency=2,
    )


@pytest.fixture
def sink() -> Iterator[Sink]:
    with smtp_sink() as running:
        yield running


@pytest.fixture
def add_subscribers(engine: Engine) -> Callable[..., list[int]]:
    """add_subscribers(["a@example.com", …], status="confirmed") → their ids."""

    def add(emails: list[str], status: str = "confirmed", edition: str = "tech") -> list[int]:
        ids = []
        with session_scope(engine) as session:
            for email in emails:
                row, _ = store.upsert_pending(
                    session=session, email=email, editions=edition.split(",")
                )
                if status != "pending":
                    store.set_status(session=session, subscriber=row, status=status)
                ids.append(int(row.id or 0))
        return ids

    return add

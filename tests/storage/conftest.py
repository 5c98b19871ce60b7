"""Helpers of tests/storage: Acme's blog and its numbered posts at a fixed T0 (stored with
tests/conftest.py's add_source and add_article)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from storage.tables import Article, FeedSource
from tests.conftest import add_article, add_source

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def add_acme(session: Session, name: str = "Acme Blog", edition: str = "tech") -> FeedSource:
    return add_source(
        session,
        name,
        company="Acme",
        url=f"https://{name}.example/feed",
        edition=edition,
        weight=1.2,
        status="never",
    )


def add_post(
    session: Session, source: FeedSource, n: int, *, published_at: datetime = T0, **fields: object
) -> Article:
    """Post `n` of `source`, published, first seen and updated at T0 unless `fields` say."""
    values: dict[str, object] = {
        "url": f"https://acme.example/{n}",
        "fingerprint": f"fp{n}",
        "text": f"Text of post {n}.",
        "first_seen_at": T0,
        "updated_at": T0,
        **fields,
    }
    return add_article(session, source, title=f"Post {n}", published=published_at, **values)  # type: ignore[arg-type]

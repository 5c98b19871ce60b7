"""Helpers of tests/storage: a stored source and articles one number apart, at a fixed T0."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from storage.tables import Article, FeedSource

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def add_source(session: Session, name: str = "Acme Blog", edition: str = "tech") -> FeedSource:
    source = FeedSource(
        name=name, company="Acme", url=f"https://{name}.example/feed", edition=edition, weight=1.2
    )
    session.add(source)
    session.commit()
    return source


def add_article(session: Session, source: FeedSource, n: int, **fields: object) -> Article:
    values: dict[str, object] = {
        "url": f"https://acme.example/{n}",
        "fingerprint": f"fp{n}",
        "source_id": source.id,
        "edition": source.edition,
        "company": source.company,
        "title": f"Post {n}",
        "text": f"Text of post {n}.",
        "published_at": T0,
        "first_seen_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    article = Article(**values)  # type: ignore[arg-type]
    session.add(article)
    session.commit()
    return article

"""Deep dives: the summary stored for each article, written by summarising and composing.

Writes only flush: core.summarise commits each batch of deep dives, core.digests the ones it
makes for a composed digest (the LLM answer cache, which commits each answer, is
`storage.summary_cache`; the articles still to summarise are read from `storage.articles`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from storage.tables import DeepDiveRow, utcnow

__all__ = [
    "NewDeepDive",
    "save_deep_dive",
    "save_deep_dives",
]


def save_deep_dive(
    *,
    session: Session,
    article_id: int,
    text: str,
    summariser: str,
    model: str = "",
    tokens: int = 0,
    text_hash: str = "",
) -> DeepDiveRow:
    """Insert or replace the deep dive of one article (flushed, not committed: core.digests
    commits it with the digest it composed)."""
    row = session.exec(select(DeepDiveRow).where(DeepDiveRow.article_id == article_id)).first()
    if row is None:
        row = DeepDiveRow(article_id=article_id, text=text, summariser=summariser)
    row.text = text
    row.summariser = summariser
    row.model = model
    row.tokens = tokens
    row.text_hash = text_hash
    row.created_at = utcnow()
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class NewDeepDive:
    """One deep dive to store (see `save_deep_dives`)."""

    article_id: int
    text: str
    summariser: str
    model: str = ""
    tokens: int = 0
    text_hash: str = ""


def save_deep_dives(*, session: Session, dives: list[NewDeepDive]) -> None:
    """Insert or replace many deep dives, with one query for the existing rows and one flush
    (flushed, not committed: core.summarise commits each batch)."""
    ids = [d.article_id for d in dives]
    existing = {
        row.article_id: row
        for row in session.exec(select(DeepDiveRow).where(col(DeepDiveRow.article_id).in_(ids)))
    }
    now = utcnow()
    for dive in dives:
        row = existing.get(dive.article_id) or DeepDiveRow(
            article_id=dive.article_id, text=dive.text, summariser=dive.summariser
        )
        row.text, row.summariser, row.model = dive.text, dive.summariser, dive.model
        row.tokens, row.text_hash, row.created_at = dive.tokens, dive.text_hash, now
        session.add(row)
    session.flush()

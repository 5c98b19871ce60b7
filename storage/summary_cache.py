"""The LLM answer cache: one validated answer per (content hash, model, prompt version) key.

Each write commits on its own: a paid-for answer is worth keeping even if the batch around
it fails later. Reads never commit.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.tables import SummaryCache

__all__ = ["load_cached_summaries", "load_cached_summary", "save_cached_summary"]


def load_cached_summary(*, session: Session, key: str) -> SummaryCache | None:
    return session.get(SummaryCache, key)


def load_cached_summaries(*, session: Session, keys: list[str]) -> dict[str, SummaryCache]:
    """Cached answers for many keys in one query per 500 keys (a batch is one round trip)."""
    found: dict[str, SummaryCache] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for row in session.exec(select(SummaryCache).where(col(SummaryCache.key).in_(chunk))):
            found[row.key] = row
    return found


def save_cached_summary(
    *,
    session: Session,
    key: str,
    model: str,
    prompt_version: str,
    text: str,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
) -> None:
    """Remember one validated LLM answer. Commits; a concurrent writer of the same key wins
    quietly."""
    if session.get(SummaryCache, key) is not None:
        return
    session.add(
        SummaryCache(
            key=key,
            model=model,
            prompt_version=prompt_version,
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()

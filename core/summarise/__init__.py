"""Summarisers behind one small interface, and the loop that summarises what is pending.

The core owns the port (`Summariser`); `extractive` and `llm` implement it and `app/` picks one
from `DIGEST_SUMMARISER`. Summarisers take plain `ArticleText` values and give back
`core.model.DeepDive`s, so they never see the database except through the `session` they are
handed for their cache (the LLM one) and never write deep dives themselves: `summarise_pending`
does, in batches, committing after each so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from core.model import DeepDive
from core.tags import tag_text
from storage import deep_dives
from storage.articles import articles_needing_summary
from storage.tables import Article

__all__ = [
    "ArticleText",
    "Summariser",
    "article_text",
    "pending_articles",
    "summarise_pending",
    "text_hash",
]

log = logging.getLogger(__name__)

BATCH = 32


@dataclass(frozen=True)
class ArticleText:
    """What a summariser needs to know about one article."""

    url: str
    title: str
    company: str
    text: str
    text_kind: str = "full"  # full | excerpt


class Summariser(Protocol):
    """Turns articles into deep dives (problem → approach → trade-off → lesson).

    `summarise` returns one `DeepDive` per article, in order, and never raises for one bad
    article: a summariser that cannot do better falls back to a faithful extractive summary.
    """

    name: str

    def summarise(self, articles: Sequence[ArticleText], *, session: Session) -> list[DeepDive]: ...


def text_hash(text: str) -> str:
    """sha256 of an article's text: a deep dive is redone only when the text it summarised changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pending_articles(
    *, session: Session, since: datetime | None = None, edition: str | None = None
) -> list[tuple[Article, str]]:
    """(article, text hash) of every article without an up-to-date deep dive, newest first."""
    pending = articles_needing_summary(session=session, since=since, edition=edition)
    hashed = [(article, row, text_hash(article.text)) for article, row in pending]
    return [(a, digest) for a, row, digest in hashed if row is None or row.text_hash != digest]


def article_text(article: Article) -> ArticleText:
    """What a summariser is given of one stored article."""
    return ArticleText(
        url=article.url,
        title=article.title,
        company=article.company,
        text=article.text,
        text_kind=article.text_kind,
    )


def summarise_pending(
    *,
    session: Session,
    summariser: Summariser,
    since: datetime | None = None,
    edition: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Summarise every article without an up-to-date deep dive; returns counts.

    Example: `summarise_pending(session=s, summariser=ExtractiveSummariser())` →
    `{"pending": 7, "summarised": 7, "extractive": 6, "title-only": 1}`.

    - `since`: only articles published at or after this moment.
    - `on_progress(done, total)` is called after each batch (the CLI draws a progress bar).
    Each summarised article also gets its topic tags (`core.tags`) stored on its row.
    Running it twice summarises nothing the second time.
    """
    todo = pending_articles(session=session, since=since, edition=edition)
    counts: dict[str, int] = {"pending": len(todo), "summarised": 0}
    if on_progress:
        on_progress(0, len(todo))
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        inputs = [article_text(a) for a, _ in batch]
        results = summariser.summarise(inputs, session=session)
        rows = []
        for (article, digest), dive in zip(batch, results, strict=True):
            assert article.id is not None
            # topic tags ride along: the source's defaults first, then the text's own
            defaults = [t for t in (article.tags or "").split(",") if t]
            article.tags = ",".join(tag_text(article.title, article.text, defaults=defaults))
            session.add(article)
            rows.append(
                deep_dives.NewDeepDive(
                    article_id=article.id,
                    text=dive.text,
                    summariser=dive.summariser,
                    model=dive.model,
                    tokens=dive.tokens,
                    text_hash=digest,
                )
            )
            counts["summarised"] += 1
            counts[dive.summariser] = counts.get(dive.summariser, 0) + 1
        deep_dives.save_deep_dives(session=session, dives=rows)
        session.commit()
        if on_progress:
            on_progress(min(start + BATCH, len(todo)), len(todo))
    log.info("summarised %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts

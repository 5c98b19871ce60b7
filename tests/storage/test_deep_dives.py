"""storage.deep_dives: one deep dive per article, replaced when written again."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from storage import deep_dives
from storage.articles import articles_in_window
from tests.storage.conftest import T0, add_acme, add_post


def test_saving_a_deep_dive_twice_replaces_it(session: Session) -> None:
    source = add_acme(session)
    article = add_post(session, source, 1)
    assert article.id is not None
    deep_dives.save_deep_dive(
        session=session, article_id=article.id, text="one", summariser="extractive"
    )
    deep_dives.save_deep_dive(
        session=session, article_id=article.id, text="two", summariser="llm", model="m", tokens=9
    )
    session.commit()
    [row] = articles_in_window(
        session=session, edition="tech", start=T0, end=T0 + timedelta(hours=1)
    )
    assert row.deep_dive is not None
    assert (row.deep_dive.text, row.deep_dive.summariser, row.deep_dive.tokens) == ("two", "llm", 9)
    assert row.source.weight == 1.2

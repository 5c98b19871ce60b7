"""storage.summary_cache: the first LLM answer for a key is kept."""

from __future__ import annotations

from sqlmodel import Session

from storage import summary_cache


def test_the_summary_cache_keeps_the_first_answer(session: Session) -> None:
    summary_cache.save_cached_summary(
        session=session, key="k", model="m", prompt_version="v", text="first", prompt_tokens=3
    )
    summary_cache.save_cached_summary(
        session=session, key="k", model="m", prompt_version="v", text="second"
    )
    cached = summary_cache.load_cached_summary(session=session, key="k")
    assert cached is not None and cached.text == "first" and cached.prompt_tokens == 3
    assert summary_cache.load_cached_summary(session=session, key="other") is None

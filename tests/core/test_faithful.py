"""Every section of the golden digests says only what the posts it cites say.

Each figure and capitalised name in a section must occur in the articles (titles included)
of the posts that section cites, or be one of those posts' companies; the prose around them
speaks of the companies in the third person. This is the check `core.quality.unsupported`
runs on deep dives, applied to the Signal of the Day, patterns, top stories and the Week in
Review of the digests that tests/data/golden pins.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from core.compose import compose_daily, compose_weekly
from core.quality import first_person, unsupported
from tests.core.test_compose import ARTICLES, DAY, SOURCES, TECH, sample_posts

FRAME = ["Why", "Summary", "Title"]  # our own frames: "Why it matters: …", "(Summary from …)"


def _articles() -> dict[str, tuple[str, str]]:
    """URL → (company, title + text) of the golden sample articles."""
    found = {}
    for path in sorted(ARTICLES.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").split("\n")
        found[lines[2]] = (lines[1], lines[0] + "\n" + "\n".join(lines[5:]))
    return found


ARTICLE = _articles()


def _check(section: str, text: str, urls: Iterable[str]) -> None:
    cited = [ARTICLE[u] for u in urls]
    assert cited, f"{section} cites no post"
    source = "\n".join(body for _, body in cited)
    allowed = [company for company, _ in cited] + FRAME
    assert unsupported(text, source, allowed=allowed) == [], f"{section}: {text}"


def _voiced(section: str, text: str) -> None:
    assert not first_person(text), f"{section} speaks as we/our: {text}"


def test_every_section_of_the_daily_digest_is_faithful_to_the_posts_it_cites() -> None:
    digest = compose_daily(edition=TECH, day=DAY, posts=sample_posts(), sources=SOURCES)
    assert digest.signal is not None
    signal = digest.signal
    _check("signal", signal.text, [signal.url])
    _check("why", signal.why, [signal.url, *signal.related])
    _voiced("signal", signal.text + " " + signal.why)
    for dive in digest.deep_dives:
        _check(f"deep dive {dive.url}", dive.text, [dive.url])
        if dive.summariser != "title-only":  # a feed's own description is shown as such
            _voiced(f"deep dive {dive.url}", dive.text)
    assert digest.patterns
    for pattern in digest.patterns:
        _check(f"pattern {pattern.theme}", f"{pattern.theme}. {pattern.text}", pattern.urls)
        _voiced(f"pattern {pattern.theme}", pattern.text)


def test_every_section_of_the_weekly_rollup_is_faithful_to_the_posts_it_cites() -> None:
    rollup = compose_weekly(edition=TECH, week="2026-W14", posts=sample_posts(), sources=SOURCES)
    every = [u for story in rollup.top_stories for u in story.urls]
    _check("week in review", rollup.week_in_review, every)
    _voiced("week in review", rollup.week_in_review)
    for story in rollup.top_stories:
        _check(f"story {story.theme}", f"{story.theme}. {story.text}", story.urls)
    for pattern in rollup.patterns:
        _check(f"pattern {pattern.theme}", f"{pattern.theme}. {pattern.text}", pattern.urls)


@pytest.mark.parametrize("made_up", ["Acme cut costs by 95%.", "It runs on Cassandra."])
def test_the_check_catches_what_the_posts_do_not_say(made_up: str) -> None:
    with pytest.raises(AssertionError):
        _check("made up", made_up, ["https://example.com/datadog/replication"])

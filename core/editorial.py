"""The digests' editorial sections written by the model: signal, patterns, top stories, review.

Why apart from `core.compose`: composing stays pure and deterministic, and every section it
makes is a complete fallback. With DIGEST_SUMMARISER=llm, the `with_written_*` hooks below swap
in the model's paragraph for a section only when the writer gives one; the writer (`LLMEditor`)
gives one only when the answer passed every check of `core.claims` against the material it was
written from (the deep dives, plus the week's themes for the review). So the digest never prints
an unchecked sentence, and a model that is down or wrong leaves the composed text in place.

Answers are cached like deep dives (content hash + model + prompt version, table
`summary_cache`) and spend the same run budget, so re-composing a period asks nothing again.

Example:

    digest = write_daily(compose_daily(...), editor=LLMEditor(summariser, session=session))
    rollup = write_weekly(compose_weekly(...), articles=refs, editor=editor)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from sqlmodel import Session

from core.claims import check_text, read_fields
from core.compose import with_written_patterns, with_written_signal
from core.model import ArticleRef, DailyDigest, Pattern, Signal, Story, WeeklyRollup
from core.summarise import text_hash
from core.summarise.llm import PROMPT_VERSION, LLMSummariser, cache_key
from storage import summary_cache

__all__ = [
    "Editor",
    "LLMEditor",
    "check_section",
    "with_written_patterns",
    "with_written_review",
    "with_written_signal",
    "with_written_stories",
    "write_daily",
    "write_weekly",
]

log = logging.getLogger(__name__)

# --- the pure hooks --------------------------------------------------------------------------
# `with_written_signal` and `with_written_patterns` stay at the end of core/compose.py (beside
# their tests) and are re-exported here beside the weekly ones.


def with_written_stories(
    rollup: WeeklyRollup, *, write: Callable[[Story], str | None]
) -> WeeklyRollup:
    """The rollup with each top story's paragraph replaced by `write(story)` if given.

    A story carries its posts (`Story.articles`, each with its deep dive), which is all the
    writer may draw on.
    """
    stories = []
    for story in rollup.top_stories:
        text = write(story) if story.articles else None
        stories.append(replace(story, text=text) if text else story)
    return replace(rollup, top_stories=tuple(stories))


def with_written_review(
    rollup: WeeklyRollup,
    *,
    articles: Sequence[ArticleRef],
    write: Callable[[WeeklyRollup, Sequence[ArticleRef]], str | None],
) -> WeeklyRollup:
    """The rollup with its Week in Review replaced by `write(rollup, the week's posts)` if given."""
    if not articles:
        return rollup
    text = write(rollup, articles)
    return replace(rollup, week_in_review=text) if text else rollup


class Editor(Protocol):
    """Writes one section from its material, or returns None to keep the composed text."""

    def write_signal(self, signal: Signal, article: ArticleRef) -> str | None: ...

    def write_pattern(self, pattern: Pattern, articles: Sequence[ArticleRef]) -> str | None: ...

    def write_story(self, story: Story) -> str | None: ...

    def write_review(self, rollup: WeeklyRollup, articles: Sequence[ArticleRef]) -> str | None: ...


def write_daily(digest: DailyDigest, *, editor: Editor) -> DailyDigest:
    """The daily digest with its signal and patterns written by `editor` where it can."""
    digest = with_written_signal(digest, write=editor.write_signal)
    return with_written_patterns(digest, articles=digest.deep_dives, write=editor.write_pattern)


def write_weekly(
    rollup: WeeklyRollup, *, articles: Sequence[ArticleRef], editor: Editor
) -> WeeklyRollup:
    """The weekly rollup with its stories, patterns and review written by `editor` where it can.

    `articles`: the week's posts with their deep dives, most significant first. The review is
    written last, from the themes as they now stand.
    """
    rollup = with_written_stories(rollup, write=editor.write_story)
    rollup = with_written_patterns(rollup, articles=articles, write=editor.write_pattern)
    return with_written_review(rollup, articles=articles, write=editor.write_review)


# --- the model's writer ----------------------------------------------------------------------

_RULES = """
Rules: use only facts in what you are given. Copy numbers exactly as they are written there \
and never add one. Name only technologies, products, companies and people named there. Write \
in the third person, never "we", "our" or "I", in plain English.
Answer with a JSON object and nothing else: {"paragraph": "…"}"""

SIGNAL_PROMPT = (
    """\
You write the "Signal of the Day" of Engineering @ Scale, a daily digest for senior engineers: \
the one post of the day that matters most. You are given its deep dive. Write ONE paragraph of \
40 to 100 words that says why it matters beyond this company: the shift it shows and what other \
engineering teams should take from it. Name the company."""
    + _RULES
)

PATTERN_PROMPT = (
    """\
You write the "Patterns Across Companies" section of Engineering @ Scale, a daily digest for \
senior engineers. You are given deep dives of posts by several companies that share a theme. \
Write ONE paragraph of 40 to 120 words naming the shared theme, naming every company and what \
each did, and ending with what the pattern means for other engineering teams."""
    + _RULES
)

STORY_PROMPT = (
    """\
You write one of the weekly "Top Stories" of Engineering @ Scale, a digest for senior \
engineers. You are given the story's theme and the deep dives of its posts. Write ONE \
paragraph of 40 to 120 words: what the posts show together, what each company did, and what it \
means for other engineering teams. Name every company listed."""
    + _RULES
)

REVIEW_PROMPT = (
    """\
You write the "Week in Review" of Engineering @ Scale, a weekly digest for senior engineers. \
You are given the week's themes (with the companies behind each) and the deep dives of the \
week's posts, most significant first. Write ONE paragraph of 60 to 160 words: the week's \
dominant themes, the most significant developments and the companies that drove them, and what \
they mean together for engineering teams."""
    + _RULES
)

SECTION_WORDS = {"signal": (30, 150), "pattern": (30, 150), "story": (30, 150), "review": (50, 200)}
REVIEW_MATERIAL_CHARS = 12_000  # the review's deep dives, most significant first, up to this


def check_section(content: str, *, kind: str, material: str, companies: Sequence[str] = ()) -> str:
    """The paragraph in a model's answer for one section, or raise `core.claims.Rejected`.

    Accepts `{"paragraph": "..."}` whose length suits the section (`SECTION_WORDS`), that names
    every one of `companies` and passes `core.claims.check_text` against `material`.
    """
    text = read_fields(content, ["paragraph"])["paragraph"]
    return check_text(
        text, material=material, names=companies, words=SECTION_WORDS[kind], must_name=companies
    )


def _deep_dives(articles: Sequence[ArticleRef], limit: int | None = None) -> str:
    parts: list[str] = []
    used = 0
    for a in articles:
        part = f"{a.company} — {a.title}\n{a.text}"
        if limit is not None and parts and used + len(part) > limit:
            break
        parts.append(part)
        used += len(part) + 2
    return "\n\n".join(parts)


class LLMEditor:
    """`Editor` over an `LLMSummariser`: its client, model, run budget and usage.

    - `summariser`: the run's summariser (the same one that wrote the deep dives, so the run's
      budget and summary line cover the sections too).
    - `session`: where answers are cached.
    Every section the model did not write is counted in `summariser.usage.composed`.
    """

    def __init__(self, summariser: LLMSummariser, *, session: Session) -> None:
        self.summariser = summariser
        self.session = session

    def write_signal(self, signal: Signal, article: ArticleRef) -> str | None:
        """Why the Signal of the Day matters, from the post's deep dive only, naming the company."""
        material = _deep_dives([article])
        return self._write("signal", SIGNAL_PROMPT, [signal.company], material)

    def write_pattern(self, pattern: Pattern, articles: Sequence[ArticleRef]) -> str | None:
        """A pattern's paragraph from its posts' deep dives, naming every company."""
        # in a fixed order, so the day's pattern and the week's same pattern share one answer
        found = sorted((a for a in articles if a.url in pattern.urls), key=lambda a: a.url)
        return self._write("pattern", PATTERN_PROMPT, pattern.companies, _deep_dives(found))

    def write_story(self, story: Story) -> str | None:
        """A top story's paragraph from its posts' deep dives, naming every company."""
        material = f"Theme: {story.theme}\n\n{_deep_dives(story.articles)}"
        return self._write("story", STORY_PROMPT, story.companies, material)

    def write_review(self, rollup: WeeklyRollup, articles: Sequence[ArticleRef]) -> str | None:
        """The Week in Review from the week's themes and its posts' deep dives.

        The deep dives go in the top stories' order, then the week's other posts, up to
        `REVIEW_MATERIAL_CHARS`, so a busy week's prompt stays bounded.
        """
        themes = [f"- {s.theme} ({', '.join(s.companies)})" for s in rollup.top_stories]
        themes += [f"- {p.theme} ({', '.join(p.companies)})" for p in rollup.patterns]
        # the top stories' posts first (they are ranked), then the rest, up to the limit
        leading = [a for story in rollup.top_stories for a in story.articles]
        seen = {a.url for a in leading}
        ordered = leading + [a for a in articles if a.url not in seen]
        material = (
            "Themes:\n"
            + "\n".join(themes)
            + "\n\nDeep dives:\n"
            + _deep_dives(ordered, REVIEW_MATERIAL_CHARS)
        )
        return self._write("review", REVIEW_PROMPT, (), material)

    def _write(self, kind: str, prompt: str, companies: Sequence[str], material: str) -> str | None:
        summariser, usage = self.summariser, self.summariser.usage
        listed = f"Companies: {', '.join(companies)}\n\n" if companies else ""
        key = cache_key(text_hash(listed + material), summariser.model, kind)
        cached = summary_cache.load_cached_summary(session=self.session, key=key)
        if cached is not None:
            usage.cache_hits += 1
            usage.written += 1
            return cached.text
        answer = summariser.ask(
            [
                {"role": "system", "content": prompt},
                {"role": "user", "content": listed + material},
            ],
            lambda content: check_section(
                content, kind=kind, material=material, companies=companies
            ),
            '{"paragraph": "…"}',
            f"{kind} of {', '.join(companies) or 'the week'}",
        )
        if answer is None:
            usage.composed += 1
            return None
        text, prompt_tokens, completion_tokens = answer
        usage.written += 1
        summary_cache.save_cached_summary(
            session=self.session,
            key=key,
            model=summariser.model,
            prompt_version=PROMPT_VERSION,
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
        return text

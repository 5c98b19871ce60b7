"""The Signal-of-the-Day score: which post of the day matters most, and a line saying why.

The score is a sum of four documented parts, multiplied by the source's weight (sources.toml,
0.5..1.5: deep engineering writing above 1, news and corporate blogs below). What makes a post
the one to read is that others are working on the same thing and that it says what it cost
and what it taught, so those two parts weigh most; length and figures only break near-ties:

| part            | measures                                                       | range   |
|-----------------|----------------------------------------------------------------|---------|
| cross-company   | other companies that wrote on the same theme that day (0.8 each) | 0 – 2.4 |
| lessons         | the deep dive states a trade-off (1.0) and a lesson (0.6)       | 0 – 1.6 |
| results         | headline figures in the deep dive (0.3 each; years, dates and  | 0 – 0.9 |
|                 | version numbers are not results)                                |         |
| depth           | the article's length (full at 1,500 words); excerpts count half | 0 – 0.8 |

A post summarised from its title only (a video, a link post) keeps a fifth of its score, and
`core.compose` ranks such posts after every post with text: with nothing to read, one should
lead only a day that has nothing else. Ties go to the earlier post, then the URL, so the same
inputs always choose the same signal.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.facts import figures
from core.summarise.sentences import split_sentences as _sentences
from core.themes import LESSON, RESULT, TRADE_OFF, count_words, join_names

__all__ = ["SignalFeatures", "count_figures", "score_signal", "why_signal"]


@dataclass(frozen=True)
class SignalFeatures:
    """What the score looks at for one post."""

    deep_dive: str
    words: int  # words of article text
    text_kind: str = "full"  # full | excerpt
    summariser: str = "extractive"  # extractive | llm | title-only
    related_companies: tuple[str, ...] = ()  # other companies writing on the same theme that day
    source_weight: float = 1.0
    theme: str = ""  # the phrase the post shares with those companies' posts


def count_figures(text: str) -> int:
    """Headline figures (`core.facts.figures`): 40%, 3 seconds, 3,000 databases; not 2025."""
    return len(figures(text))


def _parts(features: SignalFeatures) -> dict[str, float]:
    depth = min(features.words / 1500, 1.0) * 0.8
    if features.text_kind != "full":
        depth /= 2
    return {
        "cross-company": min(len(features.related_companies), 3) * 0.8,
        "lessons": (1.0 if TRADE_OFF.search(features.deep_dive) else 0.0)
        + (0.6 if LESSON.search(features.deep_dive) else 0.0),
        "results": min(count_figures(features.deep_dive), 3) * 0.3,
        "depth": depth,
    }


def score_signal(features: SignalFeatures) -> float:
    """The post's significance; higher is more significant.

    Example: a 1,500-word post with three headline figures, a named trade-off and a lesson,
    and two other companies on its theme, from a weight-1.0 source, scores
    1.6 + 1.6 + 0.9 + 0.8 = 4.9.
    """
    total = sum(_parts(features).values()) * features.source_weight
    if features.summariser == "title-only":
        total *= 0.2
    return round(total, 4)


def why_signal(features: SignalFeatures, *, company: str) -> str:
    """One line to a reader on why this post leads the day.

    Example: "Why it matters: two other companies wrote about temporary credentials today
    (GitHub and Stripe), and Datadog states the trade-off it accepted and its result: 40%."
    """
    reasons: list[str] = []
    others = features.related_companies
    if others:
        about = f" about {features.theme}" if features.theme else " on the same theme"
        n = len(others)
        reasons.append(
            f"{count_words(n)} other compan{'y' if n == 1 else 'ies'} wrote{about} today "
            f"({join_names(list(others[:3]))})"
        )
    states = []
    if TRADE_OFF.search(features.deep_dive):
        states.append("the trade-off it accepted")
    elif LESSON.search(features.deep_dive):
        states.append("the lesson it drew")
    found = [f for s in _sentences(features.deep_dive) if RESULT.search(s) for f in figures(s)]
    if found:
        states.append(f"its result: {join_names(found[:2])}")
    if states:
        reasons.append(f"{company} states {join_names(states)}")
    if not reasons:
        if features.summariser == "title-only":
            return "Why it matters: the only post of the day, with no text to read yet."
        if features.words >= 1000:
            return f"Why it matters: a long, detailed account of how {company} did the work."
        return "Why it matters: the most substantial post of the day."
    return f"Why it matters: {join_names(reasons)}."

"""The Signal-of-the-Day score: which post of the day matters most, and a line saying why.

The score is a sum of four documented parts, multiplied by the source's weight (sources.toml,
0.5..1.5: deep engineering writing above 1, news and corporate blogs below):

| part            | measures                                                     | range   |
|-----------------|--------------------------------------------------------------|---------|
| results         | concrete figures in the deep dive (7 seconds, 40%, 100x)     | 0 – 2.0 |
| cross-company   | other companies that wrote on the same theme that day         | 0 – 1.8 |
| depth           | the article's length (full at 1,500 words); excerpts count half | 0 – 1.5 |
| lessons         | the deep dive names a trade-off or a lesson                  | 0 – 0.5 |

A post summarised from its title only (a video, a link post) keeps a fifth of its score, and
`core.compose` ranks such posts after every post with text: with nothing to read, one should
lead only a day that has nothing else. Ties go to the earlier post,
then the URL, so the same inputs always choose the same signal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SignalFeatures", "count_figures", "score_signal", "why_signal"]

_FIGURE = re.compile(
    r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s*(%|x\b|×|ms\b|seconds?\b|minutes?\b|hours?\b|days?\b|"
    r"[kmgt]b\b|million|billion|thousand|times\b|percent)",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])")
_LESSON = re.compile(
    r"\b(trade-?offs?|in exchange|at the cost|lesson|takeaway|should|must|chose|instead of)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SignalFeatures:
    """What the score looks at for one post."""

    deep_dive: str
    words: int  # words of article text
    text_kind: str = "full"  # full | excerpt
    summariser: str = "extractive"  # extractive | llm | title-only
    related_companies: tuple[str, ...] = ()  # other companies writing on the same theme that day
    source_weight: float = 1.0


def count_figures(text: str) -> int:
    """Concrete figures: numbers with a unit count 1, bare numbers (not years) count half."""
    with_unit = len(_FIGURE.findall(text))
    bare = [n for n in _NUMBER.findall(text) if not re.fullmatch(r"(19|20)\d\d", n)]
    return int(with_unit + max(len(bare) - with_unit, 0) * 0.5)


def _parts(features: SignalFeatures) -> dict[str, float]:
    depth = min(features.words / 1500, 1.0) * 1.5
    if features.text_kind != "full":
        depth /= 2
    return {
        "results": min(count_figures(features.deep_dive), 4) * 0.5,
        "cross-company": min(len(features.related_companies), 3) * 0.6,
        "depth": depth,
        "lessons": 0.5 if _LESSON.search(features.deep_dive) else 0.0,
    }


def score_signal(features: SignalFeatures) -> float:
    """The post's significance; higher is more significant.

    Example: a 1,500-word post with four figures, a named trade-off and two other companies on
    its theme, from a weight-1.0 source, scores 2.0 + 1.2 + 1.5 + 0.5 = 5.2.
    """
    total = sum(_parts(features).values()) * features.source_weight
    if features.summariser == "title-only":
        total *= 0.2
    return round(total, 4)


def why_signal(features: SignalFeatures, *, company: str) -> str:
    """One line naming the strongest reasons, e.g. "Why this one: concrete results (4 figures)…"."""
    parts = _parts(features)
    reasons: list[str] = []
    for name in sorted(parts, key=lambda n: (-parts[n], n)):
        if parts[name] <= 0:
            continue
        if name == "results":
            n = count_figures(features.deep_dive)
            reasons.append(f"concrete results ({n} figure{'s' if n != 1 else ''})")
        elif name == "cross-company":
            others = _names(features.related_companies)
            reasons.append(f"the same theme at {others}")
        elif name == "depth":
            reasons.append(f"depth ({features.words:,} words)")
        elif name == "lessons":
            reasons.append("a stated trade-off or lesson")
    if features.source_weight > 1.0:
        reasons.append(f"{company}'s writing is weighted up as deep engineering")
    if not reasons:
        return "Why this one: the only post of the day with enough to go on."
    return "Why this one: " + _names(reasons[:3]) + "."


def _names(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]

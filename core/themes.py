"""The editorial prose of a digest, assembled from its posts' own deep dives.

Why assembled, not written: with no model, every sentence here is either a deep dive's
sentence (itself the article's words in the company's voice) or a frame around it that
states only what was counted: which companies, which shared phrase. So the Signal of the
Day, a pattern, a top story and the Week in Review stay as faithful as the deep dives, and
read as a person would put them:

- a **theme paragraph** says company by company what each did (the deep-dive sentence that
  uses the shared phrase, or that has the company doing something), then the common thread;
- the **signal** leads with the lesson or result the post states, then its trade-off, and
  names the company; never the deep dive's opening, which Deep Dives already prints;
- the **Week in Review** names the week's two or three dominant themes with the companies
  behind each, then the standout post and its lesson.

Counts are written as words ("three other companies") so that no section states a figure
its posts do not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from core.facts import capitalised_words, figures
from core.summarise.sentences import split_sentences

__all__ = [
    "LESSON",
    "RESULT",
    "TRADE_OFF",
    "Written",
    "clause_of",
    "count_words",
    "join_names",
    "lesson_of",
    "signal_paragraph",
    "theme_paragraph",
    "trade_off_of",
    "week_in_review",
]

CLAUSE_WORDS = 32  # a company's part of a theme paragraph
MAX_COMPANIES = 4  # named one by one in a theme paragraph

LESSON = re.compile(
    r"\b(?:lesson|takeaway|learned|learnt|should|must|key insight|the key|is that|means that|"
    r"proves|shows that|demonstrates|worth paying|pays off|matters)\b",
    re.IGNORECASE,
)
TRADE_OFF = re.compile(
    r"\b(?:trade-?offs?|in exchange|at the cost|at the expense|accepted|accepting|sacrific\w*|"
    r"downside|drawback|compromise|instead of|rather than|chose|the price)\b",
    re.IGNORECASE,
)
RESULT = re.compile(
    r"\b(?:result|dropped|fell|cut|reduc\w*|improv\w*|faster|slower|saved|grew|increas\w*|now|"
    r"since launch|moved|adopted|achiev\w*|reached|outperform\w*)\b",
    re.IGNORECASE,
)
_APPROACH = re.compile(
    r"\b(?:built|builds|introduc\w*|implement\w*|integrat\w*|launch\w*|adopt\w*|replac\w*|"
    r"migrat\w*|moved|uses|deploy\w*|created|designed|rebuilt|rewrote|switched)\b",
    re.IGNORECASE,
)
_NUMBER_WORDS = (
    "no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve",
)  # fmt: skip


class Written(Protocol):
    """What the prose needs to know about a post."""

    @property
    def company(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def deep_dive(self) -> str: ...


def count_words(n: int) -> str:
    """ "three", not "3": a count is not a figure the posts state."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else "many"


def join_names(items: Sequence[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _sentences(post: Written) -> list[str]:
    if post.deep_dive.endswith("available.)") or post.deep_dive.endswith("text.)"):
        return []  # a title-only note is not something the company said
    return [s for s in split_sentences(post.deep_dive) if s.rstrip()[-1:] in ".!"]


def _shorten(sentence: str) -> str:
    """At most `CLAUSE_WORDS` words, cut at a clause boundary, marked with "…"."""
    words = sentence.split()
    if len(words) <= CLAUSE_WORDS:
        return sentence
    cut = " ".join(words[:CLAUSE_WORDS])
    boundary = max(cut.rfind(", "), cut.rfind("; "), cut.rfind(" — "), cut.rfind(": "))
    if boundary > len(cut) // 3:
        cut = cut[:boundary]
    return cut.rstrip(",;:— ") + "…"


def _mentions(sentence: str, phrase: str) -> bool:
    words = [re.escape(w.rstrip("s")) for w in phrase.lower().split()]
    return bool(re.search(r"\b" + r"\w*\W+".join(words), sentence.lower()))


def clause_of(post: Written, phrase: str | None = None) -> str:
    """What the company did, in its deep dive's words.

    The sentence that uses `phrase`, else the first with the company as its subject, else the
    deep dive's first sentence; shortened to a clause when long.
    """
    sentences = _sentences(post)
    if not sentences:
        return f"{post.company} published “{post.title}”."
    if phrase:
        for sentence in sentences:
            if _mentions(sentence, phrase):
                return _shorten(sentence)
    for sentence in sentences:
        if sentence.startswith(post.company):
            return _shorten(sentence)
    return _shorten(sentences[0])


def _attributed(post: Written, sentence: str) -> str:
    """The sentence as the company's: prefixed "Company:" unless the company is its subject."""
    if re.match(rf"(?:At |For |In )?{re.escape(post.company)}\b", sentence):
        return sentence
    return f"{post.company}: {sentence}"


def theme_paragraph(posts: Sequence[Written], phrase: str | None) -> str:
    """Company by company what each did, then the common thread.

    Example: "GitHub implemented trusted publishing… HashiCorp uses dynamic provider
    credentials… The common thread: temporary credentials."
    """
    parts: list[str] = []
    seen: set[str] = set()
    for post in posts:
        if post.company in seen or len(seen) == MAX_COMPANIES:
            continue
        seen.add(post.company)
        parts.append(_attributed(post, clause_of(post, phrase)))
    others = len({p.company for p in posts}) - len(seen)
    if others > 0:
        parts.append(
            f"{count_words(others).capitalize()} more compan{'y' if others == 1 else 'ies'} wrote on it too."
        )
    if phrase:
        parts.append(f"The common thread: {phrase}.")
    return " ".join(parts)


def lesson_of(post: Written) -> str | None:
    """The deep dive's sentence stating the lesson, else its headline result, if any."""
    sentences = _sentences(post)
    for sentence in reversed(sentences):
        if LESSON.search(sentence):
            return sentence
    with_figures = [s for s in sentences if figures(s) and RESULT.search(s)]
    return with_figures[-1] if with_figures else None  # results come last


def trade_off_of(post: Written) -> str | None:
    """The deep dive's sentence stating the trade-off, if any."""
    for sentence in _sentences(post):
        if TRADE_OFF.search(sentence):
            return sentence
    return None


def signal_paragraph(post: Written) -> str:
    """Lesson first, then the trade-off, naming the company.

    The lesson is the deep dive's sentence stating it, else its headline result; the
    trade-off follows, else what the company did. The deep dive's opening (its problem) is
    left to Deep Dives, so the signal is never a copy of it.
    """
    sentences = _sentences(post)
    if not sentences:
        return f"{post.company}: “{post.title}”."
    lead = lesson_of(post)
    support = trade_off_of(post)
    if support is None or support == lead:  # else what the company did
        rest = [s for s in sentences[1:] if s != lead]
        support = next((s for s in rest if _APPROACH.search(s)), None) or max(
            rest, key=lambda s: (len(capitalised_words(s)), -len(s)), default=None
        )
    chosen = [s for s in (lead, support) if s]
    if not chosen:
        chosen = sentences[1:3] or sentences[:1]
    return _attributed(post, " ".join(dict.fromkeys(chosen)))


def week_in_review(themes: Sequence[tuple[str, Sequence[str]]], standout: Written | None) -> str:
    """Two to four sentences: the dominant themes, the companies behind each, the standout.

    `themes`: (phrase, companies) of the week's leading stories, most significant first.
    """
    if standout is None:
        return "No new posts this week."
    merged: dict[str, list[str]] = {}  # two stories under one phrase are one theme here
    for phrase, companies in themes:
        if phrase:
            held = merged.setdefault(phrase.lower(), [phrase])
            held += [c for c in companies if c not in held[1:]]
    named = [(held[0], held[1:]) for held in merged.values()][:3]
    sentences: list[str] = []
    if named:
        parts = [f"{phrase} ({join_names(companies[:3])})" for phrase, companies in named]
        if len(named[0][1]) > 1:  # a theme several companies share leads the week
            lead = parts[0][0].upper() + parts[0][1:]
            rest = f", followed by {join_names(parts[1:])}" if parts[1:] else ""
            sentences.append(f"{lead} led the week{rest}.")
        else:
            sentences.append(f"The week’s posts were about {join_names(parts)}.")
    lesson = lesson_of(standout)
    intro = f"The standout post is {standout.company}’s “{standout.title}”"
    sentences.append(f"{intro}: {lesson}" if lesson else f"{intro}.")
    return " ".join(sentences)

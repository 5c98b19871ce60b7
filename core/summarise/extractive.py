"""The default summariser: a deep dive built only from the article's own sentences.

Why extractive: it needs no model, no key and no network, it is deterministic, and it cannot
state anything the article does not, so the digest is never wrong, only less fluent. It aims
for the examples' shape (problem → approach → trade-off → result or lesson) by choosing, in that
order, the best sentence that carries each role's cue words, then fills up to 60–130 words with
the most central remaining sentences, and prints the chosen sentences in the article's order.

A sentence's score adds up: its role cues, concrete figures (numbers, %, ×, ms), its position
(early sentences frame the problem), and its centrality (how many of the article's most frequent
content words it uses). Only the first `MAX_SENTENCES` sentences are scored: choosing among
more costs quadratic-ish time for no better summary (performance.md P9).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.model import DeepDive
from core.summarise import ArticleText

__all__ = [
    "ExtractiveSummariser",
    "condense",
    "dangling_openers",
    "MAX_WORDS",
    "MIN_WORDS",
    "split_sentences",
    "summarise_extractive",
]

MIN_WORDS = 60
MAX_WORDS = 130
TARGET_WORDS = 95  # fill with central sentences until here; the examples run 80–110 words
MAX_SENTENCES = 80
USABLE_WORDS = 25  # below this, the "text" is a caption or a link post: title-only

_ABBREVIATIONS = {
    "e.g",
    "i.e",
    "etc",
    "vs",
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "inc",
    "ltd",
    "co",
    "corp",
    "jr",
    "sr",
    "st",
    "fig",
    "no",
    "u.s",
    "approx",
    "cf",
    "al",
}
_BOUNDARY = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_NUMBER = re.compile(r"\d")
# A sentence that leans on the one before it reads badly on its own.
_DANGLING = re.compile(r"^(But|And|So|Also|However|This|That|These|Those|It|They|Then)\b")
_FIGURE = re.compile(
    r"\d[\d,.]*\s*(%|x\b|×|ms\b|s\b|seconds|minutes|hours|days|gb|tb|mb|kb|k\b|m\b|"
    r"million|billion|thousand|times|percent|qps|rps|requests|users|servers|nodes)",
    re.IGNORECASE,
)
_BOILERPLATE = (
    "subscribe",
    "sign up",
    "click here",
    "read more",
    "follow us",
    "this post appeared",
    "this post first appeared",
    "originally published",
    "photo by",
    "image credit",
    "all rights reserved",
    "cookie",
    "share this",
    "we're hiring",
    "we are hiring",
    "join our team",
    "continue reading",
)
# Cue words per role: exact words, word prefixes (stems), and phrases. Matching is on the
# lower-cased words of a sentence, so one sentence costs a few set look-ups per word.
_ROLE_CUES: dict[str, tuple[set[str], tuple[str, ...], tuple[str, ...]]] = {
    "problem": (
        {"problem", "problems", "challenge", "challenges", "challenging", "limit", "limits",
         "limited", "fail", "fails", "failed", "failure", "failures", "slow", "slower",
         "slowness", "issue", "issues", "unable", "expensive", "costly", "broke", "breaking",
         "couldn't"},
        ("struggl", "bottleneck", "limitation", "pain", "difficult", "outage", "suffer", "risk",
         "vulnerab", "degrad", "spike"),
        ("could not", "hard to"),
    ),
    "approach": (
        {"built", "designed", "approach", "solution", "using", "uses", "system", "pipeline",
         "framework", "release", "released"},
        ("introduc", "implement", "develop", "migrat", "architect", "leverag", "adopt", "launch"),
        ("we use", "we used", "we build", "we created", "we rebuilt", "we replaced", "we added",
         "we moved", "we switched", "we wrote"),
    ),
    "tradeoff": (
        {"tradeoff", "tradeoffs", "trade-off", "trade-offs", "however", "overhead",
         "complexity", "but", "although", "while", "chose", "choose"},
        ("downside", "drawback", "sacrific", "decid", "balanc", "compromise"),
        ("at the cost", "in exchange", "instead of", "rather than"),
    ),
    "result": (
        {"faster", "lower", "lowered", "saved", "saves", "saving", "cut", "now", "overall",
         "ultimately", "show", "shows", "should", "must", "dropped", "fell", "grew"},
        ("result", "reduc", "improv", "increas", "achiev", "enabl", "lesson", "learn",
         "takeaway", "demonstrat"),
        ("key insight", "in the end", "as a result", "this means", "since launch"),
    ),
}  # fmt: skip
_ROLE_NAMES = tuple(_ROLE_CUES)
_CUE_WORDS = {w: role for role, (words, _, _) in _ROLE_CUES.items() for w in words}
_CUE_PREFIXES = {p: role for role, (_, prefixes, _) in _ROLE_CUES.items() for p in prefixes}
_PREFIX_LENGTHS = sorted({len(p) for p in _CUE_PREFIXES})
_CUE_PHRASES = [(p, role) for role, (_, _, phrases) in _ROLE_CUES.items() for p in phrases]
_LOWER_WORDS = re.compile(r"[a-z][a-z'-]*")


def _roles(sentence: str) -> dict[str, float]:
    """How many cue words of each role the sentence holds."""
    lower = sentence.lower()
    counts = dict.fromkeys(_ROLE_NAMES, 0.0)
    for word in _LOWER_WORDS.findall(lower):
        role = _CUE_WORDS.get(word)
        if role is None:
            for n in _PREFIX_LENGTHS:
                if n > len(word):
                    break
                role = _CUE_PREFIXES.get(word[:n])
                if role is not None:
                    break
        if role is not None:
            counts[role] += 1
    for phrase, role in _CUE_PHRASES:
        if phrase in lower:
            counts[role] += 1
    return counts


_STOP = frozenset(
    """a an the and or but if then than that this these those of to in on for with by from at as
    is are was were be been being it its we our us you your they their them he she his her i my
    me not no so can could would should will just also more most very into over under about
    which what when where who whom how why all any each other some such only own same too s t
    do does did done have has had having there here out up down off again further once new one
    two use used using like get got make made""".split()
)
_WORDS = re.compile(r"[A-Za-z][A-Za-z'-]+")


@dataclass(frozen=True)
class _Sentence:
    index: int
    text: str
    words: int
    score: float
    roles: dict[str, float]


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, each an exact substring of the whitespace-collapsed paragraph.

    Paragraphs (blank-line or line separated) never share a sentence; a full stop after a
    known abbreviation (e.g., vs., Inc.) or inside a number (3.5) does not end one.
    """
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n|\n", text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        start = 0
        for match in _BOUNDARY.finditer(paragraph):
            candidate = paragraph[start : match.start() + 1]
            last = candidate.rstrip(".!?").rsplit(" ", 1)[-1].lower().strip("(\"'“")
            if paragraph[match.start()] == "." and (
                last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())
            ):
                continue
            end = match.end()
            sentences.append(paragraph[start:end].strip())
            start = end
        tail = paragraph[start:].strip()
        if tail:
            sentences.append(tail)
    return sentences


def dangling_openers(text: str) -> list[str]:
    """Sentences of `text` that open by leaning on one before them ("This", "It", "Now let's")."""
    return [s for s in split_sentences(text) if _DANGLING.match(s)]


def _usable(sentence: str) -> bool:
    words = len(sentence.split())
    return (
        5 <= words <= 60
        and not sentence.endswith((":", ";", ","))
        and not sentence.endswith("?")
        and sentence.rstrip("\"'”’)]").endswith((".", "!"))  # headings and list items lack one
        and sum(sentence.count(c) for c in "{}();=<>[]_/\\|`") <= len(sentence) // 25  # code
        and not any(phrase in sentence.lower() for phrase in _BOILERPLATE)
        and (sentence[0].isupper() or sentence[0].isdigit() or sentence[0] in "\"“'(")
    )


def _score(sentences: list[str]) -> list[_Sentence]:
    content = [[w.lower() for w in _WORDS.findall(s) if w.lower() not in _STOP] for s in sentences]
    frequency = Counter(w for words in content for w in set(words))
    top = {w for w, n in frequency.most_common(20) if n > 1}
    total = max(len(sentences), 1)
    scored: list[_Sentence] = []
    seen: set[str] = set()
    for index, (sentence, words) in enumerate(zip(sentences, content, strict=True)):
        key = sentence.lower()
        if key in seen or not _usable(sentence):  # feeds repeat a standfirst; say it once
            continue
        seen.add(key)
        roles = _roles(sentence)
        centrality = len(top.intersection(words)) / max(len(top), 1)
        figures = 1.0 if _FIGURE.search(sentence) else (0.5 if _NUMBER.search(sentence) else 0)
        position = 1.0 - index / total
        score = (
            1.5 * centrality
            + figures
            + 0.6 * position
            + 0.25 * min(sum(roles.values()), 4)
            + (0.5 if index == 0 else 0.0)
            - (0.8 if _DANGLING.match(sentence) else 0.0)
        )
        scored.append(_Sentence(index, sentence, len(sentence.split()), score, roles))
    return scored


def _choose(scored: list[_Sentence]) -> list[_Sentence]:
    chosen: list[_Sentence] = []
    words = 0
    for role in _ROLE_NAMES:
        candidates = [s for s in scored if s.roles[role] > 0 and s not in chosen]
        candidates.sort(key=lambda s: (-(s.score + 0.5 * min(s.roles[role], 2)), s.index))
        for candidate in candidates:
            if words + candidate.words <= MAX_WORDS:
                chosen.append(candidate)
                words += candidate.words
                break
    rest = sorted((s for s in scored if s not in chosen), key=lambda s: (-s.score, s.index))
    for candidate in rest:
        if words >= TARGET_WORDS:
            break
        if words + candidate.words <= MAX_WORDS:
            chosen.append(candidate)
            words += candidate.words
    # Too long a first pick can strand us under the minimum with nothing that fits; fine.
    return sorted(chosen, key=lambda s: s.index)


def _title_only(article: ArticleText) -> DeepDive:
    description = " ".join(article.text.split())
    title = " ".join(article.title.split()).rstrip(".")
    if description and description.rstrip(".").lower() != title.lower():
        text = f"{description} (Summary from the feed's description only: no article text was available.)"
    else:
        text = f"{title}. (Title only: the feed carried no article text.)"
    return DeepDive(article_url=article.url, text=text, summariser="title-only")


def summarise_extractive(article: ArticleText) -> DeepDive:
    """A deep dive of 60–130 words made of the article's own sentences, in the article's order.

    Example: a 1,200-word post about a database migration → its sentences stating the latency
    problem, the rebuilt pipeline, the consistency trade-off and the result, verbatim.

    Articles with fewer than `USABLE_WORDS` words of text (a video, a link post) get a one-line
    `title-only` deep dive that says so.
    """
    if len(article.text.split()) < USABLE_WORDS:
        return _title_only(article)
    sentences = split_sentences(article.text)[:MAX_SENTENCES]
    scored = _score(sentences)
    if not scored:
        return _title_only(article)
    chosen = _choose(scored)
    if not chosen:  # only over-long sentences: keep the shortest one rather than none
        chosen = [min(scored, key=lambda s: (s.words, s.index))]
    return DeepDive(
        article_url=article.url, text=" ".join(s.text for s in chosen), summariser="extractive"
    )


def condense(text: str, limit: int) -> str:
    """The article cut to about `limit` characters for a model: opening, then its key sentences.

    The opening (up to half the limit) states the problem; the rest is the best-scoring later
    sentences in the article's order, so trade-offs and results near the end survive the cut.
    Gaps are marked "[…]". Text within the limit comes back unchanged.
    """
    if len(text) <= limit:
        return text
    sentences = split_sentences(text)
    opening: list[str] = []
    used = 0
    for sentence in sentences:
        if used + len(sentence) + 1 > limit // 2:
            break
        opening.append(sentence)
        used += len(sentence) + 1
    rest = _score(sentences[len(opening) : len(opening) + MAX_SENTENCES])
    chosen: list[_Sentence] = []
    for candidate in sorted(rest, key=lambda s: (-s.score, s.index)):
        if used + len(candidate.text) + 4 <= limit:
            chosen.append(candidate)
            used += len(candidate.text) + 4
    parts = [" ".join(opening)]
    previous = -1
    for candidate in sorted(chosen, key=lambda s: s.index):
        parts.append(("" if candidate.index == previous + 1 else "[…] ") + candidate.text)
        previous = candidate.index
    return " ".join(p for p in parts if p)


class ExtractiveSummariser:
    """`Summariser` over `summarise_extractive`; needs no session, network or model."""

    name = "extractive"

    def summarise(self, articles: Sequence[ArticleText], *, session: Any = None) -> list[DeepDive]:
        return [summarise_extractive(article) for article in articles]

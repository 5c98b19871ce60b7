"""The default summariser: a deep dive built only from the article's own sentences.

Why extractive: it needs no model, no key and no network, it is deterministic, and it cannot
state anything the article does not, so the digest is never wrong, only less fluent. It aims
for the examples' shape: the company as the subject (`core.voice`), the post's named
technologies and headline figures (`core.facts`), problem → approach → trade-off → result,
60–130 words.

How sentences are chosen: only sentences that stand alone qualify (`sentences.unusable`: no
heading, question, list item, caption, code, call to action, or sentence leaning on the one
before it). Each is valued for the facts it would add, names weighted by how central they are
to the post (the title's and defined acronyms' first) and figures by how much they say (a
before-and-after beats a bare count); for the first sentence of each role (problem, approach,
trade-off, result) it carries; and a little for its position and its share of the post's most
frequent words. Promotional, second-person and "in this post" sentences lose value, and so
does a sentence whose "we" had to be rewritten, so equal sentences without one win. Sentences
are taken greedily by value per word (facts already covered count nothing the second time)
until the deep dive reaches about 120 words, and printed in the article's order. Only the first
`MAX_SENTENCES` sentences are considered: choosing among more costs time for no better summary.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.facts import capitalised_words, figures, name_weights
from core.model import DeepDive
from core.quality import first_person
from core.summarise import ArticleText
from core.summarise.sentences import (
    Phrases,
    Sentence,
    dangling,
    sentences_of,
    split_sentences,
    unusable,
)
from core.voice import drop_connective, in_third_person

__all__ = [
    "ExtractiveSummariser",
    "MAX_SENTENCES",
    "MAX_WORDS",
    "MIN_WORDS",
    "USABLE_WORDS",
    "condense",
    "dangling_openers",
    "split_sentences",
    "summarise_extractive",
]

MIN_WORDS = 60
MAX_WORDS = 130
TARGET_WORDS = 118  # stop adding sentences here; room enough for four roles and their facts
MAX_SENTENCES = 160
LEAD_CANDIDATES = 4  # the first pick comes from the post's first usable sentences
USABLE_WORDS = 25  # below this, the "text" is a caption or a link post: title-only

# Cue words per role: exact words, word prefixes (stems), and phrases. Matching is on the
# lower-cased words of a sentence, so one sentence costs a few set look-ups per word.
_ROLE_CUES: dict[str, tuple[set[str], tuple[str, ...], tuple[str, ...]]] = {
    "problem": (
        {"problem", "problems", "challenge", "challenges", "challenging", "limit", "limits",
         "limited", "fail", "fails", "failed", "failure", "failures", "slow", "slower",
         "slowness", "issue", "issues", "unable", "expensive", "costly", "broke", "breaking",
         "couldn't", "manual", "manually", "fragmented", "hard", "error-prone", "gap"},
        ("struggl", "bottleneck", "limitation", "pain", "difficult", "outage", "suffer", "risk",
         "vulnerab", "degrad", "spike", "friction", "inefficien", "unmaintainab"),
        ("could not", "hard to", "too slow", "too much"),
    ),
    "approach": (
        {"built", "designed", "approach", "solution", "using", "uses", "system", "pipeline",
         "framework", "release", "released", "replaced", "moved", "added", "created", "rebuilt",
         "combines", "combining", "deployed", "runs", "routes", "enforces", "integrates"},
        ("introduc", "implement", "develop", "migrat", "architect", "leverag", "adopt", "launch",
         "decid",
         "automat", "orchestrat", "fine-tun", "integrat"),
        ("is built on", "based on", "by using"),
    ),
    "tradeoff": (
        {"tradeoff", "tradeoffs", "trade-off", "trade-offs", "overhead", "complexity",
         "although", "chose", "choose", "cost", "costs", "accept", "accepted", "price"},
        ("downside", "drawback", "sacrific", "balanc", "compromise"),
        ("at the cost", "in exchange", "instead of", "rather than", "at the expense",
         "trade-off", "tradeoff", "accepted that", "in return"),
    ),
    "result": (
        {"faster", "lower", "lowered", "saved", "saves", "saving", "cut", "overall",
         "ultimately", "dropped", "fell", "grew", "accuracy", "outperform", "outperforms",
         "lesson", "lessons", "takeaway"},
        ("result", "reduc", "improv", "increas", "achiev", "enabl", "learn", "demonstrat"),
        ("key insight", "in the end", "as a result", "this means", "since launch"),
    ),
}  # fmt: skip
_ROLE_NAMES = tuple(_ROLE_CUES)
# the value of covering a role the deep dive does not cover yet
_ROLE_WEIGHT = {"problem": 1.2, "approach": 1.2, "tradeoff": 1.2, "result": 1.2}
_ROLE_CAP = 1.0  # cue words of one role that count in one sentence
_WORD_OFFSET = 8  # value per √(words + this): a long sentence must say more to be chosen
_CUE_WORDS = {w: role for role, (words, _, _) in _ROLE_CUES.items() for w in words}
_CUE_PREFIXES = {p: role for role, (_, prefixes, _) in _ROLE_CUES.items() for p in prefixes}
_PREFIX_LENGTHS = sorted({len(p) for p in _CUE_PREFIXES})
_CUE_PHRASES = [(p, role) for role, (_, _, phrases) in _ROLE_CUES.items() for p in phrases]
_LOWER_WORDS = re.compile(r"[a-z][a-z'-]*")

# Tone: what a digest never leads with.
_PROMOTIONAL = Phrases((
    "leading", "world's", "world’s", "world-class", "best-in-class", "industry-leading",
    "cutting-edge", "state-of-the-art", "revolution", "game-chang", "seamless",
    "unparalleled", "unprecedented", "empower", "unlock", "supercharg", "delight",
    "excited", "thrilled", "proud", "powers over", "powers more than", "trusted by",
    "loved by", "essential", "effortless", "magic",
))  # fmt: skip
_AVAILABILITY = re.compile(r"\b(?:is|are) (?:now )?(?:generally )?available\b", re.I)
# "this shift", "these failures": a demonstrative pointing at what came before
_DEMONSTRATIVE = re.compile(
    r"\b(?:this|these|that|those)\s+(?!post\b|article\b|blog\b|year\b|week\b|month\b|"
    r"quarter\b|is\b|was\b|are\b|were\b|means\b)[a-z][\w-]*",
    re.IGNORECASE,
)
_META = Phrases((
    "in this post", "in this article", "in this blog", "in this guide", "in this tutorial",
    "in this series", "this post walks", "this post shows", "this post explains",
    "this post describes", "this post demonstrates", "this post covers", "this article",
    "this guide", "this tutorial", "walk through", "walks through", "walk you through",
    "we'll look", "we’ll look", "we'll explore", "we’ll explore", "we'll cover", "we’ll cover",
    "we'll dive", "we’ll dive", "read on", "deep dive into",
))  # fmt: skip
_STOP = frozenset(
    """a an the and or but if then than that this these those of to in on for with by from at as
    is are was were be been being it its we our us you your they their them he she his her i my
    me not no so can could would should will just also more most very into over under about
    which what when where who whom how why all any each other some such only own same too s t
    do does did done have has had having there here out up down off again further once new one
    two use used using like get got make made""".split()
)
_WORDS = re.compile(r"[A-Za-z][A-Za-z'-]+")


_WORD_ROLES: dict[str, str | None] = {}  # every word seen so far → its role (or none)


def _role_of(word: str) -> str | None:
    if word in _WORD_ROLES:
        return _WORD_ROLES[word]
    role = _CUE_WORDS.get(word)
    if role is None:
        for n in _PREFIX_LENGTHS:
            if n > len(word):
                break
            role = _CUE_PREFIXES.get(word[:n])
            if role is not None:
                break
    if len(_WORD_ROLES) < 100_000:  # a vocabulary, not a leak
        _WORD_ROLES[word] = role
    return role


def _roles(words: Sequence[str], lower: str) -> dict[str, float]:
    """How many cue words of each role a sentence holds (its lower-case words and text)."""
    counts = dict.fromkeys(_ROLE_NAMES, 0.0)
    for word in words:
        role = _role_of(word)
        if role is not None:
            counts[role] += 1
    for phrase, role in _CUE_PHRASES:
        if phrase in lower:
            counts[role] += 1
    return counts


@dataclass(frozen=True)
class _Candidate:
    index: int
    text: str  # as it will be printed: third person, leading connective dropped
    words: int
    base: float  # value that does not depend on what else is chosen
    names: frozenset[str]
    figures: frozenset[str]
    roles: dict[str, float]  # cue words of each role it holds (up to three count)
    content: frozenset[str]
    second_person: bool


def _figure_weight(figure: str) -> float:
    if figure.lower().startswith("from "):
        return 3.5  # a before-and-after is the headline result
    if re.search(r"%|x$|×|times|percent", figure, re.IGNORECASE):
        return 3.0  # a ratio: 40%, 100x
    if re.search(r"\d\s*[a-zµ]{1,7}$", figure) and not re.search(r"[a-z]{3,}s$", figure):
        return 2.0  # a measured value: 450 ms, 6 GB, 25 hours
    return 1.2  # a count: 3,000 databases


def _demonstrative_penalty(text: str) -> float:
    match = _DEMONSTRATIVE.search(text)
    if match is None:
        return 0.0
    return 0.8 if len(text[: match.start()].split()) < 6 else 0.3


def dangling_openers(text: str) -> list[str]:
    """Sentences of `text` that open by leaning on one before them ("This", "It", "Now let's")."""
    return [s for s in split_sentences(text) if dangling(s)]


def _content(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORDS.findall(text) if w.lower() not in _STOP)


_FIRST_PERSON_WORDS = frozenset({"we", "our", "ours", "us", "we're", "we’re", "we've", "we’ve"})
_SECOND_PERSON_WORDS = frozenset({"you", "your", "yours", "you're", "you’re", "you'll", "you’ll"})
_DEMONSTRATIVE_WORDS = frozenset({"this", "these", "that", "those"})


def _candidates(
    article: ArticleText, sentences: list[Sentence], known: set[str]
) -> list[_Candidate]:
    tokens = [_LOWER_WORDS.findall(s.text.lower()) for s in sentences]
    contents = [frozenset(w for w in ts if w not in _STOP and len(w) > 1) for ts in tokens]
    frequency = Counter(w for words in contents for w in words)
    top = {w for w, n in frequency.most_common(20) if n > 1}
    total = max(len(sentences), 1)
    title = _content(article.title)
    seen: set[str] = set()
    result: list[_Candidate] = []
    for sentence, original, words in zip(sentences, tokens, contents, strict=True):
        lower = sentence.text.lower()
        if lower in seen or unusable(sentence):  # feeds repeat a standfirst; say it once
            continue
        seen.add(lower)
        vocabulary = set(original)
        rewrites = sum(1 for w in original if w in _FIRST_PERSON_WORDS)
        if rewrites:
            text = in_third_person(sentence.text, article.company)
        else:
            text = drop_connective(sentence.text)
        if text is None or dangling(text):
            continue
        if rewrites or "us" in vocabulary:
            if first_person(text):  # "US" too: readers cannot tell it from "us" in a check
                continue
        if (
            len(title) > 2
            and len(words & title) >= 0.8 * len(title)
            and len(words) <= len(title) + 2
        ):
            continue  # the title again
        second_person = not _SECOND_PERSON_WORDS.isdisjoint(vocabulary)
        heads = {w[:4] for w in original}
        centrality = len(top & words) / max(len(top), 1)
        position = 1.0 - sentence.index / total
        base = (
            1.0 * centrality
            + 0.8 * position
            + (0.6 if sentence.paragraph == 0 or sentence.index < 2 else 0.0)
            - (1.2 if _PROMOTIONAL.search(lower, heads) else 0.0)
            - (1.5 if second_person else 0.0)
            - (0.0 if _DEMONSTRATIVE_WORDS.isdisjoint(vocabulary) else _demonstrative_penalty(text))
            - (0.5 if "available" in vocabulary and _AVAILABILITY.search(text) else 0.0)
            - (0.8 if _META.search(lower, heads) else 0.0)
            - 0.15 * min(rewrites, 3)
        )
        roles = {r: min(n, _ROLE_CAP) for r, n in _roles(original, lower).items() if n > 0}
        named = frozenset(capitalised_words(text) & known)
        result.append(
            _Candidate(
                index=sentence.index,
                text=text,
                words=len(text.split()),
                base=base,
                names=named,
                figures=frozenset(figures(text)),
                roles=roles,
                content=words,
                second_person=second_person,
            )
        )
    return result


def _gain(
    candidate: _Candidate,
    weights: dict[str, float],
    names: set[str],
    found: set[str],
    roles: dict[str, float],
) -> float:
    value = candidate.base
    # names beyond a sentence's three weightiest new ones count less: a list of products
    # is not worth more than the sentence that says what the post did with one of them
    new = sorted((weights.get(n, 0.0) for n in candidate.names - names), reverse=True)
    value += sum(new[:3]) + 0.15 * sum(new[3:])
    value += sum(_figure_weight(f) for f in candidate.figures if f not in found)
    value += sum(
        _ROLE_WEIGHT[role] * max(0.0, n - roles.get(role, 0.0))
        for role, n in candidate.roles.items()
    )
    return value


def _choose(candidates: list[_Candidate], weights: dict[str, float]) -> list[_Candidate]:
    """Greedy by value per word, lazily: a candidate's value only falls as facts get covered,
    so it is re-valued only when it reaches the top of the heap (same picks, far fewer sums)."""
    chosen: list[_Candidate] = []
    names: set[str] = set()
    found: set[str] = set()
    roles: dict[str, float] = {}  # the strongest cue count chosen so far, per role
    words = 0

    def ratio(candidate: _Candidate) -> float:
        value = _gain(candidate, weights, names, found, roles)
        return value / math.sqrt(candidate.words + _WORD_OFFSET)

    def take(pick: _Candidate) -> None:
        nonlocal words
        chosen.append(pick)
        names.update(pick.names)
        found.update(pick.figures)
        for role, n in pick.roles.items():
            roles[role] = max(roles.get(role, 0.0), n)
        words += pick.words

    fitting = [c for c in candidates if c.words <= MAX_WORDS]
    # the deep dive opens where the post does: with its subject
    lead = [c for c in fitting[:LEAD_CANDIDATES] if not c.second_person]
    if not lead:
        return []
    take(max(lead, key=lambda c: (ratio(c), -c.index)))
    # (-ratio, index, the pick count when the ratio was computed, candidate)
    heap = [(-ratio(c), c.index, 1, c) for c in fitting if c is not chosen[0]]
    heapq.heapify(heap)
    while heap and words < TARGET_WORDS:
        key, index, computed, candidate = heapq.heappop(heap)
        if words + candidate.words > MAX_WORDS:
            continue  # it will never fit again
        if any(len(candidate.content & c.content) > 0.6 * len(candidate.content) for c in chosen):
            continue  # says again what a chosen sentence says
        if computed < len(chosen):  # valued before the last pick: value it again
            heapq.heappush(heap, (-ratio(candidate), index, len(chosen), candidate))
            continue
        if -key <= 0.15 and words >= MIN_WORDS:
            break
        take(candidate)
    return sorted(chosen, key=lambda c: c.index)


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
    problem, the rebuilt pipeline, the consistency trade-off and the result, with "we" turned
    into the company ("Datadog built a replication pipeline…").

    Articles with fewer than `USABLE_WORDS` words of text (a video, a link post) get a one-line
    `title-only` deep dive that says so.
    """
    if len(article.text.split()) < USABLE_WORDS:
        return _title_only(article)
    sentences = sentences_of(article.text)[:MAX_SENTENCES]
    weights = name_weights(article.title, [s.text for s in sentences], company=article.company)
    candidates = _candidates(article, sentences, set(weights.weights))
    if not candidates:
        return _title_only(article)
    chosen = _choose(candidates, weights.weights)
    if not chosen:  # only over-long sentences: keep the shortest one rather than none
        chosen = [min(candidates, key=lambda c: (c.words, c.index))]
    return DeepDive(
        article_url=article.url, text=" ".join(c.text for c in chosen), summariser="extractive"
    )


# --- condensing for a model --------------------------------------------------------------------


def _plain_scores(sentences: list[str]) -> list[tuple[int, float]]:
    """(index, score) of the sentences worth keeping: facts, role cues and centrality."""
    content = [_content(s) for s in sentences]
    frequency = Counter(w for words in content for w in words)
    top = {w for w, n in frequency.most_common(20) if n > 1}
    scored = []
    seen: set[str] = set()
    for index, (sentence, words) in enumerate(zip(sentences, content, strict=True)):
        key = sentence.lower()
        if key in seen or unusable(Sentence(index, sentence, index, True, False)):
            continue
        seen.add(key)
        score = (
            1.5 * len(top & words) / max(len(top), 1)
            + sum(_figure_weight(f) for f in figures(sentence)) / 2
            + 0.25 * min(sum(_roles(_LOWER_WORDS.findall(key), key).values()), 4)
        )
        scored.append((index, score))
    return scored


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
    later = sentences[len(opening) : len(opening) + MAX_SENTENCES]
    chosen: list[int] = []
    for index, _ in sorted(_plain_scores(later), key=lambda item: (-item[1], item[0])):
        if used + len(later[index]) + 4 <= limit:
            chosen.append(index)
            used += len(later[index]) + 4
    parts = [" ".join(opening)]
    previous = -1
    for index in sorted(chosen):
        parts.append(("" if index == previous + 1 else "[…] ") + later[index])
        previous = index
    return " ".join(p for p in parts if p)


class ExtractiveSummariser:
    """`Summariser` over `summarise_extractive`; needs no session, network or model."""

    name = "extractive"

    def summarise(self, articles: Sequence[ArticleText], *, session: Any = None) -> list[DeepDive]:
        return [summarise_extractive(article) for article in articles]

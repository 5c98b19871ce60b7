"""How good a deep dive is against a published one: key-fact recall, faithfulness, voice, length.

Why here and not only in a benchmark: the same checks guard the digest itself. A test runs
`unsupported` over every section of the golden digests (every figure and capitalised name must
occur in the posts a section cites), and `bench/quality.py` prints the figures below over a
folder of articles and the deep dives a published digest wrote for them.

- **Key facts** of an article: the figures ("7 seconds", "40%", "100x", "4,100") and capitalised
  names ("Kafka", "Schema Registry", "V8") that the reference deep dive states and the article
  contains. **Recall** is the share of them a text also states.
- **Baselines**, on the same facts: the article's first 110 words (`lead_recall`), and the best
  110-word window anywhere in it, tried every 10 words (`window_recall`).
- **Faithful**: no figure or capitalised name of the text is missing from the article (the
  company, and anything else in `allowed`, may always be named).
- **Third person**: no "we", "our", "us", "we're", "we've", "ours" outside double quotes.

Matching is case-insensitive on NFKC text with curly quotes folded and whitespace collapsed, and
a fact is "stated" when it occurs as a substring, so "Kafka" is stated by "Kafka's".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "WINDOW_WORDS",
    "facts_in",
    "first_person",
    "key_facts",
    "lead_recall",
    "normalise_text",
    "recall",
    "reference_paragraph",
    "unsupported",
    "window_recall",
]

WINDOW_WORDS = 110
WINDOW_STEP = 10

# Capitalised words that open sentences or are too generic to be a fact.
_NOT_FACTS = frozenset(
    """The This They By To In For While Instead Rather Because However Source Furthermore
    Crucially Traditional Standard Executing Sequential Coding Contrary Engineering A An It As
    When Using Large Building Deploying Moving Managing Scaling Visualizing Platform AI
    Benchmark During""".split()
)
_FIGURES = re.compile(r"\d[\d,.]*\s?%|\d+(?:\.\d+)?x\b|\b\d[\d,.]*\b")
_NAMES = re.compile(r"\b[A-Z][a-zA-Z0-9]+(?:[ -][A-Z][a-zA-Z0-9]+)*\b")
_QUOTED = re.compile(r"[\"“][^\"”]*[\"”]")
_FIRST_PERSON = re.compile(r"\b(we|our|us|we're|we've|ours)\b", re.IGNORECASE)
_FOLD = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def normalise_text(text: str) -> str:
    """NFKC, curly quotes folded, whitespace collapsed, lower case: the form facts match in."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD)
    return re.sub(r"\s+", " ", text).strip().lower()


def facts_in(text: str) -> set[str]:
    """Every figure and capitalised name of `text`, as it is written there."""
    found = set(_FIGURES.findall(text)) | set(_NAMES.findall(text))
    facts = set()
    for fact in found:
        fact = fact.strip().rstrip(".,")
        if fact not in _NOT_FACTS and len(fact) >= 2:
            facts.add(fact)
    return facts


def reference_paragraph(reference: str) -> str:
    """The paragraph of a published entry "Title · Company · Source Paragraph…"."""
    return reference.split("· Source", 1)[-1]


def key_facts(reference: str, article: str) -> set[str]:
    """Facts the reference deep dive states that the article also contains."""
    source = normalise_text(article)
    return {f for f in facts_in(reference_paragraph(reference)) if normalise_text(f) in source}


def unsupported(text: str, article: str, *, allowed: Iterable[str] = ()) -> list[str]:
    """Figures and capitalised names in `text` that neither `article` nor `allowed` contains.

    A multi-word name passes when each of its words occurs ("Datadog Kafka": two names).
    Example: `unsupported("Acme cut p99 by 40%.", "p99 fell 30%", allowed=["Acme"])` → `["40%"]`.
    """
    source = normalise_text(" ".join([article, *allowed]))
    bad = []
    for fact in facts_in(text):
        if normalise_text(fact) in source:
            continue
        if " " in fact and all(normalise_text(w) in source for w in fact.split()):
            continue
        bad.append(fact)
    return sorted(bad)


def recall(facts: set[str], text: str) -> float:
    """Share of `facts` that `text` states (0.0 when there are none)."""
    normalised = normalise_text(text)
    return len({f for f in facts if normalise_text(f) in normalised}) / max(1, len(facts))


def lead_recall(facts: set[str], article: str) -> float:
    """Recall of the article's first `WINDOW_WORDS` words."""
    return recall(facts, " ".join(article.split()[:WINDOW_WORDS]))


def window_recall(facts: set[str], article: str) -> float:
    """Recall of the best `WINDOW_WORDS`-word window, tried every `WINDOW_STEP` words."""
    words = article.split()
    starts = range(0, max(1, len(words) - WINDOW_WORDS + 1), WINDOW_STEP)
    return max((recall(facts, " ".join(words[i : i + WINDOW_WORDS])) for i in starts), default=0.0)


def first_person(text: str) -> bool:
    """Whether `text` says "we", "our", "us" (…) outside double quotes."""
    return bool(_FIRST_PERSON.search(_QUOTED.sub("", text)))

"""The facts a post states: its named technologies and products, and its headline figures.

Why one module: the summariser picks sentences that carry them, the Signal of the Day weighs
posts by them, and composing names themes with them, so "what counts as a figure" is decided
once. A year ("in 2015"), a date ("September 14, 2026") or a version ("v10.0.0", "Node.js 20")
is not a result; "40%", "100x", "450 ms", "from 30 s to 1 s" and "3,000 databases" are.

Names are capitalised words that are not merely opening a sentence: a word at the start of a
sentence counts only when the post also writes it capitalised mid-sentence (so "Kafka" opening
a sentence counts when "Kafka" appears elsewhere, "Teams" does not), or when the post defines
it ("Model Context Protocol (MCP)"). Acronyms, CamelCase and alphanumeric names ("V8",
"GPT-4.1", "eBPF") always count.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["NameWeights", "capitalised_words", "figures", "name_weights", "names_in"]

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_UNIT = (
    r"%|percent\b|x\b|×|times\b|ms\b|milliseconds?\b|µs\b|ns\b|s\b|secs?\b|seconds?\b|"
    r"minutes?\b|mins?\b|hours?\b|hrs?\b|days?\b|weeks?\b|months?\b|"
    r"[kmgtp]b\b|[kmgtp]ib\b|gbps\b|mbps\b|qps\b|rps\b|tps\b|"
    r"k\b|m\b|bn\b|million\b|billion\b|trillion\b|thousand\b|hundred\b"
)
_NUMBER = r"(?<![\w.$€£-])[$€£]?\d[\d,]*(?:\.\d+)?\+?"
# A number with a unit, or a number followed by the plural noun it counts.
_FIGURE = re.compile(
    rf"(?:from\s+{_NUMBER}\s*(?:{_UNIT})?\s+to\s+{_NUMBER}\s*(?:{_UNIT}))"
    rf"|(?:{_NUMBER}(?:\s*[-–]\s*\d[\d,]*(?:\.\d+)?)?\s*(?:{_UNIT}))"
    rf"|(?:{_NUMBER}\s+(?:(?:of|more|new|[a-z]+-[a-z]+|[a-z]{{3,}})\s+)?[a-z]{{3,}}s\b)"
    rf"|(?:{_NUMBER}-[a-z]+(?:-[a-z]+)?\b)"  # "230-year-old", "10-node"
    rf"|(?:(?<![\w.])[$€£]\d[\d,]*(?:\.\d+)?)",  # money
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_DATE_AROUND = re.compile(
    rf"(?:\b(?:{_MONTHS})\.?\s+$)|(?:^\s*(?:st|nd|rd|th)?,?\s+(?:{_MONTHS})\b)", re.I
)
_AGO = re.compile(r"^\s*ago\b", re.I)  # "2 years ago" is when, not how much


def figures(text: str) -> list[str]:
    """The headline figures of `text`, as written: "40%", "from 7 seconds to 450 ms", "3,000 databases".

    Years, dates, version numbers ("v10", "release 2.5") and numbers inside names ("V8",
    "GPT-4.1") are not figures. Example: `figures("In 2025 p99 fell 40% to 12 ms.")` →
    `["40%", "12 ms"]`.
    """
    found: list[str] = []
    if not _DIGIT.search(text):
        return found
    for match in _FIGURE.finditer(text):
        figure = match.group(0).strip()
        number = re.search(r"\d[\d,]*(?:\.\d+)?", figure)
        if number is None:
            continue
        digits = number.group(0)
        before = text[max(0, match.start() - 12) : match.start()]
        after = text[match.end() : match.end() + 12]
        if _YEAR.match(digits.replace(",", "")) and not re.search(r"%|x\b|×", figure):
            continue
        if _DATE_AROUND.search(before) or _DATE_AROUND.search(after):
            continue
        if re.search(r"\bv(?:ersion)?\s?$", before, re.I) or re.fullmatch(r"\d+\.\d+\.\d+", digits):
            continue
        if _AGO.match(after):
            continue
        found.append(figure)
    return found


_NAME = re.compile(
    r"(?<![\w'’])[A-Z][\w.+#/-]*[\w+#]|(?<![\w'’])[A-Z](?![\w'’])|\b[a-z]+[A-Z][\w]*"
)
_ALWAYS = re.compile(r"[A-Z].*[A-Z]|\d|^[a-z]+[A-Z]")  # acronyms, CamelCase, V8, eBPF
_SENTENCE_START = re.compile(r"(?:^|[.!?;]\s+|[\"“(]\s*|\n\s*)$")
_GENERIC = frozenset(
    """I A An The This That These Those It Its They Their We Our Us You Your He She His Her In On
    At For With By From To Of And Or But So If When While As After Before During Since Today
    Now Here There What Why How Who Which Where Also However Instead Each Every All Some Many
    Most More Our Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February
    March April May June July August September October November December Mr Mrs Ms Dr""".split()
)


def names_in(text: str, *, known: Iterable[str] = ()) -> list[str]:
    """Capitalised words of `text` that are names, in order (duplicates kept).

    `known`: words already established as names by the rest of the post, counted even when
    they open a sentence.
    """
    established = set(known)
    found = []
    for match in _NAME.finditer(text):
        word = match.group(0).rstrip(".-/")
        if not word or word in _GENERIC:
            continue
        if _ALWAYS.search(word) or word in established:
            found.append(word)
            continue
        if not _SENTENCE_START.search(text[max(0, match.start() - 3) : match.start()]):
            found.append(word)
    return found


_OPENER = re.compile(r"[\"“(\s]*([A-Z][\w.+#/-]*[\w+#])")
_DEFINITION = re.compile(r"((?:[A-Z][\w-]+\s+){1,5})\(([A-Z][A-Za-z0-9]{1,9})\)")


@dataclass(frozen=True)
class NameWeights:
    """How much each name of a post is worth to a summary of it."""

    weights: dict[str, float]


def capitalised_words(text: str) -> set[str]:
    """Every capitalised, CamelCase or alphanumeric word of `text`: what may be a name.

    Intersect with a post's `name_weights` to get the names a sentence carries.
    """
    return {w.rstrip(".-/") for w in _NAME.findall(text)}


def name_weights(title: str, sentences: Sequence[str], *, company: str = "") -> NameWeights:
    """Weights of the post's names: frequent ones, the title's and acronym definitions first.

    A name's weight is log2(1 + how often the post uses it), doubled when the title carries
    it, plus 1 when the post defines it as an acronym ("Model Context Protocol (MCP)"), whose
    spelled-out words count as often as the acronym is used. The
    company's own name is worth 1: the deep dive names it anyway when it speaks of the company.
    """
    counts: Counter[str] = Counter()
    openers: list[str] = []
    for sentence in sentences:
        found = [w.rstrip(".-/") for w in _NAME.findall(sentence)]
        first = _OPENER.match(sentence)
        if found and first and found[0] == first.group(1) and not _ALWAYS.search(found[0]):
            openers.append(found.pop(0))  # opens the sentence: a name only if used so elsewhere
        counts.update(w for w in found if w and w not in _GENERIC)
    for word in openers:
        if word in counts:
            counts[word] += 1
    defined: set[str] = set()
    expansions: dict[str, str] = {}  # a long form's word → the acronym it spells out
    for sentence in sentences:
        if "(" not in sentence:
            continue
        for long, short in _DEFINITION.findall(sentence):
            defined.add(short)
            for word in long.split():
                if word not in _GENERIC:
                    defined.add(word)
                    expansions.setdefault(word, short)
    for word in defined:
        counts[word] = max(counts[word], 1)
    # the words of "Dynamic Resource Allocation (DRA)" are used as often as "DRA" is
    for word, short in expansions.items():
        counts[word] = max(counts[word], counts[short])
    title_names = set(names_in(title, known=counts)) | {
        w for w in re.findall(r"[A-Z][\w.+#-]*[\w+#]", title) if w in counts
    }
    company_words = set(company.replace("/", " ").split())
    weights: dict[str, float] = {}
    for word, n in counts.items():
        if word in company_words:
            weights[word] = 1.0
            continue
        weight = math.log2(1 + n)
        if word in title_names:
            weight *= 2
        if word in defined:
            weight += 1.0
        weights[word] = weight
    return NameWeights(weights)

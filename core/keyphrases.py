"""The noun phrase a group of posts shares: how themes get a name a person would give them.

Method: class-based TF-IDF over candidate phrases, as topic models name their topics
(BERTopic's c-TF-IDF), with RAKE's way of finding candidates. A post's candidates are the runs
of words between punctuation and stop words in its title and deep dive ("change data
capture", "V8 isolates", "trusted publishing"), up to four words, matched across posts with
plurals folded. A group's phrase is the one the most of its posts use (share of the group)
that is rarest among the period's other posts (inverse document frequency), longer phrases
first when they tie: so two posts about OIDC and IAM delegation are named "temporary
credentials" rather than "security", and the name is always words the posts wrote.

Why not a keyphrase library such as YAKE: it scores one document at a time, costing
milliseconds per post, and a week of a thousand posts must compose in well under two seconds;
what names a theme is what its posts share against the rest, which this counts directly.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.voice import PAST_FORMS

__all__ = ["PhraseIndex", "Phrase", "candidates"]

MAX_WORDS = 4
COMMON_SHARE = 0.1  # a phrase used by more of the period's other posts than this is no theme

_STOP = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each either few for
    from further had has have having he her here hers him his how i if in into is it its itself
    just me more most my new no nor not now of off on once one only or other our ours out over
    own same she should so some such than that the their theirs them then there these they this
    those through to too under until up very was we were what when where which while who whom
    why will with would you your yours use used uses using like get gets got make makes made
    way ways across every many much first today time year years help helps need needs build
    builds built post posts blog team teams work works company companies per via without
    within less least still yet even well let lets now already instead rather thus however
    since around among along upon onto toward towards s t don doesn isn aren wasn weren
    won can't don't doesn't isn't it's we're we've they're there's that's what's let's
    two three four five six seven eight nine ten hundreds thousands millions dozens
    able about according actually almost always another anything back best better big
    called certain different easy easier enough entire especially ever far fast faster
    good great hard high higher important just key large larger last later long longer
    lot lots low lower main major may might must near never next often old own part possible
    real really right run runs running said say says see seen set several short simple
    small smaller start started takes take taking things thing whether whole wide yes
    i.e e.g etc vs via say including include includes included means mean allow allows
    allowed provide provides provided become becomes became keep keeps kept call calls
    second seconds minute minutes hour hours day days week weeks month months percent ms
    number numbers example examples way lot today's one's""".split()
)
_SUBJECTS = frozenset("we i you he she it they who which that".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#.’'-]*[A-Za-z0-9+#]|[A-Za-z]")
_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+|\n+")
_BREAK = re.compile(r"[.,;:!?()\[\]{}\"“”‘’—–/|]|\s-\s")


@functools.lru_cache(maxsize=65536)
def _fold(word: str) -> str:
    """Case and plural folded: "Isolates" and "isolate" are one word."""
    lower = word.lower()
    if len(lower) > 4 and lower.endswith("ies"):
        return lower[:-3] + "y"
    if len(lower) > 3 and lower.endswith("s") and not lower.endswith(("ss", "us", "is")):
        return lower[:-1]
    return lower


@dataclass(frozen=True)
class Phrase:
    """A candidate phrase: its folded key and the words as written."""

    key: tuple[str, ...]
    text: str


def candidates(text: str, *, exclude: Iterable[str] = ()) -> list[Phrase]:
    """Candidate phrases of `text`: runs of up to `MAX_WORDS` words between stop words.

    `exclude`: words that never start or end a phrase on their own (the company's name).
    Example: `candidates("Datadog moved search to change data capture.")` includes
    "change data capture" and "search", not "to change".
    """
    excluded = {w.lower() for w in exclude}
    found: list[Phrase] = []
    for chunk in _SENTENCE_END.split(text):
        opening = True  # the chunk's first word opens a sentence: a capital there is no name
        for part in _BREAK.split(chunk):
            run: list[str] = []
            after_subject = False  # the run follows "we", "it", an adverb or the company: a verb
            for word in _WORD.findall(part) + [""]:
                if word and _inside(word, excluded):
                    run.append(word)
                    continue
                if run:
                    _phrases_of_run(run, found, verb_first=after_subject, opens=opening)
                    opening = False
                run = []
                if word:
                    opening = False
                lower = word.lower()
                after_subject = lower in _SUBJECTS or lower in excluded or lower.endswith("ly")
    return found


def _phrases_of_run(
    run: list[str], found: list[Phrase], *, verb_first: bool = False, opens: bool = False
) -> None:
    """Every n-gram of `run` that `_noun_phrase` accepts (its tests inlined: this is hot)."""
    folded = [_fold(w) for w in run]
    lower = [w.lower() for w in run]
    ends_ed = [w.endswith("ed") or w in PAST_FORMS for w in lower]  # "…latency fell"
    opens_badly = [
        w.endswith("ing") or (e and r[:1].isupper())
        for w, e, r in zip(lower, ends_ed, run, strict=True)
    ]
    for i in range(1 if verb_first else 0, len(run)):
        single = run[i].lower() if opens and i == 0 and run[i][1:].islower() else run[i]
        if _noun_phrase([single], lower[i], lower[i]):
            found.append(Phrase((folded[i],), run[i]))
        if opens_badly[i]:
            continue
        for j in range(i + 1, min(i + MAX_WORDS, len(run))):
            if not ends_ed[j]:
                found.append(Phrase(tuple(folded[i : j + 1]), " ".join(run[i : j + 1])))


def _inside(word: str, excluded: set[str]) -> bool:
    """Whether `word` can be part of a phrase: not a stop word, number, adverb or possessive."""
    lower = word.lower()
    return not (
        lower in _STOP
        or lower in excluded
        or lower.isdigit()
        or "'" in lower
        or "’" in lower
        or (len(lower) > 4 and lower.endswith("ly"))
    )


def _noun_phrase(words: list[str], first: str, last: str) -> bool:
    """A run that can name something: it ends on a noun-like word and does not open on a verb.

    Without a tagger: a phrase may not end in "-ed" (a past verb) nor open on "-ing"; a lone
    word must be a name ("Kafka", not "model" nor a sentence's opening "Building").
    """
    if len(words) == 1:  # a lone word names a theme only if it is a name: "Kafka", "MCP", "V8"
        return len(first) >= 2 and (words[0][:1].isupper() or any(c.isdigit() for c in first))
    if last.endswith("ed") or first.endswith("ing"):
        return False
    return not (first.endswith("ed") and words[0][:1].isupper())


class PhraseIndex:
    """Candidate phrases of a period's posts, for naming groups of them.

    Example:
        index = PhraseIndex([post_a_text, post_b_text, post_c_text])
        index.shared([0, 1])  # → "temporary credentials"
    """

    def __init__(
        self, texts: Sequence[str], *, titles: Sequence[str] = (), exclude: Iterable[str] = ()
    ) -> None:
        excluded = list(exclude)
        self._titles = [{p.key for p in candidates(t, exclude=excluded)} for t in titles]
        self._posts: list[set[tuple[str, ...]]] = []
        self._surface: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        documents: Counter[tuple[str, ...]] = Counter()
        for text in texts:
            keys = set()
            for phrase in candidates(text, exclude=excluded):
                keys.add(phrase.key)
                self._surface[phrase.key][phrase.text] += 1
            self._posts.append(keys)
            documents.update(keys)
        self._documents = documents

    def reordered(self, order: Sequence[int]) -> PhraseIndex:
        """The same index with post `i` being this one's post `order[i]` (nothing recounted)."""
        view = PhraseIndex.__new__(PhraseIndex)
        view._posts = [self._posts[i] for i in order]
        view._titles = [self._titles[i] for i in order] if self._titles else []
        view._surface = self._surface
        view._documents = self._documents
        return view

    def shared(self, group: Sequence[int], *, at_least: int = 2) -> str | None:
        """The phrase most of `group`'s posts share and the rest of the period rarely uses.

        Only phrases used by `at_least` posts of the group (one for a group of one) count; a
        group of one is named from its title's phrases when its title has any.
        Returns the phrase as the posts wrote it most often, or None when nothing is shared.
        """
        key = self.shared_key(group, at_least=at_least)
        return None if key is None else self._display(key)

    def holders(self, group: Sequence[int], phrase: str) -> list[int]:
        """The posts of `group` that use `phrase` (as `shared` returned it)."""
        key = tuple(_fold(w) for w in phrase.split())
        return [post for post in group if key in self._posts[post]]

    def shared_key(self, group: Sequence[int], *, at_least: int = 2) -> tuple[str, ...] | None:
        needed = min(at_least, len(group))
        held: Counter[tuple[str, ...]] = Counter()
        for post in group:
            held.update(self._posts[post])
        if len(group) == 1 and group[0] < len(self._titles):
            in_title = {k: n for k, n in held.items() if k in self._titles[group[0]]}
            if in_title:
                held = Counter(in_title)
        total = len(self._posts)
        best: tuple[float, int, str, tuple[str, ...]] | None = None
        others = total - len(group)
        for key, n in held.items():
            if n < needed:
                continue
            outside = self._documents[key] - n
            if outside > max(1, others * COMMON_SHARE):
                continue  # "model", "developers": said all over the period, names nothing
            idf = math.log(1 + total / (1 + outside))
            score = (n / len(group)) * idf * (1 + 0.4 * (len(key) - 1))
            surface = self._display(key)
            rank = (score, len(key), surface.lower(), key)
            if (
                best is None
                or (rank[0], rank[1]) > (best[0], best[1])
                or ((rank[0], rank[1]) == (best[0], best[1]) and rank[2] < best[2])
            ):
                best = rank
        return None if best is None else best[3]

    def _display(self, key: tuple[str, ...]) -> str:
        """The phrase as its posts wrote it most often, lower case preferred for common nouns."""
        forms = self._surface[key]
        common = [f for f in forms if f[:1].islower()] or list(forms)
        return max(common, key=lambda f: (forms[f], f))

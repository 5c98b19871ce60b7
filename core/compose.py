"""Posts and their deep dives → `DailyDigest` / `WeeklyRollup`. Pure: no database, no clock.

Why pure: the Slack bot, the newsletter and the web archive all read what this produces, so it
must be easy to pin down in tests. Everything it writes is either a deep dive (itself faithful
to its article), a deep dive's sentence (`core.themes`), or a frame stating what it counted:
which companies, which phrase their posts share. Nothing here invents a claim.

Groups come from TF-IDF similarity: each post becomes a vector of its title (counted twice),
its deep dive and its tags; posts are taken most significant first and each joins the group
whose leading post it is most similar to (cosine ≥ `SIMILARITY`), or leads a new group. Leader
grouping over an inverted index keeps a week of 1,000 posts to a few hundred thousand sparse
multiplications. A group is then named by the phrase most of its posts use (`core.keyphrases`)
and keeps only the posts that use it; one with posts from two or more companies is a pattern.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TypeVar

from core.dates import week_days
from core.keyphrases import PhraseIndex
from core.model import ArticleRef, DailyDigest, Edition, Pattern, Signal, Stats, Story, WeeklyRollup
from core.score import SignalFeatures, score_signal, why_signal
from core.tags import TAGS
from core.themes import signal_paragraph, theme_paragraph, week_in_review

__all__ = [
    "Post",
    "READING_WPM",
    "SIMILARITY",
    "belongs_to_day",
    "compose_daily",
    "compose_weekly",
    "group_posts",
    "with_written_patterns",
    "with_written_signal",
]

READING_WPM = 230
SIMILARITY = 0.25
WORD_SHARE = 0.6
# Top stories are finer than patterns: words weigh more, so two security posts about
# different things are two stories, not one.
STORY_SIMILARITY = 0.3
STORY_WORD_SHARE = 0.8
STORY_ARTICLES = 8  # links listed under one story, most significant first
TERMS_PER_POST = 25
MAX_STORIES = 7


@dataclass(frozen=True)
class Post:
    """One article as composing sees it: its facts and its deep dive."""

    url: str
    title: str
    company: str
    source: str
    published: datetime
    deep_dive: str
    summariser: str = "extractive"
    words: int = 0
    text_kind: str = "full"
    tags: tuple[str, ...] = ()
    source_weight: float = 1.0


def belongs_to_day(
    *, published: date, first_seen: date, day: date, digested: set[date] | frozenset[date]
) -> bool:
    """Whether an article not yet in any digest goes into the digest of `day`.

    A post belongs to the day it was published, unless that day's digest was already composed
    when it arrived (feeds backdate posts, or we fetched late): then it belongs to the first
    digest composed on or after the day it was first seen, so no post is ever skipped.
    """
    if published == day:
        return True
    if published > day:
        return False
    return published in digested and first_seen <= day


# --- similarity ------------------------------------------------------------------------------

_STOP = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    me more most my new no nor not now of off on once one only or other our ours out over own
    same she should so some such than that the their theirs them then there these they this
    those through to too two under until up very was we were what when where which while who
    whom why will with would you your yours use used using uses like get make made way ways
    across every many much first today time year years help helps need needs build built
    post blog team teams work works company""".split()
)
_TOKEN = re.compile(r"[a-z][a-z0-9+#-]{2,}")


def _stem(word: str) -> str:
    """Plural folding (credentials → credential), so overlap counts; stems stay real words."""
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 4:
        return word[:-1]
    return word


def _terms(post: Post) -> Counter[str]:
    counts: Counter[str] = Counter()
    for word in _TOKEN.findall(post.title.lower()):
        if word not in _STOP:
            counts[_stem(word)] += 2
    for word in _TOKEN.findall(post.deep_dive.lower()):
        if word not in _STOP:
            counts[_stem(word)] += 1
    return counts


def _vectors(posts: Sequence[Post], *, word_share: float = WORD_SHARE) -> list[dict[str, float]]:
    """Unit vectors: TF-IDF of the words (weight 0.6) plus the post's tags (weight 0.8).

    Tags carry most of the weight because a day has few posts, too few for word statistics
    alone to find that two posts about OIDC and IAM delegation are both about credentials.
    """
    counted = [_terms(p) for p in posts]
    documents = Counter(term for counts in counted for term in counts)
    n = len(posts)
    vectors: list[dict[str, float]] = []
    for post, counts in zip(posts, counted, strict=True):
        weights = {
            term: (1 + math.log(tf)) * (math.log((1 + n) / (1 + documents[term])) + 1)
            for term, tf in counts.items()
        }
        top = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:TERMS_PER_POST]
        norm = math.sqrt(sum(w * w for _, w in top)) or 1.0
        tags = [t for t in dict.fromkeys(post.tags)]
        share = word_share if tags else 1.0
        vector = {term: share * w / norm for term, w in top}
        for tag in tags:
            vector[f"#{tag}"] = math.sqrt(1 - share**2) / math.sqrt(len(tags))
        vectors.append(vector)
    return vectors


def group_posts(
    posts: Sequence[Post], *, threshold: float = SIMILARITY, word_share: float = WORD_SHARE
) -> list[list[int]]:
    """Indexes of `posts` grouped by similarity; `posts` should come most significant first.

    Each group lists its leader first. Deterministic for the same input order.
    """
    vectors = _vectors(posts, word_share=word_share)
    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)  # term → (group, weight)
    groups: list[list[int]] = []
    for index, vector in enumerate(vectors):
        scores: dict[int, float] = defaultdict(float)
        for term, weight in vector.items():
            for group, leader_weight in postings.get(term, ()):
                scores[group] += weight * leader_weight
        best = max(scores.items(), key=lambda kv: (kv[1], -kv[0]), default=None)
        if best is not None and best[1] >= threshold:
            groups[best[0]].append(index)
            continue
        groups.append([index])
        for term, weight in vector.items():
            postings[term].append((len(groups) - 1, weight))
    return groups


def _companies(posts: Iterable[Post]) -> tuple[str, ...]:
    seen: list[str] = []
    for post in posts:
        if post.company not in seen:
            seen.append(post.company)
    return tuple(seen)


def _phrases(posts: Sequence[Post]) -> PhraseIndex:
    """The period's candidate phrases: titles and deep dives, never a company's own name."""
    return PhraseIndex(
        [f"{p.title}. {p.deep_dive}" for p in posts],
        titles=[p.title for p in posts],
        exclude=_company_words(posts),
    )


def _company_words(posts: Iterable[Post]) -> list[str]:
    return sorted({w for p in posts for w in p.company.replace("/", " ").split()})


def _phrase_of(theme: str) -> str:
    """A pattern's theme back as a phrase for prose: "Short-lived credentials" → "short-…"."""
    first = theme.split(" ", 1)[0]
    return theme[0].lower() + theme[1:] if first[1:] == first[1:].lower() else theme


def _pattern(posts: Sequence[Post], theme: str) -> Pattern:
    return Pattern(
        theme=theme[0].upper() + theme[1:],
        companies=_companies(posts),
        urls=tuple(p.url for p in posts),
        text=theme_paragraph(posts, theme),
    )


# --- scoring ---------------------------------------------------------------------------------


def _scored(
    posts: Sequence[Post],
) -> tuple[list[tuple[Post, float, SignalFeatures]], PhraseIndex]:
    """Posts with their signal score, most significant first.

    Cross-company relevance needs themes, and themes want the most significant posts first, so
    posts are grouped once in publication order to find related companies, then ranked.
    """
    ordered = sorted(posts, key=lambda p: (p.published, p.url))
    related: dict[str, tuple[str, ...]] = {}
    themes: dict[str, str] = {}
    built = _phrases(ordered)
    phrases = built if len(ordered) > 1 else None
    for group in group_posts(ordered):
        companies = _companies(ordered[i] for i in group)
        theme = phrases.shared(group) if phrases is not None and len(companies) > 1 else None
        if phrases is None or not theme:
            continue
        holders = phrases.holders(group, theme)  # related: the posts that use the phrase
        companies = _companies(ordered[i] for i in holders)
        for i in holders:
            related[ordered[i].url] = tuple(c for c in companies if c != ordered[i].company)
            themes[ordered[i].url] = theme
    result = []
    for post in ordered:
        features = SignalFeatures(
            deep_dive=post.deep_dive,
            words=post.words,
            text_kind=post.text_kind,
            summariser=post.summariser,
            related_companies=related.get(post.url, ()),
            source_weight=post.source_weight,
            theme=themes.get(post.url, ""),
        )
        result.append((post, score_signal(features), features))
    result.sort(
        key=lambda item: (
            item[0].summariser == "title-only",  # nothing to read: after every post with text
            -item[1],
            item[0].published,
            item[0].url,
        )
    )
    position = {post.url: i for i, post in enumerate(ordered)}
    return result, built.reordered([position[post.url] for post, _, _ in result])


def _ref(post: Post, score: float) -> ArticleRef:
    return ArticleRef(
        title=post.title,
        company=post.company,
        url=post.url,
        source=post.source,
        published=post.published.isoformat(),
        text=post.deep_dive,
        tags=post.tags,
        summariser=post.summariser,
        score=score,
    )


def _digest_tags(posts: Iterable[Post]) -> tuple[str, ...]:
    counts = Counter(tag for p in posts for tag in p.tags if tag in TAGS)
    return tuple(tag for tag, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _stats(posts: Sequence[Post], sources: Sequence[str], unreachable: Iterable[str] = ()) -> Stats:
    words = sum(p.words for p in posts)
    return Stats(
        sources_checked=len(sources),
        posts=len(posts),
        minutes_saved=round(words / READING_WPM),
        unreachable=len(set(sources) & set(unreachable)),
    )


def _patterns(ranked: Sequence[Post], phrases: PhraseIndex) -> list[Pattern]:
    """Groups of posts from two or more companies that share a phrase, named by it.

    `phrases` indexes `ranked` in the same order.
    """
    patterns = []
    for group in group_posts(ranked):
        members = [ranked[i] for i in group]
        if len(_companies(members)) < 2:
            continue
        theme = phrases.shared(group)
        if not theme:  # posts that share only a tag share no theme worth naming
            continue
        members = [ranked[i] for i in phrases.holders(group, theme)]
        if len(_companies(members)) >= 2:
            patterns.append(_pattern(members, theme))
    patterns.sort(key=lambda p: (-len(p.companies), -len(p.urls), p.theme))
    return patterns


# --- digests ---------------------------------------------------------------------------------


def compose_daily(
    *,
    edition: Edition,
    day: date,
    posts: Sequence[Post],
    sources: Sequence[str],
    unreachable: Sequence[str] = (),
) -> DailyDigest:
    """The daily digest of one edition.

    Example: `compose_daily(edition=tech, day=date(2026, 4, 1), posts=[...], sources=names)`.

    - `posts`: the day's posts with their deep dives (see `belongs_to_day`).
    - `sources`: names of the edition's sources;
    - `unreachable`: those of them whose last fetch failed (or which were never fetched):
      the stats line and a quiet day's note say so rather than claim they had nothing new.
    A day with no posts gives a digest with no signal, no deep dives and no patterns, which
    renders as a short "no new posts" note.
    """
    ranked, phrases = _scored(posts)
    signal = None
    if ranked:
        top, _, features = ranked[0]
        signal = Signal(
            url=top.url,
            title=top.title,
            company=top.company,
            text=signal_paragraph(top),
            why=why_signal(features, company=top.company),
            related=tuple(p.url for p, _, _ in ranked if p.company in features.related_companies),
        )
    ordered = [post for post, _, _ in ranked]
    return DailyDigest(
        edition=edition.key,
        date=day,
        title=f"{edition.title} — {day.isoformat()}",
        stats=_stats(posts, sources, unreachable),
        sources=tuple(sources),
        signal=signal,
        deep_dives=tuple(_ref(post, score) for post, score, _ in ranked),
        patterns=tuple(_patterns(ordered, phrases)),
        tags=_digest_tags(posts),
        section_titles={
            "signal": edition.signal_title,
            "deep_dives": edition.deep_dives_title,
            "patterns": edition.patterns_title,
        },
    )


def _story(
    members: Sequence[tuple[Post, float]], *, theme: str | None, companies: tuple[str, ...]
) -> Story:
    """A theme's posts company by company; a story of one post is titled by the post."""
    posts = [p for p, _ in members]
    lead = posts[0]
    if len(posts) == 1 or not theme:
        text = signal_paragraph(lead)
        if len(posts) > 1:
            text += " " + theme_paragraph(posts[1:], None)
        title = lead.title
    else:
        text, title = theme_paragraph(posts, theme), theme[0].upper() + theme[1:]
    return Story(
        theme=title,
        companies=companies,
        urls=tuple(p.url for p in posts),
        text=text,
        articles=tuple(_ref(p, s) for p, s in members),
    )


def compose_weekly(
    *, edition: Edition, week: str, posts: Sequence[Post], sources: Sequence[str]
) -> WeeklyRollup:
    """The weekly rollup of one edition: Week in Review, 3–7 Top Stories, and the patterns.

    Example: `compose_weekly(edition=tech, week="2026-W14", posts=[...], sources=names)`.

    Top stories are the groups of similar posts, the ones spanning the most companies and the
    highest scores first; when fewer than three groups exist, the most significant single
    posts fill in. A week with one post gives a rollup with one story.
    """
    start, end = week_days(week)
    ranked, phrases = _scored(posts)
    ordered = [post for post, _, _ in ranked]
    scores = {post.url: score for post, score, _ in ranked}
    named: list[tuple[list[int], str | None]] = []  # a story's posts and the phrase they share
    for g in group_posts(ordered, threshold=STORY_SIMILARITY, word_share=STORY_WORD_SHARE):
        theme = phrases.shared(g) if len(g) > 1 else None
        holders = phrases.holders(g, theme) if theme else []
        if len(holders) > 1:
            named.append((holders, theme))
        # posts that share no phrase with the rest are stories of their own
        named += [([i], None) for i in g if i not in holders]
    named.sort(
        key=lambda item: (
            -len(_companies(ordered[i] for i in item[0])),
            -sum(scores[ordered[i].url] for i in item[0]),
            item[0][0],
        )
    )
    stories = []
    review: list[tuple[str, tuple[str, ...]]] = []  # (theme, companies) for Week in Review
    for g, theme in named[:MAX_STORIES]:
        companies = _companies(ordered[i] for i in g)
        stories.append(
            _story(
                [(ordered[i], scores[ordered[i].url]) for i in g[:STORY_ARTICLES]],
                theme=theme,
                companies=companies,
            )
        )
        # a story of one post still has a phrase of its own for the review
        review.append((theme or phrases.shared(g[:1], at_least=1) or "", companies))
    patterns = _patterns(ordered, phrases)
    # themes several companies share lead the review, whether a story or a pattern holds them
    shared = [(_phrase_of(p.theme), p.companies) for p in patterns]
    review = sorted(shared + review, key=lambda item: -len(item[1]) if len(item[1]) > 1 else 0)
    return WeeklyRollup(
        edition=edition.key,
        week=week,
        title=f"{edition.title} — Week {week}",
        start=start,
        end=end,
        stats=_stats(posts, sources),
        week_in_review=week_in_review(review, ordered[0] if ordered else None),
        top_stories=tuple(stories),
        patterns=tuple(patterns),
        tags=_digest_tags(posts),
    )


PatternWriter = Callable[[Pattern, Sequence[ArticleRef]], str | None]


Composed = TypeVar("Composed", DailyDigest, WeeklyRollup)


def with_written_patterns(
    value: Composed, *, articles: Sequence[ArticleRef], write: PatternWriter
) -> Composed:
    """The digest with each pattern's text replaced by `write(pattern, articles)` when it gives one.

    How the LLM summariser's written paragraphs get in while composing stays pure: `write`
    returns None to keep the composed text (the model failed its checks, or is unavailable).
    """
    patterns = []
    for pattern in value.patterns:
        text = write(pattern, [a for a in articles if a.url in pattern.urls])
        patterns.append(replace(pattern, text=text) if text else pattern)
    return replace(value, patterns=tuple(patterns))


def with_written_signal(
    digest: DailyDigest, *, write: Callable[[Signal, ArticleRef], str | None]
) -> DailyDigest:
    """The digest with its signal's text replaced by `write(signal, its deep dive)` if given."""
    if digest.signal is None:
        return digest
    ref = next((a for a in digest.deep_dives if a.url == digest.signal.url), None)
    text = write(digest.signal, ref) if ref is not None else None
    return replace(digest, signal=replace(digest.signal, text=text)) if text else digest

"""Benchmark: full-text search latency over 50,000 articles, on SQLite and PostgreSQL.

    .venv/bin/python bench/search.py [--articles 50000] [--queries 400] [--engines sqlite,postgres]

Each engine gets a fresh, migrated database (a temporary SQLite file; a temporary database on
the PostgreSQL at --postgres, dropped afterwards) holding `--articles` articles from 100
sources in three editions: a title of 8 words, a body of `--words` words and a deep dive of
60, drawn with Zipf frequencies (s = 1) from a 4,000-word vocabulary: 50 English function
words first (as in any real text), then engineering terms and made-up words, so some words
are in most articles and most are in few. Articles go in through the ORM-free bulk insert
the ingest uses, so the search index is built by the migration's triggers, as in production.

The queries are a fixed mix (seeded) of content words: one common word (in most articles),
one mid-frequency word, one rare word, two words, a phrase, a word with an exclusion,
`a or b`, and each of those for one edition. Each runs through `storage.search.search_articles` (10 results, as `/digest
search` asks) on one open session, as the web and Slack answers do.

Baselines measured in the same run, on the same database and queries:
- floor: fetching 10 known articles with their deep dives by primary key (the cost of
  returning a result at all);
- scan: the case-insensitive LIKE scan over title and deep dive that search was before
  (no stemming, no ranking by relevance).

Target (issue 15): p99 ≤ 20 ms on each engine.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, or_, select  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session, col  # noqa: E402

from storage.db import make_engine, upgrade  # noqa: E402
from storage.search import search_articles  # noqa: E402
from storage.tables import Article, DeepDiveRow, FeedSource  # noqa: E402
from tests.conftest import new_postgres_database  # noqa: E402

EDITIONS = ("tech", "reads", "videos")
TERMS = (
    "cache caching cached latency throughput replication sharding partition kafka postgres "
    "kubernetes scheduler queue retries backpressure consensus raft paxos index indexes "
    "compaction storage tiered edge cdn tracing observability metrics logging alerting "
    "incident outage rollout canary feature flags migration schema vector embedding model "
    "inference training gpu cluster autoscaling cost security sandbox isolation encryption "
    "keys tokens auth identity network proxy load balancer dns tls certificates"
).split()


# The most frequent words of English text are function words; both engines index them
# (PostgreSQL then drops them as stop words), so they lead the vocabulary as they lead any
# real post, and the content words follow them in Zipf order.
FUNCTION_WORDS = (
    "the of and a to in is it that for was on are as with be at by this from have not but "
    "we they which you an were has their been its if can more will there all so when into"
).split()


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    letters = "abcdefghiklmnoprstuvz"
    made_up = {"".join(rng.choice(letters) for _ in range(rng.randint(4, 10))) for _ in range(size)}
    words = TERMS + sorted(made_up - set(TERMS) - set(FUNCTION_WORDS))
    rng.shuffle(words)
    return FUNCTION_WORDS + words[: size - len(FUNCTION_WORDS)]


def _seed(engine: Engine, *, articles: int, words: int, rng: random.Random) -> list[str]:
    """Fill the database; returns the vocabulary, most frequent first."""
    vocabulary = _vocabulary(rng, 4000)
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf, s = 1

    def text(n: int) -> str:
        return " ".join(rng.choices(vocabulary, weights=weights, k=n))

    start = datetime(2024, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        connection = session.connection()
        sources = [
            {
                "name": f"Blog {i}",
                "company": f"Company {i}",
                "url": f"https://b{i}.example/feed",
                "edition": EDITIONS[i % 3],
                "status": "ok",
                "error_count": 0,
            }
            for i in range(100)
        ]
        connection.execute(insert(FeedSource.__table__), sources)  # type: ignore[attr-defined]
        ids = [row.id for row in session.exec(select(FeedSource.id))]  # type: ignore[call-overload]
        batch: list[dict[str, object]] = []
        dives: list[tuple[str, str]] = []
        for n in range(articles):
            source = n % 100
            published = start + timedelta(minutes=17 * n)
            url = f"https://b{source}.example/post/{n}"
            batch.append(
                {
                    "url": url,
                    "fingerprint": f"{n:016x}",
                    "guid": url,
                    "source_id": ids[source],
                    "edition": EDITIONS[source % 3],
                    "company": f"Company {source}",
                    "title": text(8).capitalize(),
                    "author": "",
                    "text": text(words),
                    "text_kind": "full",
                    "words": words,
                    "tags": "data,infrastructure",
                    "published_at": published,
                    "first_seen_at": published,
                    "updated_at": published,
                    "content_hash": "",
                }
            )
            dives.append((url, text(60)))
            if len(batch) == 1000 or n == articles - 1:
                connection.execute(insert(Article.__table__), batch)  # type: ignore[attr-defined]
                by_url = dict(
                    session.exec(  # type: ignore[call-overload]
                        select(Article.url, Article.id).where(
                            col(Article.url).in_([row["url"] for row in batch])
                        )
                    ).all()
                )
                connection.execute(
                    insert(DeepDiveRow.__table__),  # type: ignore[attr-defined]
                    [
                        {
                            "article_id": by_url[u],
                            "text": t,
                            "summariser": "extractive",
                            "model": "",
                            "text_hash": "",
                            "tokens": 0,
                            "created_at": start,
                        }
                        for u, t in dives
                    ],
                )
                session.commit()
                connection = session.connection()
                batch, dives = [], []
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    return vocabulary


def _queries(vocabulary: list[str], rng: random.Random, count: int) -> list[tuple[str, str | None]]:
    start = len(FUNCTION_WORDS)  # readers search for content words
    common, mid, rare = vocabulary[start : start + 20], vocabulary[200:500], vocabulary[2000:]
    shapes: list[Callable[[], str]] = [
        lambda: rng.choice(common),
        lambda: rng.choice(mid),
        lambda: rng.choice(rare),
        lambda: f"{rng.choice(mid)} {rng.choice(mid)}",
        lambda: '"{} {}"'.format(*rng.sample(common, 2)),
        lambda: f"{rng.choice(mid)} -{rng.choice(common)}",
        lambda: f"{rng.choice(rare)} or {rng.choice(mid)}",
    ]
    queries = []
    for n in range(count):
        shape = shapes[n % len(shapes)]
        edition = EDITIONS[(n // len(shapes)) % 3] if (n // len(shapes)) % 2 else None
        queries.append((shape(), edition))
    return queries


def _scan(session: Session, query: str, edition: str | None) -> int:
    """The LIKE scan search used to be: any word in title or deep dive, newest first."""
    words = [w for w in query.replace('"', " ").split() if w != "or" and not w.startswith("-")]
    sqlite = session.get_bind().dialect.name == "sqlite"
    matches = []
    for word in words:
        for column in (col(Article.title), col(DeepDiveRow.text)):
            matches.append(column.like(f"%{word}%") if sqlite else column.ilike(f"%{word}%"))
    statement = (
        select(Article.id)
        .join(DeepDiveRow, col(DeepDiveRow.article_id) == col(Article.id), isouter=True)
        .where(or_(*matches))
        .order_by(col(Article.published_at).desc())
        .limit(10)
    )
    if edition:
        statement = statement.where(Article.edition == edition)
    return len(session.exec(statement).all())  # type: ignore[call-overload]


def _floor(session: Session, ids: list[int]) -> int:
    statement = (
        select(Article, DeepDiveRow.text)
        .join(DeepDiveRow, col(DeepDiveRow.article_id) == col(Article.id), isouter=True)
        .where(col(Article.id).in_(ids))
    )
    return len(session.exec(statement).all())  # type: ignore[call-overload]


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _p(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def _database(kind: str, postgres: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'search.db'}"
        return
    with new_postgres_database("bench_search", admin_url=postgres) as url:
        yield url


def run(kind: str, args: argparse.Namespace) -> dict[str, float]:
    rng = random.Random(15)
    with _database(kind, args.postgres) as url:
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        vocabulary = _seed(engine, articles=args.articles, words=args.words, rng=rng)
        seeded = time.perf_counter() - started
        queries = _queries(vocabulary, rng, args.queries)
        with Session(engine) as session:
            ids = [int(i) for (i,) in session.connection().execute(select(Article.id))]
            for query, edition in queries[:50]:  # warm the caches
                search_articles(session=session, query=query, edition=edition)
            search: list[float] = []
            slowest: list[tuple[float, str, str | None]] = []
            hits = 0
            for query, edition in queries:
                started = time.perf_counter()
                hits += len(search_articles(session=session, query=query, edition=edition))
                search.append((time.perf_counter() - started) * 1000)
                slowest = sorted([*slowest, (search[-1], query, edition)], reverse=True)[:3]
            floor = _timed(lambda: _floor(session, rng.sample(ids, 10)), len(queries))
            scan = []
            for query, edition in queries[: max(7, args.queries // 4)]:
                started = time.perf_counter()
                _scan(session, query, edition)
                scan.append((time.perf_counter() - started) * 1000)
        engine.dispose()
    result = {
        "seed_s": seeded,
        "search_p50": _p(search, 0.5),
        "search_p99": _p(search, 0.99),
        "search_max": max(search),
        "hits_per_query": hits / len(queries),
        "floor_p50": _p(floor, 0.5),
        "floor_p99": _p(floor, 0.99),
        "scan_p50": _p(scan, 0.5),
        "scan_p99": _p(scan, 0.99),
    }
    print(
        f"{kind:9} {args.articles:,} articles (seeded in {seeded:.0f} s), {len(queries)} queries, "
        f"{result['hits_per_query']:.1f} hits each\n"
        f"  search   p50 {result['search_p50']:6.2f} ms  p99 {result['search_p99']:6.2f} ms  "
        f"max {result['search_max']:6.2f} ms  (target p99 ≤ 20 ms: "
        f"{'met' if result['search_p99'] <= 20 else 'MISSED'})\n"
        f"  floor    p50 {result['floor_p50']:6.2f} ms  p99 {result['floor_p99']:6.2f} ms  "
        f"(search p50 = {result['search_p50'] / result['floor_p50']:.1f}× the floor)\n"
        f"  old scan p50 {result['scan_p50']:6.2f} ms  p99 {result['scan_p99']:6.2f} ms  "
        f"(search p99 = {result['search_p99'] / result['scan_p99']:.3f}× the scan's)\n"
        "  slowest: "
        + ", ".join(f"{q!r}{f' in {e}' if e else ''} {t:.1f} ms" for t, q, e in slowest)
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--words", type=int, default=600, help="body words per article")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="an admin URL of the PostgreSQL server (a temporary database is made there)",
    )
    args = parser.parse_args()
    for kind in args.engines.split(","):
        run(kind.strip(), args)


if __name__ == "__main__":
    main()

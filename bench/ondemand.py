"""Benchmark: `/digest week` of a finished week of 1,000 posts, composed on demand vs stored.

    .venv/bin/python bench/ondemand.py [--posts 1000] [--runs 5]

A SQLite file holds `--posts` articles published over one finished ISO week (2026-W13, the
clock being 2026-04-01), each with a deep dive, and no stored rollup. The Slack app (bot.web
+ bot.app.build_app with `app.pipeline.Pipeline` as its digests) runs under uvicorn on
127.0.0.1; a fake Slack (tests/peers) receives the answer on response_url. We send a signed
`/digest week 2026-W13` and time it until the answer reached response_url:

- on demand: the week's posts changed since its rollup was stored (one post's row is
  touched before each run), so the answer composes the rollup of all of them, stores it,
  and replies;
- stored (baseline, same run): the same command right after, answered from the stored
  rollup (its posts unchanged).

Also reported: the ack of each command (Slack's 3 s limit applies to it; composing happens
after it). Target (issue 13): on demand ≤ 2 s through response_url.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import Session, select  # noqa: E402
from starlette.applications import Starlette  # noqa: E402

from app.pipeline import Pipeline  # noqa: E402
from app.wiring import Runtime  # noqa: E402
from bot.app import build_app  # noqa: E402
from bot.web import slack_routes  # noqa: E402
from core.config import Settings  # noqa: E402
from storage.db import make_engine, upgrade  # noqa: E402
from storage.tables import Article, DeepDiveRow, FeedSource  # noqa: E402
from tests.bot.conftest import command_body, signed_headers  # noqa: E402
from tests.peers.asgi import serve_asgi  # noqa: E402
from tests.peers.slack_api import slack_api  # noqa: E402

NOW = datetime(2026, 4, 1, 9, tzinfo=UTC)
WEEK = "2026-W13"
MONDAY = datetime(2026, 3, 23, 6, tzinfo=UTC)
TOPICS = (
    "replication latency consistency kafka postgres sharding caching kubernetes observability "
    "tracing security sandbox isolation compiler rust memory gpu inference training embeddings "
    "search index queue retries backpressure migration schema rollout canary incident outage "
    "capacity autoscaling cost storage compaction consensus raft leader election"
).split()
COMPANIES = ("Netflix", "Uber", "Airbnb", "Stripe", "Datadog", "GitHub", "Cloudflare", "Meta")


def seed(engine: object, posts: int) -> None:
    rng = random.Random(13)
    with Session(engine) as session:  # type: ignore[arg-type]
        sources = [
            FeedSource(
                name=f"{company} Engineering",
                company=company,
                url=f"https://{company}.example/feed",
                edition="tech",
                status="ok",
            )
            for company in COMPANIES
        ]
        session.add_all(sources)
        session.commit()
        articles = []
        for i in range(posts):
            source = sources[i % len(sources)]
            published = MONDAY + timedelta(minutes=i * 7 * 24 * 60 // posts)
            words = [rng.choice(TOPICS) for _ in range(300)]
            articles.append(
                Article(
                    url=f"https://{source.company}.example/{i}",
                    fingerprint=f"{i:016d}",
                    source_id=source.id or 0,
                    edition="tech",
                    company=source.company,
                    title=" ".join(rng.sample(TOPICS, 6)).capitalize(),
                    text=" ".join(words),
                    words=300,
                    published_at=published,
                    first_seen_at=published,
                    updated_at=published,
                )
            )
        session.add_all(articles)
        session.commit()
        session.add_all(
            DeepDiveRow(
                article_id=a.id or 0,
                text=". ".join(" ".join(rng.sample(TOPICS, 8)) for _ in range(5)) + ".",
                summariser="extractive",
            )
            for a in articles
        )
        session.commit()


def touch_one(engine: object) -> None:
    """A re-fetched post: its row changed, so the week's rollup is stale."""
    with Session(engine) as session:  # type: ignore[arg-type]
        article = session.exec(select(Article).limit(1)).one()
        article.updated_at = datetime.now(UTC)
        session.add(article)
        session.commit()


def timed(client: httpx.Client, url: str, api: object) -> tuple[float, float]:
    """(ack ms, answer ms) of one `/digest week`: to the HTTP 200, to the first message of
    the answer reaching response_url (a long answer is several messages; the rest follow)."""
    time.sleep(0.5)  # the previous answer's further messages have arrived
    count = len(api.responses()) + 1  # type: ignore[attr-defined]
    body = command_body(api, f"week {WEEK}")  # type: ignore[arg-type]
    started = time.perf_counter()
    response = client.post(
        url + "/slack/events", content=body.encode(), headers=signed_headers(body)
    )
    acked = time.perf_counter()
    if response.status_code != 200:
        raise SystemExit(f"unexpected {response.status_code}: {response.text[:200]}")
    reply = api.wait_for("response", count, timeout=60)[count - 1]  # type: ignore[attr-defined]
    answered = time.perf_counter()
    if not reply["text"].startswith(f"Engineering @ Scale — Week {WEEK}"):
        raise SystemExit(f"unexpected answer: {reply['text'][:200]}")
    return (acked - started) * 1000, (answered - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, slack_api() as api:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(db_url)
        upgrade(engine)
        seed(engine, args.posts)
        settings = Settings.from_env(
            {
                "DATABASE_URL": db_url,
                "SLACK_BOT_TOKEN": "xoxb-bench",
                "SLACK_SIGNING_SECRET": "test-signing-secret",
                "SLACK_API_URL": api.base_url,
            }
        )
        runtime = Runtime(settings=settings, database=engine, clock=lambda: NOW)
        app = build_app(
            settings,
            engine=engine,
            editions=["tech"],
            digests=Pipeline(runtime),
            clock=runtime.clock,
        )
        fresh, stored, acks = [], [], []
        with (
            serve_asgi(
                Starlette(routes=slack_routes(app, signing_secret="test-signing-secret"))
            ) as url,
            httpx.Client(timeout=60) as client,
        ):
            for _ in range(args.runs):
                touch_one(engine)
                ack, answer = timed(client, url, api)
                fresh.append(answer)
                acks.append(ack)
                ack, answer = timed(client, url, api)
                stored.append(answer)
                acks.append(ack)
            time.sleep(0.5)  # the last answer's further messages arrive before we stop
        engine.dispose()
    on_demand, baseline = statistics.median(fresh), statistics.median(stored)
    print(f"/digest week {WEEK}, {args.posts} posts, {args.runs} runs (median; max)")
    print(f"  stored rollup (baseline):  {baseline:7.0f} ms  (max {max(stored):.0f} ms)")
    print(f"  composed on demand:        {on_demand:7.0f} ms  (max {max(fresh):.0f} ms)")
    print(f"  on demand / stored:        {on_demand / baseline:7.1f}x")
    print(f"  on demand / 2 s target:    {max(fresh) / 2000:7.2f}")
    print(f"  ack p100: {max(acks):.1f} ms (Slack's limit: 3,000 ms)")


if __name__ == "__main__":
    main()

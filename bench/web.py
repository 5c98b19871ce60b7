"""Benchmark: archive pages and feeds over loopback, and the worker's idle tick.

    .venv/bin/python bench/web.py [--years 3] [--requests 200]

A SQLite file holds `--years` of stored digests for three editions (a daily per edition
per day with 15 deep dives, about 12 KB of JSON each, plus weekly rollups). The web app
runs as `digest serve` in its own process on 127.0.0.1 (in a thread of this process it
would share our GIL, and every request would pay for that); each page is fetched
`--requests` times, one at a time, over one keep-alive connection.

Baselines, measured in the same run:

- pages: `/healthz` (one `SELECT 1` through the same stack); each page's p50 and p99 are
  printed as a ratio of it. Target: a digest page ≤ 3× healthz (one indexed lookup, no
  composing), the index and the feeds ≤ 10×.
- the worker's tick when everything is already done (what runs every INGEST_EVERY on
  every worker): three claims that find their period done, against three bare
  `SELECT 1` round trips on the same engine. Target ≤ 10×.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.jobs import Steps  # noqa: E402
from app.worker import Worker  # noqa: E402
from core.config import Settings  # noqa: E402
from core.dates import iso_week  # noqa: E402
from core.model import ArticleRef, DailyDigest, Pattern, Signal, Stats, Story, WeeklyRollup  # noqa: E402
from storage.db import make_engine, upgrade  # noqa: E402
from tests.conftest import store_digest  # noqa: E402

EDITIONS = ("tech", "reads", "videos")
TAGS = ("distributed-systems", "security", "ml-infrastructure", "data", "ai-agents")
SENTENCE = (
    "They traded strong consistency for availability so latency would not bottleneck writes. "
)


def _daily(edition: str, day: date, n: int) -> DailyDigest:
    tags = (TAGS[n % 5], TAGS[(n + 2) % 5])
    dives = tuple(
        ArticleRef(
            title=f"Post {i} of {day}",
            company=f"Company {i}",
            url=f"https://example.com/{edition}/{day}/{i}",
            source=f"Company {i} Blog",
            text=SENTENCE * 8,
            tags=tags,
        )
        for i in range(15)
    )
    return DailyDigest(
        edition=edition,
        date=day,
        title=f"{edition} — {day}",
        stats=Stats(31, 15, 110),
        sources=tuple(f"Company {i} Blog" for i in range(31)),
        signal=Signal(dives[0].url, dives[0].title, "Company 0", SENTENCE * 3, SENTENCE),
        deep_dives=dives,
        patterns=(Pattern("Zero trust", ("A", "B"), (dives[0].url,), SENTENCE * 4),),
        tags=tags,
    )


def _weekly(edition: str, monday: date) -> WeeklyRollup:
    week = iso_week(monday)
    story = Story("Sandboxing", ("A",), ("https://example.com/s",), SENTENCE * 3)
    return WeeklyRollup(
        edition=edition,
        week=week,
        title=f"{edition} — Week {week}",
        start=monday,
        end=monday + timedelta(days=6),
        stats=Stats(31, 90, 600),
        week_in_review=SENTENCE * 4,
        top_stories=(story,) * 5,
        patterns=(),
        tags=("security",),
    )


def _seed(url: str, years: int) -> tuple[str, str]:
    engine = make_engine(url)
    upgrade(engine)
    last = date(2026, 4, 1)
    days = [last - timedelta(days=i) for i in range(365 * years)]
    with Session(engine) as session:
        for n, day in enumerate(days):
            for edition in EDITIONS:
                store_digest(session, _daily(edition, day, n))
            if day.weekday() == 0:
                for edition in EDITIONS:
                    store_digest(session, _weekly(edition, day))
    engine.dispose()
    return last.isoformat(), iso_week(last - timedelta(days=last.weekday() + 7))


@contextmanager
def _serve(url: str) -> Iterator[str]:
    """`digest serve` on a free loopback port, in its own process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    digest = Path(sys.executable).with_name("digest")
    env = {**os.environ, "DATABASE_URL": url}
    server = subprocess.Popen(
        [str(digest), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("digest serve did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _times(call: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        started = time.perf_counter()
        day, week = _seed(url, args.years)
        print(
            f"seeded {args.years} years x {len(EDITIONS)} editions in {time.perf_counter() - started:.1f} s"
        )
        settings = Settings.from_env({"DATABASE_URL": url})
        engine = make_engine(url)

        with _serve(url) as base, httpx.Client(base_url=base) as client:
            pages = {
                "/healthz": "baseline",
                f"/daily/{day}": 3,
                f"/weekly/{week}": 3,
                "/": 10,
                "/tags/security": 10,
                "/feed.xml": 10,
                "/tags/security/feed.xml": 10,
            }
            results = {}
            for path in pages:
                assert client.get(path).status_code == 200, path  # warm up, and check
                results[path] = _times(
                    lambda p=path: client.get(p).raise_for_status(), args.requests
                )
            base50, base99 = _p(results["/healthz"], 0.5), _p(results["/healthz"], 0.99)
            print(f"\n{'page':28} {'p50 ms':>8} {'p99 ms':>8} {'p50 ×':>7} {'p99 ×':>7}  target")
            for path, target in pages.items():
                p50, p99 = _p(results[path], 0.5), _p(results[path], 0.99)
                verdict = (
                    "" if target == "baseline" else ("ok" if p50 / base50 <= target else "MISSED")
                )
                print(
                    f"{path:28} {p50 * 1000:8.2f} {p99 * 1000:8.2f} {p50 / base50:7.1f} "
                    f"{p99 / base99:7.1f}  {target if target == 'baseline' else f'<= {target}x'} {verdict}"
                )

        noop = Steps(*(lambda *a: {} for _ in range(6)))
        worker = Worker(
            settings,
            engine=engine,
            steps=noop,
            editions=list(EDITIONS),
            clock=lambda: datetime(2026, 4, 2, 10, 30, tzinfo=UTC),
        )
        worker.catch_up()  # first tick runs the (no-op) jobs; later ticks find them done
        ticks = _times(worker.catch_up, args.requests)

        def select_one() -> None:
            for _ in range(3):
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))

        bare = _times(select_one, args.requests)
        ratio = statistics.median(ticks) / statistics.median(bare)
        print(
            f"\nidle worker tick: p50 {statistics.median(ticks) * 1000:.2f} ms vs 3x SELECT 1 "
            f"{statistics.median(bare) * 1000:.3f} ms = {ratio:.1f}x (target <= 10x) "
            f"{'ok' if ratio <= 10 else 'MISSED'}"
        )
        engine.dispose()


if __name__ == "__main__":
    main()

"""Benchmark: `/digest` ack latency over loopback, ours vs bolt's defaults, against Slack's 3 s.

    .venv/bin/python bench/slash.py [--requests 500] [--burst 20] [--response-delay 0.2]

A year of stored digests (365 daily, 53 weekly) and 3,650 articles with deep dives sit in a
SQLite file; the weeks and days the commands ask for are composed from those articles first
(as the worker's backfill keeps them), so answers read stored digests that are up to date. The Slack app runs under uvicorn on 127.0.0.1; a fake Slack (tests/peers)
receives the answers on response_url, each taking `--response-delay` seconds to answer (as
Slack's own endpoint does). We send signed `/digest week …` and `/digest search …`
commands, alternating:

- steady: one at a time;
- bursts: `--burst` at once, repeated until `--requests` are sent.

Ack latency is the time to the HTTP 200 (what Slack's 3 s limit applies to). Answer latency
is the time until the reply reached response_url. Two configurations, measured in the same
run:

- ours: `bot.web` + `bot.app.build_app` (ack inline, `process_before_response=True`, lazy
  answers on a dedicated 32-thread executor that steps aside for acks, dispatch in
  Starlette's thread pool);
- bolt default: the same listeners in `App()` with its defaults (5-thread executor shared by
  acks and lazy listeners) behind the stock `SlackRequestHandler` (dispatch in the event loop).

Answers step aside while an ack is being made (`bot.acks`): they share the process, and
so the GIL, with the acks.

Targets (issue 13): ours p99 ack ≤ 10 ms steady and ≤ 100 ms in bursts of 20.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_bolt import App  # noqa: E402
from slack_bolt.adapter.starlette import SlackRequestHandler  # noqa: E402
from sqlmodel import Session  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.routing import Route  # noqa: E402

from app.pipeline import Pipeline  # noqa: E402
from app.wiring import Runtime  # noqa: E402
from bot import commands  # noqa: E402
from bot.app import build_app, web_client  # noqa: E402
from bot.web import slack_routes  # noqa: E402
from core.config import Settings  # noqa: E402
from core.dates import iso_week  # noqa: E402
from core.model import (  # noqa: E402
    ArticleRef,
    DailyDigest,
    Pattern,
    Signal,
    Stats,
    Story,
    WeeklyRollup,
)
from storage.db import make_engine, upgrade  # noqa: E402
from storage.digests import save_digest  # noqa: E402
from storage.tables import Article, DeepDiveRow, FeedSource  # noqa: E402
from tests.bot.conftest import command_body, signed_headers  # noqa: E402
from tests.peers.asgi import serve_asgi  # noqa: E402
from tests.peers.slack_api import slack_api  # noqa: E402

SLACK_LIMIT_MS = 3000.0
TODAY = date(2026, 4, 1)
COMPANIES = ["Netflix", "Uber", "Datadog", "Cloudflare", "GitHub", "Stripe", "Meta", "Google"]
TOPICS = """kafka replication postgres latency kubernetes caching sharding observability rust
inference gpu queues consensus migrations""".split()


def seed(engine: object, rng: random.Random) -> None:
    """A year of digests and ten articles a day, built deterministically."""
    with Session(engine) as session:  # type: ignore[arg-type]
        sources = [
            FeedSource(
                name=f"{c} Blog", company=c, url=f"https://{c.lower()}.example/feed", edition="tech"
            )
            for c in COMPANIES
        ]
        session.add_all(sources)
        session.commit()
        for source in sources:
            session.refresh(source)
        start = TODAY - timedelta(days=364)
        articles: list[Article] = []
        for offset in range(365):
            day = start + timedelta(days=offset)
            for i in range(10):
                source = sources[(offset + i) % len(sources)]
                words = rng.sample(TOPICS, 3)
                articles.append(
                    Article(
                        id=len(articles) + 1,
                        url=f"https://{source.company.lower()}.example/{day}/{i}",
                        fingerprint=f"{offset:04d}{i:02d}",
                        source_id=source.id or 0,
                        edition="tech",
                        company=source.company,
                        title=f"{words[0].title()} and {words[1]} at {source.company} ({day})",
                        tags="distributed-systems,data" if i % 2 else "infrastructure",
                        published_at=datetime(day.year, day.month, day.day, 8, tzinfo=UTC),
                    )
                )
        session.add_all(articles)
        session.flush()
        dives = []
        for article in articles:
            text = " ".join(rng.choice(TOPICS) for _ in range(80))
            dives.append(
                DeepDiveRow(article_id=article.id or 0, text=text, summariser="extractive")
            )
        session.add_all(dives)
        session.commit()
        for offset in range(365):
            day = start + timedelta(days=offset)
            refs = tuple(
                ArticleRef(
                    title=f"Post {i} of {day}",
                    company=COMPANIES[i % len(COMPANIES)],
                    url=f"https://x.example/{day}/{i}",
                    text="Problem, approach, trade-off, lesson. " * 12,
                )
                for i in range(10)
            )
            digest = DailyDigest(
                edition="tech",
                date=day,
                title=f"Engineering @ Scale — {day}",
                stats=Stats(31, 10, 70),
                sources=tuple(s.name for s in sources),
                signal=Signal(
                    refs[0].url, refs[0].title, refs[0].company, "Why it matters.", "Most cited."
                ),
                deep_dives=refs,
                patterns=(Pattern("Zero trust", ("Netflix", "Uber"), (), "Both dropped secrets."),),
            )
            save_digest(
                session=session,
                edition="tech",
                kind="daily",
                period=day.isoformat(),
                title=digest.title,
                payload=digest.to_dict(),
            )
        monday = start - timedelta(days=start.weekday())
        while monday <= TODAY:
            week = iso_week(monday)
            rollup = WeeklyRollup(
                edition="tech",
                week=week,
                title=f"Engineering @ Scale — Week {week}",
                start=monday,
                end=monday + timedelta(days=6),
                stats=Stats(31, 70, 490),
                week_in_review="A week of replication and latency work. " * 10,
                top_stories=tuple(
                    Story(
                        f"Story {i}",
                        ("Netflix", "Uber"),
                        (f"https://x.example/{week}/{i}",),
                        "Why. " * 20,
                    )
                    for i in range(8)
                ),
                patterns=(),
            )
            save_digest(
                session=session,
                edition="tech",
                kind="weekly",
                period=week,
                title=rollup.title,
                payload=rollup.to_dict(),
            )
            monday += timedelta(days=7)


def compose_asked(db_url: str, engine: object) -> None:
    """Compose what the commands ask for (every week of the year, the days of this one), as
    the worker's backfill and earlier reads would have: the stored digests then record
    their posts, and answers read them (composing on demand is `bench/ondemand.py`)."""
    settings = Settings.from_env({"DATABASE_URL": db_url})
    pipeline = _digests(settings, engine, lambda: datetime(2026, 4, 1, 9, tzinfo=UTC))
    for weeks in range(53):
        monday = TODAY - timedelta(weeks=weeks, days=TODAY.weekday())
        pipeline.weekly("tech", iso_week(monday))
    for day in range(TODAY.weekday() + 1):
        pipeline.daily("tech", TODAY - timedelta(days=day))


def _digests(settings: Settings, engine: object, clock: object) -> Pipeline:
    """What the app hands the bot: the pipeline over a runtime on the same database."""
    return Pipeline(Runtime(settings=settings, database=engine, clock=clock))  # type: ignore[arg-type]


def default_bolt_routes(settings: Settings, engine: object, clock: object) -> list[Route]:
    """The same listeners on bolt's defaults, behind the stock Starlette adapter."""
    app = App(
        signing_secret=settings.slack_signing_secret,
        client=web_client(settings, settings.slack_bot_token),
        token_verification_enabled=False,
    )
    commands.register(
        app,
        engine=engine,
        digests=_digests(settings, engine, clock),
        editions=["tech"],
        clock=clock,
        tz=settings.tz,
    )  # type: ignore[arg-type]
    handler = SlackRequestHandler(app)

    async def events(request: Request):  # type: ignore[no-untyped-def]
        return await handler.handle(request)

    return [Route("/slack/events", events, methods=["POST"])]


class RemoteSlack:
    """The fake Slack API running in its own process (so it does not share our GIL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.base_url = url + "/api/"
        self._hooks = itertools.count(1)

    def response_url(self) -> str:
        return f"{self.url}/commands/T0TEAM/{next(self._hooks)}/hook"

    def responses(self) -> int:
        return int(httpx.get(self.url + "/_counts", timeout=10).json().get("response", 0))


def fake_slack(delay: float, port_file: str) -> None:
    """Child process: the fake Slack Web API; response_url answers take `delay` seconds."""
    with slack_api() as api:
        api.slow("response", delay)
        Path(port_file).write_text(api.url.rsplit(":", 1)[1])
        while True:  # until the parent terminates us
            time.sleep(3600)


def _texts(rng: random.Random, n: int) -> list[str]:
    texts = []
    for i in range(n):
        if i % 2:
            texts.append(f"search {' '.join(rng.sample(TOPICS, 2))}")
        else:
            week = iso_week(TODAY - timedelta(weeks=rng.randrange(52)))
            texts.append(f"week {week}")
    return texts


def _send(client: httpx.Client, url: str, api: RemoteSlack, text: str) -> tuple[float, str]:
    body = command_body(api, text)
    hook = body.split("response_url=")[1].split("&")[0]
    started = time.perf_counter()
    response = client.post(
        url + "/slack/events", content=body.encode(), headers=signed_headers(body)
    )
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"unexpected {response.status_code}: {response.text[:200]}")
    return elapsed, hook


def run(url: str, api: RemoteSlack, texts: list[str], burst: int) -> list[float]:
    latencies: list[float] = []
    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=burst * 2)) as client:
        if burst <= 1:
            for text in texts:
                latencies.append(_send(client, url, api, text)[0])
        else:
            with ThreadPoolExecutor(burst) as pool:
                for i in range(0, len(texts), burst):
                    chunk = texts[i : i + burst]
                    latencies += [
                        r[0] for r in pool.map(lambda t: _send(client, url, api, t), chunk)
                    ]
    return latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def serve(config: str, db_url: str, api_url: str, port_file: str) -> None:
    """Child process: the app under test, alone in its own interpreter (its own GIL)."""
    engine = make_engine(db_url)
    settings = Settings.from_env(
        {
            "DATABASE_URL": db_url,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": "test-signing-secret",
            "SLACK_API_URL": api_url,
        }
    )
    clock = lambda: datetime(2026, 4, 1, 9, tzinfo=UTC)  # noqa: E731
    if config == "ours":
        app = build_app(
            settings,
            engine=engine,
            editions=["tech"],
            digests=_digests(settings, engine, clock),
            clock=clock,
        )
        routes = slack_routes(app, signing_secret=settings.slack_signing_secret)
    else:
        routes = default_bolt_routes(settings, engine, clock)
    gc.collect()  # as `digest serve` does before serving
    gc.freeze()
    with serve_asgi(Starlette(routes=routes)) as url:
        Path(port_file).write_text(url.rsplit(":", 1)[1])
        while True:  # until the parent terminates us
            time.sleep(3600)


@contextmanager
def child(args: list[str], port_file: Path) -> Iterator[str]:
    """Run this script in another process with `args`; yields the URL it serves."""
    process = subprocess.Popen([sys.executable, __file__, *args, "--port-file", str(port_file)])
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"{args} did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text()}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--response-delay", type=float, default=0.2)
    parser.add_argument(
        "--skip-default", action="store_true", help="measure only our configuration"
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--fake-slack", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.db, args.api, args.port_file)
        return
    if args.fake_slack:
        fake_slack(args.response_delay, args.port_file)
        return
    rng = random.Random(7)

    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/bench.db"
        engine = make_engine(db_url)
        upgrade(engine)
        started = time.perf_counter()
        seed(engine, rng)
        compose_asked(db_url, engine)
        engine.dispose()  # type: ignore[attr-defined]
        print(
            f"seeded a year of digests and 3,650 articles in {time.perf_counter() - started:.1f} s"
        )
        fake = child(
            ["--fake-slack", "--response-delay", str(args.response_delay)],
            Path(tmp) / "port-slack",
        )
        with fake as slack_url:
            rows = measure(args, RemoteSlack(slack_url), db_url, tmp, rng)
        report(args, rows)


def measure(
    args: argparse.Namespace, api: RemoteSlack, db_url: str, tmp: str, rng: random.Random
) -> list[tuple[str, str, list[float], int, float]]:
    """Steady and bursty load against each configuration, each served by a child process."""
    configs = ["ours"] + ([] if args.skip_default else ["bolt default"])
    rows = []
    for name in configs:
        server = ["--serve", name, "--db", db_url, "--api", api.base_url]
        with child(server, Path(tmp) / f"port-{name.replace(' ', '-')}") as url:
            with httpx.Client() as client:
                for _ in range(5):  # warm-up (auth.test, threads, connections)
                    _send(client, url, api, "week")
            time.sleep(args.response_delay * 2)
            for label, burst in (("steady", 1), (f"bursts of {args.burst}", args.burst)):
                before = api.responses()
                texts = _texts(rng, args.requests)
                started = time.perf_counter()
                acks = run(url, api, texts, burst)
                deadline = time.monotonic() + 120
                while api.responses() - before < len(texts) and time.monotonic() < deadline:
                    time.sleep(0.1)
                answered = api.responses() - before
                rows.append((label, name, acks, answered, time.perf_counter() - started))
    return rows


def report(args: argparse.Namespace, rows: list[tuple[str, str, list[float], int, float]]) -> None:
    if rows:
        print()
        print(
            f"{'load':<16}{'config':<14}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
            f"{'p99/3s':>9}{'answered':>10}{'wall s':>8}"
        )
        for label, name, acks, answered, wall in sorted(rows, key=lambda r: (r[0], r[1] != "ours")):
            p99 = _pct(acks, 99)
            print(
                f"{label:<16}{name:<14}{len(acks):>5}{statistics.median(acks):>9.1f}{p99:>9.1f}"
                f"{max(acks):>9.1f}{p99 / SLACK_LIMIT_MS:>9.3f}{answered:>10}{wall:>8.1f}"
            )
        ours = {r[0]: _pct(r[2], 99) for r in rows if r[1] == "ours"}
        steady, bursts = ours["steady"], ours[f"bursts of {args.burst}"]
        print()
        print(
            f"targets: steady p99 ≤ 10 ms: {steady:.1f} ms {'OK' if steady <= 10 else 'MISSED'}; "
            f"bursts p99 ≤ 100 ms: {bursts:.1f} ms {'OK' if bursts <= 100 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()

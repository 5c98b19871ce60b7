"""Helpers of tests/app: the web app served by uvicorn on loopback, sample digests, calls
raced against each other in threads, and `digest` run as a child process."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.types import ASGIApp

from core.model import ArticleRef, DailyDigest, Pattern, Signal, Stats, Story, WeeklyRollup
from tests.conftest import store_digest
from tests.peers.asgi import serve_asgi

BASE_URL = "https://digest.example.org"


@contextmanager
def serve_app(app: ASGIApp) -> Iterator[str]:
    """Run `app` (with its lifespan) under a real uvicorn on loopback; yields its base URL."""
    with serve_asgi(app, lifespan="on") as url:
        yield url


def at_once(*calls: Callable[[], object], timeout: float = 30) -> list[BaseException]:
    """Run each call in a thread of its own, all released together; what they raised.

    How two workers race for one claim: the errors come back so the test asserts on them
    (an exception in a thread would otherwise only be printed).
    """
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - returned to the test, which asserts on it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return errors


@contextmanager
def child(args: list[str], *, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """Start `args` with text output on a pipe (stderr joined); killed on exit if still running.

    The test signals and waits for it itself; this only makes sure a failed assertion
    never leaves a server behind.
    """
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def daily_digest(day: date, *, edition: str = "tech", tags: tuple[str, ...] = ()) -> DailyDigest:
    return DailyDigest(
        edition=edition,
        date=day,
        title=f"Engineering @ Scale — {day.isoformat()}",
        stats=Stats(sources_checked=31, posts=2, minutes_saved=14),
        sources=("Cloudflare", "Datadog"),
        signal=Signal(
            url="https://blog.cloudflare.com/emdash/",
            title="Introducing EmDash <the successor>",
            company="Cloudflare",
            text="Plugins run in V8 isolates with declared capabilities.",
            why="Capability sandboxing replaces marketplace trust.",
        ),
        deep_dives=(
            ArticleRef(
                title="How Datadog Redefined Data Replication",
                company="Datadog",
                url="https://www.datadoghq.com/blog/replication/",
                source="Datadog",
                text="Postgres was struggling with OLTP alongside heavy search queries.",
                tags=tags,
            ),
        ),
        patterns=(
            Pattern(
                theme="Zero-trust boundaries",
                companies=("Cloudflare", "GitHub"),
                urls=("https://blog.cloudflare.com/emdash/",),
                text="Shared trust gives way to ephemeral, capability-scoped boundaries.",
            ),
        ),
        tags=tags,
        section_titles={"signal": "Signal of the Day"},
    )


def weekly_rollup(week: str, *, edition: str = "tech", tags: tuple[str, ...] = ()) -> WeeklyRollup:
    return WeeklyRollup(
        edition=edition,
        week=week,
        title=f"Engineering @ Scale — Week {week}",
        start=date(2026, 3, 30),
        end=date(2026, 4, 5),
        stats=Stats(sources_checked=31, posts=40, minutes_saved=300),
        week_in_review="Agentic infrastructure moved from demos to guardrails.",
        top_stories=(
            Story(
                theme="Sandboxing untrusted code",
                companies=("Cloudflare",),
                urls=("https://blog.cloudflare.com/emdash/",),
                text="Isolates beat containers for short-lived work.",
                articles=(
                    ArticleRef(
                        title="Dynamic Workers",
                        company="Cloudflare",
                        url="https://blog.cloudflare.com/dynamic-workers/",
                    ),
                ),
            ),
        ),
        patterns=(),
        tags=tags,
    )


def store(engine: Engine, digest: DailyDigest | WeeklyRollup) -> None:
    """`store_digest` in a session of its own."""
    with Session(engine) as session:
        store_digest(session, digest)

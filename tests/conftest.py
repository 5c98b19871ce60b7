"""Shared fixtures: clean environment, settings from a dict, databases (SQLite and PostgreSQL),
and the rows tests of every package store: sources, articles, composed digests.

The network is blocked except loopback (pytest-socket, `--allow-hosts` in pyproject.toml).
Every test that takes `engine` runs twice: on SQLite and on the local PostgreSQL. PostgreSQL
tests use a database of their own per test session (several runs may share one server), and
are skipped only when no server answers on 127.0.0.1:5432.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.config import Settings
from core.model import DailyDigest, WeeklyRollup
from storage.db import make_engine, upgrade
from storage.digests import save_digest
from storage.tables import Article, DeepDiveRow, FeedSource

PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FIXED_NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite the golden files (tests/data/golden, tests/bot/golden) from the output",
    )


def pytest_configure(config: pytest.Config) -> None:
    # the golden helpers read UPDATE_GOLDEN, so `UPDATE_GOLDEN=1 pytest …` works as well
    if config.getoption("--update-golden"):
        os.environ["UPDATE_GOLDEN"] = "1"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's DATABASE_URL, SLACK_* or SMTP_URL."""
    for name in list(os.environ):
        if name.startswith(("DIGEST_", "SLACK_", "SMTP_", "LLM_", "MAIL_")) or name in (
            "DATABASE_URL",
            "PUBLIC_BASE_URL",
            "SECRET_KEY",
            "INGEST_EVERY",
            "DAILY_AT",
            "WEEKLY_AT",
            "PORT",
            "METRICS",
            "METRICS_TOKEN",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def now() -> datetime:
    return FIXED_NOW


def add_source(session: Session, name: str = "Netflix Tech Blog", **fields: object) -> FeedSource:
    """Store a feed source (Netflix's, in the tech edition, unless `fields` say otherwise)."""
    values: dict[str, object] = {
        "company": "Netflix",
        "url": f"https://{name.replace(' ', '').lower()}.example/feed",
        "edition": "tech",
        "status": "ok",
    }
    values.update(fields)
    source = FeedSource(name=name, **values)
    session.add(source)
    session.commit()
    session.refresh(source)
    return source


def add_article(
    session: Session,
    source: FeedSource,
    *,
    title: str,
    company: str | None = None,
    tags: str = "",
    dive: str = "",
    published: datetime | None = None,
    url: str | None = None,
    **fields: object,
) -> Article:
    """Store an article of `source` (other columns from `fields`), with an extractive deep
    dive when `dive` is given. First seen and updated when it was published, unless `fields`
    say otherwise: never the wall clock's now (the columns' default)."""
    published = published or datetime(2026, 4, 1, 8, tzinfo=UTC)
    values: dict[str, object] = {
        "first_seen_at": published,
        "updated_at": published,
        "url": url or f"https://example.com/{abs(hash((title, published)))}",
        "fingerprint": str(abs(hash(title)))[:16],
        "source_id": source.id or 0,
        "edition": source.edition,
        "company": company or source.company,
        "title": title,
        "tags": tags,
        "published_at": published,
    }
    values.update(fields)
    article = Article(**values)  # type: ignore[arg-type]
    session.add(article)
    session.commit()
    session.refresh(article)
    if dive:
        session.add(
            DeepDiveRow(
                article_id=article.id or 0,
                text=dive,
                summariser="extractive",
                created_at=article.first_seen_at,
            )
        )
        session.commit()
    return article


def store_digest(session: Session, digest: DailyDigest | WeeklyRollup) -> None:
    """Store a daily digest or weekly rollup under its edition and period, with its tags. Commits."""
    if isinstance(digest, DailyDigest):
        kind, period = "daily", digest.date.isoformat()
    else:
        kind, period = "weekly", digest.week
    save_digest(
        session=session,
        edition=digest.edition,
        kind=kind,
        period=period,
        title=digest.title,
        payload=digest.to_dict(),
        tags=digest.tags,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings built from a dict, never from os.environ."""
    return Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}"})


# --- databases -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.exec_driver_sql("PRAGMA journal_mode=DELETE")
    engine.dispose()
    return path


@contextmanager
def new_postgres_database(prefix: str, *, admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """The URL of a new, empty database on the PostgreSQL server of `admin_url`, dropped on
    exit; skips the test when no server answers (bench/search.py uses it too)."""
    try:
        import psycopg

        admin = psycopg.connect(
            admin_url.replace("postgresql+psycopg://", "postgresql://"),
            autocommit=True,
            connect_timeout=3,
        )
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        pytest.skip(f"PostgreSQL not reachable at {admin_url}: {exc}")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str]:
    """A fresh, migrated database on the local PostgreSQL server, dropped at the end."""
    with new_postgres_database("digest_test") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """A migrated SQLite file of this test's own."""
    path = tmp_path / "digest.db"
    shutil.copy(_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_url(_postgres_url: str) -> Iterator[str]:
    """The session's PostgreSQL database, emptied before the test."""
    engine = make_engine(_postgres_url)
    with engine.begin() as connection:
        names = [n for n in inspect(connection).get_table_names() if n != "alembic_version"]
        if names:
            quoted = ", ".join(f'"{n}"' for n in names)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield _postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database: each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    """SQLite only, for tests that are not about storage."""
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session

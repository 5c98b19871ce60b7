"""Settings → engine, catalogue, HTTP client, summariser. The one place edge clients are built."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError

from core.config import Settings
from core.errors import ConfigError
from core.sources import Catalogue, load_sources
from storage.db import SchemaError, make_engine, upgrade

if TYPE_CHECKING:  # httpx is imported by the commands that open a client (~50 ms)
    import httpx

__all__ = ["Runtime", "open_engine", "utc_now"]

log = logging.getLogger(__name__)


def open_engine(url: str, *, migrate: bool = True) -> Engine:
    """An engine for `url`, with the schema brought up to date (first use creates it)."""
    try:
        engine = make_engine(url)
        if migrate:
            upgrade(engine)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise ConfigError(f"DATABASE_URL: cannot use {_redact(url)!r}: {exc}") from None
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(f"DATABASE_URL: cannot connect to {_redact(url)!r}: {reason}") from None
    except SchemaError as exc:
        raise ConfigError(
            f"DATABASE_URL: the database at {_redact(url)!r} cannot be migrated: {exc} "
            "(was it used by another version of digest?)"
        ) from None
    return engine


def utc_now() -> datetime:
    """The real clock: an aware UTC datetime. Tests give `Runtime` a fixed one instead."""
    return datetime.now(UTC)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


@dataclass
class Runtime:
    """What a command needs, built lazily from settings (so `--help` touches nothing).

    `clock` is where every command takes "now" from (today's digest, the due jobs, the
    backoff of a feed); tests pass a fixed one, so no test depends on the day or hour.
    `database` is an engine opened by the caller (kept open by `close()`); without it, one
    is opened from DATABASE_URL, and migrated, on first use.
    """

    settings: Settings
    sources_path: str | None = None
    clock: Callable[[], datetime] = utc_now
    database: Engine | None = None
    _clients: list[httpx.Client] = field(default_factory=list)

    @cached_property
    def engine(self) -> Engine:
        return self.database or open_engine(self.settings.database_url)

    @cached_property
    def catalogue(self) -> Catalogue:
        return load_sources(self.sources_path or self.settings.sources_path)

    @cached_property
    def llm_client(self) -> httpx.Client:
        """One client for the LLM API per runtime: the worker summarises every hour, and a
        client per run would leave a connection pool open each time."""
        import httpx

        settings = self.settings
        return self.http_client(
            base_url=settings.llm_base_url.rstrip("/") + "/",
            timeout=httpx.Timeout(120.0, connect=10.0),
            follow_redirects=True,
            limits=httpx.Limits(max_connections=max(1, settings.llm_concurrency)),
        )

    def http_client(self, **overrides: object) -> httpx.Client:
        """An httpx client with our User-Agent and timeouts; closed by `close()` unless the
        caller closes it first (clients already closed are forgotten here)."""
        import httpx

        self._clients = [c for c in self._clients if not c.is_closed]
        options: dict[str, object] = {
            "headers": {"User-Agent": self.settings.user_agent},
            "timeout": httpx.Timeout(self.settings.fetch_timeout, connect=10.0),
            "follow_redirects": False,
            "limits": httpx.Limits(
                max_connections=self.settings.fetch_concurrency,
                max_keepalive_connections=self.settings.fetch_concurrency,
            ),
        }
        options.update(overrides)
        client = httpx.Client(**options)  # type: ignore[arg-type]
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        self.__dict__.pop("llm_client", None)
        if "engine" in self.__dict__ and self.database is None:
            self.engine.dispose()

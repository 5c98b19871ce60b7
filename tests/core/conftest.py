"""Fixtures for core's tests: core.fetch's coroutines driven from plain (sync) tests."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from core.fetch import fetch_feed, fetch_page
from core.model import FetchResult
from core.netguard import Resolver, guarded_session


class LoopFetcher:
    """Runs `fetch_feed` / `fetch_page` to completion on one event loop with one guarded
    session, so kept-alive connections persist between calls as they do within a run.

    Example:
        fetcher = LoopFetcher(resolve=test_dns)
        result = fetcher.feed(url, allowed_hosts={"127.0.0.1"})
        fetcher.close()
    """

    def __init__(self, *, resolve: Resolver | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.opener = functools.partial(
            guarded_session, concurrency=8, user_agent="digest-tests", resolve=resolve
        )
        self.session = self.loop.run_until_complete(self._open())

    async def _open(self) -> Any:
        return self.opener()

    def feed(self, url: str, **options: Any) -> FetchResult:
        return self.loop.run_until_complete(fetch_feed(url, session=self.session, **options))

    def page(self, url: str, **options: Any) -> FetchResult:
        return self.loop.run_until_complete(fetch_page(url, session=self.session, **options))

    def close(self) -> None:
        self.loop.run_until_complete(self.session.close())
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()

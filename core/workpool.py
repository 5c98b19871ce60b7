"""CPU work sent to a process pool in small batches: one round trip can carry several calls.

Every call handed to a worker process costs a round trip through the pool's pipes: on a
busy 2-core machine a worker waits ~1 ms between two feeds while the coordinating process
reads its result (bench/ingest.py). When many calls are waiting (a first ingest: 500 feed
bodies fetched in half a second), `Batches` groups them, up to `size` per round trip, and
keeps `depth` round trips in flight so a worker always has the next one queued; when few
are waiting, each call goes alone, at once.

Each call's outcome is its own: one call raising does not fail the others of its batch.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from core.errors import DigestError

__all__ = ["Batches"]

T = TypeVar("T")
_Call = Callable[[], Any]


class Batches:
    """Runs `await batches.call(fn, *args, **kwargs)` on `pool`, several calls a trip.

    Example:
        batches = Batches(process_pool, depth=4)
        prepared = await batches.call(prepare_feed, body, url=url, content_type=ct, now=now)

    `fn` and its arguments must pickle (a module-level function and plain values).
    Create it, and call it, inside one running event loop.
    """

    def __init__(self, pool: Executor, *, depth: int, size: int = 4) -> None:
        self._pool = pool
        self._depth = max(1, depth)
        self._size = max(1, size)
        self._waiting: deque[tuple[_Call, asyncio.Future[Any]]] = deque()
        self._in_flight = 0

    @property
    def busy(self) -> bool:
        """Some call is waiting or running."""
        return bool(self._waiting or self._in_flight)

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._waiting.append((functools.partial(fn, *args, **kwargs), future))
        self._send(loop)
        return await future

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._waiting and self._in_flight < self._depth:
            # spread what waits over the free trips, at most `size` calls each
            free = self._depth - self._in_flight
            count = min(self._size, -(-len(self._waiting) // free))
            batch = [self._waiting.popleft() for _ in range(count)]
            self._in_flight += 1
            try:
                trip: Future[list[tuple[bool, Any]]] = self._pool.submit(
                    run_calls, [call for call, _ in batch]
                )
            except Exception as exc:  # noqa: BLE001 - a broken or shut pool: tell each caller
                trip = Future()
                trip.set_exception(exc)
            trip.add_done_callback(
                lambda done, batch=batch: loop.call_soon_threadsafe(self._settle, batch, done)
            )

    def _settle(
        self, batch: list[tuple[_Call, asyncio.Future[Any]]], trip: Future[list[tuple[bool, Any]]]
    ) -> None:
        self._in_flight -= 1
        try:
            outcomes = trip.result()
        except BaseException as exc:  # noqa: BLE001 - the pool broke or shut down: tell each caller
            outcomes = [(False, exc)] * len(batch)
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        self._send(asyncio.get_running_loop())


def run_calls(calls: list[_Call]) -> list[tuple[bool, Any]]:
    """In the worker: run each call, keeping each outcome, (True, value) or (False, error).

    Our own errors travel as they are; any other is passed on as a RuntimeError with its
    message, since a third-party exception may not survive pickling back to the caller.
    """
    outcomes: list[tuple[bool, Any]] = []
    for call in calls:
        try:
            outcomes.append((True, call()))
        except DigestError as exc:
            outcomes.append((False, exc))
        except Exception as exc:  # noqa: BLE001 - reported to the one caller it belongs to
            outcomes.append((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
    return outcomes

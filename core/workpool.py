"""CPU work sent to a process pool in small batches: one round trip can carry several calls.

Every call handed to a worker process costs a round trip through the pool's pipes: on a
busy 2-core machine a worker waits ~1 ms between two feeds while the coordinating process
reads its result (bench/ingest.py). When many calls are waiting (a first ingest: 500 feed
bodies fetched in half a second), `Batches` groups them, up to `size` per round trip, and
keeps `depth` round trips in flight so a worker always has the next one queued; when few
are waiting, each call goes alone, at once.

Each call's outcome is its own: one call raising does not fail the others of its batch.
A worker process dying (the OOM killer, a crash inside a C extension) breaks a process
pool for good; with a `RenewingPool` the next trip starts fresh workers, and the calls of
the trips lost are sent again, one at a time, so only a call that kills a worker by itself
fails (`WorkerCrashedError`), and the rest of the run goes on.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future
from dataclasses import dataclass
from typing import Any, TypeVar

from core.errors import DigestError

__all__ = ["Batches", "RenewingPool", "WorkerCrashedError"]

T = TypeVar("T")
_Call = Callable[[], Any]


class WorkerCrashedError(DigestError):
    """The worker process died while running this call, each time it was tried."""


@dataclass
class _Waiting:
    call: _Call
    future: asyncio.Future[Any]
    suspect: bool = False  # in a trip when a worker died: sent again alone, nothing beside


class RenewingPool(Executor):
    """An executor (a process pool from `factory`) that replaces its pool once a worker has
    died, instead of refusing every later submit with `BrokenProcessPool`.

    Example:
        with RenewingPool(lambda: ProcessPoolExecutor(2)) as pool:
            pool.submit(parse, body)
    """

    def __init__(self, factory: Callable[[], Executor], *, max_workers: int) -> None:
        self._factory = factory
        self._pool = factory()
        self.max_workers = max_workers
        self.renewals = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        try:
            return self._pool.submit(fn, *args, **kwargs)
        except BrokenExecutor:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._factory()
            self.renewals += 1
            return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


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
        self._waiting: deque[_Waiting] = deque()
        self._in_flight = 0

    @property
    def busy(self) -> bool:
        """Some call is waiting or running."""
        return bool(self._waiting or self._in_flight)

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._waiting.append(_Waiting(functools.partial(fn, *args, **kwargs), future))
        self._send(loop)
        return await future

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._waiting and self._in_flight < self._depth:
            suspect = self._waiting[0].suspect
            if suspect and self._in_flight:
                return  # a call sent again after a crash runs alone, with nothing beside it
            # spread what waits over the free trips, at most `size` calls each
            free = self._depth - self._in_flight
            count = 1 if suspect else min(self._size, -(-len(self._waiting) // free))
            batch = [self._waiting.popleft() for _ in range(count)]
            try:
                trip: Future[list[tuple[bool, Any]]] = self._pool.submit(
                    run_calls, [waiting.call for waiting in batch]
                )
            except Exception as exc:  # noqa: BLE001 - a broken or shut pool: tell each caller
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
                continue
            self._in_flight += 1
            trip.add_done_callback(functools.partial(self._settled_elsewhere, loop, batch))

    def _settled_elsewhere(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[_Waiting],
        trip: Future[list[tuple[bool, Any]]],
    ) -> None:
        """Runs on the pool's thread: hand the finished trip to the event loop."""
        loop.call_soon_threadsafe(self._settle, batch, trip)

    def _settle(self, batch: list[_Waiting], trip: Future[list[tuple[bool, Any]]]) -> None:
        self._in_flight -= 1
        try:
            outcomes = trip.result()
        except BrokenExecutor:
            self._retry(batch)
            outcomes = []
        except BaseException as exc:  # noqa: BLE001 - the pool shut down: tell each caller
            outcomes = [(False, exc)] * len(batch)
        for waiting, (ok, value) in zip(batch, outcomes, strict=False):
            if waiting.future.done():  # its caller was cancelled
                continue
            if ok:
                waiting.future.set_result(value)
            else:
                waiting.future.set_exception(value)
        self._send(asyncio.get_running_loop())

    def _retry(self, batch: list[_Waiting]) -> None:
        """A worker died during this trip. A suspect (a call already sent again, alone, with
        nothing else running) killed it itself: it fails. Otherwise every call of the trip
        becomes a suspect and goes again, first in line, one at a time."""
        for waiting in reversed(batch):
            if waiting.future.done():
                continue
            if waiting.suspect:
                waiting.future.set_exception(
                    WorkerCrashedError("the worker process died while working on it")
                )
            else:
                waiting.suspect = True
                self._waiting.appendleft(waiting)


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

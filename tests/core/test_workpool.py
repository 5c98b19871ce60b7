"""core.workpool.Batches: calls grouped into round trips, each call keeping its own outcome."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import pytest

from core.errors import ParseError
from core.workpool import Batches, RenewingPool, WorkerCrashedError, run_calls


class CountingPool(ThreadPoolExecutor):
    """A thread pool that counts the round trips (submits) it is given."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.trips = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        self.trips += 1
        return super().submit(fn, *args, **kwargs)


def square(n: int) -> int:
    return n * n


def parse_or_fail(n: int) -> int:
    if n % 3 == 0:
        raise ParseError(f"feed {n} holds no feed")
    return n


class Unpicklable(Exception):
    def __reduce__(self):  # type: ignore[no-untyped-def]
        raise TypeError("cannot pickle")


def raise_unpicklable() -> None:
    raise Unpicklable("lxml said no")


def crash_on(n: int, bad: int = 5) -> int:
    if n == bad:
        os._exit(1)  # what the OOM killer or a segfault in a C extension looks like
    return n


def _spawned_pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))


def _gather(pool: Executor, fn, values, **options):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        batches = Batches(pool, **options)
        return await asyncio.gather(
            *(batches.call(fn, value) for value in values), return_exceptions=True
        )

    return asyncio.run(main())


def test_each_call_gets_its_own_result_in_order():
    with CountingPool() as pool:
        assert _gather(pool, square, range(20), depth=4) == [n * n for n in range(20)]


def test_many_waiting_calls_share_round_trips():
    with CountingPool() as pool:
        _gather(pool, square, range(40), depth=4, size=4)
    # the first 4 go at once, alone (4 trips free); the 36 that queue behind them share
    assert pool.trips == 4 + 36 // 4


def test_a_lone_call_goes_at_once_by_itself():
    with CountingPool() as pool:
        assert _gather(pool, square, [7], depth=4, size=4) == [49]
    assert pool.trips == 1


def test_one_failing_call_does_not_fail_its_batch():
    with CountingPool() as pool:
        outcomes = _gather(pool, parse_or_fail, range(1, 9), depth=1, size=8)
    assert pool.trips == 2  # the first alone, the 7 that waited for it together
    assert [isinstance(o, ParseError) for o in outcomes] == [n % 3 == 0 for n in range(1, 9)]
    assert outcomes[0] == 1 and str(outcomes[2]) == "feed 3 holds no feed"


def test_a_foreign_error_comes_back_as_a_runtime_error_with_its_message():
    [(ok, error)] = run_calls([raise_unpicklable])
    assert not ok and isinstance(error, RuntimeError)
    assert str(error) == "Unpicklable: lxml said no"


def test_calls_run_in_worker_processes():
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        outcomes = _gather(pool, parse_or_fail, range(1, 13), depth=4)
    assert [o if isinstance(o, int) else "error" for o in outcomes] == [
        n if n % 3 else "error" for n in range(1, 13)
    ]


def test_a_broken_pool_fails_every_waiting_call_instead_of_hanging():
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    pool.submit(int).result()
    for process in pool._processes.values():  # a worker killed by the OS (OOM, kill -9)
        process.kill()
    with pytest.raises(BrokenProcessPool):
        pool.submit(int).result()
    outcomes = _gather(pool, square, range(6), depth=2)
    pool.shutdown()
    assert all(isinstance(o, BrokenProcessPool) for o in outcomes)


def test_a_call_that_kills_its_worker_fails_alone_and_the_others_go_on():
    with RenewingPool(_spawned_pool, max_workers=2) as pool:
        outcomes = _gather(pool, crash_on, range(1, 13), depth=4, size=4)
        renewals = pool.renewals
    assert isinstance(outcomes[4], WorkerCrashedError)
    assert str(outcomes[4]) == "the worker process died while working on it"
    assert [o for i, o in enumerate(outcomes) if i != 4] == [n for n in range(1, 13) if n != 5]
    assert renewals == 2  # once in its batch, once alone


def test_a_renewing_pool_accepts_work_after_a_worker_died():
    with RenewingPool(_spawned_pool, max_workers=2) as pool:
        with pytest.raises(BrokenProcessPool):
            pool.submit(crash_on, 5).result()
        assert pool.submit(crash_on, 3).result() == 3
        assert pool.renewals == 1

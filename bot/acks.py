"""Acks first: while this process is acknowledging a Slack request, answers step aside.

A slash command is acknowledged at once and answered afterwards on the lazy listeners'
executor (`bot.app`). Both run in one interpreter, and so under one GIL: an answer busy in
Python (reading a digest, checking it is current, building blocks) holds it for up to the
interpreter's switch interval (5 ms) while the next request's ack waits. Measured in
`bench/slash.py`, that wait, not the ack's own work (0.3 ms), made the ack's p99.

So an answer gives way at its natural pauses: before it starts, and before each database
statement it runs (an engine event). Giving way is waiting on an event, which releases the
GIL, until no ack is being made, for at most `MAX_WAIT` at a time, so a flood of commands
delays answers by milliseconds and never stops them. Code outside an answer never waits.

    with acking():                       # bot.web, around verify + dispatch + ack
        ...
    pool = AnswerPool(32)                # bot.app: the lazy listeners' executor
    watch(engine)                        # answers also give way before each statement
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

__all__ = ["MAX_WAIT", "AnswerPool", "acking", "step_aside", "watch"]

MAX_WAIT = 0.02  # seconds an answer waits at one pause, at most

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_acks = 0  # acks being made in this process now
_idle = threading.Event()  # set while no ack is being made
_idle.set()
_answer = threading.local()  # .on: this thread is running an answer


@contextmanager
def acking() -> Iterator[None]:
    """Mark an ack as being made (answers step aside until it is done)."""
    global _acks
    with _lock:
        _acks += 1
        _idle.clear()
    try:
        yield
    finally:
        with _lock:
            _acks -= 1
            if _acks == 0:
                _idle.set()


def step_aside() -> None:
    """In an answer: wait (GIL released) while an ack is being made, up to MAX_WAIT.
    Anywhere else: return at once."""
    if getattr(_answer, "on", False) and not _idle.is_set():
        _idle.wait(MAX_WAIT)


class AnswerPool(ThreadPoolExecutor):
    """The executor for answers: each task steps aside before it starts, and its thread
    counts as answering while it runs (so `watch`ed statements step aside too)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        def answer() -> T:
            _answer.on = True
            try:
                step_aside()
                return fn(*args, **kwargs)
            finally:
                _answer.on = False

        return super().submit(answer)


def watch(engine: Engine) -> None:
    """Make answers step aside before each statement they run on `engine` (once per
    engine; other threads are not slowed: one attribute read)."""
    if not event.contains(engine, "before_cursor_execute", _before_statement):
        event.listen(engine, "before_cursor_execute", _before_statement)


def _before_statement(*_: Any) -> None:
    step_aside()

"""Acks first: an answer waits while an ack is being made; nothing else ever does."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bot import acks
from storage.db import make_engine

SURELY = 10.0  # seconds: what "it did not wait for the ack to end" would take


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers wait for an ack as long as it lasts (the real bound is 20 ms a pause)."""
    monkeypatch.setattr(acks, "MAX_WAIT", 60.0)


@pytest.fixture
def pool() -> Iterator[acks.AnswerPool]:
    with acks.AnswerPool(2) as executor:
        yield executor


@pytest.mark.usefixtures("patient")
def test_an_answer_starts_only_once_the_ack_being_made_is_done(pool: acks.AnswerPool) -> None:
    started = threading.Event()
    with acks.acking():
        future = pool.submit(started.set)
        assert not started.wait(0.2)  # held back while the ack is made
    future.result(timeout=SURELY)
    assert started.is_set()


@pytest.mark.usefixtures("patient")
def test_an_answer_steps_aside_before_each_statement(
    pool: acks.AnswerPool, sqlite_url: str
) -> None:
    engine = make_engine(sqlite_url)
    acks.watch(engine)
    acks.watch(engine)  # once per engine, however often it is asked
    ready, ran = threading.Event(), threading.Event()
    go = threading.Event()

    def answer() -> int:
        ready.set()
        go.wait(SURELY)
        with engine.connect() as connection:
            value = int(connection.execute(text("SELECT 1")).scalar_one())
        ran.set()
        return value

    future = pool.submit(answer)
    assert ready.wait(SURELY)
    with acks.acking():
        go.set()
        assert not ran.wait(0.2)  # its statement waits for the ack
    assert future.result(timeout=SURELY) == 1
    engine.dispose()


@pytest.mark.usefixtures("patient")
def test_code_outside_an_answer_never_waits(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    acks.watch(engine)
    with acks.acking(), engine.connect() as connection:  # e.g. the ack itself, a web page
        acks.step_aside()
        assert connection.execute(text("SELECT 2")).scalar_one() == 2
    engine.dispose()


def test_a_flood_of_acks_delays_an_answer_by_at_most_max_wait_a_pause(
    pool: acks.AnswerPool,
) -> None:
    with acks.acking():  # an ack that never ends
        assert pool.submit(lambda: "answered").result(timeout=SURELY) == "answered"


def test_acks_are_counted_so_the_last_one_to_end_lets_answers_go() -> None:
    with acks.acking():
        with acks.acking():
            pass
        assert not acks._idle.is_set()
    assert acks._idle.is_set()

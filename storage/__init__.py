"""Storage: SQLModel tables, engine/session setup, queries and Alembic migrations.

Imports nothing from this project. Every query function takes its `session` keyword-only.

The commit rule, one for every module here:

- A function that records a fact other processes act on (a delivery's or a job run's claim
  and outcome, a feed's fetch state, a subscriber's status, a stored digest, a cached LLM
  answer) commits before it returns, and says "Commits." in its docstring: the unique key
  it relies on is only checked at the commit, and a crash right after must not lose it.
- A function that writes part of a larger unit of work (articles, deep dives, the day
  articles are reported in, a batch of feed successes) only flushes, and says "flushed, not
  committed" or "Does not commit": the core use case that called it commits once, when the
  whole unit is written (an ingest batch, a composed digest).
- Reads never commit, and no caller outside storage opens a transaction of its own to run
  SQL: front-ends call a function here.
"""

from storage.db import make_engine, session_scope, upgrade

__all__ = ["make_engine", "session_scope", "upgrade"]

"""Storage: SQLModel tables, engine/session setup, queries and Alembic migrations.

Imports nothing from this project.
"""

from storage.db import make_engine, session_scope, upgrade

__all__ = ["make_engine", "session_scope", "upgrade"]

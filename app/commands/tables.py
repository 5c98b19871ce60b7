"""How the listing commands print a table (rich): one console, feed text made safe for it.

An import of its own, apart from the commands, because rich costs ~20-40 ms to import: an
hourly `digest ingest` in which nothing happened prints one line and never loads it.
"""

from __future__ import annotations

from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.dates import format_utc
from core.normalise import strip_controls

__all__ = ["Table", "cell", "console", "iso"]


def console() -> Console:
    """Rich's console; when piped or captured, wide enough not to wrap source names."""
    found = Console()
    return found if found.is_terminal else Console(width=160)


def cell(text: str) -> str:
    """Text from a feed or a server, as rich shows it: markup escaped and control characters
    dropped (rows stored before ingest stripped them may still carry an ESC sequence)."""
    return escape(strip_controls(text))


def iso(moment: datetime | None) -> str | None:
    return format_utc(moment) if moment is not None else None

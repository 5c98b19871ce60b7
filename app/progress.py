"""The progress bar long commands show on stderr (ingest, summarise, post, send).

Shown only on a terminal: never in pipes, logs, cron mail or tests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported by a bar that shows: cron's runs never do
    from rich.console import Console
    from rich.progress import Progress, TaskID

__all__ = ["Bar", "progress_bar"]


class Bar:
    """One task's bar; its methods fit the callbacks the core takes (`on_progress`, …)."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress, self._task = progress, task

    def update(self, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=total)

    def total(self, n: int) -> None:
        self._progress.update(self._task, total=n)

    def advance(self, *outcome: object) -> None:
        """One more done; an outcome with a `name` (a source) is shown beside the bar."""
        last = str(getattr(outcome[0], "name", "")) if outcome else ""
        self._progress.update(self._task, advance=1, last=last)


@contextmanager
def progress_bar(
    label: str, *, total: int | None = None, enabled: bool = True, console: Console | None = None
) -> Iterator[Bar | None]:
    """A transient bar labelled `label` (of `total` steps, if known), or None when disabled
    or stderr (`console`'s file, if given) is not a terminal."""
    if not enabled or (console is None and not sys.stderr.isatty()):
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield Bar(progress, progress.add_task(label, total=total, last=""))

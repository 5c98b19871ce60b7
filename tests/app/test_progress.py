"""The one progress bar: on a terminal only, with the last source's name beside it."""

from __future__ import annotations

import io
from dataclasses import dataclass

from rich.console import Console

from app.progress import progress_bar


@dataclass
class _Outcome:
    name: str


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100), out


def test_the_bar_counts_to_its_total_and_names_the_last_source() -> None:
    console, out = _terminal()
    with progress_bar("Ingesting", total=2, console=console) as bar:
        assert bar is not None
        bar.advance(_Outcome("Netflix Tech Blog"))
        console.file.flush()
        bar._progress.refresh()
        assert bar._progress.tasks[0].completed == 1
        assert "Netflix Tech Blog" in out.getvalue()
        bar.advance()  # an outcome without a name shows none
        assert bar._progress.tasks[0].completed == 2


def test_no_bar_when_disabled_or_not_a_terminal() -> None:
    console, _ = _terminal()
    with progress_bar("Posting to Slack", total=1, enabled=False, console=console) as bar:
        assert bar is None
    with progress_bar("Summarising", console=Console(file=io.StringIO())) as bar:
        assert bar is None

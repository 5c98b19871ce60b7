"""Every benchmark script still imports and parses its options (they are not run here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize("script", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_benchmark_script_starts(script: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout


def test_the_newsletter_benchmark_runs_end_to_end_at_a_small_size() -> None:
    """It renders with the project's own templates, so a change there that breaks it shows
    here (it once called a renderer that no longer existed)."""
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH / "newsletter.py"),
            "--subscribers",
            "60",
            "--naive",
            "5",
            "--capped",
            "20",
            "--rate",
            "1000",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    # (the speed targets are for the full size: at this one only correctness is checked)
    assert "[ok] 0 lost" in result.stdout and "[ok] 0 duplicated" in result.stdout
    assert "[ok] re-run sends nothing" in result.stdout

"""One smoke test in a real browser: the archive and the subscribe form, at phone width.

Debian's headless Chromium loads the pages from uvicorn on loopback, prints the DOM it
built and takes a screenshot. Skipped when /usr/bin/chromium is absent (`.ci/run` installs
it with `apt-get install -y chromium`).
"""

from __future__ import annotations

import struct
import subprocess
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from app.web import create_app
from app.wiring import Runtime
from core.config import Settings
from tests.app.support import daily_digest, serve_app, store, weekly_rollup

CHROMIUM = Path("/usr/bin/chromium")
PHONE = (390, 844)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)"
    ),
]


def _load(url: str, tmp_path: Path, name: str) -> tuple[str, Path]:
    """The DOM Chromium built for `url`, and a phone-sized screenshot of it."""
    shot = tmp_path / f"{name}.png"
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size={PHONE[0]},{PHONE[1]}",
            f"--screenshot={shot}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, shot


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_archive_and_subscribe_form_render_in_chromium_at_phone_width(
    sqlite_url: str, sqlite_engine: Engine, tmp_path: Path
) -> None:
    store(sqlite_engine, daily_digest(date(2026, 4, 1), tags=("security",)))
    store(sqlite_engine, weekly_rollup("2026-W14"))
    settings = Settings.from_env({"DATABASE_URL": sqlite_url})

    with serve_app(create_app(Runtime(settings=settings, database=sqlite_engine))) as base:
        index, index_shot = _load(base + "/", tmp_path, "index")
        daily, daily_shot = _load(base + "/daily/2026-04-01", tmp_path, "daily")
        subscribe, _ = _load(base + "/subscribe", tmp_path, "subscribe")

    assert '<a href="/daily/2026-04-01">Engineering @ Scale — 2026-04-01</a>' in index
    assert '<a href="/weekly/2026-W14">' in index
    assert 'action="/subscribe"' in index and 'name="email"' in index
    assert "Introducing EmDash &lt;the successor&gt;" in daily
    assert "<input" in subscribe and 'name="email"' in subscribe
    for shot in (index_shot, daily_shot):
        width, height = _png_size(shot)
        assert (width, height) == PHONE
        assert shot.stat().st_size > 5_000  # a rendered page, not a blank canvas

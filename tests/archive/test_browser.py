"""The archive in a real browser: index, issue and subscribe pages at desktop and phone width.

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
DESKTOP = (1280, 900)
SHOTS = Path(__file__).resolve().parent.parent.parent / ".browser-shots"  # kept to look at

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)"
    ),
]


def _load(url: str, tmp_path: Path, name: str, size: tuple[int, int] = PHONE) -> tuple[str, Path]:
    """The DOM Chromium built for `url`, and a screenshot of it at `size`."""
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
            f"--window-size={size[0]},{size[1]}",
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


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_archive_pages_have_headline_search_and_subscribe_box_in_chromium(
    sqlite_url: str, sqlite_engine: Engine, tmp_path: Path, size: tuple[int, int]
) -> None:
    store(sqlite_engine, daily_digest(date(2026, 3, 31), tags=("security",)))
    store(sqlite_engine, daily_digest(date(2026, 4, 1), tags=("security",)))
    store(sqlite_engine, weekly_rollup("2026-W14"))
    settings = Settings.from_env({"DATABASE_URL": sqlite_url})
    label = "phone" if size == PHONE else "desktop"

    with serve_app(create_app(Runtime(settings=settings, database=sqlite_engine))) as base:
        pages = {
            name: _load(base + path, tmp_path, f"{name}-{label}", size)
            for name, path in (
                ("index", "/"),
                ("daily", "/daily/2026-04-01"),
                ("weekly", "/weekly/2026-W14"),
                ("subscribe", "/subscribe"),
            )
        }

    index, daily = pages["index"][0], pages["daily"][0]
    # the index lists each issue by its Signal headline and teaser, not by its date title
    assert '<a class="headline" href="/daily/2026-04-01">' in index
    assert "Introducing EmDash &lt;the successor&gt;" in index
    assert '<a class="headline" href="/weekly/2026-W14">' in index
    for name, (dom, shot) in pages.items():
        assert 'role="search"' in dom and 'name="q"' in dom, name  # the layout's search box
        assert 'action="/subscribe"' in dom and 'name="email"' in dom, name
        assert _png_size(shot) == size
        assert shot.stat().st_size > 5_000  # a rendered page, not a blank canvas
        SHOTS.mkdir(exist_ok=True)
        (SHOTS / shot.name).write_bytes(shot.read_bytes())
    assert '<aside class="subscribe"' in daily and 'rel="prev" href="/daily/2026-03-31"' in daily
    assert '<meta property="og:title" content="Engineering @ Scale — 2026-04-01: ' in daily
    subscribe = pages["subscribe"][0]  # counted from the sources file, not written in
    assert "from ~30 company blogs, boiled down" not in subscribe and " feeds)</span>" in subscribe

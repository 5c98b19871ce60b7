"""Block Kit for a realistic composed digest, pinned by golden files.

The digests come from the compose stage's own fixtures (tests/core/test_compose.py), so
these files show what Slack receives for a real day and week. Regenerate them with
`.venv/bin/python -m pytest tests/bot/test_blocks_golden.py --update-golden` (or
`UPDATE_GOLDEN=1`) and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from slack_sdk.models.blocks import Block

from bot import blocks
from core.compose import compose_daily, compose_weekly
from tests.core.test_compose import DAY, SOURCES, TECH, sample_posts

GOLDEN = Path(__file__).resolve().parent / "golden"


def _golden(name: str, messages: list[blocks.Message]) -> None:
    actual = json.dumps(
        [{"text": m.text, "blocks": m.blocks} for m in messages], indent=2, ensure_ascii=False
    )
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual + "\n", encoding="utf-8")
    assert actual + "\n" == path.read_text(encoding="utf-8")
    for message in messages:
        assert message.text and len(message.blocks) <= blocks.MAX_BLOCKS
        for raw in message.blocks:
            Block.parse(raw).validate_json()


def test_daily_post_and_thread_match_their_golden_files() -> None:
    daily = compose_daily(edition=TECH, day=DAY, posts=sample_posts(), sources=SOURCES)
    post = blocks.daily_post(daily)
    assert len(post) == 1  # a real day fits one channel message
    _golden("daily-2026-04-01.post.blocks.json", post)
    _golden("daily-2026-04-01.thread.blocks.json", blocks.daily_thread(daily))


def test_weekly_answer_matches_its_golden_file() -> None:
    weekly = compose_weekly(edition=TECH, week="2026-W14", posts=sample_posts(), sources=SOURCES)
    _golden("weekly-2026-W14.blocks.json", blocks.weekly_answer(weekly, reserve=1))

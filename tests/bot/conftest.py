"""Fixtures of the Slack front-end: a fake Slack Web API and stored digests/articles."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.engine import Engine

from app.pipeline import Pipeline
from app.wiring import Runtime
from bot.app import build_app, installation_store
from core.config import Settings
from core.model import ArticleRef, DailyDigest, Pattern, Signal, Stats, Story, WeeklyRollup
from tests.peers.slack_api import TEAM_ID, SlackAPI
from tests.peers.slack_api import slack_api as _slack_api


@pytest.fixture
def slack_api() -> Iterator[SlackAPI]:
    with _slack_api() as api:
        yield api


def make_daily(
    day: date = date(2026, 4, 1), *, dives: int = 3, text: str = "", title: str = ""
) -> DailyDigest:
    articles = tuple(
        ArticleRef(
            title=title or f"Post {i} of {day}",
            company=f"Company {i % 4}",
            url=f"https://blog{i % 4}.example/{day}/{i}",
            source=f"Blog {i % 4}",
            published=f"{day}T08:00:00+00:00",
            text=text or f"Problem {i}; approach; trade-off; lesson.",
            tags=("distributed-systems",),
        )
        for i in range(dives)
    )
    signal = (
        Signal(
            url=articles[0].url,
            title=articles[0].title,
            company=articles[0].company,
            text=f"The signal of {day}.",
            why="Most companies wrote about it.",
        )
        if articles
        else None
    )
    return DailyDigest(
        edition="tech",
        date=day,
        title=f"Engineering @ Scale — {day}",
        stats=Stats(sources_checked=31, posts=dives, minutes_saved=7 * dives),
        sources=("Blog 0", "Blog 1"),
        signal=signal,
        deep_dives=articles,
        patterns=(Pattern("Zero trust", ("Company 0", "Company 1"), (), "Both dropped secrets."),),
        tags=("distributed-systems",),
        section_titles={"signal": "Signal of the Day", "deep_dives": "Deep Dives"},
    )


def make_weekly(week: str = "2026-W14", *, stories: int = 3) -> WeeklyRollup:
    start = date.fromisocalendar(int(week[:4]), int(week[6:]), 1)
    return WeeklyRollup(
        edition="tech",
        week=week,
        title=f"Engineering @ Scale — Week {week}",
        start=start,
        end=start + timedelta(days=6),
        stats=Stats(sources_checked=31, posts=20, minutes_saved=140),
        week_in_review=f"The week {week} in review.",
        top_stories=tuple(
            Story(
                theme=f"Story {i} of {week}",
                companies=("Netflix", "Uber"),
                urls=(f"https://n.example/{week}/{i}",),
                text="Why it matters.",
                articles=(
                    ArticleRef(
                        title=f"Article {i}", company="Netflix", url=f"https://n.example/{week}/{i}"
                    ),
                ),
            )
            for i in range(stories)
        ),
        patterns=(),
    )


# --- signed Slack requests ---------------------------------------------------------------

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"


def slack_settings(database_url: str, api: SlackAPI, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": api.base_url,
            **extra,
        }
    )


# An app installed by OAuth: no bot token in the settings, one stored per workspace.
OAUTH = {"SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": "111.222", "SLACK_CLIENT_SECRET": "secret"}


def install_workspaces(
    settings: Settings, *, engine: Engine, teams: Sequence[str] = ("T1", "T2"), **fields: Any
) -> None:
    """Store an OAuth installation for each team, with bot token `xoxb-<team>`."""
    store = installation_store(settings, engine=engine)
    for team in teams:
        store.save(
            Installation(
                app_id="A0APP",
                team_id=team,
                user_id="U0INSTALLER",
                bot_token=f"xoxb-{team}",
                bot_id="B0BOT",
                bot_user_id="U0BOT",
                **fields,
            )
        )


def command_body(api: SlackAPI, text: str, **fields: str) -> str:
    values = {
        "token": "legacy",
        "team_id": TEAM_ID,
        "team_domain": "example",
        "channel_id": "C0GENERAL",
        "channel_name": "general",
        "user_id": "U0ALICE",
        "user_name": "alice",
        "command": "/digest",
        "text": text,
        "api_app_id": "A0APP",
        "response_url": api.response_url(),
        "trigger_id": "1.2.3",
    }
    values.update(fields)
    return urlencode(values)


def action_body(api: SlackAPI, value: str) -> str:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "example"},
        "user": {"id": "U0ALICE", "team_id": TEAM_ID},
        "api_app_id": "A0APP",
        "channel": {"id": "C0GENERAL", "name": "general"},
        "container": {"type": "message", "is_ephemeral": True},
        "response_url": api.response_url(),
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "action_id": "digest_share",
                "block_id": "b",
                "value": value,
                "action_ts": "1.2",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def signed_headers(
    body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Headers exactly as Slack signs a request: v0 HMAC-SHA256 over `v0:{ts}:{body}`.

    The one wall-clock read in the tests, on purpose: bolt's verifier refuses a timestamp
    more than five minutes from its own clock. Nothing asserted depends on its value.
    """
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def bot_settings(sqlite_url: str, slack_api: SlackAPI) -> Settings:
    return slack_settings(sqlite_url, slack_api)


def front(settings: Settings, clock: Callable[[], datetime] | None = None) -> dict[str, Any]:
    """What the app hands the bot: the editions and the digests (`app.pipeline.Pipeline`
    over a runtime on the same settings and clock)."""
    runtime = Runtime(
        settings=settings, clock=clock or (lambda: datetime(2026, 4, 1, 9, tzinfo=UTC))
    )
    return {"editions": list(runtime.catalogue.editions), "digests": Pipeline(runtime)}


@pytest.fixture
def bot(
    bot_settings: Settings, sqlite_engine: Engine, clock: Callable[[], datetime]
) -> Iterator[App]:
    executor = ThreadPoolExecutor(8)
    yield build_app(
        bot_settings,
        engine=sqlite_engine,
        clock=clock,
        executor=executor,
        **front(bot_settings, clock),
    )
    executor.shutdown(wait=True)


def dispatch(app: App, body: str, headers: dict[str, str] | None = None) -> BoltResponse:
    return app.dispatch(BoltRequest(body=body, headers=headers or signed_headers(body)))


# --- a real ASGI server on loopback --------------------------------------------------------

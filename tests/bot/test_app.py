"""The App factory: settings checks, and uninstall events in multi-workspace mode."""

from __future__ import annotations

import json

import pytest
from slack_bolt import BoltRequest
from sqlalchemy.engine import Engine

from bot.app import build_app, check_settings, installation_store
from core.config import Settings
from core.errors import ConfigError
from tests.bot.conftest import OAUTH, front, install_workspaces, signed_headers, slack_settings
from tests.peers.slack_api import SlackAPI


@pytest.mark.parametrize(
    ("env", "mode", "message"),
    [
        ({}, "http", "the Slack endpoint needs SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN"),
        ({"SLACK_SIGNING_SECRET": "s"}, "http", "the Slack endpoint needs SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "socket", "Socket Mode needs SLACK_APP_TOKEN"),
        ({"SLACK_APP_TOKEN": "xapp-1"}, "socket", "Socket Mode needs SLACK_BOT_TOKEN"),
        (
            {"SLACK_APP_TOKEN": "xoxb-wrong", "SLACK_BOT_TOKEN": "xoxb-1"},
            "socket",
            "SLACK_APP_TOKEN: expected an app-level token starting with xapp-",
        ),
        (
            {"SLACK_CLIENT_ID": "1.2"},
            "post",
            "posting to Slack needs SLACK_CLIENT_SECRET and SLACK_BOT_TOKEN",
        ),
    ],
)
def test_missing_settings_are_named_in_one_line(
    env: dict[str, str], mode: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        check_settings(Settings.from_env(env), mode=mode)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({"SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-1"}, "http"),
        ({"SLACK_SIGNING_SECRET": "s", "SLACK_CLIENT_ID": "1", "SLACK_CLIENT_SECRET": "2"}, "http"),
        ({"SLACK_APP_TOKEN": "xapp-1", "SLACK_BOT_TOKEN": "xoxb-1"}, "socket"),
        ({"SLACK_CLIENT_ID": "1", "SLACK_CLIENT_SECRET": "2"}, "post"),
    ],
)
def test_complete_settings_pass(env: dict[str, str], mode: str) -> None:
    check_settings(Settings.from_env(env), mode=mode)


def test_uninstalling_removes_only_that_workspace(
    sqlite_engine: Engine, slack_api: SlackAPI
) -> None:
    settings = slack_settings(
        sqlite_engine.url.render_as_string(hide_password=False), slack_api, **OAUTH
    )
    app = build_app(settings, engine=sqlite_engine, **front(settings))
    install_workspaces(settings, engine=sqlite_engine)
    store = installation_store(settings, engine=sqlite_engine)
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T1",
            "api_app_id": "A0APP",
            "event": {"type": "app_uninstalled", "event_ts": "1775034000.000100"},
            "event_id": "Ev1",
            "event_time": 1775034000,  # payload data only: the signature carries the real time
        }
    )
    headers = {**signed_headers(body), "Content-Type": "application/json"}
    response = app.dispatch(BoltRequest(body=body, headers=headers))
    assert response.status == 200
    assert store.find_bot(enterprise_id=None, team_id="T1") is None
    assert store.find_bot(enterprise_id=None, team_id="T2") is not None


def test_manifest_asks_for_the_scopes_the_app_uses() -> None:
    from pathlib import Path

    from bot.app import BOT_SCOPES

    manifest = (Path(__file__).resolve().parents[2] / "slack" / "manifest.yml").read_text()
    bot_scopes = manifest.split("    bot:\n", 1)[1].split("settings:", 1)[0]
    listed = [
        line.split("#")[0].strip()[2:].strip()
        for line in bot_scopes.splitlines()
        if line.strip().startswith("- ")
    ]
    assert listed == BOT_SCOPES
    assert "command: /digest" in manifest
    assert manifest.count("/slack/events") == 3  # slash command, events, interactivity
    assert "/slack/oauth_redirect" in manifest

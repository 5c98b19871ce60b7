"""bot.web: /slack/events over real HTTP; signed requests pass, forged or stale ones get 401.

(Named test_bot_web.py: tests/app/test_web.py owns the basename under pytest's prepend import mode.)
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.applications import Starlette

from bot.app import build_app, installation_store
from bot.web import build_routes, slack_routes
from core.config import Settings
from core.errors import ConfigError
from tests.bot.conftest import (
    SIGNING_SECRET,
    command_body,
    front,
    make_weekly,
    signed_headers,
    slack_settings,
)
from tests.conftest import store_digest
from tests.peers.asgi import serve_asgi
from tests.peers.slack_api import SlackAPI


@pytest.fixture
def web(bot_settings: Settings, sqlite_engine: Engine, clock) -> Iterator[str]:  # noqa: ANN001
    executor = ThreadPoolExecutor(8)
    app = build_app(
        bot_settings,
        engine=sqlite_engine,
        clock=clock,
        executor=executor,
        **front(bot_settings, clock),
    )
    with serve_asgi(Starlette(routes=slack_routes(app, signing_secret=SIGNING_SECRET))) as url:
        yield url
    executor.shutdown(wait=True)


def _post(url: str, body: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url + "/slack/events", content=body.encode(), headers=headers, timeout=10)


def test_signed_command_is_acknowledged_and_answered(
    web: str, slack_api: SlackAPI, sqlite_engine: Engine
) -> None:
    with Session(sqlite_engine) as session:
        store_digest(session, make_weekly("2026-W13"))
    body = command_body(slack_api, "week last")
    response = _post(web, body, signed_headers(body))
    assert response.status_code == 200
    [reply] = slack_api.wait_for("response")
    assert reply["text"].startswith("Engineering @ Scale — Week 2026-W13")


def test_help_comes_back_in_the_http_response(web: str, slack_api: SlackAPI) -> None:
    body = command_body(slack_api, "nonsense")
    response = _post(web, body, signed_headers(body))
    assert response.status_code == 200
    assert "I don't know `nonsense`" in json.dumps(response.json()["blocks"])


def test_one_changed_byte_is_refused(web: str, slack_api: SlackAPI) -> None:
    body = command_body(slack_api, "week")
    headers = signed_headers(body)
    response = _post(web, body.replace("week", "weel"), headers)
    assert response.status_code == 401
    time.sleep(0.1)
    assert slack_api.responses() == []


def test_wrong_secret_is_refused(web: str, slack_api: SlackAPI) -> None:
    body = command_body(slack_api, "week")
    assert _post(web, body, signed_headers(body, secret="not-the-secret")).status_code == 401


def test_stale_timestamp_is_refused(web: str, slack_api: SlackAPI) -> None:
    body = command_body(slack_api, "week")
    stale = signed_headers(body, timestamp=int(time.time()) - 301)
    assert _post(web, body, stale).status_code == 401
    fresh = signed_headers(body, timestamp=int(time.time()) - 200)
    assert _post(web, body, fresh).status_code == 200


def test_missing_signature_headers_are_refused(web: str, slack_api: SlackAPI) -> None:
    body = command_body(slack_api, "week")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert _post(web, body, headers).status_code == 401


def test_ssl_check_needs_a_valid_signature_too(web: str) -> None:
    body = urlencode({"ssl_check": "1", "token": "x"})
    assert _post(web, body, signed_headers(body, secret="wrong")).status_code == 401


def test_url_verification_answers_the_challenge(web: str) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"})
    headers = {**signed_headers(body), "Content-Type": "application/json"}
    response = _post(web, body, headers)
    assert response.status_code == 200 and response.json() == {"challenge": "c-123"}


def test_absurdly_large_bodies_are_refused_before_parsing(web: str) -> None:
    body = "x" * 1_000_001
    assert _post(web, body, signed_headers(body)).status_code == 413


def test_no_slack_settings_means_no_routes(settings: Settings, sqlite_engine: Engine) -> None:
    assert build_routes(settings=settings, engine=sqlite_engine, **front(settings)) == []


def test_half_configured_slack_names_what_is_missing(
    sqlite_url: str, sqlite_engine: Engine
) -> None:
    settings = Settings.from_env({"DATABASE_URL": sqlite_url, "SLACK_BOT_TOKEN": "xoxb-1"})
    with pytest.raises(ConfigError, match="^the Slack endpoint needs SLACK_SIGNING_SECRET$"):
        build_routes(settings=settings, engine=sqlite_engine, **front(settings))


def test_socket_mode_only_serves_nothing_over_http(sqlite_url: str, sqlite_engine: Engine) -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": sqlite_url, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}
    )
    assert build_routes(settings=settings, engine=sqlite_engine, **front(settings)) == []


def test_oauth_install_stores_the_installation_in_our_database(
    engine: Engine, slack_api: SlackAPI
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    settings = slack_settings(
        url,
        slack_api,
        SLACK_BOT_TOKEN="",
        SLACK_CLIENT_ID="111.222",
        SLACK_CLIENT_SECRET="client-secret",
        PUBLIC_BASE_URL="https://digest.example",
    )
    routes = build_routes(settings=settings, engine=engine, **front(settings))
    assert {getattr(r, "path", "") for r in routes} == {
        "/slack/events",
        "/slack/install",
        "/slack/oauth_redirect",
    }
    with serve_asgi(Starlette(routes=routes)) as web:
        page = httpx.get(web + "/slack/install", timeout=10)
        assert page.status_code == 200
        assert "https://slack.com/oauth/v2/authorize?state=" in page.text
        assert "scope=commands,chat:write" in page.text.replace("%2C", ",").replace("%3A", ":")
        state = re.search(r"state=([\w-]+)", page.text).group(1)  # type: ignore[union-attr]
        callback = httpx.get(
            web + "/slack/oauth_redirect",
            params={"code": "abc", "state": state},
            headers={"Cookie": f"slack-app-oauth-state={state}"},
            timeout=10,
        )
        assert callback.status_code == 200, callback.text
        # the state is single-use
        replay = httpx.get(
            web + "/slack/oauth_redirect",
            params={"code": "abc", "state": state},
            headers={"Cookie": f"slack-app-oauth-state={state}"},
            timeout=10,
        )
        assert replay.status_code == 401
    [exchange] = slack_api.calls("oauth.v2.access")
    assert exchange["code"] == "abc"
    bot = installation_store(settings, engine=engine).find_bot(
        enterprise_id=None, team_id="T0OTHER"
    )
    assert bot is not None and bot.bot_token == "xoxb-installed-abc"


def test_signed_ssl_check_gets_a_plain_200(web: str) -> None:
    body = urlencode({"ssl_check": "1", "token": "x"})
    response = _post(web, body, signed_headers(body))
    assert response.status_code == 200 and response.text == ""


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ("{not json", {"Content-Type": "application/json"}),
        ("payload=not-json%7B", {"Content-Type": "application/x-www-form-urlencoded"}),
        (
            "payload=%7B%22type%22%3A",
            {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Signature": "v0=00"},
        ),
        (
            "command=%2Fdigest&text=week",
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": "abc",
                "X-Slack-Signature": "v0=00",
            },
        ),
        ("{not json", {"Content-Type": "application/json", "X-Slack-Request-Timestamp": "1e99"}),
    ],
)
def test_unsigned_garbage_is_refused_before_it_is_parsed(
    web: str, slack_api: SlackAPI, caplog: pytest.LogCaptureFixture, body: str, headers: dict
) -> None:
    caplog.set_level(logging.DEBUG)
    response = _post(web, body, headers)

    assert response.status_code == 401
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text
    assert slack_api.responses() == []


def test_a_signed_request_with_a_broken_body_is_a_400_without_a_traceback(
    web: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = "{not json"
    headers = {**signed_headers(body), "Content-Type": "application/json"}

    response = _post(web, body, headers)

    assert response.status_code == 400
    assert not [r for r in caplog.records if r.exc_info]

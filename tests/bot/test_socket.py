"""Socket Mode: the same App over a WebSocket served by a local stand-in for Slack."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.socket import socket_handler
from core.config import Settings
from core.errors import ConfigError
from tests.bot.conftest import command_body, front, make_weekly, slack_settings
from tests.conftest import store_digest
from tests.peers.slack_api import SlackAPI


class SocketSlack:
    """Speaks Slack's Socket Mode: `hello`, then envelopes; collects the client's acks."""

    def __init__(self) -> None:
        self.outbox: asyncio.Queue[dict[str, Any]] | None = None
        self.acks: queue.Queue[dict[str, Any]] = queue.Queue()
        self.loop = asyncio.new_event_loop()
        self.url = ""
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self.outbox = asyncio.Queue()
        app = web.Application()
        app.router.add_get("/link", self._socket)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/link"

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        assert self.outbox is not None

        async def pump() -> None:
            while True:
                await ws.send_str(json.dumps(await self.outbox.get()))  # type: ignore[union-attr]

        sender = asyncio.ensure_future(pump())
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.acks.put(json.loads(message.data))
        sender.cancel()
        return ws

    def send(self, envelope: dict[str, Any]) -> None:
        self.loop.call_soon_threadsafe(self.outbox.put_nowait, envelope)  # type: ignore[union-attr]

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def socket_slack() -> Iterator[SocketSlack]:
    server = SocketSlack()
    server.start()
    yield server
    server.stop()


def _command(api: SlackAPI, text: str, envelope_id: str) -> dict[str, Any]:
    from urllib.parse import parse_qsl

    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": dict(parse_qsl(command_body(api, text))),
    }


def test_commands_arrive_and_are_acknowledged_over_the_socket(
    socket_slack: SocketSlack, slack_api: SlackAPI, sqlite_url: str, sqlite_engine: Engine
) -> None:
    slack_api.socket_url = socket_slack.url
    with Session(sqlite_engine) as session:
        store_digest(session, make_weekly("2026-W14"))
    settings = slack_settings(sqlite_url, slack_api, SLACK_APP_TOKEN="xapp-1-test")
    handler = socket_handler(settings, engine=sqlite_engine, **front(settings))
    handler.connect()
    try:
        socket_slack.send(_command(slack_api, "frobnicate", "env-1"))
        ack = socket_slack.acks.get(timeout=10)
        assert ack["envelope_id"] == "env-1"
        assert "I don't know `frobnicate`" in json.dumps(ack["payload"])
        socket_slack.send(_command(slack_api, "week 2026-W14", "env-2"))
        assert socket_slack.acks.get(timeout=10)["envelope_id"] == "env-2"
        [reply] = slack_api.wait_for("response")
        assert reply["text"].startswith("Engineering @ Scale — Week 2026-W14")
    finally:
        handler.close()
    [opened] = slack_api.records("apps.connections.open")
    assert opened.token == "xapp-1-test"


def test_socket_mode_needs_an_app_token(sqlite_url: str, sqlite_engine: Engine) -> None:
    settings = Settings.from_env({"DATABASE_URL": sqlite_url, "SLACK_BOT_TOKEN": "xoxb-1"})
    with pytest.raises(ConfigError, match="^Socket Mode needs SLACK_APP_TOKEN$"):
        socket_handler(settings, engine=sqlite_engine, **front(settings))

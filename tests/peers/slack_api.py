"""A local HTTP server that speaks Slack's Web API, for tests and benchmarks.

Point `slack_sdk.WebClient(base_url=api.base_url)` (or `SLACK_API_URL`) at it; give
slash-command payloads `response_url=api.response_url()`. Every call is recorded with its
parsed payload, so tests assert on what Slack would really have received:

    with slack_api() as api:
        api.fail("chat.postMessage", "channel_not_found", channel="C404")
        api.rate_limit("chat.postMessage", times=1, retry_after=1)
        ...
        api.calls("chat.postMessage")      # [{"channel": "C1", "text": …, "blocks": […]}, …]
        api.responses()                    # payloads POSTed to response_url paths

Answers follow https://api.slack.com/methods: `{"ok": true, …}` with HTTP 200, errors as
`{"ok": false, "error": "…"}` with HTTP 200, and rate limits as HTTP 429 with
`Retry-After` (https://api.slack.com/docs/rate-limits).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.peers.http import Request, Response, serve

TEAM_ID = "T0TEAM"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"


@dataclass
class Call:
    method: str  # "chat.postMessage", or "response" for a response_url POST
    path: str
    payload: dict[str, Any]
    token: str
    at: float  # time.monotonic() when received


@dataclass
class _Rule:
    method: str
    error: str | None = None
    status: int = 200
    retry_after: int | None = None
    times: int | None = None  # None: forever
    channel: str | None = None  # only calls for this channel
    delay: float = 0.0
    when: Callable[[dict[str, Any]], bool] | None = None  # only calls whose payload matches


@dataclass
class SlackAPI:
    url: str
    calls_: list[Call] = field(default_factory=list)
    rules: list[_Rule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _hook: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    socket_url: str = ""  # what apps.connections.open hands out (Socket Mode tests)

    @property
    def base_url(self) -> str:
        return self.url + "/api/"

    def response_url(self) -> str:
        """A fresh response_url, as Slack puts in a slash-command payload."""
        return f"{self.url}/commands/{TEAM_ID}/{next(self._hook)}/hook"

    # scripting -----------------------------------------------------------------------
    def fail(
        self,
        method: str,
        error: str,
        *,
        channel: str | None = None,
        times: int | None = None,
        status: int = 200,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Answer `method` with `{"ok": false, "error": error}`.

        Only for `channel`, or payloads where `when(payload)` is true, if given.
        """
        self.rules.append(
            _Rule(method, error=error, channel=channel, times=times, status=status, when=when)
        )

    def rate_limit(self, method: str, *, times: int | None = 1, retry_after: int = 1) -> None:
        """Answer `method` with HTTP 429 and `Retry-After` (`times` times, None: always)."""
        self.rules.append(
            _Rule(method, error="ratelimited", status=429, retry_after=retry_after, times=times)
        )

    def slow(self, method: str, seconds: float) -> None:
        self.rules.append(_Rule(method, delay=seconds))

    # reading -------------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [c.payload for c in self.calls_ if method is None or c.method == method]

    def records(self, method: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.calls_ if method is None or c.method == method]

    def responses(self) -> list[dict[str, Any]]:
        """Payloads POSTed to response_url paths (slash-command and button replies)."""
        return self.calls("response")

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until `count` calls of `method` arrived (lazy listeners answer later)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.calls(method)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"expected {count} {method} call(s), got {len(self.calls(method))}")

    # serving -------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path == "/_counts":  # for benchmarks running the fake in another process
            with self.lock:
                counts: dict[str, int] = {}
                for call in self.calls_:
                    counts[call.method] = counts.get(call.method, 0) + 1
            return _json(counts)
        payload = _payload(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if request.path.startswith("/commands/"):
            method = "response"
        else:
            method = request.path.removeprefix("/api/").strip("/")
        with self.lock:
            self.calls_.append(Call(method, request.path, payload, token, time.monotonic()))
            rule = self._match(method, payload)
        if rule is not None and rule.error is None:
            time.sleep(rule.delay)
            rule = None
        if rule is not None:
            headers = {"Content-Type": "application/json"}
            if rule.retry_after is not None:
                headers["Retry-After"] = str(rule.retry_after)
            body = json.dumps({"ok": False, "error": rule.error})
            return Response(status=rule.status, body=body, headers=headers)
        if method == "response":
            return Response(body="ok", headers={"Content-Type": "text/html"})
        return _json(self._answer(method, payload, token))

    def _match(self, method: str, payload: dict[str, Any]) -> _Rule | None:
        for rule in self.rules:
            if rule.method != method or rule.times == 0:
                continue
            if rule.channel is not None and payload.get("channel") != rule.channel:
                continue
            if rule.when is not None and not rule.when(payload):
                continue
            if rule.times is not None:
                rule.times -= 1
            return rule
        return None

    def _answer(self, method: str, payload: dict[str, Any], token: str) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://example.slack.com/",
                "team": "Example",
                "user": "digest",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            ts = f"1775030400.{next(self._ts):06d}"
            return {
                "ok": True,
                "channel": payload.get("channel"),
                "ts": ts,
                "message": {"text": payload.get("text", ""), "ts": ts},
            }
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        if method.startswith("conversations."):
            channel = payload.get("channel", "C0")
            return {"ok": True, "channel": {"id": channel, "name": "general", "is_member": True}}
        if method == "oauth.v2.access":
            return {
                "ok": True,
                "app_id": "A0APP",
                "authed_user": {"id": "U0INSTALLER"},
                "scope": "commands,chat:write",
                "token_type": "bot",
                "access_token": f"xoxb-installed-{payload.get('code', 'x')}",
                "bot_user_id": BOT_USER_ID,
                "team": {"id": "T0OTHER", "name": "Other"},
                "enterprise": None,
                "is_enterprise_install": False,
            }
        return {"ok": True}


def _payload(request: Request) -> dict[str, Any]:
    body = request.body.decode("utf-8") if request.body else ""
    kind = request.headers.get("content-type", "")
    if "json" in kind and body:
        data = json.loads(body)
    elif body:
        data = {k: v[0] for k, v in parse_qs(body).items()}
        for key in ("blocks", "attachments"):
            if isinstance(data.get(key), str):
                data[key] = json.loads(data[key])
    else:
        data = {}
    for key, values in request.query.items():
        data.setdefault(key, values[0])
    return data


def _json(data: dict[str, Any]) -> Response:
    return Response(body=json.dumps(data), headers={"Content-Type": "application/json"})


@contextmanager
def slack_api() -> Iterator[SlackAPI]:
    """Run a fake Slack Web API on 127.0.0.1 (random port) for the block."""
    holder: dict[str, SlackAPI] = {}

    def handle(request: Request) -> Response:
        return holder["api"].handle(request)

    with serve(handle) as server:
        api = SlackAPI(url=server.url)
        holder["api"] = api
        yield api

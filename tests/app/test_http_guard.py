"""app/http_guard.py over real HTTP (uvicorn on loopback): headers, body limits, redirects."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Route

from app.http_guard import HttpGuard
from app.web import create_app
from app.wiring import Runtime
from core.config import Settings
from storage.tables import Subscriber
from tests.app.support import BASE_URL, daily_digest, serve_app, store
from tests.peers.asgi import serve_asgi
from tests.peers.slack_api import slack_api
from tests.peers.smtp import Sink, smtp_sink

CLOCK = lambda: datetime(2026, 4, 2, 9, tzinfo=UTC)  # noqa: E731 - the app's "now"


@pytest.fixture
def sink() -> Iterator[Sink]:
    with smtp_sink() as running:
        yield running


@pytest.fixture
def client(sqlite_engine: Engine, sink: Sink) -> Iterator[httpx.Client]:
    """The whole app, with Slack configured against the fake Web API and SMTP at `sink`."""
    store(sqlite_engine, daily_digest(date(2026, 4, 1)))
    with slack_api() as api:
        settings = Settings.from_env(
            {
                "DATABASE_URL": "sqlite://",
                "PUBLIC_BASE_URL": BASE_URL,
                "SECRET_KEY": "test-secret",
                "SMTP_URL": sink.url,
                "SLACK_BOT_TOKEN": "xoxb-test",
                "SLACK_SIGNING_SECRET": "signing-secret",
                "SLACK_API_URL": api.base_url,
            }
        )
        with serve_app(
            create_app(Runtime(settings=settings, database=sqlite_engine, clock=CLOCK))
        ) as url:
            with httpx.Client(base_url=url, timeout=30) as http:
                yield http


def subscribers(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(Subscriber.email)))


@pytest.mark.parametrize(
    "path", ["/", "/daily/2026-04-01", "/feed.xml", "/healthz", "/subscribe", "/nope"]
)
def test_every_answer_carries_the_security_headers(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'none'"
    assert "unsafe-inline" not in directives["default-src"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]
    assert "<script" not in response.text  # the policy forbids it; no page may need it


def test_pages_with_tokens_keep_their_own_referrer_policy(client: httpx.Client) -> None:
    assert client.get("/subscribe").headers["referrer-policy"] == "no-referrer"
    assert client.get("/").headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_a_redirect_never_names_the_host_the_request_claimed(client: httpx.Client) -> None:
    response = client.get("/healthz/", headers={"Host": "evil.example"})
    assert response.status_code in (301, 302, 307, 308)
    assert response.headers["location"] == "/healthz"
    followed = client.get(response.headers["location"])
    assert followed.json() == {"status": "ok", "database": "ok"}


def test_redirects_elsewhere_are_left_alone() -> None:
    """Slack's OAuth hand-off is an absolute redirect to slack.com; it must stay one."""

    async def away(request):  # type: ignore[no-untyped-def]
        return RedirectResponse("https://slack.com/oauth/v2/authorize?state=x")

    async def home(request):  # type: ignore[no-untyped-def]
        return RedirectResponse(str(request.url_for("away")))  # absolute, from the Host

    app = HttpGuard(Starlette(routes=[Route("/away", away), Route("/home", home)]))
    with serve_asgi(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/away").headers["location"].startswith("https://slack.com/")
        home_location = client.get("/home", headers={"Host": "evil.example:8000"})
        assert home_location.headers["location"] == "/away"


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A chunked body (no Content-Length): only counting while it streams can stop it."""
    sent = 0
    while sent < total:
        yield b"email=" if sent == 0 else b"a" * size
        sent += 6 if sent == 0 else size


def test_a_chunked_oversized_form_is_refused_and_stores_nothing(
    client: httpx.Client, sqlite_engine: Engine, sink: Sink
) -> None:
    response = client.post(
        "/subscribe",
        content=chunks(3_000_000),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert "too large" in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert subscribers(sqlite_engine) == [] and sink.messages == []
    # A declared length over the limit is refused before anything is read.
    declared = client.post(
        "/subscribe",
        content=b"email=" + b"a" * 20_000 + b"@example.com",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert declared.status_code == 413 and subscribers(sqlite_engine) == []
    # The form still works for a reader.
    ok = client.post("/subscribe", data={"email": "reader@example.com"})
    assert ok.status_code == 200 and "Check your inbox" in ok.text


def test_a_chunked_oversized_slack_event_is_refused(client: httpx.Client) -> None:
    response = client.post(
        "/slack/events", content=chunks(3_000_000), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413 and "too large" in response.text
    # Under the limit, the same route answers (unsigned: refused by the signature check).
    small = client.post(
        "/slack/events", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert small.status_code == 401


def test_the_guard_stops_reading_at_the_limit() -> None:
    """The guard itself, over a body that never ends: it must stop pulling at the limit."""
    pulled = 0

    async def endless() -> dict:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    async def app(scope, receive, send) -> None:  # reads everything, as request.body() does
        while (await receive()).get("more_body"):
            pass

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    guard = HttpGuard(app, limits=[("/slack/", 50_000)], default_limit=10_000)
    scope = {"type": "http", "path": "/subscribe", "headers": [(b"host", b"x")]}
    asyncio.run(guard(scope, endless, send))
    assert pulled == 11 and sent[0]["status"] == 413
    pulled, sent[:] = 0, []
    asyncio.run(guard({**scope, "path": "/slack/events"}, endless, send))
    assert pulled == 51 and sent[0]["status"] == 413


def test_an_unexpected_error_answers_500_in_plain_words_with_the_headers(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Starlette answers an exception from outside every middleware: the page it sends must
    carry the headers too, and say nothing of the error (the server logs it)."""
    with sqlite_engine.begin() as connection:  # the archive's reads now fail
        connection.exec_driver_sql("DROP TABLE digest")
    settings = Settings.from_env(
        {"DATABASE_URL": "sqlite://", "PUBLIC_BASE_URL": BASE_URL, "SECRET_KEY": "test-secret"}
    )
    app = create_app(Runtime(settings=settings, database=sqlite_engine, clock=CLOCK))
    with serve_app(app) as url:
        response = httpx.get(url + "/", timeout=30)
    assert response.status_code == 500
    assert response.text.startswith("Something went wrong on our side.")
    assert "digest" not in response.text and "Traceback" not in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"

"""MAIL_FROM with a display name, and the built-in SECRET_KEY, against real peers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from app.web import create_app
from app.wiring import Runtime
from core.config import Settings
from core.errors import ConfigError
from newsletter import subscribers as subs
from newsletter.render import render_issue
from newsletter.send import send_issue
from newsletter.smtp import SMTPSender
from newsletter.web import build_routes
from storage import subscribers as store
from storage.db import session_scope
from tests.peers.smtp import Sink

REPO = Path(__file__).resolve().parents[2]
NAMED = "Engineering @ Scale <digest@example.org>"


@pytest.fixture
def named(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}",
            "MAIL_FROM": NAMED,
            "PUBLIC_BASE_URL": "https://digest.example.org",
            "SECRET_KEY": "test-secret",
            "MAIL_RATE": "0",
        }
    )


def test_the_weekly_issue_uses_the_address_and_the_name_each_where_it_belongs(
    engine: Engine, named: Settings, sink: Sink, rollup, add_subscribers
) -> None:
    (reader,) = add_subscribers(["reader@example.com"])
    issue = render_issue(rollup, settings=named)
    tally = send_issue(
        issue, engine=engine, settings=named, connect=lambda: SMTPSender.from_url(sink.url)
    )
    assert tally.sent == 1
    (received,) = sink.messages
    message = received.message
    assert received.mail_from == "digest@example.org"  # the envelope: the address only
    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Engineering @ Scale", "digest@example.org")
    assert message["Message-ID"] == f"<tech.2026-W14.s{reader}@example.org>"
    assert message["List-Id"] == '"Engineering @ Scale" <tech.weekly.example.org>'
    mailto = message["List-Unsubscribe"].split(", ")[1]
    assert mailto.startswith("<mailto:digest@example.org?subject=unsubscribe%20")
    # The slow path (internationalised recipients, 7-bit servers) says the same.
    slow = issue.message_for(
        subscriber_id=reader, email="zoë@example.com", unsubscribe_url="https://x/u", mailto="m"
    )
    assert slow["From"] == '"Engineering @ Scale" <digest@example.org>'


def test_the_confirmation_mail_goes_from_the_address(
    sqlite_engine: Engine, named: Settings, sink: Sink
) -> None:
    with session_scope(sqlite_engine) as session:
        row, _ = store.upsert_pending(session=session, email="new@example.com", editions=["tech"])
    with SMTPSender.from_url(sink.url) as sender:
        sender.send_message(subs.confirmation_message(row, settings=named))
    (received,) = sink.messages
    assert received.mail_from == "digest@example.org"
    assert received.message["From"].addresses[0].display_name == "Engineering @ Scale"
    assert received.message["Message-ID"].endswith("@example.org>")


def test_the_built_in_secret_key_cannot_serve_send_or_sign_for_a_public_site(
    tmp_path: Path, named: Settings, sink: Sink, sqlite_engine: Engine, rollup
) -> None:
    public = named.replace(secret_key=Settings().secret_key, smtp_url=sink.url)
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": public.database_url,
        "PUBLIC_BASE_URL": public.public_base_url,
        "PORT": "1",  # never reached: it must stop before listening
    }
    served = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 1
    (line,) = served.stderr.strip().splitlines()
    assert line.startswith("Error: SECRET_KEY is the built-in default")

    with pytest.raises(ConfigError, match="^SECRET_KEY"):
        create_app(Runtime(settings=public, database=sqlite_engine))
    with pytest.raises(ConfigError, match="^SECRET_KEY"):
        build_routes(settings=public, engine=sqlite_engine)
    with pytest.raises(ConfigError, match="^SECRET_KEY"):
        subs.unsubscribe_url(public, 1, "reader@example.com")
    with pytest.raises(ConfigError, match="^SECRET_KEY"):
        send_issue(
            render_issue(rollup, settings=public),
            engine=sqlite_engine,
            settings=public,
            connect=lambda: SMTPSender.from_url(sink.url),
        )
    assert sink.messages == []
    # On this machine alone (a try-out) the default still works.
    local = public.replace(public_base_url="http://127.0.0.1:8000")
    assert subs.unsubscribe_url(local, 1, "reader@example.com").startswith("http://127.0.0.1")

"""Settings: from a mapping, validated at start-up, secrets hidden."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from core.config import Settings, parse_duration, parse_weekly_at
from core.errors import ConfigError


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///digest.db"
    assert settings.summariser == "extractive"
    assert settings.digest_tz == "UTC"


def test_values_are_read_and_typed() -> None:
    settings = Settings.from_env(
        {
            "FETCH_CONCURRENCY": "4",
            "MAIL_RATE": "2.5",
            "DIGEST_FULLTEXT": "no",
            "DIGEST_TZ": "Europe/Paris",
        }
    )
    assert settings.fetch_concurrency == 4
    assert settings.mail_rate == 2.5
    assert settings.fulltext is False
    assert settings.tz.key == "Europe/Paris"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DIGEST_TZ": "Mars/Olympus"}, "DIGEST_TZ"),
        ({"DAILY_AT": "25:00"}, "DAILY_AT"),
        ({"WEEKLY_AT": "someday 09:00"}, "WEEKLY_AT"),
        ({"INGEST_EVERY": "often"}, "INGEST_EVERY"),
        ({"DATABASE_URL": "digest.db"}, "DATABASE_URL"),
        ({"FETCH_CONCURRENCY": "many"}, "FETCH_CONCURRENCY"),
        ({"DIGEST_SUMMARISER": "magic"}, "DIGEST_SUMMARISER"),
        ({"DIGEST_SUMMARISER": "llm"}, "LLM_BASE_URL"),
        ({"FETCH_TIMEOUT": "-1"}, "FETCH_TIMEOUT"),
        ({"FETCH_TIMEOUT": "0"}, "FETCH_TIMEOUT"),
        ({"FETCH_MAX_BYTES": "-5"}, "FETCH_MAX_BYTES"),
        ({"MAIL_CONCURRENCY": "0"}, "MAIL_CONCURRENCY"),
        ({"PUBLIC_BASE_URL": "ftp://digest.example.org"}, "PUBLIC_BASE_URL"),
        ({"PUBLIC_BASE_URL": "javascript:alert(1)"}, "PUBLIC_BASE_URL"),
        ({"PUBLIC_BASE_URL": "digest.example.org"}, "PUBLIC_BASE_URL"),
        ({"MAIL_FROM": "Engineering @ Scale"}, "MAIL_FROM"),
        ({"MAIL_FROM": "Digest <digest at example.org>"}, "MAIL_FROM"),
        ({"MAIL_FROM": "a@example.org, b@example.org"}, "MAIL_FROM"),
    ],
)
def test_a_bad_value_stops_with_one_line_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_secrets_are_hidden_in_repr() -> None:
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-secret", "SMTP_URL": "smtp://u:pw@h"})
    assert "xoxb-secret" not in repr(settings)
    assert "pw@h" not in repr(settings)


def test_durations_and_weekly_times() -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("1h") == timedelta(hours=1)
    assert parse_weekly_at("Monday 09:00") == (0, time(9, 0))


def test_mail_from_with_a_display_name_is_parsed_once() -> None:
    settings = Settings.from_env({"MAIL_FROM": "Engineering @ Scale <digest@example.org>"})
    assert settings.mail_from_address == "digest@example.org"
    assert settings.mail_domain == "example.org"
    assert settings.mail_from_header == '"Engineering @ Scale" <digest@example.org>'
    bare = Settings.from_env({"MAIL_FROM": "digest@example.org"})
    assert (bare.mail_from_address, bare.mail_from_header) == ("digest@example.org",) * 2


@pytest.mark.parametrize(
    ("base_url", "refused"),
    [
        ("https://digest.example.org", True),
        ("http://10.0.0.5:8000", True),
        ("http://localhost:8000", False),
        ("http://127.0.0.1:8000", False),
        ("http://[::1]:8000", False),
    ],
)
def test_the_built_in_secret_key_is_refused_off_loopback(base_url: str, refused: bool) -> None:
    settings = Settings.from_env({"PUBLIC_BASE_URL": base_url})
    if not refused:
        settings.check_secret_key()
        return
    with pytest.raises(ConfigError) as error:
        settings.check_secret_key()
    assert str(error.value).startswith("SECRET_KEY ") and "\n" not in str(error.value)
    settings.replace(secret_key="a-secret-of-our-own").check_secret_key()

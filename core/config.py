"""Settings: one frozen object built from an environment mapping.

Nothing reads `os.environ` except `Settings.from_env()` when the caller passes it in
(the CLI does; tests pass a plain dict). Every field has a default, so the embedded
default (SQLite, extractive summaries, no Slack, no SMTP) needs no configuration at all.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from email.headerregistry import Address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.dates import WEEKDAYS
from core.errors import ConfigError

__all__ = [
    "Settings",
    "SETTINGS_HELP",
    "is_loopback_url",
    "parse_clock",
    "parse_duration",
    "parse_mail_from",
    "parse_weekly_at",
]

BUNDLED_SOURCES = Path(__file__).resolve().parent.parent / "sources.toml"


def _env(name: str, default: Any, help: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"env": name, "help": help, "secret": secret})


@dataclass(frozen=True)
class Settings:
    """Every setting the system reads, with its environment variable and default."""

    database_url: str = _env(
        "DATABASE_URL",
        "sqlite:///digest.db",
        "SQLAlchemy URL of the database: a SQLite file (default) or postgresql+psycopg://…",
    )
    digest_tz: str = _env("DIGEST_TZ", "UTC", "Time zone that decides which day a post belongs to")
    sources_path: str = _env(
        "DIGEST_SOURCES",
        str(BUNDLED_SOURCES),
        "Path of the sources.toml listing editions and feeds",
    )
    summariser: str = _env("DIGEST_SUMMARISER", "extractive", "Summariser: extractive | llm")
    user_agent: str = _env(
        "DIGEST_USER_AGENT",
        "EngineeringAtScaleDigest/0.1 (+https://github.com/engineering-at-scale/digest)",
        "User-Agent sent with every feed and page request",
    )
    fetch_concurrency: int = _env("FETCH_CONCURRENCY", 128, "Feeds fetched at once, overall")
    fetch_per_host: int = _env("FETCH_PER_HOST", 2, "Feeds fetched at once from one host")
    fetch_timeout: float = _env("FETCH_TIMEOUT", 20.0, "Overall deadline of one fetch, in seconds")
    fetch_max_bytes: int = _env(
        "FETCH_MAX_BYTES", 10_000_000, "Largest (decompressed) body accepted, in bytes"
    )
    fulltext: bool = _env(
        "DIGEST_FULLTEXT", True, "Fetch the page of excerpt-only posts to extract the full text"
    )
    llm_base_url: str = _env(
        "LLM_BASE_URL",
        "",
        "Base URL of an OpenAI-compatible chat API (e.g. http://localhost:11434/v1)",
    )
    llm_api_key: str = _env("LLM_API_KEY", "", "API key for LLM_BASE_URL", secret=True)
    llm_model: str = _env("LLM_MODEL", "", "Model name sent to LLM_BASE_URL")
    llm_token_budget: int = _env(
        "LLM_TOKEN_BUDGET", 200_000, "Most LLM tokens one run or worker tick may spend"
    )
    llm_time_budget: int = _env(
        "LLM_TIME_BUDGET",
        300,
        "Most seconds one run or worker tick may wait for the LLM; then the rest is extractive",
    )
    llm_max_input_chars: int = _env(
        "LLM_MAX_INPUT_CHARS",
        24_000,
        "Longest post sent to the LLM whole; longer ones are condensed",
    )
    llm_concurrency: int = _env("LLM_CONCURRENCY", 4, "LLM requests in flight at once")
    slack_bot_token: str = _env(
        "SLACK_BOT_TOKEN", "", "Bot token (xoxb-…) for one workspace", secret=True
    )
    slack_signing_secret: str = _env(
        "SLACK_SIGNING_SECRET", "", "Signing secret that verifies Slack's requests", secret=True
    )
    slack_app_token: str = _env(
        "SLACK_APP_TOKEN", "", "App token (xapp-…) for Socket Mode", secret=True
    )
    slack_channel: str = _env("SLACK_CHANNEL", "", "Default channel for the daily post")
    slack_api_url: str = _env("SLACK_API_URL", "https://slack.com/api/", "Slack Web API base URL")
    slack_client_id: str = _env("SLACK_CLIENT_ID", "", "OAuth client id (multi-workspace installs)")
    slack_client_secret: str = _env(
        "SLACK_CLIENT_SECRET", "", "OAuth client secret (multi-workspace installs)", secret=True
    )
    smtp_url: str = _env(
        "SMTP_URL",
        "",
        "SMTP server: smtp://user:pass@host:587 (STARTTLS) or smtps://…:465",
        secret=True,
    )
    mail_from: str = _env(
        "MAIL_FROM",
        "digest@localhost",
        "From of the newsletter: an address, or 'Name <address>'",
    )
    mail_rate: float = _env("MAIL_RATE", 50.0, "Most messages sent per second")
    mail_concurrency: int = _env("MAIL_CONCURRENCY", 4, "SMTP connections used at once")
    public_base_url: str = _env(
        "PUBLIC_BASE_URL",
        "http://localhost:8000",
        "Public URL of the web app; links in mail use it",
    )
    secret_key: str = _env(
        "SECRET_KEY",
        "dev-secret-change-me",
        "Key that signs subscribe/unsubscribe tokens",
        secret=True,
    )
    ingest_every: str = _env("INGEST_EVERY", "1h", "How often the worker ingests (e.g. 30m, 1h)")
    daily_at: str = _env(
        "DAILY_AT", "08:00", "When the worker posts the daily digest (HH:MM, DIGEST_TZ)"
    )
    weekly_at: str = _env(
        "WEEKLY_AT",
        "mon 09:00",
        "When the worker sends the weekly newsletter (day HH:MM, DIGEST_TZ)",
    )
    port: int = _env("PORT", 8000, "Port of the web server")
    metrics: bool = _env(
        "METRICS", False, "Serve Prometheus metrics at /metrics (to loopback clients only)"
    )
    metrics_token: str = _env(
        "METRICS_TOKEN",
        "",
        "Bearer token that lets a scraper read /metrics from any address (needs METRICS=1)",
        secret=True,
    )

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret") and value:
                value = "***"
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.digest_tz)

    @property
    def mail_from_address(self) -> str:
        """The bare address of MAIL_FROM: the envelope sender, Message-ID and List-Id domain,
        the mailto: unsubscribe."""
        return parse_mail_from(self.mail_from)[1]

    @property
    def mail_from_header(self) -> str:
        """MAIL_FROM as a From header value, the display name quoted where it must be."""
        name, address = parse_mail_from(self.mail_from)
        return str(Address(display_name=name, addr_spec=address))

    @property
    def mail_domain(self) -> str:
        return self.mail_from_address.rpartition("@")[2]

    def check_secret_key(self) -> None:
        """Refuse the built-in SECRET_KEY anywhere but on a loopback PUBLIC_BASE_URL.

        Everyone can read the default, so with it anyone could forge the confirmation and
        unsubscribe links of a public instance. Called before serving, sending or signing.
        """
        default = Settings.__dataclass_fields__["secret_key"].default
        if self.secret_key == default and not is_loopback_url(self.public_base_url):
            raise ConfigError(
                "SECRET_KEY is the built-in default, which anyone can use to forge "
                f"subscribe and unsubscribe links for {self.public_base_url}; set a secret "
                "of your own, e.g. SECRET_KEY=$(openssl rand -hex 32)"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping and validate them.

        Raises `ConfigError` naming the variable and the problem, in one line.
        """
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = f.metadata["env"]
            if name not in environ or environ[name] == "":
                continue
            raw = environ[name].strip()
            values[f.name] = _coerce(name, raw, type(f.default))
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        try:
            ZoneInfo(self.digest_tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"DIGEST_TZ: unknown time zone {self.digest_tz!r} (try Europe/London)"
            ) from None
        if self.summariser not in ("extractive", "llm"):
            raise ConfigError(
                f"DIGEST_SUMMARISER: must be extractive or llm, not {self.summariser!r}"
            )
        if self.summariser == "llm" and not (self.llm_base_url and self.llm_model):
            raise ConfigError("DIGEST_SUMMARISER=llm needs LLM_BASE_URL and LLM_MODEL")
        if "://" not in self.database_url:
            raise ConfigError(f"DATABASE_URL: not a database URL: {self.database_url!r}")
        for name, number in (
            ("FETCH_TIMEOUT", self.fetch_timeout),
            ("FETCH_CONCURRENCY", self.fetch_concurrency),
            ("FETCH_PER_HOST", self.fetch_per_host),
            ("FETCH_MAX_BYTES", self.fetch_max_bytes),
            ("MAIL_CONCURRENCY", self.mail_concurrency),
        ):
            if not number > 0:
                raise ConfigError(f"{name}: must be more than 0, got {number!r}")
        if self.mail_rate < 0:
            raise ConfigError(f"MAIL_RATE: must be 0 (no cap) or more, got {self.mail_rate!r}")
        url = urlsplit(self.public_base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(
                "PUBLIC_BASE_URL: expected an http:// or https:// URL like "
                f"https://digest.example.org, got {self.public_base_url!r}"
            )
        parse_mail_from(self.mail_from)
        parse_duration(self.ingest_every, name="INGEST_EVERY")
        parse_clock(self.daily_at, name="DAILY_AT")
        parse_weekly_at(self.weekly_at, name="WEEKLY_AT")


SETTINGS_HELP: dict[str, str] = {
    f.metadata["env"]: f.metadata["help"] for f in dataclasses.fields(Settings)
}


def _coerce(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a {kind.__name__}, got {raw!r}") from None
    return raw


def is_loopback_url(url: str) -> bool:
    """True when `url` names this machine (localhost, 127.0.0.0/8, ::1)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_mail_from(text: str) -> tuple[str, str]:
    """MAIL_FROM → (display name, address). Raises ConfigError on anything else.

    Parsed by hand rather than with `email.utils.parseaddr`, which turns
    'Engineering @ Scale <digest@example.org>' into 'Engineering@Scale' (an unquoted '@'
    is not allowed in a display name, but people write it and mean the obvious).

    ```
    >>> parse_mail_from("Engineering @ Scale <digest@example.org>")
    ('Engineering @ Scale', 'digest@example.org')
    >>> parse_mail_from("digest@example.org")
    ('', 'digest@example.org')
    ```
    """
    value = text.strip()
    name, address = "", value
    if value.endswith(">") and "<" in value:
        name, _, address = value[:-1].rpartition("<")
        name = name.strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1].replace('\\"', '"')
    local, _, domain = address.rpartition("@")
    problem = ""
    if not local or not domain or "@" in local:
        problem = "no address like digest@example.org in it"
    elif not address.isascii() or any(c.isspace() or c in '<>,;"' for c in address):
        problem = f"{address!r} is not a plain ASCII address"
    elif any(c in "<>\r\n" for c in name):
        problem = "the display name has '<', '>' or a line break in it"
    else:
        try:
            Address(addr_spec=address)
        except (ValueError, IndexError) as exc:
            problem = f"{address!r} is not a valid address ({exc})"
    if problem:
        raise ConfigError(
            f"MAIL_FROM: {problem}; expected digest@example.org or "
            f"'Engineering @ Scale <digest@example.org>', got {text!r}"
        )
    return name, address


_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")


def parse_duration(text: str, *, name: str = "duration") -> timedelta:
    """'30m' → timedelta(minutes=30). Raises ConfigError on anything else."""
    match = _DURATION.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"{name}: expected a duration like 30m, 1h or 1d, got {text!r}")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: amount})


def parse_clock(text: str, *, name: str = "time") -> time:
    """'08:00' → time(8, 0). Raises ConfigError on anything else."""
    match = re.match(r"^(\d{1,2}):(\d{2})$", text.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ConfigError(f"{name}: expected a time like 08:00, got {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def parse_weekly_at(text: str, *, name: str = "WEEKLY_AT") -> tuple[int, time]:
    """'mon 09:00' → (0, time(9, 0)); weekday 0 is Monday."""
    parts = text.strip().lower().split()
    if len(parts) != 2 or parts[0][:3] not in WEEKDAYS:
        raise ConfigError(f"{name}: expected a day and a time like 'mon 09:00', got {text!r}")
    return WEEKDAYS.index(parts[0][:3]), parse_clock(parts[1], name=name)

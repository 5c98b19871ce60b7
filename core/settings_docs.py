"""docs/configuration.md, written from the settings themselves (as Datasette writes its
settings page), so the page cannot drift from `core.config.Settings`.

    .venv/bin/python -m core.settings_docs > docs/configuration.md

`tests/test_docs.py` fails when the file and this output differ.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from core.config import BUNDLED_SOURCES, Settings

__all__ = ["PAGE", "configuration_markdown"]

PAGE = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

# Which section a setting is listed under, by the start of its variable's name (first match).
_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Storage and sources", ("DATABASE_URL", "DIGEST_TZ", "DIGEST_SOURCES")),
    ("Ingest", ("FETCH_", "DIGEST_USER_AGENT", "DIGEST_FULLTEXT")),
    ("Summaries", ("DIGEST_SUMMARISER", "LLM_")),
    ("Slack", ("SLACK_",)),
    ("Newsletter", ("SMTP_", "MAIL_")),
    ("Web app", ("PUBLIC_BASE_URL", "SECRET_KEY", "PORT", "METRICS")),
    ("Worker schedule", ("INGEST_EVERY", "DAILY_AT", "WEEKLY_AT")),
)

_INTRO = """\
# Configuration

Every setting comes from the environment (a Procfile platform's config vars); none is
required: with none set, everything runs locally on a SQLite file, with the extractive
summariser and no Slack or email. A bad value stops start-up with one line naming the
variable. Secrets (marked 🔒) are never printed: `Settings` hides them in its repr.

This page is generated from `core/config.py` (`python -m core.settings_docs`); a test
checks it is up to date.
"""


def _default(field: dataclasses.Field) -> str:  # type: ignore[type-arg]
    value = field.default
    if value == str(BUNDLED_SOURCES):
        return "the bundled `sources.toml`"
    if value in ("", None):
        return "—"
    return f"`{value}`"


def _section(env: str) -> str:
    for title, prefixes in _SECTIONS:
        if any(env == p or (p.endswith("_") and env.startswith(p)) for p in prefixes):
            return title
    return "Other"


def configuration_markdown() -> str:
    """The whole page, one table per section, settings in the order `Settings` declares."""
    rows: dict[str, list[str]] = {}
    for field in dataclasses.fields(Settings):
        env = field.metadata["env"]
        lock = " 🔒" if field.metadata.get("secret") else ""
        help_text = field.metadata["help"].replace("|", "\\|")
        line = f"| `{env}`{lock} | {_default(field)} | {help_text} |"
        rows.setdefault(_section(env), []).append(line)
    parts = [_INTRO]
    for title in [t for t, _ in _SECTIONS] + ["Other"]:
        if title in rows:
            parts.append(f"\n## {title}\n\n| variable | default | meaning |\n|---|---|---|\n")
            parts.append("\n".join(rows[title]) + "\n")
    return "".join(parts)


if __name__ == "__main__":  # pragma: no cover - writes the page
    print(configuration_markdown(), end="")

"""The docs a newcomer reads stay true: the README names every command, stays short and links
only pages that exist; docs/configuration.md is generated from the settings."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from app.cli import COMMANDS
from core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("field", dataclasses.fields(Settings), ids=lambda f: f.metadata["env"])
def test_every_setting_is_documented(field: dataclasses.Field) -> None:  # type: ignore[type-arg]
    assert f"`{field.metadata['env']}`" in CONFIGURATION


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_in_the_readme(name: str) -> None:
    assert f"digest {name}" in README


def test_the_configuration_page_is_generated_from_the_settings() -> None:
    from core.settings_docs import PAGE, configuration_markdown

    assert PAGE.read_text(encoding="utf-8") == configuration_markdown(), (
        "docs/configuration.md is out of date: .venv/bin/python -m core.settings_docs "
        "> docs/configuration.md"
    )


def test_the_readme_is_short_and_its_links_lead_somewhere() -> None:
    assert len(README.splitlines()) <= 200
    links = re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)(?:#[\w-]+)?\)", README)
    assert "docs/configuration.md" in links
    for link in links:
        assert (ROOT / link).is_file(), link
    for page in (ROOT / "docs").glob("*.md"):
        for link in re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]+)?\)", page.read_text("utf-8")):
            assert (page.parent / link).resolve().is_file(), (page.name, link)

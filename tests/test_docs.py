"""The README documents every setting and every top-level command."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from app.cli import COMMANDS
from core.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("field", dataclasses.fields(Settings), ids=lambda f: f.metadata["env"])
def test_every_setting_is_in_the_readme(field: dataclasses.Field) -> None:  # type: ignore[type-arg]
    assert f"`{field.metadata['env']}`" in README


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_in_the_readme(name: str) -> None:
    assert f"digest {name}" in README


def test_the_configuration_page_is_generated_from_the_settings() -> None:
    from core.settings_docs import PAGE, configuration_markdown

    assert PAGE.read_text(encoding="utf-8") == configuration_markdown(), (
        "docs/configuration.md is out of date: .venv/bin/python -m core.settings_docs "
        "> docs/configuration.md"
    )

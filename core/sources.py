"""sources.toml → editions and sources, with errors that name the edition or feed."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.model import Edition, Source

__all__ = ["DEFAULT_EDITION", "Catalogue", "default_edition", "load_sources"]

DEFAULT_EDITION = "tech"
"""The edition a command, a `/digest` or a page means when it names none (if declared)."""


def default_edition(keys: Iterable[str]) -> str:
    """`DEFAULT_EDITION` if among `keys`, else the first key (`DEFAULT_EDITION` if none)."""
    keys = list(keys)
    return DEFAULT_EDITION if DEFAULT_EDITION in keys or not keys else keys[0]


@dataclass(frozen=True)
class Catalogue:
    """Everything sources.toml declares."""

    editions: dict[str, Edition]
    sources: tuple[Source, ...]

    def select(self, *, edition: str | None = None, name: str | None = None) -> list[Source]:
        """Enabled sources, optionally of one edition or one name (case-insensitive)."""
        if edition is not None and edition not in self.editions:
            raise ConfigError(
                f"unknown edition {edition!r} (known: {', '.join(sorted(self.editions))})"
            )
        chosen = [s for s in self.sources if s.enabled]
        if edition is not None:
            chosen = [s for s in chosen if s.edition == edition]
        if name is not None:
            chosen = [s for s in self.sources if s.name.lower() == name.lower()]
            if not chosen:
                raise ConfigError(f"no source named {name!r} in the sources file")
        return chosen

    @property
    def default(self) -> str:
        """The edition meant when none is named: tech, or else the first one declared."""
        return default_edition(self.editions)

    def edition(self, key: str) -> Edition:
        if key not in self.editions:
            raise ConfigError(
                f"unknown edition {key!r} (known: {', '.join(sorted(self.editions))})"
            )
        return self.editions[key]


def load_sources(path: str | Path) -> Catalogue:
    """Read and validate a sources file.

    Raises `ConfigError` naming the file and the edition or source at fault.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"sources file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    editions = {key: _edition(path, key, value) for key, value in data.get("editions", {}).items()}
    if not editions:
        raise ConfigError(f"{path}: no [editions.*] tables")
    sources: list[Source] = []
    seen: set[str] = set()
    for index, raw in enumerate(data.get("sources", []), start=1):
        source = _source(path, index, raw, editions)
        if source.name.lower() in seen:
            raise ConfigError(f"{path}: source {source.name!r} is listed twice")
        seen.add(source.name.lower())
        sources.append(source)
    return Catalogue(editions=editions, sources=tuple(sources))


def _edition(path: Path, key: str, raw: Any) -> Edition:
    if not isinstance(raw, dict) or not raw.get("title"):
        raise ConfigError(f"{path}: edition {key!r} needs a title")
    known = {"title", "description", "signal_title", "deep_dives_title", "patterns_title"}
    return Edition(key=key, **{k: str(v) for k, v in raw.items() if k in known})


def _source(path: Path, index: int, raw: Any, editions: dict[str, Edition]) -> Source:
    where = f"{path}: source #{index}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} is not a table")
    name = raw.get("name")
    if name:
        where = f"{path}: source {name!r}"
    for key in ("name", "company", "url", "edition"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ConfigError(f"{where} needs a {key}")
    if raw["edition"] not in editions:
        raise ConfigError(f"{where}: unknown edition {raw['edition']!r}")
    try:
        weight = float(raw.get("weight", 1.0))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: weight must be a number") from None
    url = raw["url"].strip()
    if "://" not in url and not url.startswith("/"):
        url = str((path.parent / url).resolve())  # a local file path, relative to the sources file
    return Source(
        name=raw["name"].strip(),
        company=raw["company"].strip(),
        url=url,
        edition=raw["edition"],
        tags=tuple(str(t) for t in raw.get("tags", ())),
        weight=weight,
        enabled=bool(raw.get("enabled", True)),
    )

"""sources.toml → editions and sources, with errors that name the edition or feed; and the
edits `digest sources add|remove|enable|disable|import` make to that file.

Edits keep the file as its author wrote it: comments, blank lines and order. tomlkit writes
each new or changed `[[sources]]` table; the file is spliced a table at a time, because
tomlkit files a comment above a table under the table before it, so removing or changing
one table through the whole document would move or drop its neighbour's comment. A comment
directly above a `[[sources]]` line belongs to that source. Every edit is checked before it
is written: the new file must read back as exactly the old data with that one change, and
load as a valid catalogue; otherwise nothing is written.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from core.errors import ConfigError
from core.model import Edition, Source
from storage.feeds import retire_sources, sync_sources

__all__ = [
    "DEFAULT_EDITION",
    "Catalogue",
    "NewSource",
    "add_sources",
    "default_edition",
    "load_sources",
    "mirror_catalogue",
    "remove_source",
    "set_enabled",
]

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


def mirror_catalogue(catalogue: Catalogue, *, session: Session, now: datetime) -> list[str]:
    """Mirror the sources file into the feed table: a row per source, enabled or not, and
    every other row marked removed (kept, with its articles). Returns the names newly
    removed. Commits; a few statements, so every listing can call it first.
    """
    sync_sources(catalogue.sources, session=session)
    return retire_sources([s.name for s in catalogue.sources], session=session, now=now)


def load_sources(path: str | Path) -> Catalogue:
    """Read and validate a sources file.

    Raises `ConfigError` naming the file and the edition or source at fault.
    """
    path = Path(path)
    return _catalogue(path, _read_data(path))


def _read_data(path: Path, text: str | None = None) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8") if text is None else text)
    except FileNotFoundError:
        raise ConfigError(f"sources file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _catalogue(path: Path, data: dict[str, Any]) -> Catalogue:
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


# --- editing the file ---------------------------------------------------------------------


@dataclass(frozen=True)
class NewSource:
    """A source to add: what `[[sources]]` gets (tags and weight only when given)."""

    name: str
    company: str
    url: str
    edition: str
    tags: tuple[str, ...] = ()


def add_sources(path: str | Path, sources: Sequence[NewSource]) -> Catalogue:
    """Append sources at the end of the file, in order; returns the new catalogue.

    Raises `ConfigError`, writing nothing, for a name or URL already in the file (or twice
    in `sources`) or an unknown edition.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    data = _read_data(path, text)
    catalogue = _catalogue(path, data)
    names = {s.name.lower(): s.name for s in catalogue.sources}
    urls = {s.url: s.name for s in catalogue.sources}
    blocks = []
    expected = copy.deepcopy(data)
    for new in sources:
        if new.name.lower() in names:
            raise ConfigError(f"a source named {names[new.name.lower()]!r} is already in {path}")
        if new.url in urls:
            raise ConfigError(f"{new.url} is already in {path}, as {urls[new.url]!r}")
        catalogue.edition(new.edition)
        names[new.name.lower()] = new.name
        urls[new.url] = new.name
        table: dict[str, Any] = {
            "name": new.name,
            "company": new.company,
            "url": new.url,
            "edition": new.edition,
        }
        if new.tags:
            table["tags"] = list(new.tags)
        expected.setdefault("sources", []).append(table)
        blocks.append(_render(table))
    if not blocks:
        return catalogue
    tail = text if not text or text.endswith("\n") else text + "\n"
    return _write(path, tail + "".join("\n" + block for block in blocks), expected)


def remove_source(path: str | Path, name: str) -> Source:
    """Delete a source's table (and the comment right above it); returns what it was."""
    path = Path(path)
    text, data, index = _locate(path, name)
    lines = text.splitlines(keepends=True)
    start, end = _block(lines, index)
    while start > 0 and _is_comment(lines[start - 1]):
        start -= 1
    while end < len(lines) and not lines[end].strip():
        end += 1  # the blank lines that separated it from the next table
    removed = _catalogue(path, data).sources[index]
    expected = copy.deepcopy(data)
    del expected["sources"][index]
    _write(path, "".join(lines[:start] + lines[end:]), expected)
    return removed


def set_enabled(path: str | Path, name: str, enabled: bool) -> Source:
    """Disable a source (`enabled = false`) or enable it again (the key removed: the default);
    returns the source as it now is. Its other lines and comments are left as they are."""
    path = Path(path)
    text, data, index = _locate(path, name)
    lines = text.splitlines(keepends=True)
    start, end = _block(lines, index)
    import tomlkit

    table = tomlkit.parse("".join(lines[start:end]))
    entry = table["sources"][0]
    expected = copy.deepcopy(data)
    if enabled:
        entry.pop("enabled", None)
        expected["sources"][index].pop("enabled", None)
    else:
        entry["enabled"] = False
        expected["sources"][index]["enabled"] = False
    block = tomlkit.dumps(table)
    block = block if block.endswith("\n") else block + "\n"
    catalogue = _write(path, "".join(lines[:start]) + block + "".join(lines[end:]), expected)
    return catalogue.sources[index]


def _render(table: dict[str, Any]) -> str:
    import tomlkit  # only the edits need it

    return tomlkit.dumps({"sources": [table]})


def _locate(path: Path, name: str) -> tuple[str, dict[str, Any], int]:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    data = _read_data(path, text)
    for index, source in enumerate(_catalogue(path, data).sources):
        if source.name.lower() == name.strip().lower():
            return text, data, index
    raise ConfigError(f"no source named {name!r} in {path}")


_HEADER = re.compile(r"^\s*\[")
_SOURCES_HEADER = re.compile(r"^\s*\[\[\s*sources\s*\]\]\s*(#.*)?$")


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _block(lines: list[str], index: int) -> tuple[int, int]:
    """Lines [start, end) of the index-th `[[sources]]` table: its header and keys, without
    the blank and comment lines at its end (those lead the next table or end the file)."""
    headers = [i for i, line in enumerate(lines) if _HEADER.match(line)]
    tables = [i for i in headers if _SOURCES_HEADER.match(lines[i])]
    if index >= len(tables):
        raise ConfigError("the sources file has a layout this command cannot edit")
    start = tables[index]
    following = [i for i in headers if i > start]
    end = following[0] if following else len(lines)
    while end > start + 1 and (not lines[end - 1].strip() or _is_comment(lines[end - 1])):
        end -= 1
    return start, end


def _write(path: Path, text: str, expected: dict[str, Any]) -> Catalogue:
    """Check the new text, then replace the file in one step (a crash leaves the old one)."""
    data = _read_data(path, text)
    if _without_empty(data) != _without_empty(expected):
        raise ConfigError(f"{path} has a layout this command cannot edit safely; edit it by hand")
    catalogue = _catalogue(path, data)
    _replace(path, text)
    return catalogue


def _without_empty(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key != "sources" or value}


def _replace(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

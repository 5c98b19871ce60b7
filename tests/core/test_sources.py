"""sources.toml: the bundled catalogue, and errors that name the edition or feed."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import BUNDLED_SOURCES
from core.discover import feed_links
from core.errors import ConfigError
from core.sources import (
    NewSource,
    add_sources,
    default_edition,
    load_sources,
    remove_source,
    set_enabled,
)


def test_the_bundled_catalogue_has_three_editions_and_31_company_blogs() -> None:
    catalogue = load_sources(BUNDLED_SOURCES)
    assert set(catalogue.editions) == {"tech", "reads", "videos"}
    tech = catalogue.select(edition="tech")
    assert len(tech) == 31
    companies = {s.name: s.company for s in tech}
    assert companies["Facebook Code"] == "Meta"
    assert {s.company for s in tech if "Netflix" in s.name} == {"Netflix"}
    assert {s.company for s in tech if "GitHub" in s.name} == {"GitHub"}
    videos = catalogue.select(edition="videos")
    assert videos and all("youtube.com/feeds/videos.xml" in s.url for s in videos)
    assert catalogue.select(edition="reads")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_local_file_source_resolves_relative_to_the_sources_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[editions.tech]
title = "Engineering @ Scale"
[[sources]]
name = "Archive"
company = "Acme"
url = "archive/feed.xml"
edition = "tech"
""",
    )
    [source] = load_sources(path).select()
    assert source.url == str(tmp_path / "archive" / "feed.xml")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[editions.tech]\ntitle = "T"\n[[sources]]\nname = "A"\ncompany = "A"\nedition = "tech"\n',
            "source 'A' needs a url",
        ),
        (
            '[editions.tech]\ntitle = "T"\n[[sources]]\nname = "A"\ncompany = "A"\nurl = "http://x"\nedition = "nope"\n',
            "unknown edition 'nope'",
        ),
        ('[[sources]]\nname = "A"\n', "no [editions.*]"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_a_broken_sources_file_names_the_culprit(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("*", r"\*")):
        load_sources(_write(tmp_path, body))


def test_select_by_name_and_unknown_edition() -> None:
    catalogue = load_sources(BUNDLED_SOURCES)
    assert [s.company for s in catalogue.select(name="netflix tech blog")] == ["Netflix"]
    with pytest.raises(ConfigError, match="unknown edition"):
        catalogue.select(edition="sports")


def test_the_default_edition_is_tech_or_else_the_first_declared(tmp_path: Path) -> None:
    assert load_sources(BUNDLED_SOURCES).default == "tech"
    path = _write(
        tmp_path,
        """
[editions.reads]
title = "Engineering Reads"
[editions.videos]
title = "Tech Videos"
""",
    )
    assert load_sources(path).default == "reads"
    assert default_edition([]) == "tech"


FILE = """# editions first
[editions.tech]
title = "T"  # the title

# Alpha's note
[[sources]]
name = "Alpha"
company = "A"
url = "https://a.example/feed"
edition = "tech"
tags = ["data"]  # why data

# Beta's note
[[sources]]
name = "Beta"
company = "B"
url = "https://b.example/feed"
edition = "tech"

# the end
"""


def test_edits_keep_every_other_line_and_comment(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(FILE)

    set_enabled(path, "alpha", False)
    assert 'tags = ["data"]  # why data\nenabled = false\n\n# Beta\'s note' in path.read_text()
    set_enabled(path, "Alpha", True)
    assert path.read_text() == FILE
    add_sources(path, [NewSource("Gamma", "G", "https://g.example/feed", "tech", ("security",))])
    assert path.read_text().startswith(FILE)
    assert path.read_text().endswith(
        '\n[[sources]]\nname = "Gamma"\ncompany = "G"\n'
        'url = "https://g.example/feed"\nedition = "tech"\n'
        'tags = ["security"]\n'
    )
    remove_source(path, "Alpha")
    text = path.read_text()
    assert "Alpha" not in text and "# Beta's note\n[[sources]]" in text
    assert "# the end" in text and "# editions first" in text
    assert [s.name for s in load_sources(path).sources] == ["Beta", "Gamma"]


def test_a_layout_it_cannot_edit_safely_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    inline = (
        'sources = [{name = "A", company = "A", url = "https://a.example/", edition = "tech"}]\n'
    )
    text = inline + '[editions.tech]\ntitle = "T"\n'
    path.write_text(text)
    with pytest.raises(ConfigError, match="cannot edit"):
        remove_source(path, "A")
    with pytest.raises(ConfigError, match="cannot edit"):
        set_enabled(path, "A", False)
    assert path.read_text() == text


def test_feed_links_are_the_pages_feed_alternates_made_absolute() -> None:
    page = b"""<html><head>
    <link rel="stylesheet" href="/s.css">
    <link rel="alternate" hreflang="de" href="/de/">
    <LINK REL="Alternate" TYPE="application/atom+xml" HREF="atom.xml">
    <link rel="alternate" type="application/rss+xml; charset=utf-8" href="https://cdn.example/rss">
    <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
    </head></html>"""
    assert feed_links(page, base="https://blog.example/posts/") == [
        "https://blog.example/posts/atom.xml",
        "https://cdn.example/rss",
    ]

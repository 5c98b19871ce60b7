"""`digest sources`: listing that follows the sources file, and the subcommands that edit it,
against the loopback feed server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.pipeline import Pipeline
from app.wiring import Runtime
from core.config import Settings
from tests.peers.feeds import FEEDS, FeedServer, feed_server

HEAD = """# Our feeds (a comment that must survive edits)

[editions.tech]
title = "Engineering @ Scale"

[editions.videos]
title = "Tech Videos"
"""


def _source(name: str, url: str, edition: str = "tech") -> str:
    return f'\n[[sources]]\nname = "{name}"\ncompany = "Example"\nurl = "{url}"\nedition = "{edition}"\n'


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


@pytest.fixture
def sources_file(tmp_path: Path, server: FeedServer) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(
        HEAD
        + _source("Example Medium", server.url("/medium-rss/feed.xml"))
        + "\n# the talks feed"
        + _source("Example Talks", server.url("/youtube/feed.xml"), "videos"),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def runtime(sources_file: Path, sqlite_url: str) -> Iterator[Runtime]:
    settings = Settings.from_env({"DATABASE_URL": sqlite_url, "DIGEST_SOURCES": str(sources_file)})
    runtime = Runtime(settings=settings)
    yield runtime
    runtime.close()


def run_ingest(runtime: Runtime, **options: object) -> dict[str, int]:
    return Pipeline(runtime).ingest(**options).counts()  # type: ignore[arg-type]


def _invoke(runtime: Runtime, *args: str):
    # a fresh Runtime view of the file each time, as a new `digest` process would have
    runtime.__dict__.pop("catalogue", None)
    return CliRunner().invoke(cli, list(args), obj=runtime)


def _listed(runtime: Runtime, *args: str) -> dict[str, dict]:
    result = _invoke(runtime, "sources", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return {item["name"]: item for item in json.loads(result.output)}


# --- the listing follows the file ---------------------------------------------------------


def test_a_source_taken_out_of_the_file_leaves_the_list_but_keeps_its_articles(
    runtime, sources_file, server
):
    run_ingest(runtime, fulltext=False)
    sources_file.write_text(HEAD + _source("Example Medium", server.url("/medium-rss/feed.xml")))

    assert list(_listed(runtime)) == ["Example Medium"]
    everything = _listed(runtime, "--all")
    talks = everything["Example Talks"]
    assert (talks["status"], talks["articles"]) == ("removed", 1)
    assert talks["removed"] is not None
    table = _invoke(runtime, "sources", "--all").output
    assert "Example Talks" in table and "removed" in table
    run_ingest(runtime, fulltext=False)  # the ingest does not bring it back
    assert list(_listed(runtime)) == ["Example Medium"]


def test_a_warning_stays_listed_until_a_clean_fetch(runtime, sources_file, server):
    sources_file.write_text(HEAD + _source("Sloppy", server.url("/feed.xml")))
    server.files["/feed.xml"] = (FEEDS / "broken-xml" / "feed.xml").read_bytes()
    run_ingest(runtime, fulltext=False)
    run_ingest(runtime, fulltext=False)  # unchanged: the feed still has its errors

    sloppy = _listed(runtime)["Sloppy"]
    assert sloppy["status"] == "ok"
    assert sloppy["warning"].startswith("the feed has XML errors")
    assert "warning: the feed has XML errors" in _invoke(runtime, "sources").output

    server.files["/feed.xml"] = (FEEDS / "medium-rss" / "feed.xml").read_bytes()
    run_ingest(runtime, fulltext=False)
    assert _listed(runtime)["Sloppy"]["warning"] is None


# --- add, remove, disable, enable ---------------------------------------------------------


def test_add_a_page_url_resolves_its_feed_and_keeps_the_files_comments(
    runtime, sources_file, server
):
    sources_file.write_text(
        HEAD + _source("Example Talks", server.url("/youtube/feed.xml"), "videos")
    )
    before = sources_file.read_text()

    result = _invoke(
        runtime,
        "sources",
        "add",
        server.url("/blog-home/index.html"),
        "--company",
        "Example Co",
        "--tag",
        "data",
    )

    assert result.exit_code == 0, result.output
    feed = server.url("/medium-rss/feed.xml")
    assert f"Added Example Tech Blog - Medium to tech: {feed} (found on" in result.output
    text = sources_file.read_text()
    assert text.startswith(before)  # comments, order and every line before kept
    listed = _listed(runtime)
    added = listed[next(n for n in listed if n != "Example Talks")]
    assert (added["url"], added["company"], added["edition"], added["tags"]) == (
        feed,
        "Example Co",
        "tech",
        ["data"],
    )
    assert added["status"] == "never"  # checked, not ingested
    assert server.paths().count("/medium-rss/feed.xml") == 1  # the feed fetched once


def test_add_as_json_says_what_was_added_and_where_it_was_found(runtime, sources_file, server):
    sources_file.write_text(HEAD + _source("Example Talks", server.url("/youtube/feed.xml")))
    page = server.url("/blog-home/index.html")
    result = _invoke(runtime, "sources", "add", page, "--name", "Blog", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "name": "Blog",
        "company": "Blog",
        "url": server.url("/medium-rss/feed.xml"),
        "edition": "tech",  # the catalogue's default
        "tags": [],
        "entries": 2,
        "found_on": page,
    }
    feed = server.url("/hugo-site/feed.xml")
    direct = _invoke(runtime, "sources", "add", feed, "-e", "videos", "--format", "json")
    added = json.loads(direct.stdout)
    assert (added["edition"], added["found_on"]) == ("videos", None)
    assert _listed(runtime)[added["name"]]["edition"] == "videos"


def test_add_defaults_to_tech_even_when_another_edition_comes_first(runtime, sources_file, server):
    videos_first = '[editions.videos]\ntitle = "Tech Videos"\n\n[editions.tech]\ntitle = "E"\n'
    sources_file.write_text(videos_first + _source("Talks", server.url("/youtube/feed.xml")))
    result = _invoke(runtime, "sources", "add", server.url("/hugo-site/feed.xml"))
    assert result.exit_code == 0, result.output
    assert " to tech: " in result.output


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["/html-page/feed.xml"], "is not a feed (the server sent an HTML page, not a feed)"),
        (
            ["/medium-rss/feed.xml", "--name", "example medium"],
            "a source named 'Example Medium' is already",
        ),
        (["/medium-rss/feed.xml", "--name", "Other"], "is already in"),
        (["/youtube/feed.xml", "--edition", "nope"], "unknown edition 'nope'"),
        (["/status/404"], "could not fetch"),
    ],
)
def test_bad_additions_are_one_line_and_change_nothing(runtime, sources_file, server, args, error):
    before = sources_file.read_text()
    url = server.url(args[0])
    result = _invoke(runtime, "sources", "add", url, *args[1:])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and error in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert sources_file.read_text() == before


def test_remove_keeps_the_articles_and_the_comment_of_the_next_source(runtime, sources_file):
    run_ingest(runtime, fulltext=False)
    result = _invoke(runtime, "sources", "remove", "example medium")
    assert result.exit_code == 0, result.output
    assert "Removed Example Medium from tech" in result.output
    text = sources_file.read_text()
    assert "Example Medium" not in text
    assert text.startswith("# Our feeds") and "# the talks feed\n[[sources]]" in text
    assert list(_listed(runtime)) == ["Example Talks"]
    assert _listed(runtime, "--all")["Example Medium"]["articles"] == 2
    again = _invoke(runtime, "sources", "remove", "Example Medium")
    assert again.exit_code == 1 and "no source named 'Example Medium'" in again.output


def test_disable_and_enable_edit_only_that_source(runtime, sources_file):
    before = sources_file.read_text()
    assert _invoke(runtime, "sources", "disable", "Example Talks").exit_code == 0
    assert _listed(runtime)["Example Talks"]["status"] == "disabled"
    assert run_ingest(runtime, fulltext=False)["sources"] == 1  # not fetched
    assert 'edition = "videos"\nenabled = false\n' in sources_file.read_text()
    assert _invoke(runtime, "sources", "enable", "Example Talks").exit_code == 0
    assert sources_file.read_text() == before
    assert _listed(runtime)["Example Talks"]["status"] == "never"


def test_a_page_naming_a_feed_on_a_private_address_is_refused(runtime, sources_file, server):
    before = sources_file.read_text()
    port = server.url("").rsplit(":", 1)[1]
    inner = f"http://localhost:{port}/medium-rss/feed.xml"  # loopback under another name
    server.files["/page.html"] = (
        f'<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml" '
        f'href="{inner}"></head></html>'
    ).encode()
    result = _invoke(runtime, "sources", "add", server.url("/page.html"))
    assert result.exit_code == 1
    assert f"names a feed ({inner}) that could not be read" in result.output
    assert "private" in result.output or "refused" in result.output, result.output
    assert "/medium-rss/feed.xml" not in server.paths()
    assert sources_file.read_text() == before


# --- OPML ---------------------------------------------------------------------------------

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>My reader</title></head><body>
  <outline text="Engineering">
    <outline type="rss" text="Example Medium" xmlUrl="{medium}"/>
    <outline type="rss" text="Hugo Notes" xmlUrl="{hugo}" category="data"/>
  </outline>
  <outline type="rss" text="Video Corner" xmlUrl="{atom}" category="videos"/>
</body></opml>
"""


def _reader_opml(folder: Path, server: FeedServer) -> Path:
    """Another reader's export: one feed already in the sources file, two new ones."""
    opml = folder / "reader.opml"
    opml.write_text(
        OPML.format(
            medium=server.url("/medium-rss/feed.xml"),
            hugo=server.url("/hugo-site/feed.xml"),
            atom=server.url("/atom-excerpts/feed.xml"),
        )
    )
    return opml


def test_import_opml_adds_new_feeds_and_skips_known_ones(runtime, sources_file, server, tmp_path):
    opml = _reader_opml(tmp_path, server)
    result = _invoke(runtime, "sources", "import", str(opml), "--edition", "tech")
    assert result.exit_code == 0, result.output
    assert "skipped Example Medium: already in the sources file" in result.output
    assert "Imported 2 of 3 feeds" in result.output
    listed = _listed(runtime)
    assert (listed["Hugo Notes"]["edition"], listed["Hugo Notes"]["tags"]) == ("tech", ["data"])
    assert listed["Video Corner"]["edition"] == "videos"
    assert "# the talks feed" in sources_file.read_text()


def test_import_as_json_lists_what_was_added_and_the_notes(runtime, sources_file, server, tmp_path):
    opml = _reader_opml(tmp_path, server)
    result = _invoke(runtime, "sources", "import", str(opml), "-e", "tech", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["feeds"] == 3
    assert report["notes"] == ["skipped Example Medium: already in the sources file"]
    imported = {s["name"]: (s["edition"], s["url"], s["tags"]) for s in report["imported"]}
    assert imported == {
        "Hugo Notes": ("tech", server.url("/hugo-site/feed.xml"), ["data"]),
        "Video Corner": ("videos", server.url("/atom-excerpts/feed.xml"), []),
    }


def test_import_of_a_file_with_no_feeds_is_one_line(runtime, sources_file, tmp_path):
    before = sources_file.read_text()
    junk = tmp_path / "junk.opml"
    junk.write_text("this is not OPML")
    result = _invoke(runtime, "sources", "import", str(junk))
    assert result.exit_code == 1 and "lists no feeds" in result.output
    missing = _invoke(runtime, "sources", "import", str(tmp_path / "nope.opml"))
    assert missing.exit_code == 1 and missing.output.startswith("Error: cannot read")
    assert sources_file.read_text() == before


def test_export_opml_imports_back_into_the_same_editions(
    runtime, sources_file, tmp_path, sqlite_url
):
    exported = _invoke(runtime, "sources", "export")
    assert exported.exit_code == 0 and exported.output.startswith("<?xml")
    opml = tmp_path / "out.opml"
    opml.write_text(exported.output)
    fresh = tmp_path / "fresh.toml"
    fresh.write_text(HEAD)
    other = Runtime(settings=runtime.settings, sources_path=str(fresh))
    try:
        assert _invoke(other, "sources", "import", str(opml)).exit_code == 0
        listed = _listed(other)
    finally:
        other.close()
    assert {n: s["edition"] for n, s in listed.items()} == {
        "Example Medium": "tech",
        "Example Talks": "videos",
    }
    toml = _invoke(runtime, "sources", "export", "--format", "toml")
    assert toml.output == sources_file.read_text()

"""`digest sources`: listing that follows the sources file, and the subcommands that edit it,
against the loopback feed server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.commands.ingest import run_ingest
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
        + "# the talks feed\n"
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

"""core.fetch against a real local feed server: validators, redirects, limits, failures."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from core.fetch import parse_retry_after
from tests.core.conftest import LoopFetcher
from tests.peers.feeds import FEEDS, FeedServer, feed_server
from tests.peers.tls import self_signed, server_context

LOCAL = frozenset({"127.0.0.1"})
NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


def _no_dns(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
    if host == "127.0.0.1":
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture
def fetcher() -> Iterator[LoopFetcher]:
    fetcher = LoopFetcher(resolve=_no_dns)
    yield fetcher
    fetcher.close()


def test_first_fetch_returns_the_body_and_its_validators(server, fetcher):
    result = fetcher.feed(server.url("/medium-rss/feed.xml"), allowed_hosts=LOCAL)
    assert result.error is None
    assert result.status == 200
    assert result.body == (FEEDS / "medium-rss/feed.xml").read_bytes()
    assert result.etag and result.etag.startswith('"')
    assert result.last_modified == "Tue, 31 Mar 2026 18:00:00 GMT"


def test_conditional_fetch_sends_the_stored_validators_and_gets_304(server, fetcher):
    url = server.url("/medium-rss/feed.xml")
    first = fetcher.feed(url, allowed_hosts=LOCAL)
    second = fetcher.feed(
        url, etag=first.etag, last_modified=first.last_modified, allowed_hosts=LOCAL
    )
    assert second.not_modified
    assert second.body == b""
    sent = server.requests[1].headers
    assert sent["if-none-match"] == first.etag
    assert sent["if-modified-since"] == first.last_modified


def test_a_changed_feed_answers_200_despite_old_validators(server, fetcher):
    url = server.url("/medium-rss/feed.xml")
    first = fetcher.feed(url, allowed_hosts=LOCAL)
    server.files["/medium-rss/feed.xml"] = b"<rss><channel><title>new</title></channel></rss>"
    second = fetcher.feed(
        url, etag=first.etag, last_modified=first.last_modified, allowed_hosts=LOCAL
    )
    assert second.status == 200
    assert second.body.startswith(b"<rss>")


@pytest.mark.parametrize("code", [301, 308])
def test_a_permanent_redirect_is_reported_for_remembering(server, fetcher, code):
    result = fetcher.feed(server.url(f"/redirect/{code}/youtube/feed.xml"), allowed_hosts=LOCAL)
    assert result.status == 200
    assert result.permanent_redirect == server.url("/youtube/feed.xml")
    assert result.final_url == server.url("/youtube/feed.xml")


@pytest.mark.parametrize("code", [302, 307])
def test_a_temporary_redirect_is_followed_but_not_remembered(server, fetcher, code):
    result = fetcher.feed(server.url(f"/redirect/{code}/youtube/feed.xml"), allowed_hosts=LOCAL)
    assert result.status == 200
    assert result.permanent_redirect is None


def test_a_redirect_loop_stops_after_five_hops(server, fetcher):
    from tests.peers.http import Response

    server.routes["/loop"] = lambda request: Response(status=302, headers={"Location": "/loop"})
    result = fetcher.feed(server.url("/loop"), allowed_hosts=LOCAL)
    assert result.error == "more than 5 redirects"
    assert len(server.requests) == 6


def test_429_with_retry_after_seconds_sets_when_to_come_back(server, fetcher):
    result = fetcher.feed(server.url("/status/429?retry=120"), allowed_hosts=LOCAL, now=NOW)
    assert result.status == 429
    assert result.retry_after == NOW + timedelta(seconds=120)
    assert "429" in (result.error or "")


def test_retry_after_reads_http_dates_and_ignores_garbage():
    assert parse_retry_after("Wed, 01 Apr 2026 09:10:00 GMT", now=NOW) == NOW + timedelta(
        minutes=10
    )
    assert parse_retry_after("banana", now=NOW) is None
    assert parse_retry_after("999999999", now=NOW) == NOW + timedelta(hours=24)


def test_410_is_reported_with_its_status(server, fetcher):
    result = fetcher.feed(server.url("/status/410"), allowed_hosts=LOCAL)
    assert result.status == 410
    assert result.error == "the server answered 410 Gone"


def test_a_server_that_never_answers_hits_the_overall_deadline(server, fetcher):
    result = fetcher.feed(
        server.url("/slow/medium-rss/feed.xml?delay=3"), timeout=0.5, allowed_hosts=LOCAL
    )
    assert result.error == "no answer from 127.0.0.1 within 0.5 s"


def test_a_body_dripped_byte_by_byte_hits_the_overall_deadline(server, fetcher):
    # each byte arrives well within the per-read timeout; only the overall deadline stops it
    result = fetcher.feed(server.url("/drip?bytes=30&every=0.1"), timeout=1.0, allowed_hosts=LOCAL)
    assert result.error is not None
    assert "too slowly" in result.error or "within 1 s" in result.error
    assert result.body == b""


@pytest.mark.parametrize("path", ["/huge", "/huge?chunked=1"])
def test_an_oversized_body_stops_at_the_cap(server, fetcher, path):
    result = fetcher.feed(server.url(path), allowed_hosts=LOCAL)
    assert result.error == "the body is larger than 10 MB"
    assert result.body == b""


def test_a_gzip_bomb_stops_at_the_decompressed_cap(server, fetcher):
    result = fetcher.feed(server.url("/gzip-bomb"), max_bytes=1_000_000, allowed_hosts=LOCAL)
    assert result.error == "the body is larger than 1 MB"


def test_dns_failure_is_reported_in_plain_words(fetcher):
    result = fetcher.feed("http://blog.invalid/feed.xml")
    assert result.error == "could not resolve host blog.invalid (DNS)"
    assert result.never_connected


def test_a_closed_port_is_reported_as_refused(fetcher):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = fetcher.feed(f"http://127.0.0.1:{port}/feed.xml", allowed_hosts=LOCAL)
    assert result.error == "127.0.0.1 refused the connection"
    assert result.never_connected


def test_an_untrusted_certificate_is_reported_in_plain_words(fetcher, tmp_path):
    """Feeds over HTTPS are verified: a self-signed certificate is refused, and said so
    (it is a ValueError too, never "not a valid URL"); the publisher's server was reached."""
    with feed_server(tls=server_context(*self_signed(tmp_path))) as secure:
        result = fetcher.feed(secure.url("/medium-rss/feed.xml"), allowed_hosts=LOCAL)
    assert result.error == "the certificate of 127.0.0.1 is not trusted (self-signed certificate)"
    assert not result.never_connected


def test_a_server_error_is_not_a_failure_to_connect(server, fetcher):
    result = fetcher.feed(server.url("/status/500"), allowed_hosts=LOCAL)
    assert result.status == 500 and not result.never_connected


def test_a_local_file_source_is_read_from_disk(fetcher):
    path = FEEDS / "rss1-rdf/feed.xml"
    result = fetcher.feed(str(path))
    assert result.status == 200
    assert result.body == path.read_bytes()


def test_a_missing_local_file_is_an_error(fetcher, tmp_path):
    result = fetcher.feed(str(tmp_path / "nope.xml"))
    assert result.error and result.error.startswith("cannot read")


def test_fetch_page_refuses_non_http_links(fetcher):
    result = fetcher.page("file:///etc/passwd")
    assert result.error == "refused to follow a file: link"

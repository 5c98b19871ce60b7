"""core.netguard: links found in feeds never reach private addresses unless allowed."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from core.netguard import is_public_address
from tests.core.conftest import LoopFetcher
from tests.peers.feeds import FeedServer, feed_server

REFUSED = "it is on a private network address"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


def _resolver(names: dict[str, str]):
    """DNS as a dict: tests decide what each name resolves to, without the network."""

    def resolve(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        address = names.get(host, host)
        try:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            socket.inet_pton(family, address)
        except OSError:
            if address.isdigit():  # 2130706433 is 127.0.0.1 to inet_aton
                address = socket.inet_ntoa(int(address).to_bytes(4, "big"))
                family = socket.AF_INET
            else:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    return resolve


@pytest.fixture
def fetcher() -> Iterator[LoopFetcher]:
    names = {"feeds.test": "127.0.0.1", "internal.test": "10.0.0.5", "rebind.test": "127.0.0.1"}
    fetcher = LoopFetcher(resolve=_resolver(names))
    yield fetcher
    fetcher.close()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("not an address", False),
    ],
)
def test_only_globally_routable_addresses_are_public(address, public):
    assert is_public_address(address) is public


@pytest.mark.parametrize(
    "template",
    ["http://127.0.0.1:{port}/medium-rss/feed.xml", "http://2130706433:{port}/medium-rss/feed.xml"],
)
def test_a_link_to_loopback_is_refused_before_any_request(server, fetcher, template):
    result = fetcher.page(template.format(port=server.server.port))
    assert result.error and REFUSED in result.error
    assert server.requests == []


def test_a_link_to_ipv6_loopback_is_refused(fetcher):
    result = fetcher.page("http://[::1]:9/")
    assert result.error and REFUSED in result.error


def test_cloud_metadata_is_refused_without_connecting(fetcher):
    result = fetcher.page("http://169.254.169.254/latest/meta-data/")
    assert result.error == f"refused to fetch 169.254.169.254: {REFUSED}"


def test_a_name_that_resolves_to_a_private_address_is_refused(fetcher):
    result = fetcher.page("http://internal.test/admin")
    assert result.error == f"refused to fetch internal.test: {REFUSED}"


def test_the_feeds_own_host_is_allowed(server, fetcher):
    url = f"http://feeds.test:{server.server.port}/atom-excerpts/pages/post-1.html"
    result = fetcher.page(url, allowed_hosts={"feeds.test"})
    assert result.error is None
    assert b"Migrating search" in result.body


def test_a_redirect_from_the_allowed_host_to_another_private_host_is_refused(server, fetcher):
    port = server.server.port
    from tests.peers.http import Response

    server.routes["/away"] = lambda r: Response(
        status=302, headers={"Location": f"http://rebind.test:{port}/medium-rss/feed.xml"}
    )
    result = fetcher.page(f"http://feeds.test:{port}/away", allowed_hosts={"feeds.test"})
    assert result.error == f"refused to fetch rebind.test: {REFUSED}"
    assert server.paths() == ["/away"]


def test_a_kept_alive_connection_is_checked_again_for_a_request_not_allowed(server, fetcher):
    url = f"http://127.0.0.1:{server.server.port}/medium-rss/feed.xml"
    allowed = fetcher.page(url, allowed_hosts={"127.0.0.1"})
    assert allowed.error is None
    # same origin, so the pool would reuse the open connection: the peer check catches it
    refused = fetcher.page(url)
    assert refused.error and REFUSED in refused.error

"""Refuse to fetch private, loopback or link-local addresses on a feed's behalf (SSRF).

Feeds are untrusted: a post's `<link>` could point at `http://169.254.169.254/` (cloud
metadata) or `http://127.0.0.1:6379/` and we would fetch it from inside the network. So
every request made through a `guarded_session` is checked where it matters:

1. before connecting, on the address that will be dialled: a host name is resolved by
   `GuardedResolver`, every address checked, and aiohttp opens the socket to the checked
   IP itself (no second lookup), so a DNS answer that changes between check and connect
   (DNS rebinding) cannot slip through; an address literal in the URL, which aiohttp
   dials without asking a resolver, is checked by `check_url` before the request;
2. after the response headers arrive, on the peer address of the connection used
   (`check_peer`), which also covers a kept-alive connection opened earlier for a request
   that was allowed there.

A host is exempt only when the caller says so with `allowing({"feed.example"})` (the host
a feed was configured on: an operator's choice, not the feed's). Redirects are followed by
`core.fetch` one hop at a time, so each hop goes through every check again. The allowance
lives in a context variable: aiohttp resolves inside the task that makes the request, and
the DNS cache is off, so one task's allowance never answers for another's lookup.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from core.errors import FetchError

__all__ = [
    "AddressRefusedError",
    "GuardedResolver",
    "allowing",
    "check_peer",
    "check_url",
    "guarded_session",
    "is_public_address",
]

# getaddrinfo's shape: (host, port, family=..., type=...) -> [(family, type, proto, name, addr)]
Resolver = Callable[..., list[tuple[Any, ...]]]

_allowed: ContextVar[frozenset[str]] = ContextVar("netguard_allowed", default=frozenset())
# CGNAT (RFC 6598) is not "private" to the ipaddress module but is not the public internet.
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class AddressRefusedError(FetchError):
    """A request would have reached a non-public address it was not allowed to."""


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address; False for anything internal.

    IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are judged by the IPv4 address inside.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return False
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return False
    return ip.is_global


@contextmanager
def allowing(hosts: Iterable[str]) -> Iterator[None]:
    """Within the block, requests to these host names may reach non-public addresses."""
    token = _allowed.set(frozenset(h.lower().strip("[]") for h in hosts if h))
    try:
        yield
    finally:
        _allowed.reset(token)


def _is_allowed(host: str) -> bool:
    return host.lower().strip("[]") in _allowed.get()


def _refused(host: str) -> AddressRefusedError:
    return AddressRefusedError(f"refused to fetch {host}: it is on a private network address")


def check_url(url: URL) -> None:
    """Refuse a URL whose host is an address literal that is not public (and not allowed).

    aiohttp dials an address literal without asking the resolver, so it is checked here.
    Legacy IPv4 spellings (`2130706433`, `127.1`) are judged by the address they mean.
    """
    host = (url.raw_host or "").strip("[]")
    if not host or _is_allowed(host):
        return
    address = _literal_address(host)
    if address is not None and not is_public_address(address):
        raise _refused(host)


def _literal_address(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        pass
    try:  # inet_aton reads the legacy spellings: 2130706433, 0x7f.1, 127.1 …
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def check_peer(response: aiohttp.ClientResponse) -> None:
    """Refuse a response that came from a non-public address its host was not allowed.

    Call it as soon as the headers arrive (the connection is still attached). Raises
    `AddressRefusedError`.
    """
    host = response.url.raw_host or ""
    if _is_allowed(host):
        return
    connection = response.connection
    transport = connection.transport if connection is not None else None
    peer = transport.get_extra_info("peername") if transport is not None else None
    if peer and not is_public_address(str(peer[0])):
        raise _refused(host)


class GuardedResolver(AbstractResolver):
    """Resolves a name, refuses it if any address is internal (unless allowed), and hands
    aiohttp the checked addresses to dial.

    `resolve` is a getaddrinfo-shaped function, called on a thread; tests pass their own
    to simulate DNS. Without one, the event loop's getaddrinfo is used.
    """

    def __init__(self, resolve: Resolver | None = None) -> None:
        self._resolve = resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        lookup: Awaitable[list[tuple[Any, ...]]]
        if self._resolve is None:
            lookup = asyncio.get_running_loop().getaddrinfo(
                host, port, family=family, type=socket.SOCK_STREAM
            )
        else:
            lookup = asyncio.to_thread(
                self._resolve, host, port, family=family, type=socket.SOCK_STREAM
            )
        infos = await lookup
        addresses = list(dict.fromkeys((info[0], str(info[4][0])) for info in infos))
        if not addresses:
            raise OSError(f"could not resolve host {host}")
        if not _is_allowed(host) and not all(is_public_address(a) for _, a in addresses):
            raise _refused(host)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": fam,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for fam, address in addresses
        ]

    async def close(self) -> None:
        pass


def guarded_session(
    *,
    concurrency: int,
    user_agent: str,
    resolve: Resolver | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> aiohttp.ClientSession:
    """An aiohttp session whose every connection goes through the address checks.

    Call it inside a running event loop and close it (`async with`). Redirects are left to
    the caller (`core.fetch`), cookies are not kept, proxies from the environment are not
    used (a proxy would dial for us, unchecked), and responses are decompressed in bounded
    steps (aiohttp's default), so a size cap counts the decompressed bytes.
    """
    connector = aiohttp.TCPConnector(
        limit=max(1, concurrency),
        limit_per_host=0,  # the caller bounds each host (core.ingest)
        resolver=GuardedResolver(resolve),
        use_dns_cache=False,  # every new connection is resolved, and checked, again
        ssl=ssl_context if ssl_context is not None else True,
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": user_agent},
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        raise_for_status=False,
    )

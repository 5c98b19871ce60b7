"""Refuse to fetch private, loopback or link-local addresses on a feed's behalf (SSRF).

Feeds are untrusted: a post's `<link>` could point at `http://169.254.169.254/` (cloud
metadata) or `http://127.0.0.1:6379/` and we would fetch it from inside the network. So
every request made through `GuardedTransport` is checked where it matters:

1. at connect time, on the address actually dialled: the host name is resolved here, every
   address checked, and the socket opened to the checked IP itself, so a DNS answer that
   changes between check and connect (DNS rebinding) cannot slip through;
2. after the response headers arrive, on the peer address of the connection used, which also
   covers a kept-alive connection opened earlier for a request that was allowed there.

A host is exempt only when the caller says so with `allowing({"feed.example"})` (the host
a feed was configured on: an operator's choice, not the feed's). Redirects are followed by
`core.fetch` one hop at a time, so each hop goes through both checks again.
The allowance lives in a context variable: the sync client connects in the calling thread.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx
from httpcore import ConnectionInterface

from core.errors import FetchError

__all__ = [
    "AddressRefusedError",
    "GuardedTransport",
    "allowing",
    "check_peer",
    "is_public_address",
]

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


def check_peer(response: httpx.Response) -> None:
    """Refuse a response that came from a non-public address its host was not allowed.

    Raises `AddressRefusedError`. Responses without a network stream (tests' mock
    transports, local files) pass.
    """
    host = response.request.url.host
    if _is_allowed(host):
        return
    stream = response.extensions.get("network_stream")
    if stream is None:
        return
    peer = stream.get_extra_info("server_addr")
    if peer and not is_public_address(str(peer[0])):
        raise AddressRefusedError(f"refused to fetch {host}: it is on a private network address")


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks and dials the checked IP itself (no second DNS lookup)."""

    def __init__(self, inner: httpcore.NetworkBackend, resolver: Resolver) -> None:
        self._inner = inner
        self._resolve = resolver

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = self._resolve(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve host {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise httpcore.ConnectError(f"could not resolve host {host}")
        if not _is_allowed(host) and not all(is_public_address(a) for a in addresses):
            raise AddressRefusedError(
                f"refused to fetch {host}: it is on a private network address"
            )
        last: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise AddressRefusedError("refused to connect to a unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """An `httpx.HTTPTransport` whose connections go through the address check.

    `resolver` defaults to `socket.getaddrinfo` (tests pass their own to simulate DNS).
    Build it with `trust_env=False` on the client: a proxy would dial for us, unchecked.
    """

    def __init__(self, *, resolver: Resolver | None = None, **kwargs: Any) -> None:
        if kwargs.get("proxy") is not None:
            raise ValueError("GuardedTransport cannot check addresses behind a proxy")
        super().__init__(**kwargs)
        # httpx exposes no `network_backend` option; the pool it built keeps it here
        # (httpcore 1.x `ConnectionPool._network_backend`, passed to each connection).
        pool = self._pool
        pool._network_backend = _GuardedBackend(  # type: ignore[union-attr]
            pool._network_backend,  # type: ignore[union-attr]
            resolver or socket.getaddrinfo,
        )
        if type(pool) is httpcore.ConnectionPool:
            pool.__class__ = _LinearPool


class _LinearPool(httpcore.ConnectionPool):
    """httpcore's pool with its request-to-connection assignment made linear.

    httpcore 1.0.x re-counts every connection for every idle one each time a request
    starts or ends (`len([c.is_idle() for c in self._connections])` inside a loop over
    `self._connections`), under the pool lock: with 64 connections that is ~8,000 calls
    per request, and 500 requests from 64 threads cost 1.5 s of CPU instead of 0.4 s
    (bench/ingest.py). Same decisions, in the same order, counted once.
    """

    def _assign_requests_to_connections(self) -> list[ConnectionInterface]:
        closing: list[ConnectionInterface] = []
        kept: list[ConnectionInterface] = []
        count = len(self._connections)
        for connection in self._connections:
            if connection.is_closed():
                count -= 1
            elif connection.has_expired() or (
                connection.is_idle() and count > self._max_keepalive_connections
            ):
                count -= 1
                closing.append(connection)
            else:
                kept.append(connection)
        self._connections = kept
        for pool_request in [r for r in self._requests if r.is_queued()]:
            origin = pool_request.request.url.origin
            available = idle = None
            for connection in kept:
                if connection.can_handle_request(origin) and connection.is_available():
                    available = connection
                    break
                if idle is None and connection.is_idle():
                    idle = connection
            if available is None:
                if len(kept) < self._max_connections:
                    available = self.create_connection(origin)
                    kept.append(available)
                elif idle is not None:
                    kept.remove(idle)
                    closing.append(idle)
                    available = self.create_connection(origin)
                    kept.append(available)
            if available is not None:
                pool_request.assign_to_connection(available)
        return closing

"""Sliding-window limits for the subscribe form, kept in memory (per web process).

Two keys matter: who asks (the client address, an IPv6 client by its /64, since one host
owns a whole /64) and whose mailbox would be mailed (`mailbox_key`: the address with its
plus-part and the dots of its local part folded away, so `a.b+1@x` and `ab+2@x` count as
one mailbox). The folding is for counting only; the subscriber is stored as typed.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["Throttle", "client_key", "mailbox_key"]


class Throttle:
    """At most `limit` events per key in any `window` seconds.

    `max_keys` bounds the memory a flood of distinct keys can take: past it, expired keys
    are dropped, and if all are live a new key is refused (a flood is under way).
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 50_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one event for `key` and say whether it is within the limit.

        A refused event is not counted, so a client that keeps trying is let in again
        as soon as its window has room.
        """
        now = self.clock()
        with self._lock:
            events = self._events.get(key)
            if events is None:
                if len(self._events) >= self.max_keys:
                    self._prune(now)
                    if len(self._events) >= self.max_keys:
                        return False
                events = self._events[key] = deque()
            while events and now - events[0] >= self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may have one more event (0: now)."""
        now = self.clock()
        with self._lock:
            events = self._events.get(key)
            while events and now - events[0] >= self.window:
                events.popleft()
            if not events or len(events) < self.limit:
                return 0.0
            return max(0.0, events[0] + self.window - now)

    def forget(self, key: str) -> None:
        """Take back the latest event of `key` (what it allowed did not happen after all)."""
        with self._lock:
            events = self._events.get(key)
            if events:
                events.pop()

    def _prune(self, now: float) -> None:
        for key in [k for k, e in self._events.items() if not e or now - e[-1] >= self.window]:
            del self._events[key]


def mailbox_key(address: str) -> str:
    """The mailbox an address reaches, for counting: case, plus-part and dots folded.

    ```
    >>> mailbox_key("Jane.Doe+news@Example.org")
    'janedoe@example.org'
    ```
    """
    local, _, domain = address.strip().lower().rpartition("@")
    local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@{domain}"


def client_key(host: str | None) -> str:
    """The client for counting: an IPv4 address as it is, an IPv6 address by its /64."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)

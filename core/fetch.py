"""Conditional GET of a feed or page, within a deadline and a size cap. The only feed network code.

Fetching is asynchronous (aiohttp, one event loop for a whole ingest run): a conditional
GET then costs ~0.2 ms of CPU, where httpx cost 0.8 ms from 64 threads (bench/ingest.py),
which is what lets a run of 500 unchanged feeds finish near the latency floor.

Per-operation timeouts would let a server dripping one byte every few seconds run forever,
so every fetch has an overall deadline, used as each hop's total timeout and checked
between chunks. The body is counted after decompression (aiohttp decompresses in bounded
steps), so a gzip bomb stops at the cap. Redirects are followed here, one hop at a time, so
`core.netguard` checks every hop; a chain made only of 301/308 is reported as
`permanent_redirect` for the caller to remember.

Failures are data: `fetch_feed` returns a `FetchResult` with `error` in plain words and
never raises for anything a remote server or the network can do.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp
from yarl import URL

from core.errors import FetchError
from core.model import FetchResult
from core.netguard import allowing, check_peer, check_url

__all__ = ["fetch_feed", "fetch_page", "is_local_path", "parse_retry_after"]

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
MAX_RETRY_AFTER = timedelta(hours=24)
_REDIRECTS = (301, 302, 303, 307, 308)
_PERMANENT = (301, 308)
_CHUNK = 64 * 1024


def is_local_path(url: str) -> bool:
    """A source URL that names a file (archives, offline use) rather than an HTTP resource."""
    return url.startswith(("/", "file://", "./", "../"))


async def fetch_feed(
    url: str,
    *,
    session: aiohttp.ClientSession,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = 10_000_000,
    timeout: float = 20.0,
    allowed_hosts: frozenset[str] | set[str] = frozenset(),
    now: datetime | None = None,
) -> FetchResult:
    """Fetch a feed, sending the stored validators so an unchanged feed costs a 304.

    Example:
        async with guarded_session(concurrency=64, user_agent=ua) as session:
            result = await fetch_feed(url, session=session, etag=row.etag,
                                      last_modified=row.last_modified)
        if result.error: ...          # plain words, e.g. "no answer within 20 s"
        elif result.not_modified: ... # nothing to parse

    Parameters:
    - `session`: from `core.netguard.guarded_session` (links in feeds are untrusted).
    - `allowed_hosts`: host names that may resolve to private addresses (the feed's own host).
    - `timeout`: overall deadline in seconds, redirects included.
    - `now`: the time `Retry-After` is counted from (default: the current time).
    """
    if is_local_path(url):
        return await asyncio.to_thread(_read_file, url, max_bytes=max_bytes)
    headers = {
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8"
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    with allowing(allowed_hosts):
        return await _get(
            url, session=session, headers=headers, max_bytes=max_bytes, timeout=timeout, now=now
        )


async def fetch_page(
    url: str,
    *,
    session: aiohttp.ClientSession,
    max_bytes: int = 3_000_000,
    timeout: float = 15.0,
    allowed_hosts: frozenset[str] | set[str] = frozenset(),
) -> FetchResult:
    """Fetch an article page (a link found in a feed) for full-text extraction."""
    headers = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"}
    with allowing(allowed_hosts):
        return await _get(
            url, session=session, headers=headers, max_bytes=max_bytes, timeout=timeout, now=None
        )


def parse_retry_after(value: str | None, *, now: datetime) -> datetime | None:
    """`Retry-After` as seconds or an HTTP date → the moment to retry, at most 24 h ahead.

    Returns None for a missing or unreadable value (the caller applies its default back-off).
    """
    if not value:
        return None
    value = value.strip()
    delay: timedelta | None = None
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = when - now
    delay = max(timedelta(0), min(delay, MAX_RETRY_AFTER))
    return now + delay


def _read_file(url: str, *, max_bytes: int) -> FetchResult:
    path = Path(url.removeprefix("file://"))
    try:
        with path.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except OSError as exc:
        return _failed(url, url, f"cannot read {path}: {exc.strerror}")
    if len(body) > max_bytes:
        return _failed(url, url, f"the file is larger than {_size(max_bytes)}")
    return FetchResult(url=url, final_url=url, status=200, body=body)


async def _get(
    url: str,
    *,
    session: aiohttp.ClientSession,
    headers: dict[str, str],
    max_bytes: int,
    timeout: float,
    now: datetime | None,
) -> FetchResult:
    deadline = time.monotonic() + timeout
    current = url
    permanent = True
    for hop in range(MAX_REDIRECTS + 1):
        scheme = urlsplit(current).scheme.lower()
        if scheme not in ("http", "https"):
            return _failed(url, current, f"refused to follow a {scheme or 'relative'}: link")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _failed(url, current, f"no complete answer within {timeout:g} s")
        try:
            target = URL(current, encoded=False)
            check_url(target)
            response = await session.get(
                target,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=remaining, connect=min(remaining, 10.0)),
            )
        except FetchError as exc:
            return _failed(url, current, str(exc))
        except aiohttp.InvalidURL as exc:
            return _failed(url, current, f"not a valid URL: {exc}")
        # before ValueError: a refused certificate is one too (ssl.CertificateError)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            reason = _explain(exc, current, timeout)
            return _failed(url, current, reason, never_connected=_never_connected(exc))
        except ValueError as exc:
            return _failed(url, current, f"not a valid URL: {exc}")
        try:
            try:
                check_peer(response)
            except FetchError as exc:
                return _failed(url, current, str(exc))
            status = response.status
            if status in _REDIRECTS and "location" in response.headers:
                if status not in _PERMANENT:
                    permanent = False
                current = urljoin(current, response.headers["location"])
                continue
            result_headers = {k.lower(): v for k, v in response.headers.items()}
            base = dict(
                url=url,
                final_url=current,
                status=status,
                headers=result_headers,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                permanent_redirect=current if (hop and permanent) else None,
            )
            if status == 304:
                return FetchResult(**base)  # type: ignore[arg-type]
            if status in (429, 503):
                moment = now or datetime.now(UTC)
                retry = parse_retry_after(response.headers.get("retry-after"), now=moment)
                reason = "too many requests" if status == 429 else "service unavailable"
                return FetchResult(
                    **base,  # type: ignore[arg-type]
                    retry_after=retry,
                    error=f"the server answered {status} ({reason}); backing off",
                )
            if status >= 400:
                return FetchResult(
                    **base,  # type: ignore[arg-type]
                    error=f"the server answered {status} {response.reason or ''}".rstrip(),
                )
            try:
                body = await _read_body(response, max_bytes=max_bytes, deadline=deadline)
            except FetchError as exc:
                return FetchResult(**base, error=str(exc))  # type: ignore[arg-type]
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                return FetchResult(**base, error=_explain(exc, current, timeout, reading=True))  # type: ignore[arg-type]
            return FetchResult(**base, body=body)  # type: ignore[arg-type]
        finally:
            # A response read to its end goes back to the pool for the next request to
            # its host; one left unread (a refusal, a redirect, a cap) closes its connection.
            response.release()
    return _failed(url, current, f"more than {MAX_REDIRECTS} redirects")


async def _read_body(response: aiohttp.ClientResponse, *, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if (
        declared.isdigit()
        and int(declared) > max_bytes
        and "content-encoding" not in response.headers
    ):
        raise FetchError(f"the body is larger than {_size(max_bytes)}")
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise FetchError(f"the body is larger than {_size(max_bytes)}")
        if time.monotonic() > deadline:
            raise FetchError("the server sent the body too slowly (overall deadline passed)")
        chunks.append(chunk)
    return b"".join(chunks)


def _failed(url: str, final_url: str, reason: str, *, never_connected: bool = False) -> FetchResult:
    return FetchResult(
        url=url, final_url=final_url, status=0, error=reason, never_connected=never_connected
    )


def _never_connected(exc: BaseException) -> bool:
    """No connection was made at all (the host did not resolve, refused, or was unreachable):
    the publisher's server did no work, and the cause is as likely our own network."""
    return isinstance(exc, aiohttp.ClientConnectorError) and not isinstance(
        exc, aiohttp.ClientSSLError
    )


def _explain(exc: BaseException, url: str, timeout: float, *, reading: bool = False) -> str:
    """A network exception in words a user can act on."""
    host = urlsplit(url).hostname or url
    if isinstance(exc, TimeoutError):
        if reading:
            return "the server sent the body too slowly (overall deadline passed)"
        return f"no answer from {host} within {timeout:g} s"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"could not resolve host {host} (DNS)"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        why = getattr(exc.certificate_error, "verify_message", "") or "not verified"
        return f"the certificate of {host} is not trusted ({why})"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"the TLS handshake with {host} failed"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return f"{host} refused the connection"
        return f"could not connect to {host}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the server sent a body that could not be read or decompressed"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return f"{host} broke the connection"
    text = str(exc) or type(exc).__name__
    return f"request to {host} failed: {text}"


def _size(n: int) -> str:
    return f"{n / 1_000_000:g} MB" if n >= 1_000_000 else f"{n / 1000:g} kB"

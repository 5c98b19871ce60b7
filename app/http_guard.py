"""ASGI middleware in front of every route: security headers, body limits, relative redirects.

One layer for what every answer needs, so no route can forget it:

- **Headers:** `Content-Security-Policy` (no script at all, no framing), `nosniff` and a
  `Referrer-Policy` on every response; a route that sets its own keeps it (the newsletter
  pages, whose URLs carry tokens, send `no-referrer`).
- **Body limits:** a `Content-Length` over the route's limit is answered 413 before one
  byte is read; a chunked body is counted as it streams and stopped at the limit. Nothing
  above the limit is ever held in memory (Starlette's `request.body()` would keep it all).
- **Redirects** are made relative when they point back at the host the request named: a
  forged `Host: evil.example` must not come back as `Location: http://evil.example/…`.
- **Errors:** Starlette answers an exception from outside every middleware, so its 500 page
  would skip the headers; `server_error` is that page, with them, and says nothing of the
  error (it is logged).

```python
app = HttpGuard(starlette_app, limits=[("/slack/", 1_000_000), ("/subscribe", 16_384)])
```
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "DEFAULT_LIMIT", "HttpGuard", "server_error"]

log = logging.getLogger(__name__)

# Our pages use no script. Inline <style> blocks stay allowed (the pages are one file each);
# images may come from anywhere over https (Slack's "Add to Slack" button).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' https: data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate CSP 2
)
DEFAULT_LIMIT = 16_384  # bytes of request body for any path without a rule of its own


class _TooLarge(Exception):
    """Raised from `receive` when a streamed body passes its limit."""


class HttpGuard:
    """Wraps an ASGI app; see the module docstring. `limits`: (path prefix, bytes), first match."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: Sequence[tuple[str, int]] = (),
        default_limit: int = DEFAULT_LIMIT,
    ) -> None:
        self.app = app
        self.limits = tuple(limits)
        self.default_limit = default_limit

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or ())
        host = headers.get(b"host", b"").decode("latin-1").lower()
        started = False
        refused = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:  # the 413 has gone out; drop what the app still tries to say
                return
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": _secure(message.get("headers", []), host)}
            await send(message)

        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_long = int(declared) > limit
            except ValueError:
                too_long = False  # the server rejects a malformed length itself
            if too_long:
                await _refuse(send, scope, limit)
                return

        seen = 0

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _TooLarge:
            if started:  # the app answered before reading it all; nothing more to say
                return
            refused = True
            await _refuse(send, scope, limit)


def server_error(request: Request, exc: Exception) -> Response:
    """The answer to an unexpected exception (Starlette's handler for 500): plain words, no
    detail of the error, and the headers every answer carries. The exception goes on to the
    server's log."""
    response = PlainTextResponse(
        "Something went wrong on our side. It has been logged; try again in a minute.\n",
        status_code=500,
    )
    for name, value in _HEADERS:
        response.headers[name.decode()] = value.decode()
    return response


async def _refuse(send: Send, scope: Scope, limit: int) -> None:
    log.warning("request body too large path=%s limit=%d", scope.get("path", ""), limit)
    body = f"Request body too large (the limit here is {limit} bytes).\n".encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": _secure(headers, "")})
    await send({"type": "http.response.body", "body": body})


def _secure(headers: list[tuple[bytes, bytes]], host: str) -> list[tuple[bytes, bytes]]:
    """The response headers with ours added (a route's own value wins) and Location made
    relative when it points at the request's own Host."""
    out = []
    for name, value in headers:
        if name.lower() == b"location" and host:
            value = _relative(value, host)
        out.append((name, value))
    present = {name.lower() for name, _ in out}
    out.extend((name, value) for name, value in _HEADERS if name not in present)
    return out


def _relative(location: bytes, host: str) -> bytes:
    text = location.decode("latin-1")
    try:
        parts = urlsplit(text)
    except ValueError:
        return location
    if parts.netloc and parts.netloc.lower() == host:
        path = parts.path or "/"
        if path.startswith("//"):  # never turn it into a scheme-relative URL elsewhere
            path = "/" + path.lstrip("/")
        return urlunsplit(("", "", path, parts.query, parts.fragment)).encode("latin-1")
    return location

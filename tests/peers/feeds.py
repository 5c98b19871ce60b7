"""A feed server over `tests.peers.http`: serves tests/data/feeds like a real blog host would.

    with feed_server() as server:
        server.url("/medium-rss/feed.xml")

- every file under tests/data/feeds at its relative path, with a strong ETag (hash of the
  bytes) and a Last-Modified; `If-None-Match` / `If-Modified-Since` that match get a 304;
- `/redirect/<301|302|307|308>/<path>`: a redirect to `/<path>`;
- `/status/<code>`: that status (`?retry=120` adds `Retry-After: 120`);
- `/slow/<path>?delay=2`: the file, after a delay;
- `/drip`: a body of one byte per `?every=0.5` seconds, `?bytes=20` of them;
- `/huge`: an 11 MB body (`?chunked=1` without Content-Length);
- `/gzip-bomb`: 50 MB of zeros gzipped to ~50 kB;
- `/empty`: 200 with no body.
`server.routes[path] = handler` overrides any path; `server.files[path] = bytes` replaces a
file's content (a feed that changed). `server.requests` records everything asked.
"""

from __future__ import annotations

import gzip
import hashlib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.peers.http import Request, Response, Server, serve

__all__ = ["FEEDS", "FeedServer", "feed_server"]

FEEDS = Path(__file__).resolve().parent.parent / "data" / "feeds"
LAST_MODIFIED = "Tue, 31 Mar 2026 18:00:00 GMT"
_TYPES = {".xml": "application/xml; charset=utf-8", ".html": "text/html; charset=utf-8"}


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Callable[[Request], Response]] = {}
        self.files: dict[str, bytes] = {}
        self.server: Server | None = None

    @property
    def requests(self) -> list[Request]:
        assert self.server is not None
        return self.server.requests

    def url(self, path: str) -> str:
        assert self.server is not None
        return self.server.url + path

    def paths(self) -> list[str]:
        """Paths asked for, in order."""
        return [r.path for r in self.requests]

    def handle(self, request: Request) -> Response:
        path = request.path
        if path in self.routes:
            return self.routes[path](request)
        parts = path.strip("/").split("/")
        if parts[0] == "redirect" and len(parts) > 2:
            target = "/" + "/".join(parts[2:])
            return Response(status=int(parts[1]), headers={"Location": target})
        if parts[0] == "status":
            headers = {}
            if "retry" in request.query:
                headers["Retry-After"] = request.query["retry"][0]
            return Response(status=int(parts[1]), body=b"status", headers=headers)
        if parts[0] == "slow":
            delay = float(request.query.get("delay", ["2"])[0])
            response = self._file(request, "/" + "/".join(parts[1:]))
            response.delay = delay
            return response
        if path == "/drip":
            count = int(request.query.get("bytes", ["20"])[0])
            every = float(request.query.get("every", ["0.5"])[0])
            return Response(
                chunks=[b"<"] * count,
                chunk_delay=every,
                headers={"Content-Type": "application/xml"},
            )
        if path == "/huge":
            body = b"<rss>" + b" " * 11_000_000 + b"</rss>"
            if "chunked" in request.query:
                size = 1_000_000
                chunks = [body[i : i + size] for i in range(0, len(body), size)]
                return Response(chunks=chunks, headers={"Content-Type": "application/xml"})
            return Response(body=body, headers={"Content-Type": "application/xml"})
        if path == "/gzip-bomb":
            body = gzip.compress(b"\0" * 50_000_000, compresslevel=9)
            return Response(
                body=body, headers={"Content-Type": "application/xml", "Content-Encoding": "gzip"}
            )
        if path == "/empty":
            return Response(body=b"", headers={"Content-Type": "application/xml"})
        return self._file(request, path)

    def _file(self, request: Request, path: str) -> Response:
        body = self.files.get(path)
        if body is None:
            file = (FEEDS / path.lstrip("/")).resolve()
            if FEEDS not in file.parents or not file.is_file():
                return Response(status=404, body=b"not found")
            body = file.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        headers = {
            "ETag": etag,
            "Last-Modified": LAST_MODIFIED,
            "Content-Type": _TYPES.get(Path(path).suffix, "application/octet-stream"),
        }
        if request.headers.get("if-none-match") == etag or (
            "if-none-match" not in request.headers
            and request.headers.get("if-modified-since") == LAST_MODIFIED
        ):
            return Response(status=304, headers={"ETag": etag})
        return Response(body=body, headers=headers)


@contextmanager
def feed_server(*, tls: ssl.SSLContext | None = None) -> Iterator[FeedServer]:
    """A `FeedServer` listening on 127.0.0.1 (random port) for the block; HTTPS with `tls`."""
    feeds = FeedServer()
    with serve(feeds.handle, tls=tls) as server:
        feeds.server = server
        yield feeds

"""A threaded HTTP server on loopback whose answers are written as plain Python functions.

    def handle(request: Request) -> Response: ...
    with serve(handle) as server:
        httpx.get(server.url + "/feed.xml")

Every request is recorded in `server.requests`, so tests assert on what was really sent.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class Response:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    chunks: list[bytes] | None = None  # stream these, with `chunk_delay` between them
    chunk_delay: float = 0.0


Handler = Callable[[Request], Response]


class Server:
    def __init__(self, httpd: ThreadingHTTPServer, *, scheme: str = "http") -> None:
        self.httpd = httpd
        self.requests: list[Request] = []
        host, port = httpd.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.url = f"{scheme}://{self.host}:{self.port}"


@contextmanager
def serve(handle: Handler, *, tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    """Run `handle` behind a real HTTP server on 127.0.0.1 (random port) for the block;
    with `tls` (a server context, `tests.peers.tls`), over HTTPS."""
    holder: dict[str, Server] = {}

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _do(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            server = holder["server"]
            server.requests.append(request)
            response = handle(request)
            if response.delay:
                time.sleep(response.delay)
            payload = response.body.encode() if isinstance(response.body, str) else response.body
            try:
                self.send_response(response.status)
                headers = dict(response.headers)
                if response.chunks is None:
                    headers.setdefault("Content-Length", str(len(payload)))
                else:
                    headers["Transfer-Encoding"] = "chunked"
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if response.chunks is None:
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                else:
                    for chunk in response.chunks:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                        if response.chunk_delay:
                            time.sleep(response.chunk_delay)
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _do

    class _Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that hangs up mid-answer is part of several tests, not a failure

    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    if tls is not None:  # a client that refuses the certificate fails its own handshake
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    server = Server(httpd, scheme="https" if tls is not None else "http")
    holder["server"] = server
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

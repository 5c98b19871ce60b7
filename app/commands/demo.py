"""`digest demo`: the whole pipeline offline, on sample feeds bundled with the project.

The feeds in `app/demo/` were written for this project (fictional companies, never copies
of publishers' posts). They are served on a loopback port, dated around the runtime's
today, and go through the real pipeline (the guarded fetch, parse, store, the extractive
summariser, compose) into a temporary SQLite database; the digest is printed and the
archive served at a printed URL until Ctrl-C. Nothing touches the network or the user's
own database and sources file.
"""

from __future__ import annotations

import secrets
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click

from app.commands.compose import run_command
from app.commands.options import format_option
from app.wiring import Runtime
from core.config import Settings
from core.sources import DEFAULT_EDITION

__all__ = ["demo_command"]

SAMPLES = Path(__file__).resolve().parent.parent / "demo"
COMPANIES = {"northwind": "Northwind", "contoso": "Contoso", "fabrikam": "Fabrikam"}


@click.command("demo")
@click.option("--port", type=int, default=0, help="Port of the archive (default: a free one).")
@click.option("--no-serve", is_flag=True, help="Print the digest and stop; no archive.")
@format_option("text", "md", "html", "json", default="text")
@click.pass_context
def demo_command(ctx: click.Context, port: int, no_serve: bool, fmt: str) -> None:
    """Run the whole pipeline offline on bundled sample feeds, print today's digest, and
    serve its archive on 127.0.0.1 until Ctrl-C. Your database and sources are not touched.

    \b
    Examples:
      digest demo
      digest demo --no-serve --format md
    """
    runtime: Runtime = ctx.obj
    now = runtime.clock()
    with tempfile.TemporaryDirectory(prefix="digest-demo-") as folder, _feeds(now) as base:
        archive_port = port or _free_port()
        demo = Runtime(settings=_settings(Path(folder), base, archive_port), clock=runtime.clock)
        try:
            ctx.obj = demo
            ctx.invoke(run_command, edition=DEFAULT_EDITION, fmt=fmt, no_ingest=False)
        finally:
            ctx.obj = runtime
        if no_serve:
            demo.close()
            return
        _serve(demo, archive_port)


def _settings(folder: Path, base: str, port: int) -> Settings:
    sources = folder / "sources.toml"
    lines = [
        f"[editions.{DEFAULT_EDITION}]",
        'title = "Engineering @ Scale (demo)"',
        'description = "Sample posts from three fictional engineering blogs."',
    ]
    for slug, company in COMPANIES.items():
        lines += [
            "",
            "[[sources]]",
            f'name = "{company} Engineering"',
            f'company = "{company}"',
            f'url = "{base}/{slug}.xml"',
            f'edition = "{DEFAULT_EDITION}"',
        ]
    sources.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Settings.from_env(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'demo.db'}",
            "DIGEST_SOURCES": str(sources),
            "DIGEST_FULLTEXT": "0",  # the samples carry their whole text
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "SECRET_KEY": secrets.token_hex(16),
        }
    )


@contextmanager
def _feeds(now: datetime) -> Iterator[str]:
    """The sample feeds on a loopback port, dated today and yesterday; yields the base URL."""
    dates = {"@TODAY@": now - timedelta(minutes=5), "@YESTERDAY@": now - timedelta(days=1)}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    bodies = {}
    for path in sorted(SAMPLES.glob("*.xml")):
        text = path.read_text(encoding="utf-8").replace("@BASE@", base)
        for mark, moment in dates.items():
            text = text.replace(mark, format_datetime(moment))
        bodies[f"/{path.name}"] = text.encode()
    server.bodies = bodies  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = self.server.bodies.get(self.path)  # type: ignore[attr-defined]
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # quiet: the demo prints what matters


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(demo: Runtime, port: int) -> None:
    import uvicorn

    from app.web import create_app

    app = create_app(demo)
    click.echo(f"\nThe archive of this demo: http://127.0.0.1:{port}/  (Ctrl-C to stop)", err=True)
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", server_header=False)
    finally:
        demo.close()

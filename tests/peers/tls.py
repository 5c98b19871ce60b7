"""A throwaway self-signed certificate for 127.0.0.1 and the TLS contexts either side use.

cert, key = self_signed(folder)
with feed_server(tls=server_context(cert, key)) as server: ...  # https://127.0.0.1:…
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

__all__ = ["client_context", "self_signed", "server_context"]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, valid a day, and its key (openssl CLI), in `folder`."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def client_context(cert: Path) -> ssl.SSLContext:
    """A client that trusts only this certificate."""
    return ssl.create_default_context(cafile=str(cert))

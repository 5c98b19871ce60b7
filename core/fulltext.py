"""The main text of an article page, for feeds that carry only an excerpt.

The page is fetched with `core.fetch.fetch_page` (the address guard, a size cap and an
overall deadline apply: the link came from an untrusted feed) and reduced to its main text
by trafilatura, which drops navigation, comments and boilerplate. Extraction is CPU work of
tens of milliseconds a page, so `extract_text` is a plain function the ingest run sends to
its worker processes; a page built to make the extractor churn is cut off after
`cpu_limit` seconds of CPU (a CPU-time timer, in a worker's main thread) and the excerpt
kept. A page is only worth it when it says more than the excerpt did.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from urllib.parse import urlsplit

__all__ = ["MAX_PAGE_BYTES", "extract_text", "wants_fulltext"]

log = logging.getLogger(__name__)

MAX_PAGE_BYTES = 3_000_000
CPU_LIMIT = 5.0  # seconds of CPU per page; a normal page takes tens of milliseconds
# Pages that hold no article text to extract (video pages, social posts).
_NO_TEXT_HOSTS = ("youtube.com", "youtu.be", "vimeo.com", "twitter.com", "x.com")


def wants_fulltext(url: str) -> bool:
    """False for links whose page has no article text (a YouTube watch page)."""
    host = (urlsplit(url).hostname or "").lower()
    return not any(host == h or host.endswith("." + h) for h in _NO_TEXT_HOSTS)


def extract_text(page: bytes, *, url: str, cpu_limit: float = CPU_LIMIT) -> str:
    """The main text of an HTML page as plain paragraphs; "" when none was found, or when
    extracting it took more than `cpu_limit` seconds of CPU.

    Example:
        text = extract_text(result.body, url=result.final_url)
    """
    if not page.strip():
        return ""
    import trafilatura  # heavy import, paid only by the worker processes that extract

    try:
        with _cpu_limit(cpu_limit):
            text = trafilatura.extract(
                page[:MAX_PAGE_BYTES],
                url=url,
                include_comments=False,
                include_tables=False,
                include_images=False,
                output_format="txt",
            )
    except _TooSlowError:
        log.info("extract gave up url=%s after %.1f s of CPU", url, cpu_limit)
        return ""
    except Exception as exc:  # noqa: BLE001 - a hostile page must not end the run
        log.debug("extract failed url=%s error=%r", url, exc)
        return ""
    if not text:
        return ""
    paragraphs = [" ".join(line.split()) for line in text.splitlines()]
    return "\n\n".join(p for p in paragraphs if p)


class _TooSlowError(BaseException):
    """Not an `Exception`: trafilatura catches those (its HTML loading logs "lxml parsing
    failed" and goes on with what it has), which would swallow the time limit."""


@contextmanager
def _cpu_limit(seconds: float) -> Iterator[None]:
    """Raise `_TooSlowError` inside the block after `seconds` of this process's CPU time.

    Signals reach only the main thread, so elsewhere (a thread pool in tests) the block
    runs unbounded; the ingest's worker processes run their calls on their main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    expired = False

    def expire(_signum: int, _frame: FrameType | None) -> None:
        nonlocal expired
        expired = True
        raise _TooSlowError

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    if expired:  # the limit passed but someone caught the error: the result is not whole
        raise _TooSlowError

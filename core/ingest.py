"""One ingest run: every due source fetched, parsed, normalised and stored, each on its own.

The run is one asyncio event loop on the calling thread. Each due source is a task: its
network waits are aiohttp requests (bounded overall and per host by semaphores, taken
before a fetch's deadline starts), its CPU work (feedparser, HTML to text, trafilatura)
goes to `workers`, a process pool in production so parsing uses every core and never
stalls the fetching; the database is touched from the loop's thread only, so SQLite sees
one writer. Per source:

    fetch ─ error ──────────────────────> record_failure (back-off, 410 disables)
      ├─ 304, or the same body hash ──> recorded unchanged (nothing parsed)
      └─ 200 ─> prepare_feed (workers) ─> new excerpts? fetch_page + extract_text
                                           └─> store (ON CONFLICT DO NOTHING) ─> success

Successes and unchanged feeds are written in batches (`record_successes`: one UPDATE per
flush), with the articles of the batch, in one transaction.

One failing source never stops the others; each outcome ends with a reason in plain words.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from core.dates import show_utc
from core.errors import ParseError
from core.fetch import fetch_feed, fetch_page, is_local_path
from core.fulltext import MAX_PAGE_BYTES, extract_text, wants_fulltext
from core.model import FetchResult, Source
from core.normalise import NormalisedArticle, prepare_feed
from core.workpool import Batches, WorkerCrashedError
from storage.articles import existing_fingerprints, existing_urls, insert_articles
from storage.feeds import Success, is_due, record_failure, record_successes, sync_sources
from storage.tables import FeedSource

__all__ = ["IngestOptions", "IngestReport", "SourceOutcome", "ingest_sources"]

log = logging.getLogger(__name__)

FLUSH_SOURCES = 25
FLUSH_SECONDS = 0.25
T = TypeVar("T")


@dataclass(frozen=True)
class IngestOptions:
    """Limits of one run (from Settings: FETCH_CONCURRENCY, FETCH_PER_HOST, …)."""

    concurrency: int = 64
    per_host: int = 2
    timeout: float = 20.0
    max_bytes: int = 10_000_000
    fulltext: bool = True
    fulltext_per_source: int = 20  # pages fetched per source per run, newest posts first
    page_timeout: float = 15.0


@dataclass
class SourceOutcome:
    """What happened to one source in one run."""

    name: str
    edition: str
    status: str = "pending"  # ok | unchanged | error | disabled | skipped
    new: int = 0
    entries: int = 0
    parsed: bool = False
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    outcomes: list[SourceOutcome]

    def counts(self) -> dict[str, int]:
        """{"sources", "new", "unchanged", "errors", "skipped", "parsed"}."""
        return {
            "sources": len(self.outcomes),
            "new": sum(o.new for o in self.outcomes),
            "unchanged": sum(o.status == "unchanged" for o in self.outcomes),
            "errors": sum(o.status in ("error", "disabled") for o in self.outcomes),
            "skipped": sum(o.status == "skipped" for o in self.outcomes),
            "parsed": sum(o.parsed for o in self.outcomes),
        }


@dataclass
class _Job:
    source: Source
    row: FeedSource
    outcome: SourceOutcome
    allowed: frozenset[str]
    result: FetchResult | None = None
    body_hash: str | None = None
    articles: list[NormalisedArticle] = field(default_factory=list)


def ingest_sources(
    sources: Sequence[Source],
    *,
    session: Session,
    open_http: Callable[[], aiohttp.ClientSession],
    workers: Executor,
    options: IngestOptions = IngestOptions(),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_done: Callable[[SourceOutcome], None] | None = None,
) -> IngestReport:
    """Ingest `sources`; returns one outcome per source, in the order given.

    Example:
        with ProcessPoolExecutor() as workers:
            report = ingest_sources(
                catalogue.select(), session=session, workers=workers,
                open_http=functools.partial(guarded_session, concurrency=64, user_agent=ua),
            )
        report.counts()  # {"sources": 79, "new": 312, "unchanged": 0, "errors": 2, ...}

    Parameters:
    - `open_http`: makes the aiohttp session for the run, inside its event loop; use
      `core.netguard.guarded_session` (links in feeds are untrusted).
    - `workers`: where CPU work runs; a `ProcessPoolExecutor` in production.
    - `on_done`: called on this thread as each source finishes (progress bars).

    Runs its own event loop: call it from a thread that is not running one.
    """
    run = _Run(session=session, workers=workers, options=options, now=now, on_done=on_done)
    return asyncio.run(run.execute(sources, open_http))


class _Run:
    def __init__(
        self,
        *,
        session: Session,
        workers: Executor,
        options: IngestOptions,
        now: Callable[[], datetime],
        on_done: Callable[[SourceOutcome], None] | None,
    ) -> None:
        self.session = session
        self.workers = workers
        self.options = options
        self.now = now
        self.on_done = on_done
        # Taken per host first, then overall, so a fetch waiting for a busy host holds
        # no overall slot; a fetch's deadline starts once it holds both.
        self.slots = asyncio.Semaphore(max(1, options.concurrency))
        self.hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(max(1, options.per_host))
        )
        # two round trips per worker in flight: one running, the next one queued
        self.batches = Batches(workers, depth=2 * _pool_size(workers))
        self.ready: list[_Job] = []  # parsed (and completed), waiting to be stored
        self.settled: list[SourceOutcome] = []  # decided, waiting for the next commit
        self.successes: list[Success] = []  # their feed states, written by the next flush
        self.last_flush = time.monotonic()

    async def execute(
        self, sources: Sequence[Source], open_http: Callable[[], aiohttp.ClientSession]
    ) -> IngestReport:
        rows = sync_sources(sources, session=self.session)
        outcomes: list[SourceOutcome] = []
        start = self.now()
        jobs: list[_Job] = []
        for source in sources:
            row = rows[source.name]
            outcome = SourceOutcome(name=source.name, edition=source.edition)
            outcomes.append(outcome)
            if self._due(row, outcome, now=start):
                jobs.append(
                    _Job(
                        source=source,
                        row=row,
                        outcome=outcome,
                        allowed=frozenset({_host(source.url)}),
                    )
                )
            else:
                self._finish_outcome(outcome)
        if jobs:
            async with open_http() as self.http:
                await asyncio.gather(*(self._source(job, start) for job in jobs))
        self._flush()
        return IngestReport(outcomes)

    # --- one source ---------------------------------------------------------------------

    async def _source(self, job: _Job, start: datetime) -> None:
        try:
            url = job.row.fetch_url or job.source.url
            result = await self._network(
                _host(url),
                fetch_feed,
                url,
                session=self.http,
                etag=job.row.etag,
                last_modified=job.row.last_modified,
                max_bytes=self.options.max_bytes,
                timeout=self.options.timeout,
                allowed_hosts=job.allowed,
                now=start,
            )
            await self._fetched(job, result)
        except SQLAlchemyError as exc:
            self.session.rollback()
            self._fail(job, f"could not store: {_first_line(exc)}", record=False)
        except Exception as exc:  # noqa: BLE001 - one source's surprise must not end the run
            log.exception("ingest failed source=%s", job.source.name)
            self._fail(job, f"unexpected error: {exc}")
        if self._flush_due():
            self._flush()

    async def _network(self, host: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        async with self.hosts[host], self.slots:
            return await fn(*args, **kwargs)

    async def _cpu(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.batches.call(fn, *args, **kwargs)

    async def _fetched(self, job: _Job, result: FetchResult) -> None:
        job.result = result
        if result.error:
            self._fail(job, result.error, result=result)
            return
        if result.not_modified:
            self._unchanged(job, result)
            return
        job.body_hash = hashlib.sha256(result.body).hexdigest()
        if job.body_hash == job.row.content_hash:
            self._unchanged(job, result)
            return
        job.outcome.parsed = True
        try:
            prepared = await self._cpu(
                prepare_feed,
                result.body,
                url=result.final_url,
                content_type=result.headers.get("content-type"),
                now=self.now(),
            )
        except ParseError as exc:
            self._fail(job, str(exc))
            return
        except WorkerCrashedError:
            self._fail(
                job,
                "the parser's process died reading this feed (a crash or out of "
                "memory); the other feeds went on",
            )
            return
        job.result = replace(result, body=b"")  # parsed: the bytes need not wait for the store
        job.outcome.notes.extend(prepared.notes)
        job.outcome.entries = len(prepared.articles)
        job.articles = list(prepared.articles)
        if self.options.fulltext:
            await self._complete(job)
        self.ready.append(job)

    async def _complete(self, job: _Job) -> None:
        """Replace excerpts of new posts with their pages' main text, newest posts first."""
        known = existing_urls([a.url for a in job.articles], session=self.session)
        wanted = [
            (index, article)
            for index, article in enumerate(job.articles)
            if article.url not in known
            and article.text_kind == "excerpt"
            and wants_fulltext(article.url)
        ]
        wanted.sort(key=lambda pair: pair[1].published_at, reverse=True)
        await asyncio.gather(
            *(self._page(job, index) for index, _ in wanted[: self.options.fulltext_per_source])
        )

    async def _page(self, job: _Job, index: int) -> None:
        article = job.articles[index]
        try:
            result = await self._network(
                _host(article.url),
                fetch_page,
                article.url,
                session=self.http,
                max_bytes=MAX_PAGE_BYTES,
                timeout=self.options.page_timeout,
                allowed_hosts=job.allowed,
            )
            kind = result.headers.get("content-type", "text/html").lower()
            if result.error or not result.body or "html" not in kind:
                log.info("fulltext skipped url=%s reason=%s", result.url, result.error or kind)
                return
            text = await self._cpu(extract_text, result.body, url=result.final_url)
        except Exception as exc:  # noqa: BLE001 - a page is optional: keep the excerpt
            log.info("fulltext failed url=%s error=%r", article.url, exc)
            return
        if len(text.split()) > article.words:
            job.articles[index] = article.with_text(text, "full")

    # --- storing ------------------------------------------------------------------------

    def _flush_due(self) -> bool:
        """Store in batches: one transaction per ~25 sources or per quarter second, so the
        database costs a few statements a batch, not a few per source; and at once when
        no parsing is left to overlap with (the end of a run)."""
        if not (self.ready or self.settled):
            return False
        if self.ready and not self.batches.busy:
            return True  # the workers have nothing to do: store now, not after the last one
        waiting = len(self.ready) + len(self.settled)
        return waiting >= FLUSH_SOURCES or time.monotonic() - self.last_flush > FLUSH_SECONDS

    def _flush(self) -> None:
        """Store the ready sources' articles and commit every source state decided since.

        When the batch's transaction fails, its sources are stored again one at a time, so
        a row the database refuses fails its own source (recorded on it) and no other.
        """
        ready, self.ready = self.ready, []
        try:
            self._commit(ready)
        except SQLAlchemyError as exc:
            self.session.rollback()
            log.warning(
                "ingest batch failed, storing one source at a time error=%s", _first_line(exc)
            )
            self._commit_each(ready)
        settled, self.settled = self.settled, []
        self.last_flush = time.monotonic()
        for outcome in settled:
            self._finish_outcome(outcome)

    def _commit(self, jobs: list[_Job]) -> None:
        """Store `jobs` and the pending feed states in one transaction; on failure, leave
        this run's bookkeeping as it was before the call (and re-raise)."""
        successes, settled = len(self.successes), len(self.settled)
        try:
            if jobs:
                self._store_batch(jobs)
            record_successes(self.successes, session=self.session, now=self.now())
            self.session.commit()
        except SQLAlchemyError:
            del self.successes[successes:], self.settled[settled:]
            for job in jobs:
                job.outcome.status, job.outcome.new = "pending", 0
            raise
        self.successes = []

    def _commit_each(self, jobs: list[_Job]) -> None:
        try:
            self._commit([])  # the states decided without storing anything
        except SQLAlchemyError as exc:
            self.session.rollback()  # the database itself is failing: they are lost, as ever
            log.error("ingest could not record feed states error=%s", _first_line(exc))
            self.successes = []
        for job in jobs:
            try:
                self._commit([job])
            except SQLAlchemyError as exc:
                self.session.rollback()
                reason = f"could not store: {_first_line(exc)}"
                log.error("ingest store failed source=%s error=%s", job.source.name, reason)
                self._fail(job, reason)
                try:
                    self.session.commit()
                except SQLAlchemyError:
                    self.session.rollback()  # the outcome still carries the reason

    def _due(self, row: FeedSource, outcome: SourceOutcome, *, now: datetime) -> bool:
        if row.status == "disabled":
            outcome.status = "disabled"
            outcome.error = row.last_error or "disabled"
            return False
        if not is_due(row, now=now):
            until = show_utc(row.backoff_until) if row.backoff_until else "?"
            outcome.status = "skipped"
            outcome.error = f"backing off until {until} after: {row.last_error or 'errors'}"
            return False
        return True

    def _store_batch(self, jobs: list[_Job]) -> None:
        now = self.now()
        # A URL already stored is left to the insert's ON CONFLICT DO NOTHING; a copy of a
        # stored post under another URL is folded here, by its fingerprint.
        every = [a.fingerprint for job in jobs for a in job.articles]
        folded = existing_fingerprints(every, session=self.session)
        rows: list[dict[str, Any]] = []
        mine: dict[str, _Job] = {}
        for job in jobs:
            for article in job.articles:
                if article.fingerprint in folded or article.url in mine:
                    continue
                folded.add(article.fingerprint)
                mine[article.url] = job
                rows.append(self._row(job, article, now=now))
        for url in insert_articles(rows, session=self.session):
            mine[url].outcome.new += 1
        for job in jobs:
            result = job.result
            assert result is not None
            self.successes.append(
                Success(
                    job.row,
                    etag=result.etag,
                    last_modified=result.last_modified,
                    content_hash=job.body_hash,
                    redirect_to=result.permanent_redirect,
                    warning="; ".join(job.outcome.notes),
                )
            )
            job.outcome.status = "ok"
            self.settled.append(job.outcome)

    def _row(self, job: _Job, article: NormalisedArticle, *, now: datetime) -> dict[str, Any]:
        return {
            "url": article.url,
            "fingerprint": article.fingerprint,
            "guid": article.guid,
            "source_id": job.row.id,
            "edition": job.source.edition,
            "company": job.source.company,
            "title": article.title,
            "author": article.author,
            "text": article.text,
            "text_kind": article.text_kind,
            "words": article.words,
            "tags": ",".join(job.source.tags),
            "published_at": article.published_at,
            "first_seen_at": now,
            "digest_day": None,
            "updated_at": now,
            "content_hash": article.content_hash,
        }

    def _unchanged(self, job: _Job, result: FetchResult) -> None:
        # record_unchanged's rule: validators the 304 did not repeat are kept
        self.successes.append(
            Success(
                job.row,
                etag=result.etag or job.row.etag,
                last_modified=result.last_modified or job.row.last_modified,
                redirect_to=result.permanent_redirect,
            )
        )
        job.outcome.status = "unchanged"
        self.settled.append(job.outcome)

    def _fail(
        self, job: _Job, error: str, *, result: FetchResult | None = None, record: bool = True
    ) -> None:
        if job.outcome.status != "pending":
            return
        gone = result is not None and result.status == 410
        if gone:
            error = "the feed is gone (410); disabled until its URL changes in the sources file"
        job.outcome.status = "disabled" if gone else "error"
        job.outcome.error = error
        if record:
            try:
                record_failure(
                    job.row,
                    session=self.session,
                    now=self.now(),
                    error=error,
                    retry_after=result.retry_after if result else None,
                    rate_limited=result is not None and result.status in (429, 503),
                    gone=gone,
                    never_connected=result is not None and result.never_connected,
                    commit=False,
                )
            except SQLAlchemyError:
                self.session.rollback()
                log.exception("could not record failure source=%s", job.source.name)
        self.settled.append(job.outcome)

    def _finish_outcome(self, outcome: SourceOutcome) -> None:
        log.info(
            "ingested source=%s status=%s new=%d error=%s",
            outcome.name,
            outcome.status,
            outcome.new,
            outcome.error,
        )
        if self.on_done is not None:
            self.on_done(outcome)


def _host(url: str) -> str:
    if is_local_path(url):
        return "(local files)"
    return (urlsplit(url).hostname or "").lower()


def _pool_size(pool: Executor) -> int:
    """Workers of the pool (`RenewingPool.max_workers`, or a standard pool's own count)."""
    size = getattr(pool, "max_workers", None) or getattr(pool, "_max_workers", None)
    return size or os.cpu_count() or 2


def _first_line(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]

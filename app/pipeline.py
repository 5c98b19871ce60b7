"""The use cases over one `Runtime`: ingest, summarise, compose, post the day, send the week.

Every front door calls these and holds no orchestration of its own: the click commands
(`app/commands/`), the worker's jobs (`app.jobs`), the Slack `/digest` command (through the
`core.digests.Digests` interface it is handed) and the web archive. Composing is
`core.digests`: a read of any past period gives the digest its stored posts make, and a
delivery composes the digest it sends.

Example:

```python
pipeline = Pipeline(Runtime(settings=Settings.from_env(os.environ)))
pipeline.ingest()
pipeline.summarise()
pipeline.backfill()
digest = pipeline.daily("tech", date(2026, 4, 1))
```

The deliveries import their front-end where they run: `post_daily` the Slack one (slack_sdk,
slack_bolt), `issue`/`plan_weekly`/`send_weekly` the email one (premailer, lxml, cssutils).
That is ~0.3 s of imports an hourly ingest, a `digest daily` or a web request never uses
(issue 15). These are the only imports inside functions here, and they cannot hide a cycle:
the front-ends never import `app` (the layers contract; a test checks both).
"""

from __future__ import annotations

import functools
import gc
import multiprocessing
import os
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, TypedDict
from zoneinfo import ZoneInfo

import aiohttp
import certifi
from sqlmodel import Session

from app.wiring import Runtime
from core import digests
from core.dates import day_bounds, today
from core.deliver import Outcome
from core.errors import ComposeError, DigestError
from core.ingest import IngestOptions, IngestReport, SourceOutcome, ingest_sources
from core.model import DailyDigest, Edition, WeeklyRollup
from core.netguard import guarded_session
from core.sources import mirror_catalogue
from core.summarise import Summariser, article_text, pending_articles, summarise_pending
from core.summarise.extractive import ExtractiveSummariser
from core.summarise.llm import LLMSummariser, RunBudget
from core.summarise.usage import Estimate
from core.workpool import RenewingPool
from storage.db import session_scope
from storage.digests import list_digests

if TYPE_CHECKING:
    from newsletter.render import Issue
    from newsletter.send import Tally

__all__ = ["Pipeline", "Plan", "worker_pool"]


@dataclass(frozen=True)
class Plan:
    """What `summarise` would do (`digest summarise --estimate`): how many articles wait,
    and, with the LLM summariser, what would go to the model (`estimate`, None without)."""

    pending: int
    model: str | None
    budget: int | None  # LLM_TOKEN_BUDGET
    estimate: Estimate | None

    @property
    def within_budget(self) -> bool:
        """Whether what would go to the model fits LLM_TOKEN_BUDGET (True without a model)."""
        return self.estimate is None or self.estimate.tokens <= (self.budget or 0)

    def sentence(self) -> str:
        """The plan in words, for a person."""
        if self.estimate is None:
            return (
                f"{_n(self.pending, 'article')} to summarise, all extractive "
                "(DIGEST_SUMMARISER is not llm): no model, no tokens."
            )
        e = self.estimate
        fits = "within" if self.within_budget else "over"
        return (
            f"{_n(e.posts, 'post')} would go to the model ({self.model}), about "
            f"{e.tokens:,} tokens, {fits} LLM_TOKEN_BUDGET ({self.budget:,}); {e.cached} "
            f"already cached, {e.title_only} title-only. Nothing was sent."
        )

    def as_dict(self) -> dict[str, object]:
        """The plan as `--format json` prints it (`estimate` null without a model)."""
        e = self.estimate
        return {
            "pending": self.pending,
            "model": self.model,
            "token_budget": self.budget,
            "estimate": None
            if e is None
            else {
                "posts": e.posts,
                "tokens": e.tokens,
                "cached": e.cached,
                "title_only": e.title_only,
                "within_budget": self.within_budget,
            },
        }


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class Pipeline:
    """The use cases of the product over one runtime; implements `core.digests.Digests`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._run: Summariser | None = None  # the open run's summariser (`run()`)

    # --- time --------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.runtime.clock()

    def today(self) -> date:
        """Today in DIGEST_TZ."""
        return today(self.runtime.settings.tz, self.now())

    # --- ingest and summarise ----------------------------------------------------------

    def ingest(
        self,
        *,
        edition: str | None = None,
        source: str | None = None,
        fulltext: bool | None = None,
        workers: int | None = None,
        on_done: Callable[[SourceOutcome], None] | None = None,
    ) -> IngestReport:
        """Fetch the enabled sources (or one edition's, or one) and store new posts."""
        settings = self.runtime.settings
        sources = self.runtime.catalogue.select(edition=edition, name=source)
        options = IngestOptions(
            concurrency=settings.fetch_concurrency,
            per_host=settings.fetch_per_host,
            timeout=settings.fetch_timeout,
            max_bytes=settings.fetch_max_bytes,
            fulltext=settings.fulltext if fulltext is None else fulltext,
        )
        with (
            worker_pool(workers) as pool,
            Session(self.runtime.engine, expire_on_commit=False) as session,
        ):
            # the whole file, whatever this run selects: sources it no longer lists leave
            # the listings and health counts
            mirror_catalogue(self.runtime.catalogue, session=session, now=self.now())
            return ingest_sources(
                sources,
                session=session,
                open_http=self.http_opener(),
                workers=pool,
                options=options,
                now=self.runtime.clock,
                on_done=on_done,
            )

    def http_opener(self) -> Callable[[], aiohttp.ClientSession]:
        """What opens a run's aiohttp session (inside its event loop): our User-Agent, at
        most FETCH_CONCURRENCY connections, every address checked (feeds are untrusted)."""
        return functools.partial(
            guarded_session,
            concurrency=self.runtime.settings.fetch_concurrency,
            user_agent=self.runtime.settings.user_agent,
            ssl_context=_ssl_context(),
        )

    def summariser(self) -> Summariser:
        """The summariser DIGEST_SUMMARISER names: the open run's (`run()`), else a new one
        for this step. LLM_TOKEN_BUDGET, LLM_TIME_BUDGET and the usage counts are per run
        (the worker's pipeline lives for days). The LLM one uses the runtime's client."""
        if self._run is not None:
            return self._run
        settings = self.runtime.settings
        if settings.summariser != "llm":
            return ExtractiveSummariser()
        return LLMSummariser(
            client=self.runtime.llm_client,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            budget=RunBudget(tokens=settings.llm_token_budget, seconds=settings.llm_time_budget),
            max_input_chars=settings.llm_max_input_chars,
            concurrency=settings.llm_concurrency,
        )

    @contextmanager
    def run(self) -> Iterator[Summariser]:
        """One run (a `digest run`, a worker tick): every step inside shares one summariser,
        so one budget and one tally cover summarising and composing. Nested runs join the
        open one."""
        if self._run is not None:
            yield self._run
            return
        self._run = self.summariser()
        try:
            yield self._run
        finally:
            self._run = None

    def summarise(
        self,
        *,
        since: date | None = None,
        edition: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, int]:
        """Summarise every article without a deep dive; returns counts.

        Counts: "pending", "summarised", one per summariser used ("extractive", "llm",
        "title-only"), and for the LLM summariser "llm_calls", "llm_tokens", "cache_hits",
        "fallbacks", "rejected" (`LLMSummariser.line()` of the run's summariser says it all).
        """
        summariser = self.summariser()
        start = day_bounds(since, self.runtime.settings.tz)[0] if since else None
        with session_scope(self.runtime.engine) as session:
            counts = summarise_pending(
                session=session,
                summariser=summariser,
                since=start,
                edition=edition,
                on_progress=on_progress,
            )
        if isinstance(summariser, LLMSummariser):
            usage = summariser.usage
            counts.update(
                llm_calls=usage.calls,
                llm_tokens=usage.tokens,
                cache_hits=usage.cache_hits,
                fallbacks=usage.fallbacks,
                rejected=sum(usage.rejected.values()),
            )
        return counts

    def estimate(self, *, since: date | None = None, edition: str | None = None) -> Plan:
        """What `summarise` would send to the model and about what it costs, sending nothing."""
        summariser = self.summariser()
        settings = self.runtime.settings
        start = day_bounds(since, settings.tz)[0] if since else None
        with session_scope(self.runtime.engine) as session:
            todo = pending_articles(session=session, since=start, edition=edition)
            pending = [article_text(a) for a, _ in todo]
            if not isinstance(summariser, LLMSummariser):
                return Plan(pending=len(pending), model=None, budget=None, estimate=None)
            estimate = summariser.estimate(pending, session=session)
        return Plan(
            pending=len(pending),
            model=settings.llm_model,
            budget=settings.llm_token_budget,
            estimate=estimate,
        )

    # --- compose (reads) ---------------------------------------------------------------

    def daily(
        self, edition: str, day: date, *, force: bool = False, write: bool = True
    ) -> DailyDigest | None:
        """The daily digest of (edition, day), composed on demand; None for a future day.
        `write=False`: never ask the model (see `reads`)."""
        with session_scope(self.runtime.engine) as session:
            return digests.daily_digest(
                session=session, day=day, force=force, **self._compose(edition, write=write)
            )

    def weekly(
        self, edition: str, week: str, *, force: bool = False, write: bool = True
    ) -> WeeklyRollup | None:
        """The weekly rollup of (edition, ISO week), composed on demand; None for a week
        that has not started. `write=False`: never ask the model (see `reads`)."""
        with session_scope(self.runtime.engine) as session:
            return digests.weekly_rollup(
                session=session, week=week, force=force, **self._compose(edition, write=write)
            )

    @property
    def reads(self) -> digests.Digests:
        """What the web archive and `/digest` read: a period composed on demand there never
        waits for the model (a stored digest the model wrote is still what they show; the
        worker's deliveries write the sections)."""
        return _Reads(self)

    def backfill(self, *, edition: str | None = None) -> dict[str, dict[str, int]]:
        """Compose (store) the 7 most recent days and 4 most recent weeks with posts, per
        edition: what the archive, its feeds and `/digest` list after an ingest."""
        keys = [edition] if edition else list(self.runtime.catalogue.editions)
        counts: dict[str, dict[str, int]] = {}
        with session_scope(self.runtime.engine) as session:
            for key in keys:
                counts[key] = digests.backfill(session=session, **self._compose(key))
        return counts

    def _compose(self, edition: str, *, write: bool = True) -> _Composing:
        """What composing an edition's period needs besides the session."""
        catalogue = self.runtime.catalogue
        summariser = self.summariser()
        model = summariser if isinstance(summariser, LLMSummariser) else None
        return {
            "edition": catalogue.edition(edition),
            "sources": [s.name for s in catalogue.select(edition=edition)],
            "tz": self.runtime.settings.tz,
            "now": self.now(),
            # With DIGEST_SUMMARISER=llm the model writes the signal's and patterns'
            # paragraphs too, and deep dives made while composing are left to summarise.
            "writer": model if write else None,
            "keep_summaries": model is None,
        }

    # --- deliveries --------------------------------------------------------------------

    def post_daily(
        self,
        edition: str,
        day: date,
        *,
        channel: str | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Compose the day's digest and post it to every subscribed channel (or `channel`),
        once each. What is posted is what stays stored for that day."""
        from bot.post import post_daily  # the Slack front-end, only when posting

        digest = self.daily(edition, day)
        if digest is None:
            raise ComposeError(f"{day.isoformat()} has not happened yet: nothing to post")
        return post_daily(
            self.runtime.settings,
            engine=self.runtime.engine,
            digest=digest,
            channel=channel,
            on_outcome=on_outcome,
        )

    def issue(self, edition: str, week: str) -> Issue | None:
        """The newsletter issue of (edition, week) as it would be mailed now, from the
        rollup composed now; None when the week has no posts (nothing is mailed)."""
        from newsletter.render import render_issue  # the email front-end, only for an issue

        rollup = self.weekly(edition, week)
        if rollup is None:
            raise ComposeError(f"week {week} has not started yet: there is no issue")
        if not rollup.top_stories and rollup.stats.posts == 0:
            return None
        title = None
        try:
            title = self.runtime.catalogue.edition(edition).title
        except DigestError:  # an edition no longer in sources.toml: the rollup's title will do
            pass
        with Session(self.runtime.engine) as session:  # issue N: the Nth stored week
            weeks = list_digests(
                session=session, edition=edition, kind="weekly", limit=10_000, with_payload=False
            )
        periods = {row.period for row in weeks}
        number = sum(1 for p in periods if p < week) + 1  # this week's, stored or not
        return render_issue(
            rollup, settings=self.runtime.settings, edition_title=title, number=number
        )

    def plan_weekly(self, edition: str, week: str) -> tuple[Issue, int, int] | None:
        """What `send_weekly` would do now: (issue, audience, already done); None when the
        week has no posts."""
        from newsletter.send import plan_issue

        issue = self.issue(edition, week)
        if issue is None:
            return None
        audience, ledger = plan_issue(issue, engine=self.runtime.engine)
        done = sum(1 for sid, _ in audience if ledger.get(str(sid)) in ("sent", "failed"))
        return issue, len(audience), done

    def send_weekly(
        self,
        edition: str,
        week: str,
        *,
        on_outcome: Callable[..., None] | None = None,
        on_plan: Callable[[int], None] | None = None,
        stale_after: timedelta | None = None,
    ) -> Tally | None:
        """Compose the week's rollup and mail its issue to every confirmed subscriber not
        yet served; None when the week has no posts (an empty issue is not mailed)."""
        from newsletter.send import send_issue
        from newsletter.smtp import SMTPSender

        settings = self.runtime.settings
        SMTPSender.from_url(settings.smtp_url)  # fail early, in plain words, if SMTP_URL is bad
        settings.check_secret_key()
        issue = self.issue(edition, week)
        if issue is None:
            return None
        return send_issue(
            issue,
            engine=self.runtime.engine,
            settings=settings,
            connect=lambda: SMTPSender.from_url(settings.smtp_url),
            on_outcome=on_outcome,
            on_plan=on_plan,
            stale_after=stale_after,
        )


class _Composing(TypedDict):
    """The keyword arguments of `core.digests`' composing functions besides the session."""

    edition: Edition
    sources: list[str]
    tz: ZoneInfo
    now: datetime
    writer: digests.Writer | None
    keep_summaries: bool


@dataclass(frozen=True)
class _Reads:
    """`Pipeline.daily`/`weekly` without the model, for the front-ends that must answer fast."""

    pipeline: Pipeline

    def daily(self, edition: str, day: date) -> DailyDigest | None:
        return self.pipeline.daily(edition, day, write=False)

    def weekly(self, edition: str, week: str) -> WeeklyRollup | None:
        return self.pipeline.weekly(edition, week, write=False)


@functools.cache
def _ssl_context() -> ssl.SSLContext | None:
    """How feeds' certificates are verified. None: with the system's CAs (or SSL_CERT_FILE's),
    aiohttp's own verifying context, which it loads when it is imported, so a run pays for
    reading the CA file once, not twice (~20 ms of CPU here). certifi's CAs (as httpx uses)
    only where the system has no CA file (a slim image without ca-certificates). Decided
    once per process."""
    if ssl.get_default_verify_paths().cafile:  # None when the file does not exist
        return None
    return ssl.create_default_context(cafile=certifi.where())


@contextmanager
def worker_pool(workers: int | None) -> Iterator[RenewingPool]:
    """Processes for parsing and extraction, one per core, started before the event loop.

    fork when this process has no other thread (the `digest` CLI): the workers inherit
    what is already imported, so they cost ~10 ms to start (each imports feedparser on its
    first body, only in a run that parses), and all of them are forked here, before any
    other thread exists, so no lock can be copied held.
    Otherwise (a scheduler's thread, a test server) spawn, which is always safe but
    re-imports the application in every worker (~1.5 s of CPU each, measured), and starts
    them only when a body needs parsing. If a worker dies (the OOM killer, a crash in a C
    extension), the pool is replaced by a spawned one and the run goes on.
    """
    size = workers or os.cpu_count() or 2
    can_fork = "fork" in multiprocessing.get_all_start_methods()

    def forking() -> bool:  # decided afresh for a replacement pool
        return can_fork and threading.active_count() == 1

    def start() -> ProcessPoolExecutor:
        method = "fork" if forking() else "spawn"
        return ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context(method))

    forked = forking()  # what the first pool, started just below, uses
    pool = RenewingPool(start, max_workers=size)
    if forked:  # with fork, the first submit starts every worker at once
        # Python's advice before a fork (see `gc.freeze`): what is imported by now lives as
        # long as the process, so the collector stops walking it; the workers' pages stay
        # shared, and the CLI's exit no longer collects it all (~0.1 s of a 0.5 s run).
        gc.freeze()
        pool.submit(int).result()
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

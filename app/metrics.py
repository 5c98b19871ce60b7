"""`/metrics`: what an operator's Prometheus scrapes, in its text format. Off unless METRICS=1.

```
digest_feeds{edition,state}                     feeds by state: ok | failing | backing_off | disabled | never
digest_articles{edition}                        articles stored
digest_deliveries{channel,status}               ledger rows: slack | email × claimed | sent | deferred | failed
digest_job_last_success_timestamp_seconds{job}  when ingest | daily | weekly last succeeded (Unix time)
digest_storage_up                               1 when the scrape could read the database, else 0
digest_slash_command_ack_seconds{command}       histogram: a slash command's arrival to its ack
```

Every figure but the latency is read from the database at scrape time by a custom collector
(`StorageCollector`), not counted in this process: the worker changes them in another
process, several web processes must agree, and a restart must not reset them. Feeds are the
ones sources.toml lists now (read at each scrape, like `digest sources`), each in the state
storage holds for it: a feed disabled or removed in the file is not reported as failing on
the strength of its last stored fetch. The latency
histogram is the one in-process figure; `bot.web` reports each ack through the callable
`build_metrics` hands it (`observe_ack`), so the Slack front-end never imports Prometheus.

Never public by default. With METRICS=1 alone, only loopback clients are answered (a
Prometheus or node agent on the same machine, `curl localhost`); a request that came through
a proxy (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`) is never taken for loopback, since
behind a reverse proxy on the same host every visitor would look local. With METRICS_TOKEN
set, any address may scrape, but only with `Authorization: Bearer <METRICS_TOKEN>`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from app.wiring import utc_now
from core.config import Settings
from core.errors import DigestError
from core.sources import Catalogue, load_sources
from storage import metrics as counts

if TYPE_CHECKING:
    from bot.web import AckObserver

__all__ = ["ACK_BUCKETS", "Metrics", "StorageCollector", "build_metrics"]

log = logging.getLogger(__name__)

# Slack drops a command not acknowledged within 3 s; our p99 ack is ~9 ms steady, ~35 ms in
# bursts of 20 (docs/performance.md).
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
DELIVERY_CHANNELS = ("slack", "email")
DELIVERY_STATUSES = ("claimed", "sent", "deferred", "failed")
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


@dataclass(frozen=True)
class Metrics:
    """What the web app mounts: the `/metrics` route and the Slack ack hook (both empty
    when METRICS is off, so an app without metrics pays nothing for them)."""

    routes: list[BaseRoute] = field(default_factory=list)
    observe_ack: AckObserver | None = None


def build_metrics(
    settings: Settings, *, engine: Engine, clock: Callable[[], datetime] = utc_now
) -> Metrics:
    """The metrics of one web app: a registry of its own (never the process-global one, so
    two apps in one process, as in tests, do not collide).

    - `engine`: the database the collector reads at each scrape.
    - `clock`: decides which feeds are still backing off (tests fix it).

    Example: `metrics = build_metrics(settings, engine=engine)`, then mount
    `metrics.routes` and pass `metrics.observe_ack` to `bot.web.build_routes`.
    """
    if not settings.metrics:
        return Metrics()
    registry = CollectorRegistry(auto_describe=False)
    catalogue = _catalogue_reader(settings.sources_path)
    registry.register(StorageCollector(engine=engine, clock=clock, catalogue=catalogue))
    latency = Histogram(
        "digest_slash_command_ack_seconds",
        "Seconds from a slash command's arrival to its ack (this process since it started)",
        ["command"],
        buckets=ACK_BUCKETS,
        registry=registry,
    )

    def observe_ack(command: str, seconds: float) -> None:
        latency.labels(command=command).observe(seconds)

    endpoint = _Endpoint(registry=registry, token=settings.metrics_token)
    return Metrics(
        routes=[Route("/metrics", endpoint.scrape, methods=["GET"], name="metrics")],
        observe_ack=observe_ack,
    )


class StorageCollector(Collector):
    """Reads the figures from storage at each scrape; nothing is kept between scrapes.

    A database that cannot be read yields `digest_storage_up 0` (and a log line) instead of
    failing the scrape, so the alert says what is wrong rather than "target down".
    """

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Callable[[], datetime],
        catalogue: Callable[[], Catalogue | None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.catalogue = catalogue  # None: report the feeds storage holds, as stored

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("digest_storage_up", "1 when the database could be read")
        catalogue = self.catalogue()
        try:
            with Session(self.engine) as session:
                stored = counts.feed_states(session=session, now=self.clock())
                articles = counts.article_totals(session=session)
                deliveries = counts.delivery_totals(session=session)
                jobs = counts.job_last_successes(session=session)
        except SQLAlchemyError as exc:
            log.warning("metrics database=unreachable error=%r", str(exc).splitlines()[0])
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        feeds = _feed_counts(stored, catalogue)
        yield _feeds(feeds)
        yield _articles(articles, editions={edition for edition, _ in feeds})
        yield _deliveries(deliveries)
        yield _jobs(jobs)


def _catalogue_reader(path: str) -> Callable[[], Catalogue | None]:
    """Reads sources.toml at a scrape when it changed (size or mtime), so an edited file
    shows without a restart; parsing the bundled 79 feeds is ~3 ms, 70% of a scrape, so an
    unchanged file is not parsed again. An unreadable file is logged and the stored feeds
    are reported instead."""
    last: tuple[tuple[int, int], Catalogue] | None = None  # (size and mtime, what it held)

    def read() -> Catalogue | None:
        nonlocal last
        try:
            stat = os.stat(path)
            key = (stat.st_mtime_ns, stat.st_size)
            if last is not None and last[0] == key:
                return last[1]
            catalogue = load_sources(path)
        except (OSError, DigestError) as exc:
            log.warning("metrics sources=unreadable error=%r", str(exc))
            return None
        last = (key, catalogue)  # one assignment: a scrape racing this one sees old or new
        return catalogue

    return read


def _feed_counts(
    stored: dict[str, counts.FeedState], catalogue: Catalogue | None
) -> Counter[tuple[str, str]]:
    """(edition, state) → feeds. With the catalogue: its sources, in their stored states
    (the rules of `digest sources`); a source new to storage, or whose URL changed since it
    was stored, has not been fetched yet."""
    if catalogue is None:
        return Counter((feed.edition, feed.state) for feed in stored.values())
    found: Counter[tuple[str, str]] = Counter()
    for source in catalogue.sources:
        row = stored.get(source.name)
        if not source.enabled:
            state = "disabled"
        elif row is None or row.url != source.url:
            state = "never"
        else:
            state = row.state
        found[(source.edition, state)] += 1
    return found


def _feeds(found: Counter[tuple[str, str]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "digest_feeds",
        "Configured feeds by edition and state (ok, failing, backing_off, disabled, never)",
        labels=["edition", "state"],
    )
    for edition in sorted({edition for edition, _ in found}):
        for state in counts.FEED_STATES:  # every state, 0 included: no series comes and goes
            family.add_metric([edition, state], found[(edition, state)])
    return family


def _articles(found: dict[str, int], *, editions: set[str]) -> GaugeMetricFamily:
    family = GaugeMetricFamily("digest_articles", "Articles stored", labels=["edition"])
    for edition in sorted(editions | found.keys()):
        family.add_metric([edition], found.get(edition, 0))
    return family


def _deliveries(found: dict[tuple[str, str], int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "digest_deliveries",
        "Rows of the delivery ledger by channel (slack, email) and status",
        labels=["channel", "status"],
    )
    keys = {(c, s) for c in DELIVERY_CHANNELS for s in DELIVERY_STATUSES} | found.keys()
    for channel, status in sorted(keys):
        family.add_metric([channel, status], found.get((channel, status), 0))
    return family


def _jobs(found: dict[str, datetime]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "digest_job_last_success_timestamp_seconds",
        "When each scheduled job last finished successfully, as a Unix time",
        labels=["job"],
    )
    for job, finished in sorted(found.items()):
        family.add_metric([job], finished.timestamp())
    return family


class _Endpoint:
    def __init__(self, *, registry: CollectorRegistry, token: str) -> None:
        self.registry = registry
        self.token = token.encode()

    def scrape(self, request: Request) -> Response:
        """Sync on purpose: Starlette runs it in its thread pool, away from the event loop."""
        refused = self._refusal(request)
        if refused is not None:
            return refused
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def _refusal(self, request: Request) -> Response | None:
        if self.token:
            scheme, _, sent = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                sent.strip().encode(), self.token
            ):
                return None
            return PlainTextResponse(
                "Send Authorization: Bearer <METRICS_TOKEN> to read /metrics.\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        if _from_loopback(request):
            return None
        return PlainTextResponse(
            "/metrics answers loopback clients only; set METRICS_TOKEN to scrape from elsewhere.\n",
            status_code=403,
        )


def _from_loopback(request: Request) -> bool:
    """The peer is this machine and nothing relayed the request."""
    if any(name in request.headers for name in _PROXY_HEADERS):
        return False
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback

"""Feed state: the catalogue's sources mirrored as `FeedSource` rows, with their fetch history.

Failures are data (miniflux's `feed.go`): each failure increments `error_count` and keeps the
reason in plain words; a success resets both. Validators (ETag, Last-Modified) and the body
hash are stored only after a success, so a half-finished run never makes a feed look
unchanged. 410 Gone disables the feed (polling a gone feed is rude); 429/503 with
Retry-After and repeated failures set `backoff_until`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from sqlalchemy import func
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from storage.tables import Article, FeedSource

__all__ = [
    "SourceSpec",
    "Success",
    "article_counts",
    "backoff_for",
    "feed_status",
    "feed_tags",
    "is_due",
    "list_feeds",
    "record_failure",
    "record_success",
    "record_successes",
    "record_unchanged",
    "retire_sources",
    "sync_sources",
]

DEFAULT_BACKOFF = timedelta(hours=1)  # 429/503 without a readable Retry-After
FREE_FAILURES = 2  # failures in a row before back-off starts
MAX_BACKOFF = timedelta(hours=24)


class SourceSpec(Protocol):
    """What `sync_sources` reads from a configured source (`core.model.Source` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def company(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def edition(self) -> str: ...
    @property
    def tags(self) -> tuple[str, ...]: ...
    @property
    def weight(self) -> float: ...
    @property
    def enabled(self) -> bool: ...


def sync_sources(sources: Iterable[SourceSpec], *, session: Session) -> dict[str, FeedSource]:
    """Create or update a row per configured source; returns rows by name. Commits.

    A source whose configured URL changed starts afresh: its remembered redirect, validators
    and "disabled after 410" state belonged to the old URL. A source that had left the
    sources file and is back counts as configured again.
    """
    sources = list(sources)
    rows = _rows_by_name(session)
    missing = [s for s in sources if s.name not in rows]
    if missing:
        # INSERT … ON CONFLICT DO NOTHING: two runs starting at once on a fresh database
        # (two workers) both try to create the rows; neither may fail.
        # The dialect's own insert, imported when used: importing sqlalchemy.dialects.postgresql
        # loads all four of its drivers' modules (~40 ms), which a SQLite run never needs.
        if session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        table = FeedSource.__table__  # type: ignore[attr-defined]
        session.connection().execute(
            insert(table).on_conflict_do_nothing(index_elements=["name"]),
            [_new_row(s) for s in missing],
        )
        session.commit()
        rows = _rows_by_name(session)
    for source in sources:
        row = rows[source.name]
        if row.url != source.url:
            row.fetch_url = None
            row.etag = row.last_modified = row.content_hash = None
            row.error_count = 0
            row.last_error = None
            row.backoff_until = None
            row.status = "never"
            row.last_warning = None
        if row.removed_at is not None:
            row.removed_at = None
        configured = {
            "url": source.url,
            "company": source.company,
            "edition": source.edition,
            "tags": ",".join(source.tags),
            "weight": source.weight,
            "enabled": source.enabled,
        }
        for key, value in configured.items():
            if getattr(row, key) != value:  # an unchanged row costs no attribute event
                setattr(row, key, value)
    session.commit()
    return {source.name: rows[source.name] for source in sources}


def _rows_by_name(session: Session) -> dict[str, FeedSource]:
    """Every feed row, by name: a table of tens or hundreds of rows, read with the one
    statement syncing and retiring share (an ingest compiles it once, not three shapes)."""
    return {row.name: row for row in session.exec(select(FeedSource))}


def _new_row(source: SourceSpec) -> dict[str, object]:
    return {
        "name": source.name,
        "company": source.company,
        "url": source.url,
        "edition": source.edition,
        "tags": ",".join(source.tags),
        "weight": source.weight,
        "enabled": source.enabled,
        "status": "never",
        "error_count": 0,
    }


def retire_sources(configured: Iterable[str], *, session: Session, now: datetime) -> list[str]:
    """Mark every source not named in `configured` (the whole sources file) as removed; returns
    the names newly removed. Commits. Rows and their articles stay: a post already in a
    digest keeps its source, and a source put back resumes with its fetch history.
    """
    names = set(configured)
    rows = _rows_by_name(session).values()
    gone = [row for row in rows if row.removed_at is None and row.name not in names]
    for row in gone:
        row.removed_at = now
    session.commit()
    return [row.name for row in gone]


def list_feeds(
    *, session: Session, removed: bool = False, edition: str | None = None
) -> list[FeedSource]:
    """Feed rows by edition and name (of one `edition`, if given): the configured ones, and
    with `removed` also those that left the sources file."""
    query = select(FeedSource).order_by(FeedSource.edition, FeedSource.name)
    if not removed:
        query = query.where(col(FeedSource.removed_at).is_(None))
    if edition is not None:
        query = query.where(FeedSource.edition == edition)
    return list(session.exec(query))


def feed_tags(*, session: Session, edition: str) -> set[str]:
    """The default tags the sources file gives an edition's feeds (removed ones included)."""
    rows = session.exec(select(FeedSource.tags).where(FeedSource.edition == edition))
    return {tag for tags in rows for tag in tags.split(",") if tag}


def feed_status(row: FeedSource | None, *, enabled: bool = True) -> str:
    """never | ok | error | disabled: a feed's health as every view reports it (`digest
    sources`, `digest status`, `/digest sources`). `enabled` is the sources file's say; a
    feed without a row has never been fetched."""
    if not enabled or (row is not None and (not row.enabled or row.status == "disabled")):
        return "disabled"
    return row.status if row is not None else "never"


def article_counts(*, session: Session) -> dict[int, int]:
    """Stored articles per feed id."""
    query = select(Article.source_id, func.count()).group_by(col(Article.source_id))
    return {source_id: count for source_id, count in session.exec(query)}


def is_due(row: FeedSource, *, now: datetime) -> bool:
    """Enabled, not disabled by a 410, and not backing off."""
    if not row.enabled or row.status == "disabled":
        return False
    return row.backoff_until is None or row.backoff_until <= now


def backoff_for(error_count: int) -> timedelta | None:
    """Exponential back-off after repeated failures: none for the first two, then 1 h, 2 h, … 24 h."""
    if error_count <= FREE_FAILURES:
        return None
    return min(timedelta(hours=2 ** (error_count - FREE_FAILURES - 1)), MAX_BACKOFF)


def record_success(
    row: FeedSource,
    *,
    session: Session,
    now: datetime,
    etag: str | None,
    last_modified: str | None,
    content_hash: str | None,
    redirect_to: str | None = None,
    warning: str | None = None,
    commit: bool = True,
) -> None:
    """A fetch (and parse and store) went through: keep validators, clear errors.

    `warning`: what the parse remarked ("" for a clean parse, which clears the last one;
    None keeps it, as for a 304 or the same body: the feed still says what it said).
    Commits unless `commit=False` (an ingest run commits a batch of sources at once).
    """
    row.etag = etag
    if warning is not None:
        row.last_warning = warning or None
    row.last_modified = last_modified
    if content_hash is not None:
        row.content_hash = content_hash
    if redirect_to:
        row.fetch_url = redirect_to
    row.status = "ok"
    row.last_error = None
    row.error_count = 0
    row.backoff_until = None
    row.last_attempt_at = now
    row.last_success_at = now
    session.add(row)
    if commit:
        session.commit()


class Success(NamedTuple):
    """One source's success, for `record_successes` (the arguments of `record_success`)."""

    row: FeedSource
    etag: str | None
    last_modified: str | None
    content_hash: str | None = None  # None keeps the stored one (304, same body)
    redirect_to: str | None = None
    warning: str | None = None  # the parse's remarks, "" for none; None keeps the stored one


def record_successes(successes: Sequence[Success], *, session: Session, now: datetime) -> None:
    """`record_success` for many sources at once: one `UPDATE … WHERE id = ?` run over all of
    them (a run of 500 unchanged feeds costs one statement, not 500 ORM flushes). Does not
    commit. The rows' attributes are set to what was written, without marking them dirty.
    """
    if not successes:
        return
    connection = session.connection()
    dialect = connection.dialect
    table = FeedSource.__table__  # type: ignore[attr-defined]
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    moment = table.c.last_attempt_at.type._cached_bind_processor(dialect)
    stamp = moment(now) if moment is not None else now
    # One statement run over all rows through the driver (executemany): the constant
    # columns are literals, `now` is converted once by its column type.
    statement = (
        f"UPDATE {quote(table.name)} SET "
        + ", ".join(f"{quote(key)} = {mark}" for key in _VARYING)
        + f", {quote('status')} = 'ok', {quote('last_error')} = NULL, "
        f"{quote('error_count')} = 0, {quote('backoff_until')} = NULL, "
        f"{quote('last_attempt_at')} = {mark}, {quote('last_success_at')} = {mark} "
        f"WHERE {quote('id')} = {mark}"
    )
    params = []
    for success in successes:
        row = success.row
        values = {
            "etag": success.etag,
            "last_modified": success.last_modified,
            "content_hash": success.content_hash
            if success.content_hash is not None
            else row.content_hash,
            "fetch_url": success.redirect_to or row.fetch_url,
            "last_warning": row.last_warning
            if success.warning is None
            else (success.warning or None),
            "status": "ok",
            "last_error": None,
            "error_count": 0,
            "backoff_until": None,
            "last_attempt_at": now,
            "last_success_at": now,
        }
        params.append((*(values[key] for key in _VARYING), stamp, stamp, row.id))
        for key, value in values.items():
            set_committed_value(row, key, value)
    connection.exec_driver_sql(statement, params)


_VARYING = ("etag", "last_modified", "content_hash", "fetch_url", "last_warning")


def record_unchanged(
    row: FeedSource,
    *,
    session: Session,
    now: datetime,
    etag: str | None = None,
    last_modified: str | None = None,
    redirect_to: str | None = None,
    commit: bool = True,
) -> None:
    """304, or the same body as last time: a success that stores nothing."""
    record_success(
        row,
        session=session,
        now=now,
        etag=etag or row.etag,
        last_modified=last_modified or row.last_modified,
        content_hash=None,
        redirect_to=redirect_to,
        commit=commit,
    )


def record_failure(
    row: FeedSource,
    *,
    session: Session,
    now: datetime,
    error: str,
    retry_after: datetime | None = None,
    rate_limited: bool = False,
    gone: bool = False,
    never_connected: bool = False,
    commit: bool = True,
) -> None:
    """Count a failure and decide when to try again. Commits unless `commit=False`.

    `rate_limited` (429/503): back off until `retry_after`, or an hour when the server gave
    no usable Retry-After. `gone` (410): disable the feed until its URL changes.
    `never_connected` (DNS failure, connection refused or unreachable): no back-off, since
    the publisher's server did no work and the cause may be our own network (a laptop
    offline must not leave every feed backing off for hours once it is back).
    """
    row.error_count += 1
    row.last_error = error
    row.last_attempt_at = now
    row.status = "disabled" if gone else "error"
    if rate_limited:
        row.backoff_until = retry_after or now + DEFAULT_BACKOFF
    elif never_connected:
        row.backoff_until = None
    else:
        delay = backoff_for(row.error_count)
        row.backoff_until = now + delay if delay else None
    session.add(row)
    if commit:
        session.commit()

"""storage.feeds: the catalogue mirrored in the database, and failures kept as data."""

from __future__ import annotations

from datetime import timedelta

from core.model import Source
from storage.feeds import (
    Success,
    backoff_for,
    feed_status,
    feed_tags,
    is_due,
    list_feeds,
    record_failure,
    record_success,
    record_successes,
    record_unchanged,
    retire_sources,
    sync_sources,
)
from storage.metrics import feed_states

BLOG = Source(
    name="Blog",
    company="Acme",
    url="https://acme.example/feed",
    edition="tech",
    tags=("data", "security"),
    weight=1.2,
)


def test_sync_creates_a_row_per_source_with_its_catalogue_fields(session):
    rows = sync_sources([BLOG], session=session)
    row = rows["Blog"]
    assert row.id is not None
    assert (row.company, row.url, row.edition, row.tags, row.weight) == (
        "Acme",
        "https://acme.example/feed",
        "tech",
        "data,security",
        1.2,
    )
    assert row.status == "never"


def test_sync_again_updates_in_place(session):
    first = sync_sources([BLOG], session=session)["Blog"]
    changed = Source(name="Blog", company="Acme Corp", url=BLOG.url, edition="reads")
    second = sync_sources([changed], session=session)["Blog"]
    assert second.id == first.id
    assert (second.company, second.edition, second.tags) == ("Acme Corp", "reads", "")


def test_a_new_url_forgets_the_old_urls_state(session, now):
    row = sync_sources([BLOG], session=session)["Blog"]
    record_success(
        row,
        session=session,
        now=now,
        etag='"v1"',
        last_modified="x",
        content_hash="h",
        redirect_to="https://acme.example/new-feed",
    )
    record_failure(row, session=session, now=now, error="gone", gone=True)
    moved = Source(name="Blog", company="Acme", url="https://acme.example/rss", edition="tech")
    row = sync_sources([moved], session=session)["Blog"]
    assert (row.fetch_url, row.etag, row.content_hash, row.status) == (None, None, None, "never")
    assert is_due(row, now=now)


def test_success_keeps_validators_and_clears_errors(session, now):
    row = sync_sources([BLOG], session=session)["Blog"]
    record_failure(row, session=session, now=now, error="DNS")
    record_success(
        row,
        session=session,
        now=now,
        etag='"v1"',
        last_modified="Tue",
        content_hash="abc",
        redirect_to="https://acme.example/new",
    )
    session.expire_all()
    assert (row.etag, row.last_modified, row.content_hash) == ('"v1"', "Tue", "abc")
    assert (row.status, row.error_count, row.last_error) == ("ok", 0, None)
    assert row.fetch_url == "https://acme.example/new"
    assert row.last_success_at == now


def test_unchanged_keeps_the_stored_hash(session, now):
    row = sync_sources([BLOG], session=session)["Blog"]
    record_success(
        row, session=session, now=now, etag='"v1"', last_modified=None, content_hash="abc"
    )
    record_unchanged(row, session=session, now=now)
    assert (row.etag, row.content_hash, row.status) == ('"v1"', "abc", "ok")


def test_429_backs_off_until_retry_after(session, now):
    row = sync_sources([BLOG], session=session)["Blog"]
    later = now + timedelta(minutes=2)
    record_failure(row, session=session, now=now, error="429", retry_after=later, rate_limited=True)
    session.expire_all()
    assert row.backoff_until == later
    assert not is_due(row, now=now + timedelta(minutes=1))
    assert is_due(row, now=later)


def test_429_without_retry_after_backs_off_an_hour(session, now):
    row = sync_sources([BLOG], session=session)["Blog"]
    record_failure(row, session=session, now=now, error="429", rate_limited=True)
    assert row.backoff_until == now + timedelta(hours=1)


def test_410_disables_the_feed(session, now):
    row = sync_sources([BLOG], session=session)["Blog"]
    record_failure(row, session=session, now=now, error="gone", gone=True)
    assert row.status == "disabled"
    assert not is_due(row, now=now + timedelta(days=365))
    # a re-sync with the same URL does not bring it back
    row = sync_sources([BLOG], session=session)["Blog"]
    assert row.status == "disabled"


def test_repeated_failures_back_off_exponentially_up_to_a_day(session, now):
    assert [backoff_for(n) for n in (1, 2)] == [None, None]
    assert backoff_for(3) == timedelta(hours=1)
    assert backoff_for(4) == timedelta(hours=2)
    assert backoff_for(30) == timedelta(hours=24)
    row = sync_sources([BLOG], session=session)["Blog"]
    for _ in range(3):
        record_failure(row, session=session, now=now, error="the server answered 500")
    assert (row.error_count, row.status, row.last_error) == (3, "error", "the server answered 500")
    assert row.backoff_until == now + timedelta(hours=1)


def test_failing_to_connect_at_all_never_backs_off(session, now):
    row = sync_sources([BLOG], session=session)["Blog"]
    for _ in range(5):
        record_failure(
            row,
            session=session,
            now=now,
            error="could not resolve host blog (DNS)",
            never_connected=True,
        )
    assert (row.error_count, row.status, row.backoff_until) == (5, "error", None)
    assert is_due(row, now=now)


def test_a_source_disabled_in_the_catalogue_is_not_due(session, now):
    off = Source(
        name="Off", company="Acme", url="https://acme.example/off", edition="tech", enabled=False
    )
    row = sync_sources([off], session=session)["Off"]
    assert not is_due(row, now=now)


OTHER = Source(name="Other", company="Beta", url="https://beta.example/feed", edition="tech")


def test_a_source_left_out_of_the_file_is_kept_but_marked_removed(session, now):
    rows = sync_sources([BLOG, OTHER], session=session)
    record_failure(rows["Other"], session=session, now=now, error="refused")

    assert retire_sources(["Blog"], session=session, now=now) == ["Other"]
    assert retire_sources(["Blog"], session=session, now=now) == []  # once

    assert [row.name for row in list_feeds(session=session)] == ["Blog"]
    kept = {row.name: row for row in list_feeds(session=session, removed=True)}
    assert kept["Other"].removed_at == now and kept["Other"].error_count == 1
    assert set(feed_states(session=session, now=now)) == {"Blog"}  # health counts
    back = sync_sources([OTHER], session=session)["Other"]  # put back in the file
    assert back.removed_at is None and back.error_count == 1


def test_a_warning_stays_until_a_clean_parse(session, now):
    row = sync_sources([BLOG], session=session)["Blog"]
    record_successes(
        [Success(row, None, None, "h1", warning="the feed has XML errors")],
        session=session,
        now=now,
    )
    session.commit()
    record_successes([Success(row, None, None)], session=session, now=now)  # 304: same feed
    session.commit()
    session.expire_all()
    assert row.last_warning == "the feed has XML errors"
    record_success(
        row, session=session, now=now, etag=None, last_modified=None, content_hash="h2", warning=""
    )
    session.expire_all()
    assert row.last_warning is None


def test_one_feed_status_for_every_view(session, now):
    assert feed_status(None) == "never"
    assert feed_status(None, enabled=False) == "disabled"
    row = sync_sources([BLOG], session=session)["Blog"]
    assert feed_status(row) == "never"
    record_failure(row, session=session, now=now, error="DNS")
    assert feed_status(row) == "error"
    assert feed_status(row, enabled=False) == "disabled"  # the sources file has the last say
    record_failure(row, session=session, now=now, error="gone", gone=True)
    assert feed_status(row) == "disabled"


def test_list_feeds_of_one_edition(session):
    reads = Source(name="Essay", company="Ann", url="https://ann.example/feed", edition="reads")
    sync_sources([BLOG, reads], session=session)
    assert [r.name for r in list_feeds(session=session, edition="reads")] == ["Essay"]
    assert [r.name for r in list_feeds(session=session)] == ["Essay", "Blog"]


def test_feed_tags_are_an_editions_default_tags(session):
    reads = Source(
        name="Essay",
        company="Ann",
        url="https://ann.example/feed",
        edition="reads",
        tags=("essays",),
    )
    sync_sources([BLOG, reads], session=session)
    assert feed_tags(session=session, edition="tech") == {"data", "security"}
    assert feed_tags(session=session, edition="videos") == set()

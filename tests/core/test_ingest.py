"""core.ingest end to end: a real feed server, a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from core.ingest import IngestOptions, ingest_sources
from core.model import Source
from core.netguard import guarded_session
from storage.tables import Article, FeedSource
from tests.peers.feeds import FeedServer, feed_server
from tests.peers.http import Response


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


def _resolve(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
    """Test DNS: feeds.test is this machine; nothing else resolves."""
    if host in ("127.0.0.1", "feeds.test"):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture
def open_http():
    """What opens each run's guarded aiohttp session, with the test DNS above."""
    return functools.partial(
        guarded_session, concurrency=8, user_agent="digest-tests", resolve=_resolve
    )


@pytest.fixture
def workers() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


@pytest.fixture
def ingest(session, open_http, workers, now):
    def run(sources, **options):
        clock = options.pop("clock", lambda: now)
        return ingest_sources(
            sources,
            session=session,
            open_http=open_http,
            workers=workers,
            options=IngestOptions(**options),
            now=clock,
        )

    return run


def _source(server: FeedServer, name: str, path: str, **extra) -> Source:
    fields = {"company": name.split()[0], "edition": "tech", "tags": ("data",)} | extra
    return Source(name=name, url=server.url(path), **fields)


def _articles(session) -> list[Article]:
    return list(session.exec(select(Article).order_by(Article.url)))


def test_a_run_stores_every_post_with_its_source_fields(server, session, ingest, now):
    source = _source(server, "Medium Blog", "/medium-rss/feed.xml", tags=("distributed-systems",))
    report = ingest([source])
    assert report.counts() == {
        "sources": 1,
        "new": 2,
        "unchanged": 0,
        "errors": 0,
        "skipped": 0,
        "parsed": 1,
    }
    first = _articles(session)[1]
    assert first.url == (
        "https://medium.com/example-tech/rebuilding-the-event-store-write-path-3f2a1b9c8d7e"
    )
    assert (first.company, first.edition, first.tags) == ("Medium", "tech", "distributed-systems")
    assert first.title == "Rebuilding the Event Store Write Path & What We Learned"
    assert first.text_kind == "full" and first.words > 150
    assert first.published_at.isoformat() == "2026-03-31T17:45:12+00:00"
    assert first.first_seen_at == now
    assert first.digest_day is None


def test_a_second_run_sends_conditional_requests_and_stores_nothing(server, session, ingest):
    sources = [
        _source(server, "Medium Blog", "/medium-rss/feed.xml"),
        _source(server, "RDF", "/rss1-rdf/feed.xml"),
    ]
    ingest(sources)
    before = len(_articles(session))
    report = ingest(sources)
    assert report.counts()["new"] == 0
    assert report.counts()["unchanged"] == 2
    assert report.counts()["parsed"] == 0
    assert len(_articles(session)) == before
    second_round = server.requests[2:]
    assert all(r.headers.get("if-none-match") for r in second_round)


def test_a_body_identical_to_last_time_is_not_parsed_again(server, session, ingest):
    path = "/no-validators.xml"
    feed = b"<rss version='2.0'><channel><title>t</title><item><title>A</title><link>https://x.example/a</link></item></channel></rss>"
    server.routes[path] = lambda request: Response(
        body=feed, headers={"Content-Type": "application/xml"}
    )
    source = _source(server, "Plain", path)
    assert ingest([source]).counts()["parsed"] == 1
    again = ingest([source])
    assert again.outcomes[0].status == "unchanged"
    assert again.counts()["parsed"] == 0


def test_the_same_post_in_two_feeds_is_stored_once(server, session, ingest):
    medium = _source(server, "Medium Blog", "/medium-rss/feed.xml")
    company = _source(server, "Company Blog", "/mirror/feed.xml")
    relisted = _source(server, "Relisted", "/redirect/302/medium-rss/feed.xml")
    report = ingest([medium, company, relisted])
    # whichever of the post's two copies is stored first wins; the relist adds nothing
    assert report.counts()["new"] == 2
    assert report.outcomes[2].new == 0
    titles = [a.title.lower() for a in _articles(session)]
    assert len(titles) == 2
    assert len({t for t in titles if t.startswith("rebuilding the event store")}) == 1


def test_a_messy_feed_keeps_one_row_per_post(server, session, ingest):
    report = ingest([_source(server, "Messy", "/messy/feed.xml")])
    assert report.outcomes[0].new == 3
    assert report.outcomes[0].notes == ["1 entry without a link skipped"]
    assert ingest([_source(server, "Messy", "/messy/feed.xml")]).counts()["new"] == 0


def test_one_failing_source_never_stops_the_others(server, session, ingest):
    sources = [
        _source(server, "HTML", "/html-page/feed.xml"),
        _source(server, "Missing", "/nowhere/feed.xml"),
        _source(server, "Huge", "/huge"),
        _source(server, "Empty", "/empty"),
        _source(server, "Down", "/status/500"),
        _source(server, "Broken", "/broken-xml/feed.xml"),
        Source(name="Nowhere", company="X", url="http://blog.invalid/feed", edition="tech"),
        _source(server, "Good", "/rss1-rdf/feed.xml"),
    ]
    report = ingest(sources)
    errors = {o.name: o.error for o in report.outcomes}
    assert errors == {
        "HTML": "the server sent an HTML page, not a feed",
        "Missing": "the server answered 404 Not Found",
        "Huge": "the body is larger than 10 MB",
        "Empty": "the feed was empty",
        "Down": "the server answered 500 Internal Server Error",
        "Broken": None,
        "Nowhere": "could not resolve host blog.invalid (DNS)",
        "Good": None,
    }
    assert report.outcomes[5].notes[0].startswith("the feed has XML errors")
    assert report.counts()["new"] == 3
    rows = {row.name: row for row in session.exec(select(FeedSource))}
    assert rows["HTML"].error_count == 1 and rows["HTML"].status == "error"
    assert rows["Good"].status == "ok"


def test_410_disables_the_source_and_the_next_run_does_not_ask(server, session, ingest):
    gone = _source(server, "Gone", "/status/410")
    first = ingest([gone])
    assert first.outcomes[0].status == "disabled"
    asked = len(server.requests)
    second = ingest([gone])
    assert second.outcomes[0].status == "disabled"
    assert len(server.requests) == asked


def test_429_backs_the_source_off_until_retry_after(server, session, ingest, now):
    busy = _source(server, "Busy", "/status/429?retry=120")
    assert ingest([busy]).outcomes[0].status == "error"
    asked = len(server.requests)
    soon = ingest([busy], clock=lambda: now + timedelta(seconds=60))
    assert soon.outcomes[0].status == "skipped"
    assert "backing off until" in (soon.outcomes[0].error or "")
    assert len(server.requests) == asked
    ingest([busy], clock=lambda: now + timedelta(seconds=121))
    assert len(server.requests) == asked + 1


def test_a_host_that_cannot_be_reached_is_tried_every_run_a_failing_server_backs_off(
    server, session, ingest
):
    offline = Source(name="Offline", company="X", url="http://blog.invalid/feed", edition="tech")
    down = _source(server, "Down", "/status/500")
    runs = [ingest([offline, down]) for _ in range(4)]
    assert [r.outcomes[0].status for r in runs] == ["error"] * 4  # maybe our network: retried
    assert [r.outcomes[1].status for r in runs] == ["error"] * 3 + ["skipped"]
    assert server.paths().count("/status/500") == 3


def test_a_permanent_redirect_is_remembered(server, session, ingest):
    moved = _source(server, "Moved", "/redirect/301/rss1-rdf/feed.xml")
    ingest([moved])
    ingest([moved])
    assert server.paths() == [
        "/redirect/301/rss1-rdf/feed.xml",
        "/rss1-rdf/feed.xml",
        "/rss1-rdf/feed.xml",
    ]


def test_excerpts_are_completed_from_the_article_page(server, session, ingest):
    report = ingest([_source(server, "Excerpts", "/atom-excerpts/feed.xml")])
    assert report.outcomes[0].new == 2
    by_title = {a.title: a for a in _articles(session)}
    full = by_title["Migrating search without downtime"]
    assert full.text_kind == "full"
    assert "We ran both engines side by side for six weeks" in full.text
    assert "Careers" not in full.text
    kept = by_title["Why we still run our own queues"]  # its page is a 404: excerpt kept
    assert (kept.text_kind, kept.text) == (
        "excerpt",
        "A short note on build versus buy for message queues.",
    )
    assert full.url == server.url("/atom-excerpts/pages/post-1.html")


def test_no_fulltext_fetches_no_pages(server, session, ingest):
    ingest([_source(server, "Excerpts", "/atom-excerpts/feed.xml")], fulltext=False)
    assert server.paths() == ["/atom-excerpts/feed.xml"]
    assert {a.text_kind for a in _articles(session)} == {"excerpt"}


def test_links_to_another_private_host_are_never_fetched(server, session, ingest):
    # the feed is configured on feeds.test; its links point at 127.0.0.1 (another host name)
    port = server.server.port
    source = Source(
        name="Elsewhere",
        company="X",
        edition="tech",
        url=f"http://feeds.test:{port}/atom-excerpts/feed.xml",
    )
    server.files["/atom-excerpts/feed.xml"] = (
        server_feed := (server_dir_feed()).replace(
            b'href="/atom-excerpts/pages/',
            f'href="http://127.0.0.1:{port}/atom-excerpts/pages/'.encode(),
        )
    )
    assert b"127.0.0.1" in server_feed
    report = ingest([source])
    assert report.outcomes[0].new == 2
    assert server.paths() == ["/atom-excerpts/feed.xml"]
    assert {a.text_kind for a in _articles(session)} == {"excerpt"}


def server_dir_feed() -> bytes:
    from tests.peers.feeds import FEEDS

    return (FEEDS / "atom-excerpts/feed.xml").read_bytes()


def test_parsing_runs_in_worker_processes(server, session, open_http, now):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        report = ingest_sources(
            [
                _source(server, "Medium Blog", "/medium-rss/feed.xml"),
                _source(server, "Excerpts", "/atom-excerpts/feed.xml"),
            ],
            session=session,
            open_http=open_http,
            workers=pool,
            now=lambda: now,
        )
    assert report.counts()["new"] == 4
    assert {a.text_kind for a in _articles(session)} == {"full", "excerpt"}
    assert sum(a.text_kind == "full" for a in _articles(session)) == 3


def test_two_runs_at_once_store_each_post_once(server, engine, open_http, now):
    from sqlmodel import Session

    sources = [
        _source(server, "Medium Blog", "/medium-rss/feed.xml"),
        _source(server, "Messy", "/messy/feed.xml"),
        _source(server, "Company Blog", "/mirror/feed.xml"),
    ]

    def run() -> dict[str, int]:
        with (
            Session(engine, expire_on_commit=False) as session,
            ThreadPoolExecutor(max_workers=2) as pool,
        ):
            return ingest_sources(
                sources, session=session, open_http=open_http, workers=pool, now=lambda: now
            ).counts()

    with ThreadPoolExecutor(max_workers=2) as runs:
        results = list(runs.map(lambda _: run(), range(2)))
    assert [r["errors"] for r in results] == [0, 0]
    with Session(engine) as session:
        urls = session.exec(select(Article.url)).all()
    assert len(urls) == len(set(urls))
    assert sum(r["new"] for r in results) == len(urls) >= 5


class KilledOnCrashFeed(ThreadPoolExecutor):
    """A pool whose worker dies (as under the OOM killer) on any trip carrying the body of
    the crash feed: what a process pool reports when that happens."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        calls = args[0]
        if any(b"<title>Crash</title>" in call.args[0] for call in calls):
            dead: Future[object] = Future()
            dead.set_exception(BrokenProcessPool("a child process terminated abruptly"))
            return dead
        return super().submit(fn, *args, **kwargs)


def test_a_feed_that_kills_the_parser_process_fails_alone(server, session, open_http, now):
    server.files["/crash/feed.xml"] = (
        b"<rss version='2.0'><channel><title>Crash</title><item><title>x</title>"
        b"<link>https://crash.example/x</link></item></channel></rss>"
    )
    sources = [
        _source(server, "Medium Blog", "/medium-rss/feed.xml"),
        _source(server, "Crash Blog", "/crash/feed.xml"),
        _source(server, "Excerpts", "/atom-excerpts/feed.xml"),
    ]
    with KilledOnCrashFeed(max_workers=2) as pool:
        report = ingest_sources(
            sources,
            session=session,
            open_http=open_http,
            workers=pool,
            options=IngestOptions(fulltext=False),
            now=lambda: now,
        )
    crashed = report.outcomes[1]
    assert crashed.status == "error"
    assert crashed.error == (
        "the parser's process died reading this feed (a crash or out of memory); "
        "the other feeds went on"
    )
    assert [o.status for o in report.outcomes] == ["ok", "error", "ok"]
    assert report.counts()["new"] == 4


def _rss(*items: tuple[str, str]) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link><author>{title}</author>"
        f"<description>{title} body</description></item>"
        for title, link in items
    )
    return f"<rss version='2.0'><channel><title>t</title>{entries}</channel></rss>".encode()


def _refuse_urls_containing(session, marker: str) -> None:
    """A real storage failure that is not about the text: the database refuses the row."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.exec(
            text(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.url LIKE '%{marker}%' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        session.exec(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON article FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        )
    else:
        session.exec(
            text(
                f"CREATE TRIGGER refuse BEFORE INSERT ON article WHEN NEW.url LIKE '%{marker}%' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        )
    session.commit()


def test_control_characters_are_stripped_and_a_store_failure_stays_with_its_source(
    server, session, ingest
):
    # NUL, ESC and other C0 controls as feedparser's loose parser hands them over; a raw
    # NUL cannot be stored in a PostgreSQL text column at all.
    server.routes["/nul.xml"] = lambda request: Response(
        body=_rss(("Hello\x00world \x1b[31mred\x1b[0m\x07", "https://nul.example/a\x00b")),
        headers={"Content-Type": "application/rss+xml"},
    )
    server.routes["/refused.xml"] = lambda request: Response(
        body=_rss(("Refused post", "https://refused.example/post")),
        headers={"Content-Type": "application/rss+xml"},
    )
    server.routes["/fine.xml"] = lambda request: Response(
        body=_rss(("Fine\tpost", "https://fine.example/post")),
        headers={"Content-Type": "application/rss+xml"},
    )
    _refuse_urls_containing(session, "refused.example")
    sources = [
        _source(server, "Nul Blog", "/nul.xml"),
        _source(server, "Refused Blog", "/refused.xml"),
        _source(server, "Fine Blog", "/fine.xml"),
    ]

    report = ingest(sources)

    by_name = {o.name: o for o in report.outcomes}
    assert (by_name["Nul Blog"].status, by_name["Nul Blog"].new) == ("ok", 1)
    assert (by_name["Fine Blog"].status, by_name["Fine Blog"].new) == ("ok", 1)
    refused = by_name["Refused Blog"]
    assert refused.status == "error" and "could not store" in (refused.error or "")
    assert "refused by the test" in (refused.error or "")
    stored = {a.url: a for a in _articles(session)}
    assert set(stored) == {"https://fine.example/post", "https://nul.example/ab"}
    nul = stored["https://nul.example/ab"]
    assert nul.title == "Helloworld [31mred[0m" and nul.author == nul.title
    assert nul.text == "Helloworld [31mred[0m body"
    assert stored["https://fine.example/post"].title == "Fine post"
    # the failure is on its own source, where `digest sources` shows it
    rows = {r.name: r for r in session.exec(select(FeedSource))}
    assert rows["Refused Blog"].last_error == refused.error
    assert rows["Refused Blog"].last_success_at is None
    assert rows["Nul Blog"].last_success_at is not None and rows["Nul Blog"].last_error is None

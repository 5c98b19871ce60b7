"""`/search?q=`: the archive's search page, over the same `storage.search` as `/digest search`
and `digest search`. Part of the archive (`archive.pages.Archive.routes`); rendered with the archive's templates, so it
has the archive's layout (and the search box every archive page carries)."""

from __future__ import annotations

from collections.abc import Mapping

from jinja2 import Environment
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from core.model import Edition
from core.render import shorten
from storage.search import MAX_QUERY, search_articles

__all__ = ["search_route"]

RESULTS = 20
TEASER = 280  # characters of a deep dive shown under each result


def search_route(*, engine: Engine, env: Environment, editions: Mapping[str, Edition]) -> Route:
    """The `/search` route. Sync on purpose, like the archive: Starlette runs it in its
    thread pool, so a slow query never blocks the event loop that answers Slack."""

    def page(request: Request) -> Response:
        query = request.query_params.get("q", "").strip()[:MAX_QUERY]
        edition = request.query_params.get("edition") or None
        if edition is not None and edition not in editions:
            raise HTTPException(404)
        hits = []
        if query:
            with Session(engine) as session:
                hits = search_articles(session=session, query=query, edition=edition, limit=RESULTS)
        results = [
            {
                "title": hit.article.title,
                "url": hit.article.url,  # the template passes it through safe_url
                "company": hit.article.company,
                "day": hit.article.published_at.date().isoformat(),
                "teaser": shorten(hit.deep_dive or hit.article.text, TEASER),
                "tags": [t for t in hit.article.tags.split(",") if t],
            }
            for hit in hits
        ]
        html = env.get_template("web/search.html").render(
            query=query, results=results, edition=edition
        )
        return HTMLResponse(html)

    return Route("/search", page, name="search")

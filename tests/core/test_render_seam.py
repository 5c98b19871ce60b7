"""The rendering seam: one Environment factory, one body per digest, every link checked."""

from __future__ import annotations

import re

import pytest

from core.render import TEMPLATES, archive_url, make_environment, safe_url

# href="{{ … }}", action="{{ … }}", <link>{{ … }}</link>, <guid>{{ … }}</guid>
_LINK = re.compile(r'(?:href|action)="\{\{(?P<a>.*?)\}\}"|<(?:link|guid)[^>]*>\{\{(?P<b>.*?)\}\}<')


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://example.com/a", True),
        ("HTTP://example.com/a", True),
        ("/weekly/2026-W14", True),
        ("/unsubscribe?token=abc", True),
        ("//evil.example/x", False),
        ("/\\evil.example/x", False),
        ("javascript:alert(1)", False),
        ("data:text/html,hi", False),
        ("", False),
    ],
)
def test_safe_url_keeps_web_links_and_site_paths_only(url: str, kept: bool) -> None:
    assert (safe_url(url) == url) is kept


def test_every_templated_link_in_every_template_goes_through_safe_url() -> None:
    unchecked = []
    for path in sorted(TEMPLATES.rglob("*")):
        if path.is_file() and path.suffix in {".html", ".j2", ".xml"}:
            for match in _LINK.finditer(path.read_text()):
                expression = (match["a"] or match["b"]).strip()
                if not expression.endswith("| safe_url"):
                    unchecked.append(f"{path.relative_to(TEMPLATES)}: {expression}")
    assert unchecked == []


def test_the_archive_the_html_file_and_the_email_include_the_same_bodies() -> None:
    including = {
        "partials/daily_body.html": ["html/daily.html.j2", "web/daily.html"],
        "partials/weekly_body.html": [
            "html/weekly.html.j2",
            "web/weekly.html",
            "email/weekly.html",
        ],
    }
    for partial, pages in including.items():
        for page in pages:
            assert f'include "{partial}"' in (TEMPLATES / page).read_text(), page


def test_media_share_filters_and_differ_only_in_options() -> None:
    files, web = make_environment("files"), make_environment("web")
    assert files.filters["safe_url"] is web.filters["safe_url"] is safe_url
    assert files.keep_trailing_newline and not web.keep_trailing_newline
    with pytest.raises(Exception, match="undefined"):
        files.from_string("{{ missing }}").render()
    assert web.from_string("{{ missing }}").render() == ""


def test_a_javascript_link_in_a_weekly_rollup_is_dead_in_the_web_body() -> None:
    from tests.app.support import weekly_rollup  # the archive tests' sample rollup

    rollup = weekly_rollup("2026-W14")
    story = rollup.top_stories[0]
    hostile = type(story.articles[0])(
        **{**story.articles[0].__dict__, "url": "javascript:alert(1)"}
    )
    bad = type(rollup)(
        **{
            **rollup.__dict__,
            "top_stories": [type(story)(**{**story.__dict__, "articles": [hostile]})],
        }
    )
    html = make_environment("web").get_template("partials/weekly_body.html").render(rollup=bad)
    assert "javascript:" not in html and 'href="#"' in html


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        ("index", {}, "/"),
        ("index", {"edition": "reads"}, "/?edition=reads"),
        ("daily", {"edition": "tech", "period": "2026-04-01"}, "/daily/2026-04-01"),
        ("weekly", {"edition": "reads", "period": "2026-W14"}, "/reads/weekly/2026-W14"),
        ("tag_feed", {"tag": "security"}, "/tags/security/feed.xml"),
        (
            "weekly",
            {"edition": "tech", "period": "2026-W14", "base_url": "https://d.example.org/"},
            "https://d.example.org/weekly/2026-W14",
        ),
        (
            "daily",
            {"edition": "tech", "period": "2026-04-01", "default_edition": "reads"},
            "/tech/daily/2026-04-01",
        ),
    ],
)
def test_archive_url_spells_the_archive_scheme(
    kind: str, params: dict[str, str], expected: str
) -> None:
    assert archive_url(kind=kind, **params) == expected

"""core.fulltext: the article's own words from a page full of navigation and scripts."""

from __future__ import annotations

import pytest

from core import fulltext
from core.fulltext import extract_text, wants_fulltext
from tests.peers.feeds import FEEDS


def test_extract_text_keeps_the_article_and_drops_the_chrome():
    page = (FEEDS / "atom-excerpts/pages/post-1.html").read_bytes()
    text = extract_text(page, url="https://example.com/post-1")
    assert "We ran both engines side by side for six weeks" in text
    assert "Reads moved over one region at a time." in text
    assert "do not extract me" not in text
    assert "Careers" not in text
    assert len(text.split()) > 100


def test_extract_text_of_nothing_is_empty():
    assert extract_text(b"", url="https://example.com/") == ""
    assert extract_text(b"<html><body></body></html>", url="https://example.com/") == ""


def test_video_pages_are_not_worth_fetching():
    assert not wants_fulltext("https://www.youtube.com/watch?v=abc")
    assert not wants_fulltext("https://youtu.be/abc")
    assert wants_fulltext("https://netflixtechblog.com/some-post")


def test_a_page_that_keeps_the_extractor_busy_is_cut_off_and_leaves_no_timer_behind():
    import signal

    paragraph = "<div><p>Our storage tier replicates every write to three zones.</p></div>"
    page = ("<html><body><article>" + paragraph * 20_000 + "</article></body></html>").encode()
    before = signal.getsignal(signal.SIGPROF)
    assert extract_text(page, url="https://example.com/huge", cpu_limit=0.05) == ""
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGPROF) is before


@pytest.mark.parametrize("caught", [Exception, BaseException])
def test_the_cpu_limit_holds_even_when_the_extractor_catches_errors(caught):
    # trafilatura catches Exception around its HTML parsing and goes on with a partial tree;
    # a limit it swallowed would hand back a fragment of the page as if it were the post
    with pytest.raises(fulltext._TooSlowError), fulltext._cpu_limit(0.02):
        try:
            while True:
                pass
        except caught:
            pass

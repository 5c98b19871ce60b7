"""The extractive summariser: faithful by construction, 60–130 words, problem first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.quality import first_person, unsupported
from core.summarise import ArticleText
from core.summarise.extractive import (
    MAX_WORDS,
    MIN_WORDS,
    ExtractiveSummariser,
    condense,
    split_sentences,
    summarise_extractive,
)
from core.voice import in_third_person

ARTICLES = Path(__file__).resolve().parent.parent / "data" / "golden" / "articles"


def load(name: str) -> ArticleText:
    lines = (ARTICLES / name).read_text(encoding="utf-8").split("\n")
    return ArticleText(url=lines[2], title=lines[0], company=lines[1], text="\n".join(lines[5:]))


FULL = [
    "datadog-replication.txt",
    "github-oidc.txt",
    "hashicorp-delegation.txt",
    "cloudflare-workers.txt",
]


@pytest.mark.parametrize("name", FULL)
def test_every_sentence_is_an_article_sentence_in_the_third_person(name: str) -> None:
    article = load(name)
    voiced = {in_third_person(s, article.company) for s in split_sentences(article.text)}
    dive = summarise_extractive(article)
    assert dive.summariser == "extractive"
    for sentence in split_sentences(dive.text):
        assert sentence in voiced
    assert not first_person(dive.text)
    assert unsupported(dive.text, article.text, allowed=[article.company]) == []


@pytest.mark.parametrize("name", FULL)
def test_a_deep_dive_is_60_to_130_words(name: str) -> None:
    words = len(summarise_extractive(load(name)).text.split())
    assert MIN_WORDS <= words <= MAX_WORDS


def test_numbers_are_kept_verbatim() -> None:
    dive = summarise_extractive(load("datadog-replication.txt")).text
    assert "7 seconds" in dive
    assert "450 ms" in dive
    assert "40%" in dive
    for number in re.findall(r"\d[\d,.%]*", dive):
        assert number.rstrip(".") in load("datadog-replication.txt").text


def test_the_deep_dive_covers_problem_approach_and_result_in_article_order() -> None:
    article = load("datadog-replication.txt")
    dive = summarise_extractive(article).text
    assert "p90 latency of those queries reached 7 seconds" in dive  # problem
    assert "Datadog introduced a multi-tenant Kafka Schema Registry" in dive  # approach
    assert "dropped from 7 seconds to 450 ms" in dive  # result
    voiced = [in_third_person(s, "Datadog") for s in split_sentences(article.text)]
    positions = [voiced.index(s) for s in split_sentences(dive)]
    assert positions == sorted(positions)


def test_the_company_is_the_subject_and_quotations_are_left_alone() -> None:
    text = (
        "We run the largest fleet of build machines in Europe, and our queue was the bottleneck. "
        "So we rewrote the scheduler in Rust and moved our state into FoundationDB. "
        "“We were nervous about the rewrite,” says Ana Ruiz, who led it. "
        "Queue time fell from 9 minutes to 40 seconds, and build machines idle 30% less."
    )
    dive = summarise_extractive(ArticleText(url="u", title="t", company="Acme", text=text)).text
    assert dive.startswith("Acme runs the largest fleet of build machines in Europe, and its queue")
    assert "Acme rewrote the scheduler in Rust and moved its state into FoundationDB." in dive
    assert "“We were nervous about the rewrite,” says Ana Ruiz" in dive
    assert "from 9 minutes to 40 seconds" in dive


def test_sentences_that_cannot_stand_alone_are_never_chosen() -> None:
    text = "\n\n".join(
        [
            "Acme's checkout service called eleven downstream services on every request.",
            "It was slow.",  # leans on the sentence before
            "Why did it take so long to notice?",  # a question
            "* Faster builds with a shared Bazel cache.",  # a list item
            "Here's how the new design works.",  # points ahead
            "Figure 2: p99 latency before and after the change.",  # a caption
            "Items 3 and 4 can run in parallel after item 2 completes.",
            "You can enable the new checkout flow from the dashboard today.",  # an instruction
            "Sign up for the beta to try it yourself.",  # a call to action
            "Acme replaced the fan-out with a single GraphQL gateway that batches the calls.",
            "The trade-off is one more service to run, but p99 latency fell from 900 ms to 210 ms.",
            "Jane Doe is a Senior Software Engineer at Acme working on payments.",  # a bio
        ]
    )
    dive = summarise_extractive(ArticleText(url="u", title="t", company="Acme", text=text)).text
    assert split_sentences(dive) == [
        "Acme's checkout service called eleven downstream services on every request.",
        "Acme replaced the fan-out with a single GraphQL gateway that batches the calls.",
        "The trade-off is one more service to run, but p99 latency fell from 900 ms to 210 ms.",
    ]


def test_boilerplate_is_never_chosen() -> None:
    assert "Subscribe" not in summarise_extractive(load("datadog-replication.txt")).text


def test_an_article_without_usable_text_gets_a_marked_one_liner() -> None:
    video = ArticleText(
        url="https://e.com/v", title="Keynote: the road to 1.0", company="Acme", text=""
    )
    dive = summarise_extractive(video)
    assert dive.summariser == "title-only"
    assert dive.text.startswith("Keynote: the road to 1.0.")
    assert "title only" in dive.text.lower()


def test_a_short_description_is_used_and_marked() -> None:
    dive = summarise_extractive(load("google-video.txt"))
    assert dive.summariser == "title-only"
    assert dive.text.startswith("A short video about our work with Brazil.")
    assert "description only" in dive.text


def test_the_same_article_always_gives_the_same_deep_dive() -> None:
    article = load("github-oidc.txt")
    assert summarise_extractive(article) == summarise_extractive(article)


def test_a_very_long_article_still_gives_a_bounded_deep_dive() -> None:
    article = load("cloudflare-workers.txt")
    long = ArticleText(
        url=article.url, title=article.title, company=article.company, text=article.text * 40
    )
    dive = summarise_extractive(long)
    assert MIN_WORDS <= len(dive.text.split()) <= MAX_WORDS


def test_the_summariser_keeps_the_order_of_its_batch() -> None:
    articles = [load(name) for name in FULL]
    dives = ExtractiveSummariser().summarise(articles)
    assert [d.article_url for d in dives] == [a.url for a in articles]


def test_sentences_do_not_split_on_abbreviations_decimals_or_initials() -> None:
    text = (
        "Latency fell from 3.5 s to 0.8 s, e.g. on the U.S. East cluster. "
        "We compared Kafka vs. Pulsar! Did it work? Yes.\nA new paragraph starts here"
    )
    assert split_sentences(text) == [
        "Latency fell from 3.5 s to 0.8 s, e.g. on the U.S. East cluster.",
        "We compared Kafka vs. Pulsar!",
        "Did it work?",
        "Yes.",
        "A new paragraph starts here",
    ]


def test_a_repeated_sentence_is_said_once_and_headings_and_code_are_skipped() -> None:
    standfirst = "This post explains how we rebuilt the write path of our event store."
    text = "\n\n".join(
        [
            standfirst,
            "Why the old write path stalled",  # a heading: no full stop
            "A single slow partition used to stall every producer in the cluster for 30 seconds.",
            standfirst,
            "client.send(batch, timeout=30); if (err != nil) { return err; } retry(batch);",
            "We moved to a per-partition queue with its own back-pressure budget and timeouts.",
            "The trade-off is more memory per broker, about 2 GB, in exchange for isolation.",
            "Producers now see p99 write latency of 12 ms instead of 340 ms during incidents.",
            standfirst,
        ]
    )
    dive = summarise_extractive(ArticleText(url="u", title="t", company="Acme", text=text)).text
    assert dive.count(in_third_person(standfirst, "Acme") or "") == 1
    assert "Why the old write path stalled" not in dive
    assert "client.send" not in dive
    assert "12 ms instead of 340 ms" in dive


def test_condense_keeps_the_opening_and_the_key_later_sentences_within_the_limit() -> None:
    article = load("datadog-replication.txt")
    short = condense(article.text, 10_000)
    assert short == article.text
    cut = condense(article.text * 3, 1200)
    assert len(cut) <= 1200
    assert cut.startswith("For years our Postgres clusters served both transactional traffic")
    assert "[…]" in cut
    flat = " ".join((article.text * 3).split())
    for piece in cut.split("[…]"):
        for sentence in split_sentences(piece):
            assert sentence in flat

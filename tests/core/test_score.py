"""The Signal-of-the-Day score on hand-made cases: each documented part moves it as stated."""

from __future__ import annotations

import re

from core.score import SignalFeatures, count_figures, score_signal, why_signal

PLAIN = "The team moved its service to a new platform and wrote about the experience."
RESULTS = "Latency fell from 7 seconds to 450 ms, CPU dropped by 40% and cost fell 3x."
TRADE_OFF = "Acme chose asynchronous replication and accepted that reads may lag."


def test_the_documented_example_scores_4_9() -> None:
    features = SignalFeatures(
        deep_dive="Acme chose async replication: a trade-off. p90 went from 7 seconds to "
        "450 ms, CPU fell 40% and cost fell 3x. The lesson is that lag is cheap.",
        words=1500,
        related_companies=("GitHub", "HashiCorp"),
    )
    assert score_signal(features) == 4.9


def test_cross_company_relevance_and_a_trade_off_outweigh_figures_and_length() -> None:
    figures_and_length = SignalFeatures(RESULTS, 3000)
    shared = SignalFeatures(PLAIN, 500, related_companies=("GitHub",))
    trade_off = SignalFeatures(TRADE_OFF, 500)
    assert score_signal(shared) > score_signal(figures_and_length) - 0.9
    assert score_signal(trade_off) > score_signal(SignalFeatures(PLAIN, 3000))


def test_cross_company_relevance_raises_the_score() -> None:
    alone = SignalFeatures(PLAIN, 800)
    shared = SignalFeatures(PLAIN, 800, related_companies=("GitHub", "Stripe"))
    assert round(score_signal(shared) - score_signal(alone), 4) == 1.6


def test_depth_counts_up_to_1500_words_and_excerpts_count_half() -> None:
    short, deep, deeper = (SignalFeatures(PLAIN, w) for w in (300, 1500, 6000))
    assert score_signal(short) < score_signal(deep) == score_signal(deeper)
    excerpt = SignalFeatures(PLAIN, 1500, text_kind="excerpt")
    assert score_signal(excerpt) == round(score_signal(deep) - 0.4, 4)


def test_source_weight_multiplies_the_score() -> None:
    base = SignalFeatures(RESULTS, 1000)
    heavy = SignalFeatures(RESULTS, 1000, source_weight=1.5)
    assert score_signal(heavy) == round(score_signal(base) * 1.5, 4)


def test_a_title_only_post_keeps_a_fifth_of_its_score() -> None:
    text = SignalFeatures(RESULTS, 1500)
    video = SignalFeatures(RESULTS, 1500, summariser="title-only")
    assert score_signal(video) == round(score_signal(text) * 0.2, 4)


def test_years_dates_and_versions_are_not_results() -> None:
    assert count_figures("In 2025 we shipped v10.0.0 on September 14, 2026.") == 0
    assert count_figures("It took 40% less memory and 3 seconds.") == 2


def test_why_speaks_to_a_reader_not_a_score() -> None:
    features = SignalFeatures(
        RESULTS + " " + TRADE_OFF, 1200, related_companies=("GitHub", "Stripe"), theme="replication"
    )
    why = why_signal(features, company="Datadog")
    assert why == (
        "Why it matters: two other companies wrote about replication today (GitHub and Stripe) "
        "and Datadog states the trade-off it accepted and its result: "
        "from 7 seconds to 450 ms and 40%."
    )
    assert not re.search(r"\d+ (figures|words)", why)


def test_a_post_with_nothing_to_point_at_still_gets_a_plain_reason() -> None:
    assert why_signal(SignalFeatures(PLAIN, 2000), company="Acme") == (
        "Why it matters: a long, detailed account of how Acme did the work."
    )

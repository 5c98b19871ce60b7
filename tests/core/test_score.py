"""The Signal-of-the-Day score on hand-made cases: each documented part moves it as stated."""

from __future__ import annotations

from core.score import SignalFeatures, count_figures, score_signal, why_signal

PLAIN = "The team moved its service to a new platform and wrote about the experience."
RESULTS = "Latency fell from 7 seconds to 450 ms, CPU dropped by 40% and cost fell 3x."


def test_the_documented_example_scores_5_2() -> None:
    features = SignalFeatures(
        deep_dive="It chose async replication: a trade-off. p90 went from 7 seconds to 450 ms, "
        "CPU fell 40% and cost 3x less.",
        words=1500,
        related_companies=("GitHub", "HashiCorp"),
    )
    assert score_signal(features) == 5.2


def test_concrete_results_outscore_a_post_without_figures() -> None:
    assert score_signal(SignalFeatures(RESULTS, 800)) > score_signal(SignalFeatures(PLAIN, 800))


def test_cross_company_relevance_raises_the_score() -> None:
    alone = SignalFeatures(PLAIN, 800)
    shared = SignalFeatures(PLAIN, 800, related_companies=("GitHub", "Stripe"))
    assert score_signal(shared) - score_signal(alone) == 1.2


def test_depth_counts_up_to_1500_words_and_excerpts_count_half() -> None:
    short, deep, deeper = (SignalFeatures(PLAIN, w) for w in (300, 1500, 6000))
    assert score_signal(short) < score_signal(deep) == score_signal(deeper)
    excerpt = SignalFeatures(PLAIN, 1500, text_kind="excerpt")
    assert score_signal(excerpt) == score_signal(deep) - 0.75


def test_source_weight_multiplies_the_score() -> None:
    base = SignalFeatures(RESULTS, 1000)
    heavy = SignalFeatures(RESULTS, 1000, source_weight=1.5)
    assert score_signal(heavy) == round(score_signal(base) * 1.5, 4)


def test_a_title_only_post_keeps_a_fifth_of_its_score() -> None:
    text = SignalFeatures(RESULTS, 1500)
    video = SignalFeatures(RESULTS, 1500, summariser="title-only")
    assert score_signal(video) == round(score_signal(text) * 0.2, 4)


def test_years_are_not_counted_as_results() -> None:
    assert count_figures("In 2025 we shipped it.") == 0
    assert count_figures("It took 40% less memory and 3 seconds.") == 2


def test_why_names_the_strongest_reasons() -> None:
    features = SignalFeatures(RESULTS, 1200, related_companies=("GitHub", "Stripe"))
    why = why_signal(features, company="Datadog")
    assert why.startswith("Why this one: ")
    assert "concrete results (4 figures)" in why
    assert "GitHub and Stripe" in why

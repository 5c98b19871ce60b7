"""core.quality: the definitions bench/quality.py prints and the golden-digest check relies on."""

from __future__ import annotations

from core.quality import (
    facts_in,
    first_person,
    key_facts,
    lead_recall,
    recall,
    unsupported,
    window_recall,
)

ARTICLE = (
    "Our search queries took 7 seconds at p90. We moved search to a platform fed by Kafka "
    "Schema Registry and Debezium. Latency fell by 40% and the CPU bill by 3x."
)


def test_facts_are_figures_and_capitalised_names_not_sentence_openers() -> None:
    assert facts_in("The pipeline uses Kafka Schema Registry; it cut latency 40% and 3x.") == {
        "Kafka Schema Registry",
        "40%",
        "3x",
    }


def test_key_facts_are_the_references_facts_that_the_article_contains() -> None:
    reference = "Title · Acme · Source Acme fed Kafka from Debezium, cutting latency 40% (not 50%)."
    assert key_facts(reference, ARTICLE) == {"Kafka", "Debezium", "40%"}


def test_recall_is_the_share_of_facts_stated_case_insensitively() -> None:
    facts = {"Kafka", "Debezium", "40%", "Registry"}
    assert recall(facts, "kafka and debezium") == 0.5
    assert recall(set(), "anything") == 0.0


def test_the_baselines_are_the_first_and_the_best_window_of_110_words() -> None:
    article = " ".join(["filler"] * 200 + ["Kafka", "Debezium"] + ["filler"] * 20)
    facts = {"Kafka", "Debezium"}
    assert lead_recall(facts, article) == 0.0
    assert window_recall(facts, article) == 1.0


def test_unsupported_names_what_the_article_does_not_say() -> None:
    assert unsupported("Acme fed Kafka and Flink, saving 40%.", ARTICLE, allowed=["Acme"]) == [
        "Flink"
    ]
    # two names that each occur are not a new name
    assert unsupported("Acme Kafka fell 40%.", ARTICLE, allowed=["Acme"]) == []


def test_first_person_outside_quotes_only() -> None:
    assert first_person("We moved search.")
    assert first_person("The team told us so.")
    assert not first_person('Acme said: "we moved search".')
    assert not first_person("Acme moved search; trust was earned.")

"""core.voice: the company as the subject; figures, names and quotations untouched."""

from __future__ import annotations

import pytest

from core.voice import drop_connective, in_third_person, possessive


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("We moved our queue to Postgres.", "Acme moved its queue to Postgres."),
        (
            "So, we use Kafka and we also apply back-pressure.",
            "Acme uses Kafka and it also applies back-pressure.",
        ),
        ("Our p99 fell from 900 ms to 210 ms.", "Acme's p99 fell from 900 ms to 210 ms."),
        ("We’ve built it, and we’ll ship it.", "Acme has built it, and it will ship it."),
        ("Today, we are expanding the beta.", "Today, Acme is expanding the beta."),
        ("At Acme, we’re using MCP servers.", "At Acme, the team is using MCP servers."),
        ("Customers told us it was slow.", "Customers told Acme it was slow."),
        ("We don’t store logs.", "Acme doesn’t store logs."),
        ("In 2025 alone we saw 20 incidents.", "In 2025 alone Acme saw 20 incidents."),
        ("But the cache is cold after a deploy.", "The cache is cold after a deploy."),
    ],
)
def test_first_person_becomes_the_company(sentence: str, expected: str) -> None:
    assert in_third_person(sentence, "Acme") == expected


def test_quotations_are_left_alone() -> None:
    assert in_third_person("“We love it,” she said, and we agreed.", "Acme") == (
        "“We love it,” she said, and Acme agreed."
    )


@pytest.mark.parametrize(
    "sentence",
    [
        "We’d rather not say.",
        "We all agree.",
        "Let us know what we missed.",
        # only the first of the coordinated verbs would agree with the company
        "We now retry with backoff, cap retries per client, and stop when the link is down.",
        "We use Postgres and run the migrations at deploy time.",
    ],
)
def test_a_rewrite_that_would_read_badly_is_refused(sentence: str) -> None:
    assert in_third_person(sentence, "Acme") is None


def test_the_country_is_not_a_pronoun() -> None:
    assert in_third_person("The US region helped us.", "Acme") == "The US region helped Acme."


def test_connectives_and_possessives() -> None:
    assert drop_connective("However, eBPF programs run in the kernel.") == (
        "eBPF programs run in the kernel."
    )
    assert drop_connective("So caching helps.") == "Caching helps."
    assert possessive("Gradient Labs") == "Gradient Labs'" and possessive("Acme") == "Acme's"


def test_coordinated_nouns_are_not_taken_for_verbs() -> None:
    assert in_third_person("As we move toward scale, incremental fixes fail.", "Acme") == (
        "As Acme moves toward scale, incremental fixes fail."
    )
    assert in_third_person(
        "We offer ideas to expand reach, share gains, and build trust.", "Acme"
    ) == ("Acme offers ideas to expand reach, share gains, and build trust.")
    assert in_third_person("We store logs and metrics in one place.", "Acme") == (
        "Acme stores logs and metrics in one place."
    )
    assert in_third_person("We cache pages at the edge, which cuts latency.", "Acme") == (
        "Acme caches pages at the edge, which cuts latency."
    )

"""core.facts: headline figures (not years, dates or versions) and the post's names."""

from __future__ import annotations

import pytest

from core.facts import figures, name_weights, names_in


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("In 2025 p99 fell 40% to 12 ms.", ["40%", "12 ms"]),
        ("Latency dropped from 7 seconds to 450 ms.", ["from 7 seconds to 450 ms"]),
        (
            "It carries more than 3,000 databases and 650 employees.",
            ["3,000 databases", "650 employees"],
        ),
        ("ESLint v10.0.0 shipped on September 14, 2026.", []),
        ("In October 2015 the team had roughly 100x less traffic.", ["100x"]),
        ("Two years ago, 2 years ago, we ran 12 servers.", ["12 servers"]),
        ("Grants of up to $100,000 each.", ["$100,000"]),
        ("V8 and GPT-4.1 are names, not figures.", []),
    ],
)
def test_figures_are_results_not_years_dates_or_versions(text: str, expected: list[str]) -> None:
    assert figures(text) == expected


def test_a_sentence_opening_word_is_a_name_only_if_written_so_elsewhere() -> None:
    sentences = [
        "Teams could not add indexes fast enough.",
        "Kafka carries every change.",
        "Consumers read from Kafka and write to the search platform.",
        "We added a Model Context Protocol (MCP) server and V8 isolates.",
    ]
    weights = name_weights("Search on Kafka", sentences, company="Acme").weights
    assert "Teams" not in weights and "Consumers" not in weights
    assert weights["Kafka"] > weights["MCP"] > 0  # in the title, and used twice
    assert {"Model", "Context", "Protocol", "V8"} <= set(weights)
    assert names_in("At Acme we use eBPF.") == ["Acme", "eBPF"]

"""Topic tags are deterministic, documented keyword matches, never guesses."""

from __future__ import annotations

from core.tags import TAGS, merge_tags, tag_text


def test_the_required_tags_exist() -> None:
    required = {
        "distributed-systems",
        "ml-infrastructure",
        "security",
        "ai-agents",
        "data",
        "developer-tools",
        "infrastructure",
    }
    assert required <= set(TAGS)


def test_a_security_post_is_tagged_security() -> None:
    tags = tag_text(
        "Securing the open source supply chain",
        "Attackers steal long-lived secrets from CI/CD and publish malicious packages; OIDC helps.",
    )
    assert tags[0] == "security"


def test_an_agents_post_is_tagged_ai_agents() -> None:
    assert "ai-agents" in tag_text("Run multiple agents at once with /fleet in Copilot CLI")


def test_a_replication_post_is_tagged_data_and_distributed_systems() -> None:
    tags = tag_text(
        "How we redefined data replication",
        "Postgres, change data capture with Kafka, eventual consistency across replicas.",
    )
    assert set(tags) >= {"data", "distributed-systems"}


def test_source_defaults_are_always_kept_first() -> None:
    assert tag_text("A talk about nothing in particular", defaults=["security"]) == ("security",)


def test_a_word_repeated_in_the_text_counts_once() -> None:
    assert "data" not in tag_text("Our offsite", "data " * 200)


def test_tags_are_deterministic_and_capped() -> None:
    title = "Kubernetes GPU inference for AI agents with secure data pipelines and CI"
    first = tag_text(title, title)
    assert first == tag_text(title, title)
    assert len(first) <= 3


def test_merge_tags_drops_unknown_and_duplicate_tags() -> None:
    assert merge_tags(["security", "bogus"], ["data", "security"]) == ("security", "data")

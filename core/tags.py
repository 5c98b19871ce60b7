"""Deterministic topic tags: a keyword table, not a model, so the same post always gets the same tags.

Why a table: tags drive filters and per-tag feeds, so readers must be able to predict them and
a test must be able to pin them down. Each tag lists phrases; a phrase in the title scores 3 each
time, a phrase in the text scores 1 once (distinct phrases, so a long post that says "data"
fifty times is not thereby a data post), and a tag needs `THRESHOLD` points. The
source's default tags (sources.toml) are always kept, so a feed about security stays tagged
`security` even on a post with few keywords. Matching is on whole words, case-insensitive.

| tag                   | examples of phrases                                          |
|-----------------------|--------------------------------------------------------------|
| distributed-systems   | consensus, replication, sharding, kafka, eventual consistency |
| ml-infrastructure     | training, inference, gpu, model serving, feature store       |
| security              | vulnerability, oidc, secrets, zero-trust, supply chain        |
| ai-agents             | agent, agentic, mcp, tool calling, copilot                    |
| data                  | data pipeline, warehouse, etl, analytics, postgres            |
| developer-tools       | ci, linter, ide, code review, monorepo, build system          |
| infrastructure        | kubernetes, terraform, cloud, networking, dns, serverless     |
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["TAGS", "THRESHOLD", "tag_text", "merge_tags"]

THRESHOLD = 3

TAGS: dict[str, tuple[str, ...]] = {
    "distributed-systems": (
        "distributed",
        "consensus",
        "raft",
        "paxos",
        "replication",
        "replica",
        "replicas",
        "sharding",
        "shard",
        "shards",
        "partition",
        "partitions",
        "partitioning",
        "kafka",
        "eventual consistency",
        "strong consistency",
        "consistency",
        "microservice",
        "microservices",
        "message queue",
        "queue",
        "queues",
        "pub/sub",
        "change data capture",
        "cdc",
        "load balancing",
        "load balancer",
        "failover",
        "fault tolerance",
        "fault-tolerant",
        "latency",
        "throughput",
        "rpc",
        "grpc",
        "cache",
        "caching",
        "scalability",
    ),
    "ml-infrastructure": (
        "machine learning",
        "ml",
        "model training",
        "training",
        "inference",
        "gpu",
        "gpus",
        "tpu",
        "model serving",
        "feature store",
        "embedding",
        "embeddings",
        "llm",
        "llms",
        "large language model",
        "large language models",
        "fine-tuning",
        "fine-tune",
        "neural",
        "deep learning",
        "transformer",
        "sagemaker",
        "pytorch",
        "tensorflow",
        "recommendation",
        "recommendations",
        "ranking",
        "benchmark",
        "benchmarks",
        "evaluation",
        "diffusion",
    ),
    "security": (
        "security",
        "secure",
        "vulnerability",
        "vulnerabilities",
        "cve",
        "exploit",
        "attack",
        "attacks",
        "attackers",
        "malicious",
        "malware",
        "oidc",
        "oauth",
        "authentication",
        "authorization",
        "iam",
        "secret",
        "secrets",
        "credential",
        "credentials",
        "zero-trust",
        "zero trust",
        "supply chain",
        "encryption",
        "encrypted",
        "tls",
        "sandbox",
        "sandboxing",
        "isolation",
        "privacy",
        "permission",
        "permissions",
        "allow list",
        "threat",
    ),
    "ai-agents": (
        "agent",
        "agents",
        "agentic",
        "ai agent",
        "ai agents",
        "sub-agents",
        "mcp",
        "model context protocol",
        "tool calling",
        "tool use",
        "copilot",
        "assistant",
        "autonomous",
        "orchestrator",
        "human-in-the-loop",
        "prompt",
        "prompts",
    ),
    "data": (
        "data",
        "database",
        "databases",
        "postgres",
        "postgresql",
        "mysql",
        "sql",
        "warehouse",
        "data warehouse",
        "data lake",
        "lakehouse",
        "etl",
        "pipeline",
        "pipelines",
        "analytics",
        "spark",
        "flink",
        "schema",
        "query",
        "queries",
        "index",
        "indexes",
        "storage",
        "oltp",
        "olap",
        "dataset",
        "datasets",
    ),
    "developer-tools": (
        "developer",
        "developers",
        "developer experience",
        "ci",
        "ci/cd",
        "continuous integration",
        "build",
        "builds",
        "build system",
        "compiler",
        "linter",
        "linting",
        "eslint",
        "ide",
        "editor",
        "code review",
        "monorepo",
        "testing",
        "tests",
        "debugging",
        "debugger",
        "cli",
        "sdk",
        "api",
        "apis",
        "refactoring",
        "open source",
        "typescript",
        "javascript",
        "python",
        "rust",
        "git",
    ),
    "infrastructure": (
        "infrastructure",
        "kubernetes",
        "k8s",
        "container",
        "containers",
        "docker",
        "terraform",
        "cloud",
        "aws",
        "serverless",
        "lambda",
        "networking",
        "network",
        "dns",
        "cdn",
        "edge",
        "data center",
        "data centers",
        "datacenter",
        "vm",
        "virtual machine",
        "observability",
        "monitoring",
        "alerting",
        "deployment",
        "deploy",
        "capacity",
        "reliability",
        "sre",
        "incident",
        "outage",
        "v8 isolates",
        "workers",
    ),
}

_WORD = re.compile(r"[a-z0-9][a-z0-9+/#.-]*[a-z0-9+#]|[a-z0-9]")


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _phrase_index() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """first word → [(phrase words, tag)], so each token is looked up once."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for tag, phrases in TAGS.items():
        for phrase in phrases:
            words = tuple(_tokens(phrase))
            index.setdefault(words[0], []).append((words, tag))
    return index


_INDEX = _phrase_index()


def _hits(text: str, weight: int, counts: dict[str, int], *, distinct: bool) -> None:
    words = _tokens(text)
    seen: set[tuple[str, ...]] = set()
    for i, word in enumerate(words):
        for phrase, tag in _INDEX.get(word, ()):
            if tuple(words[i : i + len(phrase)]) == phrase:
                if distinct and phrase in seen:
                    continue
                seen.add(phrase)
                counts[tag] = counts.get(tag, 0) + weight


def tag_text(
    title: str, text: str = "", *, defaults: Iterable[str] = (), limit: int = 3
) -> tuple[str, ...]:
    """The topic tags of a post, most strongly indicated first (then alphabetical).

    Example: `tag_text("Securing the supply chain with OIDC")` → `("security",)`.

    - `title` counts three times as much as `text`.
    - `defaults` (the source's tags) are always included.
    - `limit` caps the keyword-derived tags (defaults are never dropped).
    """
    counts: dict[str, int] = {}
    _hits(title, 3, counts, distinct=False)
    _hits(text[:20_000], 1, counts, distinct=True)
    ranked = sorted(
        (tag for tag, n in counts.items() if n >= THRESHOLD), key=lambda t: (-counts[t], t)
    )
    return merge_tags(defaults, ranked[:limit])


def merge_tags(*groups: Iterable[str]) -> tuple[str, ...]:
    """Tags of several groups, first occurrence wins, only known tags, no duplicates."""
    seen: list[str] = []
    for group in groups:
        for tag in group:
            tag = tag.strip()
            if tag in TAGS and tag not in seen:
                seen.append(tag)
    return tuple(seen)

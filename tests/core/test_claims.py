"""The checks on model-written text: shape, length, figures, names, voice, language."""

from __future__ import annotations

import pytest

from core.claims import Rejected, check_text, invented_figures, invented_names, read_fields

POST = (
    "For years our Postgres clusters served both transactional traffic and heavy search "
    "queries. As customers grew, the p90 latency of search reached 7 seconds. We built a "
    "change data capture pipeline with Debezium and Kafka that now serves 3,000 databases, "
    "and database CPU fell by 40%."
)
GOOD = (
    "Datadog's Postgres clusters served transactional traffic and search, and search p90 "
    "latency reached 7 seconds. Instead of scaling the primaries, Datadog built a change data "
    "capture pipeline with Debezium and Kafka across 3000 databases. The lesson: decouple "
    "search from the primary store, since database CPU fell by 40%."
)


def _check(text: str, **options: object) -> str:
    defaults: dict[str, object] = {"material": POST, "names": ["Datadog"], "words": (20, 130)}
    return check_text(text, **{**defaults, **options})  # type: ignore[arg-type]


def test_a_faithful_paragraph_passes_and_is_whitespace_collapsed() -> None:
    assert _check(GOOD.replace(" search,", "\n search,")) == GOOD


@pytest.mark.parametrize(
    ("text", "reason", "detail"),
    [
        (GOOD.replace("40%", "45%"), "a figure not in the post", "45"),
        (GOOD.replace("Kafka", "Kafka on Kubernetes"), "a name not in the post", "Kubernetes"),
        (GOOD.replace("Instead of", "Kubernetes aside, instead of"), "a name not in the post", ""),
        (GOOD.replace("Datadog built", "we built"), "first person", "we"),
        (GOOD + " Our team agrees.", "first person", "Our"),
        (" ".join([GOOD] * 3), "too long", "144 words"),
        ("Datadog built a pipeline.", "too short", ""),
        (
            "Datadog hat eine Pipeline gebaut, die die Suchlast von der primären Datenbank "
            "trennt und die Latenz deutlich senkt, während die Konsistenz schwächer wird.",
            "not English",
            "",
        ),
    ],
)
def test_each_kind_of_bad_text_is_rejected_with_its_reason(
    text: str, reason: str, detail: str
) -> None:
    with pytest.raises(Rejected) as caught:
        _check(text, words=(10, 130))
    assert caught.value.reason == reason
    assert detail in str(caught.value)


def test_the_company_named_is_allowed_and_a_missing_one_is_rejected() -> None:
    assert invented_names(GOOD, POST, ["Datadog"]) == []
    assert invented_names(GOOD, POST) == ["Datadog"]
    with pytest.raises(Rejected, match="a company not named: Stripe"):
        _check(GOOD, must_name=["Datadog", "Stripe"])


def test_names_are_matched_in_any_case_and_without_possessives_or_hyphens() -> None:
    text = "Datadog's DEBEZIUM setup feeds a Postgres-backed store; US users and I/O both grew."
    assert invented_names(text, POST + " us i/o", ["Datadog"]) == []
    assert invented_names("Its Kafka-based Flink jobs", POST) == ["Flink"]


def test_ordinary_words_opening_a_sentence_are_not_names() -> None:
    text = "The team moved. Instead, it chose Kafka. Static ones: Rather than wait, ship."
    assert invented_names(text, POST) == []
    assert invented_names("Later, it chose Kafka.", POST) == [
        "Later"
    ]  # neither an opener nor in it


def test_figures_are_compared_without_separators_or_units() -> None:
    assert invented_figures("3000 databases, 40 percent, p90 of 7 s", POST) == []
    assert invented_figures("2.5× faster on 12 nodes", POST) == ["12", "2.5"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("Sure! Here is the summary.", "broken JSON"),
        ('{"problem": "x", "approach": "y"', "broken JSON"),
        ('["a list"]', "the wrong shape"),
        ('{"problem": "x"}', "the wrong shape"),
        ('{"problem": 3, "approach": "y"}', "the wrong shape"),
        ('{"problem": "", "approach": " "}', "no answer"),
        ("", "no answer"),
    ],
)
def test_read_fields_rejects_anything_but_an_object_of_strings(content: str, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        read_fields(content, ["problem", "approach"])
    assert caught.value.reason == reason


def test_read_fields_accepts_a_fenced_object() -> None:
    content = '```json\n{"problem": "a  slow\\nsearch", "approach": "b"}\n```'
    assert read_fields(content, ["problem", "approach"]) == {
        "problem": "a slow search",
        "approach": "b",
    }

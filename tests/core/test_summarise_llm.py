"""The LLM summariser against a local server speaking OpenAI's chat-completions API.

Whatever the endpoint does (good answers, invalid JSON, invented numbers, 429, 500, timeouts,
refusals, a wrong key), every article gets a deep dive and none of them says anything false.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from sqlmodel import Session, select

from core.model import ArticleRef, Pattern, Signal
from core.summarise import ArticleText, text_hash
from core.summarise.extractive import summarise_extractive
from core.summarise.llm import LLMSummariser, cache_key, check_answer, check_pattern
from storage.tables import SummaryCache
from tests.peers.http import Response
from tests.peers.llm import (
    LLMServer,
    chat,
    deep_dive,
    invalid_json,
    rate_limited,
    refusal,
    serve_llm,
    server_error,
    slow,
    unauthorised,
)

ARTICLE = ArticleText(
    url="https://example.com/datadog/replication",
    title="How we redefined data replication at scale",
    company="Datadog",
    text=(
        "For years our Postgres clusters served both transactional traffic and heavy search "
        "queries. As the number of customers grew, the p90 latency of search queries reached "
        "7 seconds. We built a replication pipeline based on change data capture with Debezium "
        "and Kafka, feeding a dedicated search platform that now serves 3,000 databases. We "
        "chose asynchronous replication and accepted that search may lag writes by a few "
        "seconds. The p90 latency dropped from 7 seconds to 450 ms, and database CPU fell by "
        "40%. Data layers at scale have to be decoupled on purpose."
    ),
)
GOOD = (
    "Datadog's Postgres clusters served transactional traffic and search, and search p90 "
    "latency reached 7 seconds. Datadog built a change data capture pipeline with Debezium and "
    "Kafka feeding a dedicated search platform across 3,000 databases. It chose asynchronous "
    "replication, accepting that search may lag writes, and p90 latency dropped to 450 ms while "
    "database CPU fell by 40%. The lesson: at scale, data layers must be decoupled on purpose, "
    "trading strict consistency for throughput."
)


def _article(n: int) -> ArticleText:
    return ArticleText(
        url=f"https://example.com/post/{n}",
        title=f"Post {n}",
        company="Acme",
        text=ARTICLE.text + f" This is post number {n}.",
    )


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def llm() -> Iterator[LLMServer]:
    with serve_llm() as server:
        yield server


_CLIENTS: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


def _summariser(
    server: LLMServer, sleeps: list[float], *, timeout: float = 5.0, **kwargs: object
) -> LLMSummariser:
    client = httpx.Client(base_url=server.url + "/v1/", timeout=timeout)
    _CLIENTS.append(client)
    options: dict[str, object] = {"model": "test-model", "api_key": "sk-test", **kwargs}
    return LLMSummariser(client=client, sleep=sleeps.append, **options)  # type: ignore[arg-type]


def test_a_good_answer_becomes_an_llm_deep_dive_with_its_token_usage(
    session: Session, sleeps: list[float]
) -> None:
    with serve_llm(deep_dive(GOOD, prompt_tokens=300, completion_tokens=90)) as llm:
        [dive] = _summariser(llm, sleeps).summarise([ARTICLE], session=session)
    assert dive.summariser == "llm"
    assert dive.text == GOOD
    assert dive.model == "test-model"
    assert dive.tokens == 390
    request = llm.calls[0]
    assert request["model"] == "test-model"
    assert request["response_format"] == {"type": "json_object"}
    assert "7 seconds" in request["messages"][1]["content"]
    assert llm.headers[0]["authorization"] == "Bearer sk-test"


def test_a_cached_answer_is_never_asked_for_twice(session: Session, sleeps: list[float]) -> None:
    with serve_llm(deep_dive(GOOD)) as llm:
        first = _summariser(llm, sleeps).summarise([ARTICLE], session=session)
        second_run = _summariser(llm, sleeps)
        second = second_run.summarise([ARTICLE], session=session)
    assert len(llm.calls) == 1
    assert second[0].text == first[0].text == GOOD
    assert second_run.usage.cache_hits == 1
    row = session.exec(select(SummaryCache)).one()
    assert row.key == cache_key(text_hash(ARTICLE.text), "test-model")
    assert (row.prompt_tokens, row.completion_tokens) == (120, 60)


def test_the_cache_is_keyed_by_model_too(session: Session, sleeps: list[float]) -> None:
    with serve_llm(deep_dive(GOOD), deep_dive(GOOD)) as llm:
        _summariser(llm, sleeps).summarise([ARTICLE], session=session)
        _summariser(llm, sleeps, model="other-model").summarise([ARTICLE], session=session)
    assert [c["model"] for c in llm.calls] == ["test-model", "other-model"]


def test_invalid_json_is_asked_again_once(session: Session, sleeps: list[float]) -> None:
    with serve_llm(invalid_json(), deep_dive(GOOD)) as llm:
        [dive] = _summariser(llm, sleeps).summarise([ARTICLE], session=session)
    assert dive.summariser == "llm" and dive.text == GOOD
    assert len(llm.calls) == 2
    assert "rejected" in llm.calls[1]["messages"][-1]["content"]


def test_two_invalid_answers_fall_back_to_the_extractive_deep_dive(
    session: Session, sleeps: list[float]
) -> None:
    with serve_llm(invalid_json(), invalid_json(), deep_dive(GOOD)) as llm:
        summariser = _summariser(llm, sleeps)
        [dive] = summariser.summarise([ARTICLE], session=session)
    assert len(llm.calls) == 2
    assert dive == summarise_extractive(ARTICLE)
    assert summariser.usage.fallbacks == 1
    assert session.exec(select(SummaryCache)).first() is None  # nothing bad is cached


def test_an_invented_number_is_rejected_then_falls_back(
    session: Session, sleeps: list[float]
) -> None:
    invented = GOOD.replace("450 ms", "120 ms")
    with serve_llm(deep_dive(invented), deep_dive(invented)) as llm:
        [dive] = _summariser(llm, sleeps).summarise([ARTICLE], session=session)
    assert dive.summariser == "extractive"
    assert "120" not in dive.text
    assert "numbers not in the article: 120" in llm.calls[1]["messages"][-1]["content"]


def test_a_429_is_retried_after_the_retry_after_delay(
    session: Session, sleeps: list[float]
) -> None:
    with serve_llm(rate_limited("1"), deep_dive(GOOD)) as llm:
        summariser = _summariser(llm, sleeps)
        [dive] = summariser.summarise([ARTICLE], session=session)
    assert dive.summariser == "llm"
    assert sleeps == [1.0]
    assert len(llm.calls) == 2
    assert summariser.usage.retries == 1


def test_a_500_is_retried_with_backoff_and_then_falls_back(
    session: Session, sleeps: list[float]
) -> None:
    with serve_llm(server_error(), server_error(), server_error(), default=deep_dive(GOOD)) as llm:
        [dive] = _summariser(llm, sleeps).summarise([ARTICLE], session=session)
    assert len(llm.calls) == 3
    assert sleeps == [1.0, 2.0]
    assert dive == summarise_extractive(ARTICLE)


def test_a_retry_after_longer_than_a_minute_gives_up_at_once(
    session: Session, sleeps: list[float]
) -> None:
    with serve_llm(rate_limited("3600")) as llm:
        [dive] = _summariser(llm, sleeps).summarise([ARTICLE], session=session)
    assert len(llm.calls) == 1 and sleeps == []
    assert dive.summariser == "extractive"


def test_a_timeout_falls_back_without_breaking_the_batch(
    session: Session, sleeps: list[float]
) -> None:
    with serve_llm(slow(1.0), slow(1.0), slow(1.0), default=deep_dive(GOOD)) as llm:
        summariser = _summariser(llm, sleeps, timeout=0.2, concurrency=1)
        dives = summariser.summarise([ARTICLE, _article(2)], session=session)
    assert dives[0] == summarise_extractive(ARTICLE)
    assert dives[1].summariser == "llm"
    assert len(sleeps) == 2


def test_a_refusal_falls_back(session: Session, sleeps: list[float]) -> None:
    with serve_llm(refusal(), refusal()) as llm:
        [dive] = _summariser(llm, sleeps).summarise([ARTICLE], session=session)
    assert dive.summariser == "extractive"


def test_a_wrong_key_stops_calling_for_the_rest_of_the_run(
    session: Session, sleeps: list[float]
) -> None:
    with serve_llm(unauthorised(), default=unauthorised()) as llm:
        dives = _summariser(llm, sleeps, concurrency=1).summarise(
            [_article(n) for n in range(5)], session=session
        )
    assert len(llm.calls) == 1
    assert {d.summariser for d in dives} == {"extractive"}


def test_an_unreachable_endpoint_falls_back(session: Session, sleeps: list[float]) -> None:
    client = httpx.Client(base_url="http://127.0.0.1:9/v1/", timeout=1.0)
    _CLIENTS.append(client)
    summariser = LLMSummariser(client=client, model="m", sleep=sleeps.append)
    [dive] = summariser.summarise([ARTICLE], session=session)
    assert dive == summarise_extractive(ARTICLE)


def test_the_token_budget_stops_calls_before_they_are_made(
    session: Session, sleeps: list[float], llm: LLMServer
) -> None:
    summariser = _summariser(llm, sleeps, token_budget=100)
    dives = summariser.summarise([ARTICLE, _article(2)], session=session)
    assert llm.calls == []
    assert {d.summariser for d in dives} == {"extractive"}


def test_requests_in_flight_never_exceed_the_concurrency(
    session: Session, sleeps: list[float], llm: LLMServer
) -> None:
    summariser = _summariser(llm, sleeps, concurrency=2)
    dives = summariser.summarise([_article(n) for n in range(8)], session=session)
    assert len(llm.calls) == 8
    assert llm.max_in_flight <= 2
    assert [d.article_url for d in dives] == [f"https://example.com/post/{n}" for n in range(8)]
    assert summariser.usage.calls == 8 and summariser.usage.tokens == 8 * 180


def test_an_article_without_text_is_not_sent(
    session: Session, sleeps: list[float], llm: LLMServer
) -> None:
    video = ArticleText(url="https://example.com/v", title="A talk", company="Acme", text="")
    [dive] = _summariser(llm, sleeps).summarise([video], session=session)
    assert llm.calls == []
    assert dive.summariser == "title-only"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "not valid JSON"),
        ('{"summary": "x"}', '"deep_dive" string'),
        ('{"deep_dive": ""}', "declined"),
        ('{"deep_dive": "too short"}', "words"),
        ('{"deep_dive": "' + GOOD.replace("40%", "45%") + '"}', "numbers not in the article: 45"),
    ],
)
def test_check_answer_rejects_bad_answers(content: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_answer(content, ARTICLE.text)


def test_check_answer_accepts_a_fenced_answer_and_numbers_written_either_way() -> None:
    text = GOOD.replace("3,000", "3000")
    assert check_answer(f'```json\n{{"deep_dive": "{text}"}}\n```', ARTICLE.text) == text


PATTERN = Pattern(
    theme="security: credential",
    companies=("GitHub", "HashiCorp"),
    urls=("https://example.com/gh", "https://example.com/hc"),
    text="GitHub and HashiCorp each wrote about security.",
)
REFS = [
    ArticleRef(
        title="Trusted publishing",
        company="GitHub",
        url="https://example.com/gh",
        text="GitHub replaced long-lived tokens with OIDC; credentials now last 15 minutes.",
    ),
    ArticleRef(
        title="Permission delegation",
        company="HashiCorp",
        url="https://example.com/hc",
        text="HashiCorp gives each Terraform run just-in-time AWS access that expires in 60 minutes.",
    ),
]
PARAGRAPH = (
    "Static credentials are on their way out. GitHub replaced long-lived publishing tokens with "
    "OIDC identities that last 15 minutes, and HashiCorp gives each Terraform run just-in-time "
    "AWS access that expires within 60 minutes. For other teams the lesson is to treat "
    "automation as a temporary guest with federated, short-lived identity."
)


def paragraph(text: str) -> Response:
    return chat(json.dumps({"paragraph": text}))


def test_a_pattern_paragraph_is_written_checked_and_cached(
    session: Session, sleeps: list[float]
) -> None:
    with serve_llm(paragraph(PARAGRAPH)) as llm:
        first = _summariser(llm, sleeps).write_pattern(PATTERN, REFS, session=session)
        again = _summariser(llm, sleeps).write_pattern(PATTERN, REFS, session=session)
    assert first == again == PARAGRAPH
    assert len(llm.calls) == 1
    sent = llm.calls[0]["messages"][1]["content"]
    assert "Companies: GitHub, HashiCorp" in sent and "15 minutes" in sent


def test_a_pattern_paragraph_that_invents_or_omits_is_not_used(
    session: Session, sleeps: list[float]
) -> None:
    invented = PARAGRAPH.replace("60 minutes", "90 minutes")
    omitted = PARAGRAPH.replace("HashiCorp", "another vendor")
    with serve_llm(paragraph(invented), paragraph(omitted)) as llm:
        text = _summariser(llm, sleeps).write_pattern(PATTERN, REFS, session=session)
    assert text is None
    assert "numbers not in the deep dives: 90" in llm.calls[1]["messages"][-1]["content"]


def test_check_pattern_wants_every_company_named() -> None:
    with pytest.raises(ValueError, match="does not name HashiCorp"):
        check_pattern(
            json.dumps({"paragraph": PARAGRAPH.replace("HashiCorp", "X")}),
            companies=PATTERN.companies,
            material=" ".join(r.text for r in REFS),
        )


def test_a_server_without_json_mode_is_asked_again_without_it(
    session: Session, sleeps: list[float]
) -> None:
    rejected = Response(
        400,
        json.dumps({"error": {"message": "Unrecognized request argument: response_format"}}),
        {"Content-Type": "application/json"},
    )
    with serve_llm(rejected, deep_dive(GOOD), deep_dive(GOOD)) as llm:
        summariser = _summariser(llm, sleeps, concurrency=1)
        dives = summariser.summarise([ARTICLE, _article(2)], session=session)
    assert [d.summariser for d in dives] == ["llm", "llm"]
    assert "response_format" in llm.calls[0]
    assert all("response_format" not in call for call in llm.calls[1:])


def test_a_signal_paragraph_is_written_from_its_deep_dive_only(
    session: Session, sleeps: list[float]
) -> None:
    signal = Signal(url=REFS[0].url, title=REFS[0].title, company="GitHub", text="t", why="w")
    text = (
        "GitHub's move from long-lived tokens to OIDC, with credentials that last 15 minutes, "
        "shows where automation security is going: identities that expire on their own. Every "
        "team publishing from CI should expect to drop stored secrets the same way."
    )
    with serve_llm(paragraph(text)) as llm:
        written = _summariser(llm, sleeps).write_signal(signal, REFS[0], session=session)
    assert written == text
    assert "Signal of the Day" in llm.calls[0]["messages"][0]["content"]
    with serve_llm(paragraph(text.replace("15 minutes", "5 minutes")), paragraph("GitHub.")) as llm:
        assert (
            _summariser(llm, sleeps, model="m2").write_signal(signal, REFS[0], session=session)
            is None
        )

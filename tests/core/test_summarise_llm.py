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

from core.claims import Rejected
from core.summarise import ArticleText, text_hash
from core.summarise.extractive import summarise_extractive
from core.summarise.llm import (
    MAX_INPUT_CHARS,
    LLMSummariser,
    RunBudget,
    cache_key,
    check_deep_dive,
)
from storage.tables import SummaryCache
from tests.peers.http import Response
from tests.peers.llm import (
    Answer,
    LLMServer,
    broken_json,
    chat,
    deep_dive,
    faithful,
    invalid_json,
    inventing_a_figure,
    inventing_a_name,
    overrunning,
    rate_limited,
    refusal,
    serve_llm,
    server_error,
    slow,
    timing_out,
    unauthorised,
    writing_we,
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
FIELDS = (
    "Datadog's Postgres clusters served transactional traffic and search, and the p90 latency "
    "of search queries reached 7 seconds as the number of customers grew.",
    "Datadog built a replication pipeline based on change data capture with Debezium and Kafka, "
    "feeding a dedicated search platform that now serves 3,000 databases.",
    "It chose asynchronous replication and accepted that search may lag writes by a few seconds.",
    "The p90 latency dropped from 7 seconds to 450 ms and database CPU fell by 40%, which shows "
    "that data layers at scale have to be decoupled on purpose.",
)
GOOD = " ".join(FIELDS)


def good(**kwargs: object) -> Response:
    return deep_dive(*FIELDS, **kwargs)  # type: ignore[arg-type]


def _answer(*fields: str) -> str:
    return json.dumps(dict(zip(("problem", "approach", "tradeoff", "lesson"), fields, strict=True)))


def _article(n: int) -> ArticleText:
    return ArticleText(
        url=f"https://example.com/post/{n}",
        title=f"Post {n}",
        company="Datadog",
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
    with serve_llm(good(prompt_tokens=300, completion_tokens=90)) as llm:
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
    with serve_llm(good()) as llm:
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
    with serve_llm(good(), good()) as llm:
        _summariser(llm, sleeps).summarise([ARTICLE], session=session)
        _summariser(llm, sleeps, model="other-model").summarise([ARTICLE], session=session)
    assert [c["model"] for c in llm.calls] == ["test-model", "other-model"]


def test_invalid_json_is_asked_again_once(session: Session, sleeps: list[float]) -> None:
    with serve_llm(invalid_json(), good()) as llm:
        [dive] = _summariser(llm, sleeps).summarise([ARTICLE], session=session)
    assert dive.summariser == "llm" and dive.text == GOOD
    assert len(llm.calls) == 2
    assert "rejected" in llm.calls[1]["messages"][-1]["content"]


def test_two_invalid_answers_fall_back_to_the_extractive_deep_dive(
    session: Session, sleeps: list[float]
) -> None:
    with serve_llm(invalid_json(), invalid_json(), good()) as llm:
        summariser = _summariser(llm, sleeps)
        [dive] = summariser.summarise([ARTICLE], session=session)
    assert len(llm.calls) == 2
    assert dive == summarise_extractive(ARTICLE)
    assert summariser.usage.fallbacks == 1
    assert session.exec(select(SummaryCache)).first() is None  # nothing bad is cached


def test_an_invented_number_is_rejected_then_falls_back(
    session: Session, sleeps: list[float]
) -> None:
    invented = [FIELDS[0], FIELDS[1], FIELDS[2], FIELDS[3].replace("450 ms", "120 ms")]
    with serve_llm(chat(_answer(*invented)), chat(_answer(*invented))) as llm:
        summariser = _summariser(llm, sleeps)
        [dive] = summariser.summarise([ARTICLE], session=session)
    assert dive.summariser == "extractive"
    assert "120" not in dive.text
    assert "a figure not in the post: 120" in llm.calls[1]["messages"][-1]["content"]
    assert summariser.line().startswith(
        "0 by the model, 2 rejected (a figure not in the post: 2), 1 extractive; 2 calls"
    )


def test_a_429_is_retried_after_the_retry_after_delay(
    session: Session, sleeps: list[float]
) -> None:
    with serve_llm(rate_limited("1"), good()) as llm:
        summariser = _summariser(llm, sleeps)
        [dive] = summariser.summarise([ARTICLE], session=session)
    assert dive.summariser == "llm"
    assert sleeps == [1.0]
    assert len(llm.calls) == 2
    assert summariser.usage.retries == 1


def test_a_500_is_retried_with_backoff_and_then_falls_back(
    session: Session, sleeps: list[float]
) -> None:
    with serve_llm(server_error(), server_error(), server_error(), default=good()) as llm:
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
    with serve_llm(slow(1.0), slow(1.0), slow(1.0), default=good()) as llm:
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
        ("not json", "broken JSON"),
        ('{"deep_dive": "x"}', "the wrong shape"),
        (_answer("", "", "", ""), "no answer"),
        (_answer("Datadog was slow.", *FIELDS[1:]), '"problem" has 3 words'),
        (_answer(*FIELDS[:3], FIELDS[3].replace("40%", "45%")), "a figure not in the post: 45"),
        (
            _answer(*FIELDS[:3], FIELDS[3] + " Teams should adopt Kubernetes too."),
            "a name not in the post",
        ),
        (_answer(FIELDS[0], FIELDS[1].replace("Datadog built", "We built"), *FIELDS[2:]), "We"),
        (_answer(*(f.replace("Datadog", "The company") for f in FIELDS)), "not named: Datadog"),
    ],
)
def test_check_deep_dive_rejects_bad_answers(content: str, problem: str) -> None:
    with pytest.raises(Rejected, match=problem):
        check_deep_dive(content, ARTICLE)


def test_check_deep_dive_joins_the_fields_in_order_and_accepts_a_fence() -> None:
    fields = [f.replace("3,000", "3000") for f in FIELDS]
    fields[2] = fields[2].rstrip(".")  # a field without its full stop gets one
    content = f"```json\n{_answer(*fields)}\n```"
    assert check_deep_dive(content, ARTICLE) == GOOD.replace("3,000", "3000")


def test_a_server_without_json_mode_is_asked_again_without_it(
    session: Session, sleeps: list[float]
) -> None:
    rejected = Response(
        400,
        json.dumps({"error": {"message": "Unrecognized request argument: response_format"}}),
        {"Content-Type": "application/json"},
    )
    with serve_llm(rejected, good(), good()) as llm:
        summariser = _summariser(llm, sleeps, concurrency=1)
        dives = summariser.summarise([ARTICLE, _article(2)], session=session)
    assert [d.summariser for d in dives] == ["llm", "llm"]
    assert "response_format" in llm.calls[0]
    assert all("response_format" not in call for call in llm.calls[1:])


# --- whole posts, faulty answers, the run's budget, the estimate ---------------------------


def _long_article(chars: int) -> ArticleText:
    sentences = [f"Sentence {i} says the cache layer kept working under load." for i in range(2000)]
    text = " ".join(sentences)[:chars].rsplit(" ", 1)[0] + "."
    return ArticleText(url="https://example.com/long", title="Long", company="Datadog", text=text)


def test_a_post_within_the_input_limit_is_sent_whole(
    session: Session, sleeps: list[float], llm: LLMServer
) -> None:
    article = _long_article(20_000)
    [dive] = _summariser(llm, sleeps).summarise([article], session=session)
    assert dive.summariser == "llm"
    assert llm.calls[0]["messages"][1]["content"].endswith("Post:\n" + article.text)
    assert MAX_INPUT_CHARS == 24_000


def test_a_post_beyond_the_input_limit_is_condensed_to_it(
    session: Session, sleeps: list[float], llm: LLMServer
) -> None:
    article = _long_article(30_000)
    _summariser(llm, sleeps).summarise([article], session=session)
    _summariser(llm, sleeps, max_input_chars=5_000, model="m2").summarise(
        [article], session=session
    )
    capped, short = (len(c["messages"][1]["content"]) for c in llm.calls)
    assert short < 5_100 < capped < 24_100 < len(article.text)
    assert all(article.text[:2_000] in c["messages"][1]["content"] for c in llm.calls)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (inventing_a_figure(), "a figure not in the post: 987654"),
        (inventing_a_name(), "a name not in the post: Kubernetes"),
        (writing_we(), "first person: we"),
        (overrunning(), 'too long: "lesson" has 152 words'),
        (broken_json(), "broken JSON"),
    ],
)
def test_each_faulty_answer_is_rejected_and_asked_again_with_its_reason(
    session: Session, sleeps: list[float], fault: Answer, reason: str
) -> None:
    with serve_llm(fault) as llm:
        summariser = _summariser(llm, sleeps)
        [dive] = summariser.summarise([ARTICLE], session=session)
    assert len(llm.calls) == 2
    retry = llm.calls[1]["messages"]
    assert f"That answer was rejected ({reason}" in retry[-1]["content"]
    assert dive.summariser == "llm"  # the second, faithful answer
    assert summariser.line().startswith(f"1 by the model, 1 rejected ({reason.split(':')[0]}: 1)")


def test_the_same_fault_twice_leaves_the_extractive_deep_dive(
    session: Session, sleeps: list[float]
) -> None:
    with serve_llm(inventing_a_name(), inventing_a_name()) as llm:
        summariser = _summariser(llm, sleeps)
        [dive] = summariser.summarise([ARTICLE], session=session)
    assert dive == summarise_extractive(ARTICLE)
    assert "Kubernetes" not in dive.text
    assert summariser.usage.rejected == {"a name not in the post": 2}


def test_an_answer_that_times_out_is_retried(session: Session, sleeps: list[float]) -> None:
    with serve_llm(timing_out(1.0)) as llm:
        summariser = _summariser(llm, sleeps, timeout=0.2)
        [dive] = summariser.summarise([ARTICLE], session=session)
    assert dive.summariser == "llm"
    assert len(llm.calls) == 2 and sleeps == [1.0]
    assert summariser.usage.retries == 1


def test_the_token_budget_runs_out_mid_run_and_the_run_says_so(
    session: Session, sleeps: list[float], llm: LLMServer
) -> None:
    articles = [_article(n) for n in range(3)]
    probe = _summariser(llm, sleeps)
    one_ask = sum(len(m["content"]) for m in probe._messages(articles[0])) // 4 + 600
    summariser = _summariser(llm, sleeps, concurrency=1, token_budget=one_ask + 100)
    dives = summariser.summarise(articles, session=session)
    assert [d.summariser for d in dives] == ["llm", "extractive", "extractive"]
    assert len(llm.calls) == 1
    assert summariser.line() == (
        "1 by the model, 2 extractive; 1 calls, 180 tokens; "
        f"LLM_TOKEN_BUDGET ({one_ask + 100:,}) ran out: 2 left to the fallback"
    )


def test_one_budget_covers_every_summariser_of_a_run(
    session: Session, sleeps: list[float], llm: LLMServer
) -> None:
    probe = _summariser(llm, sleeps)
    one_ask = sum(len(m["content"]) for m in probe._messages(_article(0))) // 4 + 600
    budget = RunBudget(tokens=one_ask + 100)
    first = _summariser(llm, sleeps, budget=budget).summarise([_article(0)], session=session)
    second = _summariser(llm, sleeps, budget=budget).summarise([_article(1)], session=session)
    assert (first[0].summariser, second[0].summariser) == ("llm", "extractive")
    assert budget.spent == 180


class FakeClock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_time_budget_stops_asking_once_it_has_passed(
    session: Session, sleeps: list[float]
) -> None:
    clock = FakeClock()

    def answer_slowly(request: dict[str, object]) -> Response:
        clock.now += 40  # every answer takes 40 s of the run's 60
        return faithful(request)  # type: ignore[arg-type]

    budget = RunBudget(tokens=1_000_000, seconds=60, clock=clock)
    with serve_llm(default=answer_slowly) as llm:
        summariser = _summariser(llm, sleeps, budget=budget, concurrency=1)
        dives = summariser.summarise([_article(n) for n in range(4)], session=session)
    assert [d.summariser for d in dives] == ["llm", "llm", "extractive", "extractive"]
    assert len(llm.calls) == 2
    assert summariser.line().endswith("LLM_TIME_BUDGET (60 s) ran out: 2 left to the fallback")


def test_a_request_never_waits_past_the_time_budget(session: Session, sleeps: list[float]) -> None:
    clock = FakeClock()
    budget = RunBudget(tokens=1_000_000, seconds=0.3, clock=clock)
    with serve_llm(timing_out(2.0)) as llm:
        summariser = _summariser(llm, sleeps, budget=budget, timeout=30)
        [dive] = summariser.summarise([ARTICLE], session=session)
    assert dive.summariser == "extractive"
    assert len(llm.calls) == 1  # timed out at 0.3 s, not 30 s, and no retry: no time left
    assert sleeps == []


def test_the_estimate_counts_posts_and_tokens_without_asking(
    session: Session, sleeps: list[float], llm: LLMServer
) -> None:
    video = ArticleText(url="https://example.com/v", title="A talk", company="Acme", text="")
    _summariser(llm, sleeps).summarise([ARTICLE], session=session)  # now cached
    calls = len(llm.calls)
    summariser = _summariser(llm, sleeps)
    estimate = summariser.estimate([ARTICLE, _article(1), _article(2), video], session=session)
    assert len(llm.calls) == calls
    assert (estimate.posts, estimate.cached, estimate.title_only) == (2, 1, 1)
    prompt = sum(len(m["content"]) for m in summariser._messages(_article(1))) // 4
    assert estimate.tokens == 2 * (prompt + 250)


@pytest.mark.parametrize(
    "body",
    [
        {"choices": "none", "usage": {"prompt_tokens": 5}},
        {"choices": [{"message": "hello"}]},
        {"choices": [{"message": {"content": "{}"}}], "usage": ["lots"]},
        [1, 2, 3],
    ],
)
def test_a_garbled_envelope_is_a_rejected_answer_not_a_crash(
    session: Session, sleeps: list[float], body: object
) -> None:
    garbled = Response(200, json.dumps(body), {"Content-Type": "application/json"})
    with serve_llm(garbled, garbled) as llm:
        summariser = _summariser(llm, sleeps)
        [dive] = summariser.summarise([ARTICLE], session=session)
    assert dive == summarise_extractive(ARTICLE)
    assert sum(summariser.usage.rejected.values()) == 2


def test_nonsense_token_counts_are_charged_an_estimate(
    session: Session, sleeps: list[float]
) -> None:
    answer = good()
    data = json.loads(answer.body)
    data["usage"] = {"prompt_tokens": "many", "completion_tokens": -3}
    answer.body = json.dumps(data)
    with serve_llm(answer) as llm:
        summariser = _summariser(llm, sleeps)
        [dive] = summariser.summarise([ARTICLE], session=session)
    assert dive.summariser == "llm"
    assert summariser.usage.prompt_tokens > 100 and summariser.usage.completion_tokens > 50


def test_an_unexpected_error_while_asking_costs_one_text_not_the_run(
    session: Session, sleeps: list[float], llm: LLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_check(content: str) -> str:
        raise RuntimeError("a bug in a check")

    summariser = _summariser(llm, sleeps)
    messages = summariser._messages(ARTICLE)
    assert summariser.ask(messages, broken_check, "{}", "label") is None
    assert "llm ask failed for=label" in caplog.text

"""`digest summarise | daily | weekly | run` with DIGEST_SUMMARISER=llm against a local
OpenAI-compatible server: what the model writes, what it is refused, and the run's one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date

from app.jobs import run_daily, run_ingest, steps_for
from app.pipeline import Pipeline
from app.wiring import Runtime
from core.summarise import Summariser
from core.summarise.llm import LLMSummariser
from tests.app.test_cli_compose import add, invoke, runtime  # noqa: F401  (the fixture)
from tests.peers.http import Response
from tests.peers.llm import (
    chat,
    faithful,
    inventing_a_name,
    serve_llm,
    server_error,
    timing_out,
)

DAY = date(2026, 4, 1)
THREE = ("datadog-replication.txt", "github-oidc.txt", "hashicorp-delegation.txt")


def _llm_runtime(runtime: Runtime, url: str, **settings: object) -> Runtime:  # noqa: F811
    changed = runtime.settings.replace(
        summariser="llm",
        llm_base_url=url + "/v1",
        llm_model="test-model",
        llm_api_key="sk-x",
        **settings,
    )
    return Runtime(settings=changed, sources_path=runtime.sources_path, clock=runtime.clock)


def _model(request: dict[str, object]) -> Response:
    """Faithful answers, except that signal and pattern paragraphs say what they are."""
    messages = request["messages"]
    assert isinstance(messages, list)
    user = str(messages[1]["content"])
    if "Signal of the Day" in str(messages[0]["content"]):
        company = user.split("\n", 1)[0].removeprefix("Companies: ")
        text = (
            f"A written signal: {company} shows why data layers at scale are decoupled on "
            "purpose, trading strict consistency for throughput, and why other teams running "
            "search on their primary databases should do the same."
        )
        return chat(json.dumps({"paragraph": text}))
    if "Patterns Across Companies" in str(messages[0]["content"]):
        companies = user.split("\n", 1)[0].removeprefix("Companies: ")
        text = (
            f"A written pattern: {companies} all moved away from long-lived credentials toward "
            "short-lived, federated identity for their automation, and every engineering team "
            "running pipelines should treat automation as a temporary guest."
        )
        return chat(json.dumps({"paragraph": text}))
    return faithful(request)  # type: ignore[arg-type]


def server_error_now(request: dict[str, object]) -> Response:
    response = server_error()
    response.headers["Retry-After"] = "0"  # retry at once: the test need not wait
    return response


def test_with_the_llm_summariser_deep_dives_and_patterns_are_written(runtime: Runtime) -> None:  # noqa: F811
    for name in THREE:
        add(runtime, name)
    with serve_llm(default=_model) as llm:
        llm_runtime = _llm_runtime(runtime, llm.url)
        try:
            summarised = invoke(llm_runtime, "summarise")
            data = json.loads(
                invoke(llm_runtime, "daily", "--date", "2026-04-01", "--format", "json").output
            )
        finally:
            llm_runtime.close()
    assert "Summarised 3 articles (3 llm)." in summarised.output
    assert "LLM: 3 by the model, 0 extractive; 3 calls, 540 tokens." in summarised.output
    assert {d["summariser"] for d in data["deep_dives"]} == {"llm"}
    assert data["patterns"] and data["patterns"][0]["text"].startswith("A written pattern:")
    assert data["signal"]["text"].startswith(f"A written signal: {data['signal']['company']} ")


def test_the_weekly_top_stories_and_review_are_written_by_the_model(
    runtime: Runtime,  # noqa: F811
) -> None:
    for name in THREE:
        add(runtime, name)
    with serve_llm() as llm:
        llm_runtime = _llm_runtime(runtime, llm.url)
        try:
            invoke(llm_runtime, "summarise")
            data = json.loads(
                invoke(llm_runtime, "weekly", "--week", "2026-W14", "--format", "json").output
            )
        finally:
            llm_runtime.close()
    kinds = [c["messages"][0]["content"].split('"')[1] for c in llm.calls[3:]]
    assert kinds.count("Top Stories") == len(data["top_stories"]) >= 1
    assert kinds[-1] == "Week in Review"
    for story in data["top_stories"]:
        assert story["text"].startswith(", ".join(story["companies"]) + " ")  # faithful's
    assert data["week_in_review"].startswith("The week ")


def test_a_broken_llm_endpoint_never_breaks_the_digest(runtime: Runtime) -> None:  # noqa: F811
    add(runtime, "datadog-replication.txt")
    add(runtime, "github-oidc.txt")
    with serve_llm(default=server_error_now) as llm:
        llm_runtime = _llm_runtime(runtime, llm.url)
        try:
            summarised = invoke(llm_runtime, "summarise")
            daily = invoke(llm_runtime, "daily", "--date", "2026-04-01", "--format", "json")
        finally:
            llm_runtime.close()
    assert summarised.exit_code == 0 and daily.exit_code == 0
    assert "LLM: 0 by the model, 2 extractive; 6 calls" in summarised.output
    assert {d["summariser"] for d in json.loads(daily.output)["deep_dives"]} == {"extractive"}


def test_run_prints_one_llm_line_for_deep_dives_and_sections_with_rejections(
    runtime: Runtime,  # noqa: F811
) -> None:
    now = runtime.clock()
    for name in THREE:
        add(runtime, name, published_at=now, first_seen_at=now)
    with serve_llm(inventing_a_name(), inventing_a_name(), default=_model) as llm:
        llm_runtime = _llm_runtime(runtime, llm.url, llm_concurrency=1)
        try:
            result = invoke(llm_runtime, "run", "--no-ingest", "--format", "json")
        finally:
            llm_runtime.close()
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("LLM: ")]
    # 3 deep dives (one of them extractive after two invented names); the day's signal (no
    # pattern: the fake model's deep dives share no phrase with HashiCorp's); the week's 3 top
    # stories and its review
    assert len(llm.calls) == 9
    assert lines == [
        "LLM: 7 by the model, 2 rejected (a name not in the post: 2), 1 extractive; "
        "9 calls, 1,620 tokens."
    ]
    assert "Kubernetes" not in result.output


def test_one_token_budget_covers_the_whole_run(runtime: Runtime) -> None:  # noqa: F811
    now = runtime.clock()
    for name in THREE:
        add(runtime, name, published_at=now, first_seen_at=now)

    def costly(request: dict[str, object]) -> Response:
        response = _model(request)  # each answer reported as 4,000 tokens
        body = json.loads(response.body)
        body["usage"] = {"prompt_tokens": 3_900, "completion_tokens": 100, "total_tokens": 4_000}
        response.body = json.dumps(body)
        return response

    with serve_llm(default=costly) as llm:
        # enough for the three deep dives, not for the signal and pattern after them
        llm_runtime = _llm_runtime(runtime, llm.url, llm_concurrency=1, llm_token_budget=12_000)
        try:
            result = invoke(llm_runtime, "run", "--no-ingest", "--format", "json")
        finally:
            llm_runtime.close()
    assert result.exit_code == 0, result.output
    assert (
        "LLM: 3 by the model, 0 extractive, 7 composed; 3 calls, 12,000 tokens; "
        "LLM_TOKEN_BUDGET (12,000) ran out: 7 left to the fallback." in result.output
    )
    digest = json.loads(result.output[result.output.index("{") :])
    assert not digest["signal"]["text"].startswith("A written signal")


def test_summarise_estimate_counts_without_calling_the_model(runtime: Runtime) -> None:  # noqa: F811
    add(runtime, "datadog-replication.txt")
    add(runtime, "github-oidc.txt", text="A recorded talk about supply chains.", words=6)
    with serve_llm() as llm:
        llm_runtime = _llm_runtime(runtime, llm.url)
        try:
            result = invoke(llm_runtime, "summarise", "--estimate")
            plan = invoke(llm_runtime, "summarize", "--estimate", "--format", "json")
            plain = invoke(runtime, "summarise", "--estimate")
            again = invoke(llm_runtime, "summarise")
        finally:
            llm_runtime.close()
    assert len(llm.calls) == 1  # only the real summarise asked the model
    line = result.output.strip()
    assert line.startswith("1 post would go to the model (test-model), about ")
    assert line.endswith(
        "tokens, within LLM_TOKEN_BUDGET (200,000); 0 already cached, 1 title-only. "
        "Nothing was sent."
    )
    assert json.loads(plan.stdout)["model"] == "test-model"
    assert json.loads(plan.stdout)["estimate"] == {
        "posts": 1,
        "tokens": json.loads(plan.stdout)["estimate"]["tokens"],
        "cached": 0,
        "title_only": 1,
        "within_budget": True,
    }
    assert f"about {json.loads(plan.stdout)['estimate']['tokens']:,} tokens" in line
    assert "all extractive (DIGEST_SUMMARISER is not llm)" in plain.output
    assert "Summarised 2 articles" in again.output


def test_a_slow_model_is_cut_off_by_the_time_budget_and_the_run_goes_on(
    runtime: Runtime,  # noqa: F811
) -> None:
    now = runtime.clock()
    for name in THREE:
        add(runtime, name, published_at=now, first_seen_at=now)
    with serve_llm(default=timing_out(3.0)) as llm:
        llm_runtime = _llm_runtime(runtime, llm.url, llm_concurrency=1, llm_time_budget=1)
        try:
            result = invoke(llm_runtime, "run", "--no-ingest", "--format", "json")
        finally:
            llm_runtime.close()
    assert result.exit_code == 0, result.output
    # the first request is cut at the budget's end; nothing else is asked for
    assert len(llm.calls) == 1
    assert "LLM: 0 by the model, 3 extractive, 7 composed; 1 calls, 0 tokens; " in result.output
    assert "LLM_TIME_BUDGET (1 s) ran out: 9 left to the fallback." in result.output
    digest = json.loads(result.output[result.output.index("{") :])
    assert {d["summariser"] for d in digest["deep_dives"]} == {"extractive"}


def test_llm_max_input_chars_condenses_longer_posts(runtime: Runtime) -> None:  # noqa: F811
    article = add(runtime, "datadog-replication.txt")
    with serve_llm() as llm:
        llm_runtime = _llm_runtime(runtime, llm.url, llm_max_input_chars=600)
        try:
            invoke(llm_runtime, "summarise")
        finally:
            llm_runtime.close()
    sent = llm.calls[0]["messages"][1]["content"].split("Post:\n", 1)[1]
    assert len(article.text) > 600 >= len(sent) > 0
    assert sent.startswith(article.text[:100])


def test_each_summarise_run_of_a_long_lived_pipeline_has_its_own_budget_and_counts(
    runtime: Runtime,  # noqa: F811
) -> None:
    # the worker keeps one Pipeline for days: LLM_TOKEN_BUDGET and the usage are per run
    with serve_llm(default=_model) as llm:
        llm_runtime = _llm_runtime(runtime, llm.url)
        pipeline = Pipeline(llm_runtime)
        try:
            add(runtime, "datadog-replication.txt")
            first = pipeline.summarise()
            add(runtime, "github-oidc.txt")
            second = pipeline.summarise()
        finally:
            llm_runtime.close()
    assert (first["llm"], first["llm_calls"]) == (1, 1)
    assert (second["llm"], second["llm_calls"]) == (1, 1)


def test_a_pipeline_run_shares_one_summariser_across_its_steps(runtime: Runtime) -> None:  # noqa: F811
    for name in THREE:
        add(runtime, name)
    with serve_llm(default=_model) as llm:
        llm_runtime = _llm_runtime(runtime, llm.url)
        pipeline = Pipeline(llm_runtime)
        try:
            with pipeline.run() as summariser:
                assert pipeline.summariser() is summariser
                with pipeline.run() as inner:  # a nested run joins the open one
                    assert inner is summariser
                pipeline.summarise()
                pipeline.daily("tech", DAY)
            assert pipeline.summariser() is not summariser
        finally:
            llm_runtime.close()
    assert isinstance(summariser, LLMSummariser)
    assert summariser.usage.written == 5  # three deep dives, the signal, one pattern
    assert summariser.line().startswith("5 by the model, 0 extractive; 5 calls")


def test_the_worker_tick_runs_its_steps_in_one_pipeline_run(runtime: Runtime) -> None:  # noqa: F811
    add(runtime, "datadog-replication.txt")
    with serve_llm(default=_model) as llm:
        llm_runtime = _llm_runtime(runtime, llm.url)
        pipeline = Pipeline(llm_runtime)
        opened: list[Summariser] = []
        real_run = pipeline.run

        @contextmanager
        def recording_run() -> Iterator[Summariser]:
            with real_run() as summariser:
                opened.append(summariser)
                yield summariser

        pipeline.run = recording_run  # type: ignore[method-assign]
        try:
            steps = steps_for(pipeline)
            run_ingest(steps=replace(steps, ingest=dict))
            run_daily(steps=steps, editions=["tech", "reads"], day=DAY)
        finally:
            llm_runtime.close()
    assert len(opened) == 2  # one run per tick, for all of its steps and editions
    ingest_tick, daily_tick = opened
    assert isinstance(ingest_tick, LLMSummariser) and ingest_tick.usage.written >= 1
    assert isinstance(daily_tick, LLMSummariser) and daily_tick is not ingest_tick


def test_web_and_slack_reads_never_wait_for_the_model_but_show_what_it_wrote(
    runtime: Runtime,  # noqa: F811
) -> None:
    for name in THREE:
        add(runtime, name)
    with serve_llm(default=_model) as llm:
        llm_runtime = _llm_runtime(runtime, llm.url)
        try:
            pipeline = Pipeline(llm_runtime)
            invoke(llm_runtime, "summarise")
            summarised = len(llm.calls)

            read = pipeline.reads.daily("tech", DAY)  # a page or /digest composing on demand
            assert read is not None and read.signal is not None
            assert len(llm.calls) == summarised  # the model was not asked
            assert not read.signal.text.startswith("A written signal")

            delivered = pipeline.daily("tech", DAY)  # what post-daily composes: it writes
            assert delivered is not None and delivered.signal is not None
            assert delivered.signal.text.startswith("A written signal")
            asked = len(llm.calls)
            assert asked > summarised

            again = pipeline.reads.daily("tech", DAY)  # the written one answers reads now
            assert again is not None and again.signal == delivered.signal
            assert pipeline.daily("tech", DAY) == delivered  # and deliveries: nothing to redo
            assert len(llm.calls) == asked
        finally:
            llm_runtime.close()

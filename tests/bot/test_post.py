"""The daily post: channel message + thread, exactly once per channel, errors in plain words."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.cli import cli
from app.wiring import Runtime
from bot.post import Target, post_daily, targets
from core.errors import ConfigError
from storage import channels as subscriptions
from storage import deliveries
from tests.bot.conftest import (
    OAUTH,
    install_workspaces,
    make_daily,
    slack_settings,
)
from tests.conftest import add_article, add_source, store_digest
from tests.peers.slack_api import SlackAPI

DAY = date(2026, 4, 1)
DIGEST = make_daily(DAY, dives=6)  # what the stored fixture holds, and what is posted


@pytest.fixture
def stored(engine: Engine) -> Engine:
    with Session(engine) as session:
        store_digest(session, DIGEST)
    return engine


def _settings(engine: Engine, api: SlackAPI, **extra: str):  # noqa: ANN202
    return slack_settings(engine.url.render_as_string(hide_password=False), api, **extra)


def test_signal_in_channel_and_deep_dives_in_the_thread(
    stored: Engine, slack_api: SlackAPI
) -> None:
    settings = _settings(stored, slack_api)
    [outcome] = post_daily(settings, engine=stored, digest=DIGEST, channel="C1")
    assert outcome.status == "sent"
    main, reply = slack_api.calls("chat.postMessage")
    assert main["channel"] == "C1" and "thread_ts" not in main
    assert main["text"].startswith("Engineering @ Scale — 2026-04-01: Signal of the Day")
    assert main["blocks"][0]["type"] == "header"
    assert reply["thread_ts"] == outcome.external_id
    assert "Post 5 of 2026-04-01" in str(reply["blocks"])
    assert slack_api.records("chat.postMessage")[0].token == "xoxb-test-token"


def test_mentions_in_a_title_do_not_notify_the_channel(engine: Engine, slack_api: SlackAPI) -> None:
    digest = make_daily(DAY, dives=2, title="Hi <!channel> <!here> <@U123> & co")
    [outcome] = post_daily(_settings(engine, slack_api), engine=engine, digest=digest, channel="C1")

    assert outcome.status == "sent"
    main, thread = slack_api.calls("chat.postMessage")
    assert main["text"] == (
        "Engineering @ Scale — 2026-04-01: Signal of the Day: "
        "Hi &lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &amp; co (Company 0)"
    )
    for call in (main, thread):
        raw = str(call["text"]) + str(call["blocks"])
        assert "<!channel>" not in raw and "<!here>" not in raw and "<@U123>" not in raw


def test_a_rerun_posts_nothing(stored: Engine, slack_api: SlackAPI) -> None:
    settings = _settings(stored, slack_api)
    post_daily(settings, engine=stored, digest=DIGEST, channel="C1")
    [again] = post_daily(settings, engine=stored, digest=DIGEST, channel="C1")
    assert again.status == "skipped"
    assert len(slack_api.calls("chat.postMessage")) == 2


def test_two_workers_at_once_post_once(stored: Engine, slack_api: SlackAPI) -> None:
    settings = _settings(stored, slack_api)
    slack_api.slow("chat.postMessage", 0.2)
    results = []
    workers = [
        threading.Thread(
            target=lambda: results.extend(
                post_daily(settings, engine=stored, digest=DIGEST, channel="C1")
            )
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(o.status for o in results) == ["sent", "skipped"]
    assert len([c for c in slack_api.calls("chat.postMessage") if "thread_ts" not in c]) == 1


def test_429_is_retried_after_retry_after(stored: Engine, slack_api: SlackAPI) -> None:
    slack_api.rate_limit("chat.postMessage", times=1, retry_after=1)
    [outcome] = post_daily(_settings(stored, slack_api), engine=stored, digest=DIGEST, channel="C1")
    assert outcome.status == "sent"
    first, second, _thread = slack_api.records("chat.postMessage")
    assert second.at - first.at >= 1.0
    with Session(stored) as session:
        assert deliveries.counts(session=session) == {"sent": 2}


def test_endless_429_is_bounded_and_retried_by_the_next_run(
    stored: Engine, slack_api: SlackAPI
) -> None:
    slack_api.rate_limit("chat.postMessage", times=None, retry_after=0)
    settings = _settings(stored, slack_api)
    [outcome] = post_daily(settings, engine=stored, digest=DIGEST, channel="C1")
    assert outcome.status == "deferred"
    assert "rate-limiting" in (outcome.error or "")
    assert len(slack_api.calls("chat.postMessage")) == 3  # one try + two retries
    slack_api.rules.clear()
    [retried] = post_daily(settings, engine=stored, digest=DIGEST, channel="C1")
    assert retried.status == "sent"


def test_a_failed_thread_is_resumed_without_a_second_channel_message(
    stored: Engine, slack_api: SlackAPI
) -> None:
    settings = _settings(stored, slack_api)
    # the channel message goes through; the thread reply meets a Slack outage
    slack_api.fail(
        "chat.postMessage", "internal_error", status=500, when=lambda p: "thread_ts" in p
    )
    [first] = post_daily(settings, engine=stored, digest=DIGEST, channel="C1")
    assert first.status == "deferred" and first.error and first.error.startswith("thread reply")
    slack_api.rules.clear()
    [second] = post_daily(settings, engine=stored, digest=DIGEST, channel="C1")
    assert second.status == "skipped" and second.error is None
    posted = slack_api.calls("chat.postMessage")
    assert len([c for c in posted if "thread_ts" not in c]) == 1
    assert posted[-1]["thread_ts"] == first.external_id


def test_bad_channels_are_reported_in_plain_words_and_others_go_on(
    stored: Engine, slack_api: SlackAPI
) -> None:
    slack_api.fail("chat.postMessage", "channel_not_found", channel="C404")
    slack_api.fail("chat.postMessage", "not_in_channel", channel="C0OUT")
    with Session(stored) as session:
        for channel in ("C404", "C0OUT", "C0OK"):
            subscriptions.subscribe(
                session=session, team_id="T0TEAM", channel_id=channel, edition="tech"
            )
    outcomes = post_daily(_settings(stored, slack_api), engine=stored, digest=DIGEST)
    by_target = {o.target: o for o in outcomes}
    assert by_target["C404"].status == "failed"
    assert by_target["C404"].error == (
        "channel C404 was not found (deleted, or private and the bot is not in it)"
    )
    assert by_target["C0OUT"].status == "deferred"
    assert "invite it with /invite" in (by_target["C0OUT"].error or "")
    assert by_target["C0OK"].status == "sent"


def test_a_revoked_token_is_explained(stored: Engine, slack_api: SlackAPI) -> None:
    slack_api.fail("chat.postMessage", "invalid_auth")
    [outcome] = post_daily(_settings(stored, slack_api), engine=stored, digest=DIGEST, channel="C1")
    assert outcome.status == "deferred"
    assert outcome.error == (
        "Slack refused the bot token (invalid_auth): check SLACK_BOT_TOKEN or reinstall the app"
    )


def test_targets_are_the_default_channel_and_subscriptions_once_each(
    sqlite_engine: Engine, slack_api: SlackAPI
) -> None:
    settings = _settings(sqlite_engine, slack_api, SLACK_CHANNEL="C1")
    with Session(sqlite_engine) as session:
        subscriptions.subscribe(session=session, team_id="T0TEAM", channel_id="C1", edition="tech")
        subscriptions.subscribe(session=session, team_id="T0TEAM", channel_id="C2", edition="tech")
        subscriptions.subscribe(session=session, team_id="T0TEAM", channel_id="C3", edition="reads")
    assert targets(settings, engine=sqlite_engine, edition="tech") == [Target("C1"), Target("C2")]
    assert targets(settings, engine=sqlite_engine, edition="tech", channel="C9") == [Target("C9")]


def test_missing_token_stops_with_one_line(sqlite_url: str) -> None:
    from core.config import Settings

    settings = Settings.from_env({"DATABASE_URL": sqlite_url, "SLACK_CLIENT_ID": "123"})
    with pytest.raises(ConfigError) as info:
        post_daily(settings, engine=None, digest=DIGEST)  # type: ignore[arg-type]
    assert str(info.value) == "posting to Slack needs SLACK_CLIENT_SECRET and SLACK_BOT_TOKEN"


def test_cli_posts_and_reports_each_channel(
    sqlite_url: str, sqlite_engine: Engine, slack_api: SlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(sqlite_engine) as session:
        store_digest(session, make_daily(DAY, dives=2))
    slack_api.fail("chat.postMessage", "channel_not_found", channel="C404")
    env = {
        "DATABASE_URL": sqlite_url,
        "SLACK_BOT_TOKEN": "xoxb-cli",
        "SLACK_API_URL": slack_api.base_url,
        "SLACK_CHANNEL": "C404",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    result = runner.invoke(cli, ["slack", "post-daily", "--date", "2026-04-01", "--channel", "C1"])
    assert result.exit_code == 0, result.output
    assert "sent  C1" in result.output
    with Session(sqlite_engine) as session:
        subscriptions.subscribe(
            session=session, team_id="T0TEAM", channel_id="C0TWO", edition="tech"
        )
    result = runner.invoke(cli, ["slack", "post-daily", "--date", "2026-04-01"])
    assert result.exit_code == 1
    assert "failed  C404: channel C404 was not found" in result.output
    assert "sent  C0TWO" in result.output
    result = runner.invoke(cli, ["slack", "post-daily", "--date", "2026-04-02"])
    assert result.exit_code == 0  # composed: a day without posts is not posted
    assert "skipped  C0TWO: no new posts that day" in result.output


def test_post_daily_composes_a_day_nobody_composed_and_keeps_what_it_posted(
    sqlite_url: str, sqlite_engine: Engine, slack_api: SlackAPI
) -> None:
    with Session(sqlite_engine, expire_on_commit=False) as session:
        source = add_source(session, "Netflix Tech Blog")
        add_article(session, source, title="Rebuilding the event store", dive="We moved to a log.")
    settings = slack_settings(sqlite_url, slack_api)
    runtime = Runtime(settings=settings, clock=lambda: datetime(2026, 4, 2, 9, tzinfo=UTC))
    runner = CliRunner()
    result = runner.invoke(
        cli, ["slack", "post-daily", "--date", "2026-04-01", "--channel", "C1"], obj=runtime
    )
    assert result.exit_code == 0, result.output
    assert "sent  C1" in result.output
    main = slack_api.calls("chat.postMessage")[0]
    assert "Rebuilding the event store" in str(main["blocks"])
    with Session(sqlite_engine) as session:  # a post after delivery leaves the day as posted
        add_article(session, source, title="A late post", dive="Late.")
    day = runner.invoke(cli, ["daily", "--date", "2026-04-01", "--format", "md"], obj=runtime)
    assert "Rebuilding the event store" in day.output and "A late post" not in day.output
    future = runner.invoke(cli, ["slack", "post-daily", "--date", "2026-04-05"], obj=runtime)
    assert future.exit_code == 1
    assert future.output == "Error: 2026-04-05 has not happened yet: nothing to post\n"


def test_cli_exits_non_zero_whenever_a_channel_does_not_have_the_post(
    sqlite_url: str, sqlite_engine: Engine, slack_api: SlackAPI
) -> None:
    with Session(sqlite_engine) as session:
        store_digest(session, make_daily(DAY, dives=2))
        # a run that crashed mid-post left its claim behind
        deliveries.claim(
            session=session, channel="slack", target="C9", issue="tech/daily/2026-04-01"
        )
    slack_api.fail("chat.postMessage", "channel_not_found", channel="C404")
    settings = slack_settings(sqlite_url, slack_api)

    def post(*args: str):  # noqa: ANN202
        return CliRunner().invoke(
            cli,
            ["slack", "post-daily", "--date", "2026-04-01", *args],
            obj=Runtime(settings=settings),
        )

    first, again = post("--channel", "C404"), post("--channel", "C404")
    claimed = post("--channel", "C9")
    sent, resent = post("--channel", "C1"), post("--channel", "C1")
    nowhere = post()  # no SLACK_CHANNEL, no subscriptions

    assert first.exit_code == 1 and "failed  C404" in first.output
    assert again.exit_code == 1, again.output  # skipped: failed earlier
    assert "skipped  C404: failed earlier: channel C404 was not found" in again.output
    assert claimed.exit_code == 1, claimed.output
    assert "skipped  C9: another run has been posting it since" in claimed.output
    assert (sent.exit_code, resent.exit_code) == (0, 0), resent.output
    assert nowhere.exit_code == 1 and "Nothing to post to" in nowhere.output
    assert [c["channel"] for c in slack_api.calls("chat.postMessage")] == ["C404", "C1", "C1"]


def test_cli_as_json_reports_each_channel_and_exits_as_the_text_does(
    sqlite_url: str, sqlite_engine: Engine, slack_api: SlackAPI
) -> None:
    import json

    with Session(sqlite_engine) as session:
        store_digest(session, make_daily(DAY, dives=2))
    slack_api.fail("chat.postMessage", "channel_not_found", channel="C404")
    settings = slack_settings(sqlite_url, slack_api)

    def post(*args: str):  # noqa: ANN202
        command = ["slack", "post-daily", "--date", "2026-04-01", "--format", "json", *args]
        return CliRunner().invoke(cli, command, obj=Runtime(settings=settings))

    sent, again, failed, nowhere = (
        post("--channel", "C1"),
        post("--channel", "C1"),
        post("--channel", "C404"),
        post(),
    )

    assert sent.exit_code == 0, sent.output
    (posted,) = json.loads(sent.stdout)["posts"]
    assert json.loads(sent.stdout) == {
        "edition": "tech",
        "date": "2026-04-01",
        "posts": [
            {"status": "sent", "target": "C1", "error": None, "external_id": posted["external_id"]}
        ],
    }
    assert posted["external_id"]  # the channel message's ts
    assert [p["status"] for p in json.loads(again.stdout)["posts"]] == ["skipped"]
    assert failed.exit_code == 1
    (refused,) = json.loads(failed.stdout)["posts"]
    assert (refused["status"], refused["target"]) == ("failed", "C404")
    assert "channel C404 was not found" in refused["error"]
    assert nowhere.exit_code == 1 and json.loads(nowhere.stdout)["posts"] == []
    assert "Nothing to post to" in nowhere.stderr  # the note beside the document


def test_cli_a_quiet_day_is_not_a_failure(
    sqlite_url: str, sqlite_engine: Engine, slack_api: SlackAPI
) -> None:
    with Session(sqlite_engine) as session:
        store_digest(session, make_daily(DAY, dives=0))
    result = CliRunner().invoke(
        cli,
        ["slack", "post-daily", "--date", "2026-04-01", "--channel", "C1"],
        obj=Runtime(settings=slack_settings(sqlite_url, slack_api)),
    )
    assert result.exit_code == 0, result.output
    assert "skipped  C1: no new posts that day" in result.output
    assert slack_api.calls("chat.postMessage") == []


def test_each_workspace_is_posted_with_its_own_token(stored: Engine, slack_api: SlackAPI) -> None:
    settings = _settings(stored, slack_api, **OAUTH)
    install_workspaces(settings, engine=stored, bot_scopes="commands,chat:write")
    with Session(stored) as session:
        for team in ("T1", "T2", "T3"):
            subscriptions.subscribe(session=session, team_id=team, channel_id="C1", edition="tech")
    outcomes = {o.target: o for o in post_daily(settings, engine=stored, digest=DIGEST)}
    assert outcomes["T1/C1"].status == outcomes["T2/C1"].status == "sent"
    assert outcomes["T3/C1"].status == "failed"
    assert outcomes["T3/C1"].error == "the app is not installed in workspace T3"
    tokens = [
        r.token for r in slack_api.records("chat.postMessage") if "thread_ts" not in r.payload
    ]
    assert tokens == ["xoxb-T1", "xoxb-T2"]


def test_an_unreachable_slack_defers_the_post(stored: Engine, slack_api: SlackAPI) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = _settings(stored, slack_api, SLACK_API_URL=f"http://127.0.0.1:{port}/api/")
    [outcome] = post_daily(settings, engine=stored, digest=DIGEST, channel="C1")
    assert outcome.status == "deferred"
    assert (outcome.error or "").startswith("could not reach Slack:")


def test_a_post_slack_never_answered_is_not_sent_again(stored: Engine, slack_api: SlackAPI) -> None:
    from bot.app import web_client

    settings = _settings(stored, slack_api)
    impatient = web_client(settings, settings.slack_bot_token, retry_connections=False)
    impatient.timeout = 0.3
    slack_api.slow("chat.postMessage", 1.0)  # Slack got it, but answers too late
    [outcome] = post_daily(settings, engine=stored, digest=DIGEST, channel="C1", client=impatient)
    assert outcome.status == "failed"
    assert "may have been posted, so it is not sent again" in (outcome.error or "")
    slack_api.rules.clear()
    [again] = post_daily(settings, engine=stored, digest=DIGEST, channel="C1")
    assert again.status == "skipped"
    assert len(slack_api.calls("chat.postMessage")) == 1


def test_a_skipped_post_says_why(stored: Engine, slack_api: SlackAPI) -> None:
    settings = _settings(stored, slack_api)
    slack_api.fail("chat.postMessage", "channel_not_found", channel="C404")
    post_daily(settings, engine=stored, digest=DIGEST, channel="C404")
    [again] = post_daily(settings, engine=stored, digest=DIGEST, channel="C404")
    assert again.status == "skipped"
    assert again.error == (
        "failed earlier: channel C404 was not found (deleted, or private and the bot is not in it)"
    )
    with Session(stored) as session:  # a run that crashed mid-post left its claim behind
        deliveries.claim(
            session=session, channel="slack", target="C9", issue="tech/daily/2026-04-01"
        )
    [stuck] = post_daily(settings, engine=stored, digest=DIGEST, channel="C9")
    assert stuck.status == "skipped"
    assert (stuck.error or "").startswith("another run has been posting it since ")
    assert slack_api.calls("chat.postMessage")[-1]["channel"] == "C404"  # nothing sent to C9

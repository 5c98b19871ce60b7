"""Editorial sections from the model: pure hooks over plain values, and `LLMEditor` against a
local OpenAI-compatible server. A section the model cannot write well keeps the composed text."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date

import httpx
import pytest
from sqlmodel import Session

from core.claims import Rejected
from core.editorial import (
    LLMEditor,
    check_section,
    with_written_review,
    with_written_stories,
    write_daily,
    write_weekly,
)
from core.model import ArticleRef, DailyDigest, Pattern, Signal, Stats, Story, WeeklyRollup
from core.summarise.llm import LLMSummariser
from tests.peers.llm import (
    Answer,
    LLMServer,
    broken_json,
    inventing_a_figure,
    inventing_a_name,
    overrunning,
    paragraph,
    serve_llm,
    timing_out,
    writing_we,
)

GH = ArticleRef(
    title="Trusted publishing",
    company="GitHub",
    url="https://example.com/gh",
    text="GitHub replaced long-lived tokens with OIDC; credentials now last 15 minutes.",
)
HC = ArticleRef(
    title="Permission delegation",
    company="HashiCorp",
    url="https://example.com/hc",
    text="HashiCorp gives each Terraform run just-in-time AWS access that expires in 60 minutes.",
)
PATTERN = Pattern(
    theme="security: credential",
    companies=("GitHub", "HashiCorp"),
    urls=(GH.url, HC.url),
    text="GitHub and HashiCorp each wrote about security.",
)
STORY = Story(
    theme="short-lived credentials",
    companies=("GitHub", "HashiCorp"),
    urls=(GH.url, HC.url),
    text="Composed story.",
    articles=(GH, HC),
)
SIGNAL = Signal(url=GH.url, title=GH.title, company="GitHub", text="Composed signal.", why="w")
DAILY = DailyDigest(
    edition="tech",
    date=date(2026, 4, 1),
    title="Engineering @ Scale — 2026-04-01",
    stats=Stats(sources_checked=2, posts=2),
    sources=("GitHub Blog", "HashiCorp Blog"),
    signal=SIGNAL,
    deep_dives=(GH, HC),
    patterns=(PATTERN,),
)
WEEKLY = WeeklyRollup(
    edition="tech",
    week="2026-W14",
    title="Engineering @ Scale — Week 2026-W14",
    start=date(2026, 3, 30),
    end=date(2026, 4, 5),
    stats=Stats(sources_checked=2, posts=2),
    week_in_review="Composed review.",
    top_stories=(STORY,),
    patterns=(PATTERN,),
)
PARAGRAPH = (
    "Static credentials are on their way out. GitHub replaced long-lived publishing tokens with "
    "OIDC identities that last 15 minutes, and HashiCorp gives each Terraform run just-in-time "
    "AWS access that expires within 60 minutes. For other teams the lesson is to treat "
    "automation as a temporary guest with federated, short-lived identity."
)


class Scripted:
    """An `Editor` that writes fixed texts (None: keep the composed one) and records its calls."""

    def __init__(self, text: str | None) -> None:
        self.text = text
        self.calls: list[str] = []

    def write_signal(self, signal: Signal, article: ArticleRef) -> str | None:
        self.calls.append(f"signal:{article.company}")
        return self.text and f"signal {self.text}"

    def write_pattern(self, pattern: Pattern, articles: Sequence[ArticleRef]) -> str | None:
        self.calls.append(f"pattern:{','.join(a.company for a in articles)}")
        return self.text and f"pattern {self.text}"

    def write_story(self, story: Story) -> str | None:
        self.calls.append(f"story:{story.theme}")
        return self.text and f"story {self.text}"

    def write_review(self, rollup: WeeklyRollup, articles: Sequence[ArticleRef]) -> str | None:
        self.calls.append(f"review:{rollup.top_stories[0].text}")
        return self.text and f"review {self.text}"


def test_write_daily_replaces_the_signal_and_patterns_given() -> None:
    editor = Scripted("written")
    digest = write_daily(DAILY, editor=editor)
    assert digest.signal is not None and digest.signal.text == "signal written"
    assert [p.text for p in digest.patterns] == ["pattern written"]
    assert editor.calls == ["signal:GitHub", "pattern:GitHub,HashiCorp"]


def test_write_weekly_writes_stories_first_and_the_review_from_them() -> None:
    editor = Scripted("written")
    rollup = write_weekly(WEEKLY, articles=[GH, HC], editor=editor)
    assert rollup.top_stories[0].text == "story written"
    assert rollup.patterns[0].text == "pattern written"
    assert rollup.week_in_review == "review written"
    assert editor.calls[-1] == "review:story written"  # the review sees the written stories


def test_a_writer_that_gives_nothing_keeps_every_composed_text() -> None:
    assert write_daily(DAILY, editor=Scripted(None)) == DAILY
    assert write_weekly(WEEKLY, articles=[GH, HC], editor=Scripted(None)) == WEEKLY


def test_a_story_without_posts_and_a_week_without_posts_are_not_written() -> None:
    empty = WEEKLY.__class__(**{**WEEKLY.__dict__, "top_stories": (Story("t", (), (), "x"),)})
    assert with_written_stories(empty, write=lambda s: "never") == empty
    assert with_written_review(WEEKLY, articles=[], write=lambda r, a: "never") == WEEKLY


# --- against the local model server ----------------------------------------------------------

_CLIENTS: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


def _editor(server: LLMServer, session: Session, *, timeout: float = 5.0) -> LLMEditor:
    client = httpx.Client(base_url=server.url + "/v1/", timeout=timeout)
    _CLIENTS.append(client)
    summariser = LLMSummariser(client=client, model="test-model", sleep=lambda s: None)
    return LLMEditor(summariser, session=session)


def test_every_section_is_written_by_the_model_and_cached(session: Session) -> None:
    with serve_llm() as llm:
        editor = _editor(llm, session)
        daily = write_daily(DAILY, editor=editor)
        weekly = write_weekly(WEEKLY, articles=[GH, HC], editor=editor)
        calls = len(llm.calls)
        again = _editor(llm, session)
        assert write_weekly(WEEKLY, articles=[GH, HC], editor=again) == weekly
        assert len(llm.calls) == calls  # cached: content hash + model + prompt version
    prompts = [c["messages"][0]["content"] for c in llm.calls]
    assert [p.split('"')[1] for p in prompts] == [
        "Signal of the Day",
        "Patterns Across Companies",
        "Top Stories",
        "Week in Review",
    ]  # the daily's pattern and the week's pattern are the same material: asked once
    assert daily.signal is not None and daily.signal.text.startswith("GitHub ")
    assert weekly.top_stories[0].text.startswith("GitHub, HashiCorp ")
    assert weekly.week_in_review.startswith("The week ")
    assert "- short-lived credentials (GitHub, HashiCorp)" in llm.calls[3]["messages"][1]["content"]
    assert editor.summariser.line().startswith("5 by the model (1 cached), 0 extractive; 4 calls")
    assert again.summariser.usage.cache_hits == 3


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (inventing_a_figure(), "a figure not in the post"),
        (inventing_a_name(), "a name not in the post"),
        (writing_we(), "first person"),
        (overrunning(), "too long"),
        (broken_json(), "broken JSON"),
    ],
)
def test_a_faulty_section_is_asked_again_then_the_composed_text_stays(
    session: Session, fault: Answer, reason: str
) -> None:
    with serve_llm(fault, fault, default=fault) as llm:
        editor = _editor(llm, session)
        rollup = write_weekly(WEEKLY, articles=[GH, HC], editor=editor)
    assert rollup == WEEKLY  # story, pattern and review: all composed
    assert len(llm.calls) == 6
    assert editor.summariser.usage.rejected == {reason: 6}
    assert editor.summariser.line().startswith(
        f"0 by the model, 6 rejected ({reason}: 6), 0 extractive, 3 composed"
    )


def test_a_section_that_times_out_keeps_the_composed_text(session: Session) -> None:
    with serve_llm(default=timing_out(1.0)) as llm:
        editor = _editor(llm, session, timeout=0.2)
        digest = write_daily(DAILY, editor=editor)
    assert digest == DAILY
    assert editor.summariser.usage.composed == 2


def test_a_faulty_first_answer_then_a_good_one_is_used(session: Session) -> None:
    with serve_llm(
        paragraph(PARAGRAPH.replace("60 minutes", "90 minutes")), paragraph(PARAGRAPH)
    ) as llm:
        text = _editor(llm, session).write_pattern(PATTERN, [GH, HC])
    assert text == PARAGRAPH
    assert "a figure not in the post: 90" in llm.calls[1]["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (PARAGRAPH.replace("HashiCorp", "another vendor"), "a company not named: HashiCorp"),
        (PARAGRAPH.replace("Terraform", "Pulumi"), "a name not in the post: Pulumi"),
        ("GitHub and HashiCorp.", "too short"),
    ],
)
def test_check_section_holds_every_section_to_the_same_checks(text: str, reason: str) -> None:
    material = f"{GH.company} — {GH.title}\n{GH.text}\n\n{HC.company} — {HC.title}\n{HC.text}"
    with pytest.raises(Rejected, match=reason):
        check_section(
            json.dumps({"paragraph": text}),
            kind="pattern",
            material=material,
            companies=PATTERN.companies,
        )


def test_the_summariser_gives_the_editor_of_its_run(session: Session) -> None:
    with serve_llm() as llm:
        summariser = _editor(llm, session).summariser
        digest = write_daily(DAILY, editor=summariser.editor(session=session))
    assert digest.signal is not None and digest.signal.text.startswith("GitHub ")
    assert summariser.usage.written == 2 and len(llm.calls) == 2


def test_the_review_sees_the_top_stories_posts_first_and_a_bounded_rest(
    session: Session,
) -> None:
    others = [
        ArticleRef(
            title=f"Post {n}", company="Acme", url=f"https://example.com/{n}", text="x " * 900
        )
        for n in range(20)
    ]
    with serve_llm() as llm:
        _editor(llm, session).write_review(WEEKLY, [*others, HC, GH])
    sent = llm.calls[0]["messages"][1]["content"]
    assert (
        sent.index("GitHub — Trusted")
        < sent.index("HashiCorp — Permission")
        < sent.index("Acme — Post 0")
    )
    assert "Acme — Post 19" not in sent and len(sent) < 12_500  # REVIEW_MATERIAL_CHARS

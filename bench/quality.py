"""Quality of our deep dives against published ones: key-fact recall, baselines, voice, length.

    .venv/bin/python bench/quality.py ARTICLES_DIR REFERENCES_JSON [--summariser extractive|llm]

ARTICLES_DIR holds `NN-slug.txt` files: line 1 the title, line 2 the URL, a blank line, then
the body. REFERENCES_JSON is `{"deep_dives": {"NN": {"reference": "Title · Company · Source
Paragraph…"}}}`: the deep dive a published digest wrote for article NN. The company the deep
dive speaks of is the reference's "Company" (of "A / B", the one the article names most).

Runs our summariser through the project's `Summariser` interface (`llm`: built from the
LLM_BASE_URL / LLM_MODEL / LLM_API_KEY environment variables as the app builds it, with a
throwaway SQLite cache) and prints, per article and on average, the figures `core.quality`
defines: key-fact recall beside the two baselines (first 110 words, best 110-word window),
faithful, third person, words, and sentences that open by leaning on one not chosen. With
`llm`, a last line counts what the model wrote, what `core.claims` rejected (by reason) and
what fell back to extractive.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

from core import quality  # noqa: E402
from core.summarise import ArticleText, Summariser  # noqa: E402
from core.summarise.extractive import ExtractiveSummariser, dangling_openers  # noqa: E402


@dataclass(frozen=True)
class Row:
    key: str
    facts: int
    recall: float
    lead: float
    window: float
    faithful: float
    third_person: float
    words: int
    dangling: int
    text: str
    missing: tuple[str, ...] = ()


def read_articles(folder: Path) -> dict[str, tuple[str, str, str]]:
    """NN → (title, url, body) for every `NN-slug.txt` in `folder`."""
    articles = {}
    for path in sorted(folder.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) < 4:
            raise SystemExit(f"{path}: expected a title, a URL, a blank line, then the body")
        articles[path.stem.split("-", 1)[0]] = (lines[0], lines[1], "\n".join(lines[3:]))
    return articles


def company_of(reference: str, body: str) -> str:
    """The reference header's company; of "A / B", the one the article names most."""
    parts = reference.split("· Source", 1)[0].split(" · ")
    company = parts[1].strip() if len(parts) >= 2 else ""
    names = [c.strip() for c in company.split("/") if c.strip()]
    if len(names) <= 1:
        return company
    lowered = body.lower()
    return max(names, key=lambda n: (lowered.count(n.lower()), -names.index(n)))


@contextmanager
def summariser_named(name: str) -> Iterator[tuple[Summariser, Session | None]]:
    if name == "extractive":
        yield ExtractiveSummariser(), None
        return
    from app.wiring import Runtime
    from core.config import Settings
    from core.summarise.llm import LLMSummariser, RunBudget
    from storage.db import make_engine, upgrade

    settings = Settings.from_env({**os.environ, "DIGEST_SUMMARISER": "llm"})
    runtime = Runtime(settings)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/cache.db")
        upgrade(engine)
        try:
            with Session(engine) as session:
                yield (
                    LLMSummariser(
                        client=runtime.llm_client,
                        model=settings.llm_model,
                        api_key=settings.llm_api_key,
                        budget=RunBudget(
                            tokens=settings.llm_token_budget, seconds=settings.llm_time_budget
                        ),
                        max_input_chars=settings.llm_max_input_chars,
                        concurrency=settings.llm_concurrency,
                    ),
                    session,
                )
        finally:
            runtime.close()
            engine.dispose()


def measure(
    articles: dict[str, tuple[str, str, str]],
    references: dict[str, str],
    summariser_name: str,
    notes: list[str] | None = None,
) -> list[Row]:
    """One row per article with a reference; with `llm`, the model's summary line (written,
    rejected by reason, fell back) is appended to `notes`."""
    keys = [k for k in articles if k in references]
    inputs = []
    for key in keys:
        title, url, body = articles[key]
        company = company_of(references[key], body)
        inputs.append(ArticleText(url=url, title=title, company=company, text=body))
    with summariser_named(summariser_name) as (summariser, session):
        dives = summariser.summarise(inputs, session=session)  # type: ignore[arg-type]
        line = getattr(summariser, "line", None)
        if notes is not None and line is not None:
            notes.append(f"LLM: {line()}.")
    rows = []
    for key, article, dive in zip(keys, inputs, dives, strict=True):
        reference = references[key]
        facts = quality.key_facts(reference, article.text)
        header = reference.split("· Source", 1)[0]
        bad = quality.unsupported(dive.text, article.text, allowed=[header, article.company])
        rows.append(
            Row(
                key=key,
                facts=len(facts),
                recall=quality.recall(facts, dive.text),
                lead=quality.lead_recall(facts, article.text),
                window=quality.window_recall(facts, article.text),
                faithful=0.0 if bad else 1.0,
                third_person=0.0 if quality.first_person(dive.text) else 1.0,
                words=len(dive.text.split()),
                dangling=len(dangling_openers(dive.text)),
                text=dive.text,
                missing=tuple(sorted(f for f in facts if quality.recall({f}, dive.text) == 0)),
            )
        )
    return rows


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def report(rows: list[Row], *, show_text: bool = False) -> str:
    lines = [
        f"{'art':>3} {'facts':>5} {'recall':>6} {'lead':>5} {'window':>6} {'faithful':>8} "
        f"{'3rd-person':>10} {'words':>5} {'dangling':>8}"
    ]
    for r in rows:
        lines.append(
            f"{r.key:>3} {r.facts:>5} {r.recall:>6.2f} {r.lead:>5.2f} {r.window:>6.2f} "
            f"{r.faithful:>8.2f} {r.third_person:>10.0f} {r.words:>5} {r.dangling:>8}"
        )
        if show_text:
            lines.append("    " + re.sub(r"\s+", " ", r.text))
            if r.missing:
                lines.append("    missing: " + ", ".join(r.missing))
    lines.append(
        f"mean over {len(rows)}: recall {_mean([r.recall for r in rows]):.2f} "
        f"(first 110 words {_mean([r.lead for r in rows]):.2f}, "
        f"best 110-word window {_mean([r.window for r in rows]):.2f}); "
        f"faithful {_mean([r.faithful for r in rows]):.2f}; "
        f"third person {_mean([r.third_person for r in rows]):.2f}; "
        f"words {_mean([float(r.words) for r in rows]):.0f}; "
        f"dangling openers {sum(r.dangling for r in rows)}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("articles", type=Path, help="folder of NN-slug.txt articles")
    parser.add_argument("references", type=Path, help="references.json of published deep dives")
    parser.add_argument("--summariser", choices=["extractive", "llm"], default="extractive")
    parser.add_argument(
        "--show", action="store_true", help="print each deep dive and the key facts it misses"
    )
    args = parser.parse_args(argv)
    if not args.articles.is_dir():
        parser.error(f"{args.articles}: not a folder of articles")
    try:
        data = json.loads(args.references.read_text(encoding="utf-8"))
        references = {k: v["reference"] for k, v in data["deep_dives"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        parser.error(f"{args.references}: not a references file ({exc.__class__.__name__}: {exc})")
    articles = read_articles(args.articles)
    if not any(k in references for k in articles):
        parser.error("no article has a reference (files are matched by their NN- prefix)")
    try:
        notes: list[str] = []
        rows = measure(articles, references, args.summariser, notes)
    except Exception as exc:  # a config or network error: one line, not a traceback
        from core.errors import DigestError

        if isinstance(exc, DigestError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise
    print(report(rows, show_text=args.show))
    for note in notes:  # with llm: what the model wrote, what was rejected and why
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())

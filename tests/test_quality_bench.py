"""bench/quality.py over the bundled sample: the table's columns mean what core.quality says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.peers.llm import inventing_a_name, serve_llm, writing_we

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "quality"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "quality.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _rows(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    return {
        line.split()[0]: line.split() for line in lines[1:] if not line.startswith(("mean", "LLM:"))
    }


def test_the_table_has_one_row_per_article_with_a_reference_and_the_mean() -> None:
    result = _run(str(SAMPLE / "articles"), str(SAMPLE / "references.json"))
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert sorted(rows) == ["01", "02", "03"]  # 99 has no article
    # key facts: the reference's figures and names the article contains (single digits are not)
    assert [rows[k][1] for k in ("01", "02", "03")] == ["8", "7", "3"]
    # the first 110 words of 03 hold all three facts; of 01, six of the eight
    assert rows["03"][3] == "1.00" and rows["01"][3] == "0.75"
    assert all(row[5] == "1.00" for row in rows.values())  # extractive is faithful
    mean = result.stdout.splitlines()[-1]
    assert mean.startswith("mean over 3: recall ") and "faithful 1.00" in mean


def test_the_llm_summariser_is_built_from_the_llm_environment() -> None:
    env = {"PATH": "/usr/bin:/bin", "LLM_MODEL": "test-model"}
    with serve_llm() as llm:
        env["LLM_BASE_URL"] = llm.url + "/v1"
        result = _run(
            str(SAMPLE / "articles"),
            str(SAMPLE / "references.json"),
            "--summariser",
            "llm",
            env=env,
        )
    assert result.returncode == 0, result.stderr
    assert len(llm.calls) == 3 and {c["model"] for c in llm.calls} == {"test-model"}
    assert sorted(_rows(result.stdout)) == ["01", "02", "03"]
    assert result.stdout.splitlines()[-1].startswith("LLM: 3 by the model, 0 extractive; 3 calls")


def test_with_the_llm_summariser_the_rejections_are_printed() -> None:
    env = {"PATH": "/usr/bin:/bin", "LLM_MODEL": "test-model", "LLM_CONCURRENCY": "1"}
    with serve_llm(inventing_a_name(), inventing_a_name(), writing_we()) as llm:
        env["LLM_BASE_URL"] = llm.url + "/v1"
        result = _run(
            str(SAMPLE / "articles"),
            str(SAMPLE / "references.json"),
            "--summariser",
            "llm",
            env=env,
        )
    assert result.returncode == 0, result.stderr
    assert sorted(_rows(result.stdout)) == ["01", "02", "03"]
    assert result.stdout.splitlines()[-1].startswith(
        "LLM: 2 by the model, 3 rejected (a name not in the post: 2, first person: 1), "
        "1 extractive; 5 calls"
    )


def test_without_llm_settings_the_llm_run_is_a_one_line_error() -> None:
    result = _run(
        str(SAMPLE / "articles"),
        str(SAMPLE / "references.json"),
        "--summariser",
        "llm",
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: DIGEST_SUMMARISER=llm needs LLM_BASE_URL and LLM_MODEL"
    )


def test_a_bad_references_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "refs.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    result = _run(str(SAMPLE / "articles"), str(bad))
    assert result.returncode == 2 and "not a references file" in result.stderr
    assert "Traceback" not in result.stderr

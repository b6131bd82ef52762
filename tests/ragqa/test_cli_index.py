"""`ragqa index`, `ragqa ask` and `ragqa eval` end to end over a copy of the real index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragqa.cli import app
from ragqa.settings import get_settings

runner = CliRunner()


@pytest.fixture
def env(built_index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _, corpus_dir, index_dir, _ = built_index
    shutil.copytree(corpus_dir, tmp_path / "posts")
    shutil.copytree(index_dir, tmp_path / "index")
    monkeypatch.setenv("RAGQA_CORPUS_DIR", str(tmp_path / "posts"))
    monkeypatch.setenv("RAGQA_INDEX_DIR", str(tmp_path / "index"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_index_reports_up_to_date_then_counts_new_reused_removed(env: Path) -> None:
    result = runner.invoke(app, ["index"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.stdout
    (env / "posts" / "900_new.txt").write_text(
        '---\ntitle: "新記事"\ndate: 2026-01-01\n---\n\n光電融合チップは消費電力を大幅に下げると期待されている。\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["index"])
    assert result.exit_code == 0, result.output
    assert "(1 new, " in result.stdout and " 0 removed)" in result.stdout


def test_ask_json_answers_from_the_meta_post(env: Path) -> None:
    result = runner.invoke(app, ["ask", "メタがTPUを導入する理由は？", "--json", "--top-k", "3"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["question"] == "メタがTPUを導入する理由は？"
    assert len(body["passages"]) == 3
    first = body["passages"][0]
    assert first["article_id"] == "002_214864c1432d6946" and first["rank"] == 1
    assert first["highlight"] in first["text"]
    assert first["highlight"] in body["answer"] and 0.0 < body["confidence"] <= 1.0


def test_ask_text_output_answers_then_cites_title_and_paragraph(env: Path) -> None:
    result = runner.invoke(app, ["ask", "Why would Meta adopt Google's TPUs?"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "[1]" in lines[0] and "(confidence " in lines[0]
    first = next(line for line in lines if line.startswith("[1] "))
    assert first.startswith("[1] メタがGoogle TPUを採用") and "¶" in first


def test_ask_off_topic_says_there_is_no_answer_and_lists_passages(env: Path) -> None:
    result = runner.invoke(app, ["ask", "美味しいカレーの作り方を教えて", "--top-k", "2"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("No answer in these articles")
    assert sum(line.startswith(("[1] ", "[2] ")) for line in result.stdout.splitlines()) == 2


def test_ask_without_an_index_says_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGQA_INDEX_DIR", str(tmp_path / "none"))
    get_settings.cache_clear()
    result = runner.invoke(app, ["ask", "液冷とは？"])
    get_settings.cache_clear()
    assert result.exit_code == 2
    assert "run `ragqa index`" in result.stderr


def test_eval_prints_the_tables_and_writes_the_report(env: Path) -> None:
    report = env / "report" / "README.md"
    result = runner.invoke(app, ["eval", "--split", "all", "--report", str(report)])
    assert result.exit_code == 0, result.output
    for config in ("bm25", "dense", "rrf", "hybrid"):
        assert any(line.startswith(f"all              {config} ") for line in result.stdout.splitlines())
    assert (report.parent / "mrr_by_type_en.png").exists()
    rows = json.loads((report.parent / "results.json").read_text(encoding="utf-8"))["rows"]
    assert {r["slice"] for r in rows if r["configuration"] == "hybrid" and r["group"] == "lang"} == {"all", "ja", "en"}


def test_ask_with_filters_answers_only_from_the_matching_articles(env: Path) -> None:
    helios = "004_8914f1a2936a845c"
    result = runner.invoke(
        app,
        ["ask", "メタがTPUを導入する理由は？", "--json", "--top-k", "4", "--article", helios, "--since", "2025-12-01"],
    )
    assert result.exit_code == 0, result.output
    passages = json.loads(result.stdout)["passages"]
    assert len(passages) == 4 and {p["article_id"] for p in passages} == {helios}
    result = runner.invoke(app, ["ask", "TPU", "--json", "--category", "AI導入戦略", "--tag", "Google"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["passages"] == []


def test_ask_with_a_malformed_date_says_the_format(env: Path) -> None:
    result = runner.invoke(app, ["ask", "TPU", "--until", "12/01/2025"])
    assert result.exit_code == 2
    assert "until must be a calendar day written YYYY-MM-DD" in result.output


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("   ", "question is empty"),
        ("\u001b\u007f", "question is empty"),  # ESC and DEL: a shell can pass them, they are not text
        ("TPU" * 400, "question is 1200 characters long: send at most 1000"),
    ],
)
def test_ask_refuses_a_question_the_api_refuses(tmp_path: Path, question: str, message: str) -> None:
    # Checked before any index is opened: the folder given does not exist.
    result = runner.invoke(app, ["ask", question, "--index", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert message in result.output and "ragqa ask" in result.output


def test_ask_turns_control_characters_into_spaces(env: Path) -> None:
    result = runner.invoke(app, ["ask", "メタが\u001bTPUを導入する理由は？", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["question"] == "メタが TPUを導入する理由は？"
    assert answer["passages"][0]["article_id"].startswith("002_")

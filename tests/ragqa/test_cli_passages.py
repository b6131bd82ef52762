import json
from pathlib import Path

from typer.testing import CliRunner

from ragqa.cli import app

runner = CliRunner()


def test_passages_prints_json_lines_with_citation_fields(default_corpus_dir: Path) -> None:
    result = runner.invoke(app, ["passages", "--corpus", str(default_corpus_dir)])
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) > 100
    assert set(rows[0]) == {"id", "article_id", "title", "date", "section", "paragraph", "text", "sources"}


def test_stats_table_has_a_total_row(default_corpus_dir: Path) -> None:
    result = runner.invoke(app, ["passages", "--stats", "--corpus", str(default_corpus_dir)])
    assert result.exit_code == 0
    assert "near-dup" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("total")


def test_bad_post_is_reported_and_others_still_processed(write_post) -> None:
    folder = write_post("001_good", "良い記事", "液冷についての十分に長い段落がここにある。")
    (folder / "002_bad.txt").write_bytes(b"\xff\xfe not utf8 at all")
    (folder / "003_nofm.txt").write_text("front matter のない本文。", encoding="utf-8")
    result = runner.invoke(app, ["passages", "--corpus", str(folder)])
    assert result.exit_code == 1
    assert "002_bad.txt: is not valid UTF-8" in result.stderr
    assert "003_nofm.txt: no front matter" in result.stderr
    assert "Traceback" not in result.stderr
    assert [json.loads(line)["article_id"] for line in result.stdout.splitlines()] == ["001_good"]


def test_missing_corpus_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["passages", "--corpus", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "RAGQA_CORPUS_DIR" in result.stderr

"""The JSON query log on its own: one parseable line per query, the question only when asked for."""

from __future__ import annotations

import io
import json
from pathlib import Path

from service.query_log import QueryLog, question_hash


def test_lines_hash_the_question_by_default_and_keep_it_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "q.jsonl"
    QueryLog.open(path).write("秘密の質問", request_id="r1", took_ms=1.5)
    QueryLog.open(path, include_questions=True).write("公開の質問", request_id="r2")
    first, second = (json.loads(line) for line in path.read_text("utf-8").splitlines())
    assert first["request_id"] == "r1" and first["took_ms"] == 1.5
    assert first["question_sha256"] == question_hash("秘密の質問") and len(first["question_sha256"]) == 16
    assert "秘密" not in path.read_text("utf-8")
    assert second["question"] == "公開の質問" and "question_sha256" not in second


def test_a_lone_surrogate_in_a_field_is_escaped_not_an_error() -> None:
    stream = io.StringIO()
    QueryLog(stream).write("q", filters={"tags": ["\ud800"]})
    line = stream.getvalue()
    line.encode("utf-8")  # what a log file needs; a raw lone surrogate would raise here
    assert json.loads(line)["filters"]["tags"] == ["\ud800"]  # as a JSON escape, it reads back the same


def test_a_broken_stream_does_not_fail_the_query() -> None:
    stream = io.StringIO()
    stream.close()
    QueryLog(stream).write("q", request_id="r")  # logged as a warning, not raised

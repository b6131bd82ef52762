"""Paired comparison of two eval runs' results.json (e.g. the float32 and the int8 encoder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.compare import compare, main
from eval.metrics import METRICS


def _results(path: Path, hits: list[float], configuration: str = "hybrid") -> Path:
    """A results.json in the shape `ragqa eval` writes, with one score per question for every metric."""
    path.mkdir()
    per_question = [
        {"id": f"q{i}", "lang": "ja" if i % 2 else "en", "scores": {configuration: {m: h for m in METRICS}}}
        for i, h in enumerate(hits)
    ]
    (path / "results.json").write_text(json.dumps({"configurations": [configuration], "per_question": per_question}))
    return path / "results.json"


def test_identical_runs_have_p_one_and_a_clear_difference_is_significant(tmp_path: Path) -> None:
    fp32 = _results(tmp_path / "fp32", [1.0] * 20)
    same = _results(tmp_path / "same", [1.0] * 20)
    worse = _results(tmp_path / "worse", [0.0] * 20)
    assert all(p == 1.0 for *_, p in compare(fp32, same, "hybrid"))
    rows = compare(fp32, worse, "hybrid")
    assert [r[0] for r in rows] == list(METRICS)
    assert all(x == 1.0 and y == 0.0 and p < 0.001 and xci == (1.0, 1.0) for _, x, xci, y, _, p in rows)


def test_before_and_after_compare_across_configurations_and_by_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _results(tmp_path / "before", [0.0] * 10 + [1.0] * 10, "hybrid")
    after = _results(tmp_path / "after", [1.0] * 20, "ranked")
    rows = compare(before, after, "hybrid", "ranked")
    assert all(x == 0.5 and y == 1.0 for _, x, _, y, _, _ in rows)
    only_ja = compare(before, after, "hybrid", "ranked", ids=[f"q{i}" for i in range(1, 20, 2)])
    assert only_ja[0][1] == 0.5  # q11, q13, ... scored 1 before
    assert main([str(before), str(after), "--configuration", "hybrid", "--against", "ranked", "--by", "lang"]) == 0
    out = capsys.readouterr().out
    assert "lang = ja (n = 10)" in out and "lang = en (n = 10)" in out and "| before hybrid | after ranked |" in out


def test_runs_over_different_questions_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _results(tmp_path / "a", [1.0] * 5)
    b = _results(tmp_path / "b", [1.0] * 6)
    with pytest.raises(ValueError, match="different questions"):
        compare(a, b, "hybrid")
    assert main([str(a), str(b)]) == 2
    assert main([str(a), str(a), "--configuration", "bm25"]) == 2
    assert "no 'bm25' run" in capsys.readouterr().err

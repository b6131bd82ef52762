"""Paired comparison of two eval runs' results.json (e.g. the float32 and the int8 encoder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.compare import compare, main
from eval.metrics import METRICS


def _results(path: Path, hits: list[float]) -> Path:
    """A results.json in the shape `ragqa eval` writes, with one score per question for every metric."""
    path.mkdir()
    per_question = [{"id": f"q{i}", "scores": {"hybrid": {m: h for m in METRICS}}} for i, h in enumerate(hits)]
    (path / "results.json").write_text(json.dumps({"configurations": ["hybrid"], "per_question": per_question}))
    return path / "results.json"


def test_identical_runs_have_p_one_and_a_clear_difference_is_significant(tmp_path: Path) -> None:
    fp32 = _results(tmp_path / "fp32", [1.0] * 20)
    same = _results(tmp_path / "same", [1.0] * 20)
    worse = _results(tmp_path / "worse", [0.0] * 20)
    assert all(p == 1.0 for _, _, _, p in compare(fp32, same, "hybrid"))
    rows = compare(fp32, worse, "hybrid")
    assert [r[0] for r in rows] == list(METRICS)
    assert all(x == 1.0 and y == 0.0 and p < 0.001 for _, x, y, p in rows)


def test_runs_over_different_questions_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _results(tmp_path / "a", [1.0] * 5)
    b = _results(tmp_path / "b", [1.0] * 6)
    with pytest.raises(ValueError, match="different questions"):
        compare(a, b, "hybrid")
    assert main([str(a), str(b)]) == 2
    assert main([str(a), str(a), "--configuration", "bm25"]) == 2
    assert "no 'bm25' run" in capsys.readouterr().err

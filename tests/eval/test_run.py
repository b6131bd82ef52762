"""The evaluation pipeline on a scripted retriever: slices, unanswerable questions, tests against the default."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from corpus.models import Passage, Source
from eval.questions import Gold, Question
from eval.report import format_tables, write_report
from eval.run import evaluate, tolerance, write_expected
from index.params import RankParams

PASSAGES = [
    Passage(
        id=f"p{i}",
        article_id="A",
        title="t",
        date="2025-11-26",
        paragraph=i,
        text=f"段落{i}の本文。",
        sources=[Source(article_id="A", line=i)],
    )
    for i in range(1, 6)
]


def _q(qid: str, lang: str, type_: str, gold: int | None, split: str = "test") -> Question:
    return Question(
        id=qid,
        lang=lang,
        type=type_,
        question=qid,
        answerable=gold is not None,  # type: ignore[arg-type]
        gold=[Gold(article_id="A", substring=f"段落{gold}")] if gold else [],
        set="seed",
        split=split,  # type: ignore[arg-type]
    )


QUESTIONS = [
    _q("j1", "ja", "fact", 1),
    _q("j2", "ja", "why_how", 2),
    _q("e1", "en", "fact", 3),
    _q("e2", "en", "fact", 4),
    _q("u1", "en", "unanswerable", None),
    _q("d1", "ja", "fact", 5, split="dev"),
]

# What each configuration ranks, per question text: hybrid finds every answer first; bm25 finds j1 second, e1
# third, and misses the others.
SCRIPT = {
    "hybrid": {"j1": ["p1", "p2"], "j2": ["p2"], "e1": ["p3"], "e2": ["p4", "p1"], "u1": ["p5"], "d1": ["p5"]},
    "bm25": {"j1": ["p2", "p1"], "j2": ["p1"], "e1": ["p1", "p2", "p3"], "e2": [], "u1": ["p5"], "d1": ["p5"]},
}


@dataclass
class ScriptedRetriever:
    """Stands in for HybridRetriever: the same attributes and calls that eval/retrieval.py uses."""

    calls: list[str] = field(default_factory=list)
    lexical_weight: float = 0.05
    sentence_weight: float = 0.4
    latin_lexical_share: float = 0.0
    params: RankParams = field(default_factory=RankParams)
    index: SimpleNamespace = field(
        default_factory=lambda: SimpleNamespace(
            passages=PASSAGES,
            version="v1",
            manifest=SimpleNamespace(
                model="fake-model", variant="fake", document_format="text", build={"bm25_tokens": "lemma"}
            ),
        )
    )

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 2))

    def search_many(self, texts: list[str], top_k: int, mode: str, vectors: np.ndarray) -> list[list[object]]:
        self.calls.append(mode)
        by_id = {p.id: p for p in PASSAGES}
        return [[SimpleNamespace(passage=by_id[pid]) for pid in SCRIPT[mode][t][:top_k]] for t in texts]


def test_scores_per_slice_and_unanswerable_left_out() -> None:
    result = evaluate(ScriptedRetriever(), QUESTIONS, ["bm25", "hybrid"], split="test", default="hybrid")  # type: ignore[arg-type]
    assert result.configurations == ["hybrid", "bm25"]  # the default first
    assert (result.questions, result.unanswerable) == (4, 1)
    bm25_all = result.row("bm25", "lang", "all")
    assert bm25_all is not None
    assert bm25_all.scores["R@1"].mean == 0.0
    assert bm25_all.scores["R@5"].mean == pytest.approx(2 / 4)
    assert bm25_all.scores["MRR@10"].mean == pytest.approx((1 / 2 + 1 / 3) / 4)
    hybrid_ja = result.row("hybrid", "lang", "ja")
    assert hybrid_ja is not None and hybrid_ja.n == 2 and hybrid_ja.scores["R@1"].mean == 1.0
    assert result.row("hybrid", "type", "why_how").n == 1  # type: ignore[union-attr]
    assert result.row("hybrid", "set", "hard") is None  # empty slices are left out
    assert not result.row("hybrid", "lang", "all").p_values  # type: ignore[union-attr]
    # Four questions differ in R@1, all against bm25: 2 of 16 sign patterns, one comparison so no correction.
    assert bm25_all.p_values["R@1"] == pytest.approx(0.125)
    assert result.abstention == {}  # the scripted results say nothing about abstention
    first = {q.id: q.first_relevant for q in result.per_question}
    assert first["e1"] == {"hybrid": 1, "bm25": 3} and first["e2"]["bm25"] is None


def test_report_tables_chart_and_expected(tmp_path: Path) -> None:
    result = evaluate(
        ScriptedRetriever(), QUESTIONS, ["bm25"], split="test", default="hybrid", command="ragqa eval --split test"
    )  # type: ignore[arg-type]
    text = format_tables(result)
    assert "1 unanswerable excluded" in text and "p=0.125" in text
    report = write_report(result, tmp_path / "report" / "README.md")
    markdown = report.read_text(encoding="utf-8")
    assert "![MRR@10 by type, Japanese](mrr_by_type_ja.png)" in markdown
    assert (tmp_path / "report" / "mrr_by_type_en.png").read_bytes().startswith(b"\x89PNG")
    expected_path = write_expected(result, tmp_path / "expected.json")
    assert '"configuration": "hybrid"' in expected_path.read_text(encoding="utf-8")


def test_expected_scores_come_from_the_test_split_only(tmp_path: Path) -> None:
    result = evaluate(ScriptedRetriever(), QUESTIONS, ["hybrid"], split="dev", default="hybrid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="--split test"):
        write_expected(result, tmp_path / "expected.json")


def test_questions_without_split_are_refused() -> None:
    unsplit = [*QUESTIONS, QUESTIONS[0].model_copy(update={"id": "x", "split": None})]
    with pytest.raises(ValueError, match="eval.split"):
        evaluate(ScriptedRetriever(), unsplit, ["hybrid"], split="test", default="hybrid")  # type: ignore[arg-type]


def test_tolerance_is_the_larger_of_half_the_ci_and_two_points() -> None:
    assert tolerance({"mean": 0.9, "low": 0.8, "high": 1.0}) == pytest.approx(0.1)
    assert tolerance({"mean": 0.95, "low": 0.945, "high": 0.955}) == pytest.approx(0.02)


class AbstainingRetriever(ScriptedRetriever):
    """Results that carry an answer (None when abstaining) and a confidence, as the answer stage will."""

    def search_many(self, texts: list[str], top_k: int, mode: str, vectors: np.ndarray) -> list[object]:
        hits = super().search_many(texts, top_k, mode, vectors)
        return [
            SimpleNamespace(hits=h, answer=None if t in ("u1", "e2") else "…", confidence=0.5)
            for t, h in zip(texts, hits)
        ]


def test_abstention_is_reported_once_results_carry_an_answer() -> None:
    result = evaluate(AbstainingRetriever(), QUESTIONS, ["hybrid"], split="test", default="hybrid")  # type: ignore[arg-type]
    assert result.abstention["hybrid"] == {
        "unanswerable": 1,
        "abstention_rate": 1.0,
        "answerable": 4,
        "false_abstention_rate": 0.25,
    }
    assert result.row("hybrid", "lang", "all").scores["R@1"].mean == 1.0  # type: ignore[union-attr]

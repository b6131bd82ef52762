"""Run the reference questions through the real retriever and score every retrieval mode."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from eval.metrics import Question, aggregate, is_hit, ndcg_at_k, recall_at_k, reciprocal_rank

if TYPE_CHECKING:
    from index.retriever import HybridRetriever, Mode

QUESTIONS_PATH = Path(__file__).resolve().parent / "questions.jsonl"
EXPECTED_PATH = Path(__file__).resolve().parent / "expected.json"
DEPTH = 10
METRICS = ("R@1", "R@5", "MRR@10", "nDCG@10")


class QuestionResult(BaseModel):
    """How one question fared in one mode."""

    id: str
    lang: str
    mode: str
    first_hit_rank: int | None
    highlight_hit: bool | None = None


class EvalReport(BaseModel):
    """Scores per mode and per language ('all', 'ja', 'en'), plus per-question ranks."""

    created_at: str
    index_version: str
    model: str
    questions: int
    scores: dict[str, dict[str, dict[str, float]]]
    highlight_accuracy: float
    per_question: list[QuestionResult]


def _score(hits: list[bool], n_relevant: int) -> dict[str, float]:
    return {
        "R@1": recall_at_k(hits, 1),
        "R@5": recall_at_k(hits, 5),
        "MRR@10": reciprocal_rank(hits, DEPTH),
        "nDCG@10": ndcg_at_k(hits, DEPTH, n_relevant),
    }


def evaluate(
    retriever: HybridRetriever, questions: list[Question], modes: tuple[Mode, ...] = ("bm25", "dense", "rrf", "hybrid")
) -> EvalReport:
    """Score each mode on the questions (questions are encoded once and shared by all modes)."""
    texts = [q.question for q in questions]
    vectors = retriever.encode(texts)
    scores: dict[str, dict[str, dict[str, float]]] = {}
    per_question: list[QuestionResult] = []
    highlight_hits: list[bool] = []
    for mode in modes:
        results = retriever.search_many(texts, DEPTH, mode, vectors=vectors)
        rows: dict[str, list[dict[str, float]]] = {"all": [], "ja": [], "en": []}
        for question, hits in zip(questions, results):
            flags = [is_hit(h.passage.text, question.gold.substrings) for h in hits]
            row = _score(flags, len(question.gold.substrings))
            rows["all"].append(row)
            rows[question.lang].append(row)
            first = next((i + 1 for i, f in enumerate(flags) if f), None)
            result = QuestionResult(id=question.id, lang=question.lang, mode=mode, first_hit_rank=first)
            if mode == "hybrid" and first == 1:
                result.highlight_hit = is_hit(hits[0].highlight, question.gold.substrings)
                highlight_hits.append(result.highlight_hit)
            per_question.append(result)
        scores[mode] = {lang: aggregate(r) for lang, r in rows.items() if r}
    index = retriever.index
    return EvalReport(
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        index_version=index.version,
        model=index.manifest.model,
        questions=len(questions),
        scores=scores,
        highlight_accuracy=sum(highlight_hits) / len(highlight_hits) if highlight_hits else 0.0,
        per_question=per_question,
    )


def format_table(report: EvalReport) -> str:
    """The report as a plain-text table: one row per mode and language."""
    lines = [f"{'mode':<8} {'lang':<4} " + " ".join(f"{m:>8}" for m in METRICS)]
    for mode, by_lang in report.scores.items():
        for lang, values in by_lang.items():
            lines.append(f"{mode:<8} {lang:<4} " + " ".join(f"{values[m]:>8.3f}" for m in METRICS))
    lines.append(
        f"{report.questions} questions; hybrid highlight contains the gold text in "
        f"{report.highlight_accuracy:.0%} of rank-1 hits; index {report.index_version}, model {report.model}"
    )
    return "\n".join(lines)


def write_report(report: EvalReport, path: Path) -> None:
    """Write the report as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.model_dump(), ensure_ascii=False, indent=2), encoding="utf-8")


def write_expected(report: EvalReport, path: Path = EXPECTED_PATH) -> Path:
    """Record the scores the current code reaches, with the command that reproduces them."""
    expected = {
        "command": "ragqa index && ragqa eval --save-expected",
        "created_at": report.created_at,
        "model": report.model,
        "questions": report.questions,
        "tolerance": "tests/eval/test_expected.py fails if hybrid drops more than 0.02 below these",
        "scores": report.scores,
        "highlight_accuracy": report.highlight_accuracy,
    }
    path.write_text(json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path

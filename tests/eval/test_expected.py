"""A drop in retrieval quality is a failing test: hybrid must stay within 0.02 of eval/expected.json."""

from __future__ import annotations

import json

import pytest

from eval.metrics import load_questions
from eval.run import EXPECTED_PATH, METRICS, QUESTIONS_PATH, evaluate
from index.retriever import HybridRetriever
from index.version import load_latest

TOLERANCE = 0.02


@pytest.fixture(scope="module")
def report(built_index, encoder):
    _, _, index_dir, _ = built_index
    loaded, _ = load_latest(index_dir, encoder.name)
    return evaluate(HybridRetriever(loaded, encoder), load_questions(QUESTIONS_PATH))


def test_hybrid_holds_the_expected_scores(report) -> None:
    expected = json.loads(EXPECTED_PATH.read_text(encoding="utf-8"))
    for lang, values in expected["scores"]["hybrid"].items():
        for metric in METRICS:
            got = report.scores["hybrid"][lang][metric]
            assert got >= values[metric] - TOLERANCE, f"hybrid {lang} {metric}: {got:.3f} < {values[metric]:.3f}"


def test_hybrid_beats_each_single_retriever(report) -> None:
    for lang in ("all", "ja", "en"):
        hybrid = report.scores["hybrid"][lang]["MRR@10"]
        assert hybrid >= report.scores["dense"][lang]["MRR@10"]
        assert hybrid > report.scores["bm25"][lang]["MRR@10"]

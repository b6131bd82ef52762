"""A drop in retrieval quality is a failing test: the default must hold eval/expected.json's test-split scores."""

from __future__ import annotations

import json

import pytest

from eval.questions import load_questions
from eval.retrieval import DEFAULT_CONFIGURATION
from eval.run import EXPECTED_PATH, evaluate, question_ids_sha256, select_split, tolerance
from index.ranker import open_ranker
from index.retriever import HybridRetriever
from index.version import load_latest

EXPECTED = json.loads(EXPECTED_PATH.read_text(encoding="utf-8"))
RERUN = "rerun `ragqa index && ragqa eval --split test --save-expected` and commit eval/expected.json"


def test_expected_file_describes_how_to_reproduce_it() -> None:
    for key in ("command", "model", "parameters", "configuration", "split", "scores"):
        assert key in EXPECTED, f"eval/expected.json lacks {key!r}: {RERUN}"
    assert EXPECTED["configuration"] == DEFAULT_CONFIGURATION, f"the default changed: {RERUN}"


def test_expected_scores_were_recorded_on_todays_test_questions() -> None:
    chosen = select_split(load_questions(), EXPECTED["split"])
    assert question_ids_sha256(chosen) == EXPECTED["question_ids_sha256"], (
        f"the {EXPECTED['split']} questions changed since eval/expected.json was recorded: {RERUN}"
    )


@pytest.mark.slow
def test_default_holds_the_expected_scores(built_index, encoder) -> None:
    _, _, index_dir, _ = built_index
    loaded, _ = load_latest(index_dir, encoder.name)
    result = evaluate(
        HybridRetriever(loaded, encoder, ranker=open_ranker(loaded)),
        load_questions(),
        [DEFAULT_CONFIGURATION],
        split=EXPECTED["split"],
    )
    drops = []
    for lang, cells in EXPECTED["scores"].items():
        row = result.row(DEFAULT_CONFIGURATION, "lang", lang)
        assert row is not None, f"no {lang} questions in the {EXPECTED['split']} split: {RERUN}"
        for metric, cell in cells.items():
            if metric == "n":
                continue
            got = row.scores[metric].mean
            if got < cell["mean"] - tolerance(cell):
                drops.append(f"{lang} {metric}: {got:.3f} < {cell['mean']:.3f} - {tolerance(cell):.3f}")
    assert not drops, "retrieval got worse: " + "; ".join(drops)

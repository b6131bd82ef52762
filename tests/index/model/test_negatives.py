"""Mined hard negatives: which same-article paragraphs are kept (pure selection over given vectors, no model)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from index.model.finetune import _hard_negatives
from index.model.negatives import assign_mined_negatives, mine_negatives, near_copies, select_negatives
from index.model.training_data import Example, training_examples, training_files

TITLE = "冷却の話"


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def _document(text: str) -> str:
    return f"{TITLE}\n{text}"


def test_select_negatives_returns_the_k_nearest_best_first() -> None:
    query = _unit(1, 0, 0)
    candidates = np.stack([_unit(0, 1, 0), _unit(1, 1, 0), _unit(1, 0.1, 0), _unit(-1, 0, 0), _unit(1, 0.5, 0)])
    assert select_negatives(query, candidates, 3) == [2, 4, 1]
    assert select_negatives(query, candidates, 10) == [2, 4, 1, 0, 3]
    assert select_negatives(query, candidates, 0) == []


def test_select_negatives_skips_excluded_rows_even_when_nearest() -> None:
    query = _unit(1, 0)
    candidates = np.stack([_unit(1, 0), _unit(1, 1), _unit(0, 1)])
    assert select_negatives(query, candidates, 2, excluded=np.array([True, False, False])) == [1, 2]


def test_near_copies_flags_a_reworded_repeat_but_not_a_paragraph_of_the_same_article() -> None:
    positive = _document("液冷はAIチップの発熱を抑える。空冷ではもう足りない。データセンターの電力効率も改善する。")
    reworded = _document("液冷はAIチップの発熱を抑えるため、空冷ではもう足りない。電力効率の改善にもつながる。")
    other = _document("HBMはメモリ帯域を広げる。供給は逼迫しており、価格も上がっている。")
    assert near_copies(positive, [reworded, other]).tolist() == [True, False]


def test_the_shared_title_line_alone_does_not_make_a_near_copy() -> None:
    title = "液冷はAIチップの発熱を抑える、空冷では足りない理由とデータセンターの未来"
    positive = f"{title}\nHBMはメモリ帯域を広げる。"
    other = f"{title}\n供給は逼迫している。"
    assert near_copies(positive, [other]).tolist() == [False]


def test_assign_keeps_the_hardest_non_copies_in_order() -> None:
    positive = _document("液冷はAIチップの発熱を抑える。空冷ではもう足りない。データセンターの電力効率も改善する。")
    copy = _document("液冷はAIチップの発熱を抑えるため、空冷ではもう足りない。電力効率の改善にもつながる。")
    near, middle, far = (_document(t) for t in ("HBMの供給は逼迫。", "電力網の増強が要る。", "株価は上がった。"))
    sentence = _document("空冷ではもう足りない。")
    example = Example("なぜ液冷？", "ja", positive, "a-1", sentence, [far, copy, middle, near])
    question_vectors = {"なぜ液冷？": _unit(1, 0)}
    passage_vectors = {
        positive: _unit(1, 0.1),
        copy: _unit(1, 0.01),  # nearest to the question of all: a false negative if kept
        near: _unit(1, 0.2),
        middle: _unit(1, 0.6),
        far: _unit(0, 1),
    }
    [mined] = assign_mined_negatives([example], question_vectors, passage_vectors, k=2)
    assert mined.mined_negatives == [near, middle]
    assert mined.negatives == example.negatives  # the full list stays for the random hard negatives


def test_a_paragraph_holding_another_gold_substring_is_never_mined(write_post, tmp_path: Path) -> None:
    # Paragraphs of at least 15 characters: shorter ones are dropped from the corpus as strays.
    body = (
        "液冷はAIチップの発熱を抑える技術だ。\n\n空冷ではもはや足りない時代になった。\n\n"
        "HBMはメモリ帯域を大きく広げる部品だ。\n\n半導体メーカーの株価は大きく上がった。\n"
    )
    corpus = write_post("a", TITLE, body)
    row = {
        "id": "x1",
        "lang": "ja",
        "type": "fact",
        "question": "なぜ液冷？",
        "gold": [{"article_id": "a", "substring": "液冷はAI"}, {"article_id": "a", "substring": "空冷ではもはや"}],
    }
    (tmp_path / "q.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    [example] = training_examples([tmp_path / "q.jsonl"], corpus)
    second_answer = _document("空冷ではもはや足りない時代になった。")
    assert example.positive == _document("液冷はAIチップの発熱を抑える技術だ。")
    assert second_answer not in example.negatives
    # The second answering paragraph is the closest to the question: a selection over the whole article
    # (instead of the example's negatives) would mine it.
    passage_vectors = {example.positive: _unit(1, 0.3), second_answer: _unit(1, 0)}
    passage_vectors |= {t: _unit(1, 0.5 + i) for i, t in enumerate(example.negatives)}
    [mined] = assign_mined_negatives([example], {example.question: _unit(1, 0)}, passage_vectors, k=3)
    assert all("空冷" not in t and "液冷" not in t for t in mined.mined_negatives)
    assert len(mined.mined_negatives) == 2  # the two paragraphs that answer nothing


def test_the_batch_adds_a_mined_negative_that_answers_none_of_the_paragraphs_questions() -> None:
    positive, answers_second, mined_ok, other = (_document(t) for t in ("液冷。", "空冷。", "HBM。", "株価。"))
    first = Example("q1", "ja", positive, "a-1", positive, [answers_second, mined_ok, other], [answers_second])
    second = Example("q2", "ja", positive, "a-1", positive, [mined_ok, other], [mined_ok])
    for seed in range(20):
        assert _hard_negatives([first, second], [positive], mined=True, rng=random.Random(seed)) == [mined_ok]


def test_the_batch_adds_no_negative_already_among_its_documents() -> None:
    p1, p2 = _document("液冷。"), _document("空冷。")
    first = Example("q1", "ja", p1, "a-1", p1, [p2], [p2])
    second = Example("q2", "ja", p2, "a-2", p2, [p1], [p1])
    assert _hard_negatives([first, second], [p1, p2], mined=True, rng=random.Random(0)) == []


@pytest.mark.slow
def test_mining_with_the_real_model_keeps_the_nearest_non_answering_paragraphs(
    e5_cache: Path, default_corpus_dir: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    from index.model.materialise import PASSAGE_PROMPT, QUERY_PROMPT, materialise_e5_small

    model = SentenceTransformer(str(materialise_e5_small(e5_cache)), device="cpu", local_files_only=True)
    examples = training_examples(training_files(), default_corpus_dir)[:4]
    for example in mine_negatives(model, examples, k=3):
        assert len(example.mined_negatives) == 3 and set(example.mined_negatives) <= set(example.negatives)
        # Independently: the question's cosines to its mined negatives, from one encode call each, descend.
        [query] = model.encode([QUERY_PROMPT + example.question], normalize_embeddings=True)
        passages = model.encode([PASSAGE_PROMPT + t for t in example.mined_negatives], normalize_embeddings=True)
        scores = passages @ query
        assert all(scores[i] >= scores[i + 1] - 1e-5 for i in range(len(scores) - 1))

"""Unit tests of the retrieval metrics and the question loader against hand-computed values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from eval.metrics import (
    Question,
    aggregate,
    is_hit,
    load_questions,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
)

# ---------------------------------------------------------------- is_hit


def test_is_hit_contains_substring() -> None:
    assert is_hit("Heliosラックは、72基のAMD Instinct MI455X GPUを搭載し", ["72基のAMD Instinct"])


def test_is_hit_any_of_several_substrings() -> None:
    assert is_hit("TPUの導入は、この依存度を軽減し", ["存在しない文字列", "この依存度を軽減"])


def test_is_hit_no_substring_matches() -> None:
    assert not is_hit("液冷は密閉されたシステムである。", ["空冷", "浸漬冷却"])


def test_is_hit_empty_gold_list_is_never_a_hit() -> None:
    assert not is_hit("anything at all", [])


def test_is_hit_ignores_empty_substring() -> None:
    # An empty string is contained in every text; it must not turn every passage into a hit.
    assert not is_hit("anything at all", [""])


def test_is_hit_passage_over_limit_is_not_a_hit() -> None:
    passage = "72基のGPU" + "あ" * 1000
    assert len(passage) > 1000
    assert not is_hit(passage, ["72基のGPU"])


def test_is_hit_passage_exactly_at_limit_is_a_hit() -> None:
    passage = "72基のGPU" + "あ" * (1000 - len("72基のGPU"))
    assert len(passage) == 1000
    assert is_hit(passage, ["72基のGPU"])


def test_is_hit_custom_max_chars() -> None:
    assert not is_hit("abcdefghijk", ["abc"], max_chars=10)
    assert is_hit("abcdefghij", ["abc"], max_chars=10)


def test_is_hit_nfkc_full_width_passage_half_width_gold() -> None:
    assert is_hit("ＡＭＤのＲＯＣｍは、ＣＵＤＡに", ["AMDのROCm"])


def test_is_hit_nfkc_half_width_passage_full_width_gold() -> None:
    assert is_hit("Open Rack Wide(ORW)仕様に基づいた", ["Open Rack Wide（ORW）仕様"])


def test_is_hit_nfkc_full_width_digits_and_percent() -> None:
    assert is_hit("市場シェアの４４．４％を占める", ["市場シェアの44.4%を占める"])


def test_is_hit_nfkc_half_width_katakana() -> None:
    assert is_hit("ｲｰｻﾈｯﾄﾍﾞｰｽのAIネットワーク", ["イーサネットベース"])


# ---------------------------------------------------------------- recall_at_k


def test_recall_no_hits() -> None:
    assert recall_at_k([False, False, False], k=3) == 0.0


def test_recall_empty_ranking() -> None:
    assert recall_at_k([], k=5) == 0.0


def test_recall_hit_at_rank_1() -> None:
    assert recall_at_k([True, False], k=1) == 1.0


def test_recall_hit_within_k() -> None:
    assert recall_at_k([False, False, True], k=3) == 1.0


def test_recall_hit_beyond_k() -> None:
    assert recall_at_k([False, False, True], k=2) == 0.0


def test_recall_several_hits_still_one() -> None:
    assert recall_at_k([True, True, True], k=3) == 1.0


# ---------------------------------------------------------------- reciprocal_rank


def test_rr_no_hits() -> None:
    assert reciprocal_rank([False] * 10) == 0.0


def test_rr_empty_ranking() -> None:
    assert reciprocal_rank([]) == 0.0


def test_rr_hit_at_rank_1() -> None:
    assert reciprocal_rank([True, True, False]) == 1.0


def test_rr_first_hit_at_rank_4() -> None:
    assert reciprocal_rank([False, False, False, True, True]) == pytest.approx(0.25)


def test_rr_hit_beyond_k() -> None:
    assert reciprocal_rank([False, False, True], k=2) == 0.0


def test_rr_default_k_is_10() -> None:
    assert reciprocal_rank([False] * 9 + [True]) == pytest.approx(0.1)
    assert reciprocal_rank([False] * 10 + [True]) == 0.0


# ---------------------------------------------------------------- ndcg_at_k


def test_ndcg_no_hits() -> None:
    assert ndcg_at_k([False, False, False], k=3) == 0.0


def test_ndcg_hit_at_rank_1() -> None:
    assert ndcg_at_k([True, False, False], k=3) == 1.0


def test_ndcg_hit_at_rank_2() -> None:
    # DCG = 1/log2(3); IDCG = 1/log2(2) = 1.
    assert ndcg_at_k([False, True], k=10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k([False, True], k=10) == pytest.approx(0.6309297535714575)


def test_ndcg_hit_at_rank_3() -> None:
    assert ndcg_at_k([False, False, True], k=10) == pytest.approx(0.5)


def test_ndcg_hit_beyond_k() -> None:
    assert ndcg_at_k([False, False, True], k=2) == 0.0


def test_ndcg_two_relevant_ranks_1_and_3() -> None:
    # DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) = 1.6309...; ratio = 0.91972...
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert ndcg_at_k([True, False, True], k=10, n_relevant=2) == pytest.approx(expected)
    assert expected == pytest.approx(0.9197207891481876)


def test_ndcg_two_relevant_only_one_found() -> None:
    expected = 1.0 / (1 + 1 / math.log2(3))
    assert ndcg_at_k([True, False, False], k=10, n_relevant=2) == pytest.approx(expected)


def test_ndcg_ideal_uses_min_of_n_relevant_and_k() -> None:
    # Five relevant passages exist but only two ranks are scored: the ideal is two hits.
    assert ndcg_at_k([True, True], k=2, n_relevant=5) == pytest.approx(1.0)


def test_ndcg_capped_at_one_when_more_hits_than_relevant() -> None:
    assert ndcg_at_k([True, True, True], k=3, n_relevant=1) == 1.0


def test_ndcg_zero_relevant() -> None:
    assert ndcg_at_k([True], k=1, n_relevant=0) == 0.0


def test_ndcg_negative_relevant_rejected() -> None:
    with pytest.raises(ValueError):
        ndcg_at_k([True], k=1, n_relevant=-1)


@pytest.mark.parametrize("metric", [recall_at_k, reciprocal_rank, ndcg_at_k])
def test_k_must_be_positive(metric) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        metric([True], k=0)


# ---------------------------------------------------------------- aggregate


def test_aggregate_means() -> None:
    rows = [
        {"recall@5": 1.0, "mrr@10": 0.5},
        {"recall@5": 0.0, "mrr@10": 1.0},
        {"recall@5": 1.0, "mrr@10": 0.0},
    ]
    result = aggregate(rows)
    assert list(result) == ["recall@5", "mrr@10"]
    assert result["recall@5"] == pytest.approx(2 / 3)
    assert result["mrr@10"] == pytest.approx(0.5)


def test_aggregate_single_row() -> None:
    assert aggregate([{"ndcg@10": 0.25}]) == {"ndcg@10": 0.25}


def test_aggregate_empty() -> None:
    assert aggregate([]) == {}


def test_aggregate_mismatched_keys_rejected() -> None:
    with pytest.raises(ValueError):
        aggregate([{"a": 1.0}, {"b": 1.0}])


# ---------------------------------------------------------------- load_questions


def _row(qid: str = "q001", **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": qid,
        "lang": "en",
        "type": "fact",
        "question": "How many GPUs are in a Helios rack?",
        "gold": {"article_id": "004_8914f1a2936a845c", "substrings": ["72基のAMD Instinct"]},
    }
    row.update(overrides)
    return row


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_questions_valid(tmp_path: Path) -> None:
    lines = [
        json.dumps(_row("q001"), ensure_ascii=False),
        "",
        json.dumps(_row("q002", lang="ja", type="reason", question="メタがTPUを導入する理由は？"), ensure_ascii=False),
    ]
    questions = load_questions(_write(tmp_path, lines))
    assert [q.id for q in questions] == ["q001", "q002"]
    assert isinstance(questions[0], Question)
    assert questions[1].lang == "ja"
    assert questions[1].type == "reason"
    assert questions[0].gold.article_id == "004_8914f1a2936a845c"
    assert questions[0].gold.substrings == ["72基のAMD Instinct"]


def test_load_questions_bad_json_names_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps(_row("q001")), "{not json"])
    with pytest.raises(ValueError, match=r":2: invalid JSON"):
        load_questions(path)


@pytest.mark.parametrize(
    "bad",
    [
        {"lang": "fr"},
        {"type": "opinion"},
        {"question": ""},
        {"gold": {"article_id": "004_8914f1a2936a845c", "substrings": []}},
        {"gold": {"article_id": "004_8914f1a2936a845c", "substrings": ["  "]}},
        {"gold": {"substrings": ["72基のAMD Instinct"]}},
        {"extra_field": 1},
    ],
)
def test_load_questions_invalid_row_names_line(tmp_path: Path, bad: dict[str, object]) -> None:
    lines = [json.dumps(_row("q001")), json.dumps(_row("q002")), json.dumps(_row("q003", **bad))]
    path = _write(tmp_path, lines)
    with pytest.raises(ValueError, match=r":3: invalid question"):
        load_questions(path)


def test_load_questions_missing_field_names_line(tmp_path: Path) -> None:
    row = _row("q001")
    del row["lang"]
    with pytest.raises(ValueError, match=r":1: invalid question"):
        load_questions(_write(tmp_path, [json.dumps(row)]))


def test_load_questions_duplicate_id_names_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps(_row("q001")), json.dumps(_row("q001"))])
    with pytest.raises(ValueError, match=r":2: duplicate question id 'q001'"):
        load_questions(path)

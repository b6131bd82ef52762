"""Qrels/Run construction, ranx scores, intervals and tests against values worked out by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from corpus.models import Passage, Source
from eval.metrics import (
    abstention_rates,
    bootstrap_ci,
    build_qrels,
    build_run,
    holm,
    paired_p_value,
    per_question_scores,
)
from eval.questions import Gold, Question


def _passage(pid: str, article: str, text: str, also_in: str | None = None) -> Passage:
    sources = [Source(article_id=article, line=1)] + ([Source(article_id=also_in, line=9)] if also_in else [])
    return Passage(id=pid, article_id=article, title="t", date="2025-11-26", paragraph=1, text=text, sources=sources)


def _question(qid: str, gold: list[tuple[str, str]], answerable: bool = True) -> Question:
    return Question(
        id=qid,
        lang="en",
        type="fact" if answerable else "unanswerable",
        question="?",
        answerable=answerable,
        gold=[Gold(article_id=a, substring=s) for a, s in gold],
        set="hard",
        split="dev",
    )


PASSAGES = [
    _passage("p1", "A", "液冷は市場シェアの４４．４％を占める。"),
    _passage("p2", "A", "Heliosラックは72基のGPUを搭載する。"),
    _passage("p3", "B", "TPUの導入は、この依存度を軽減する。", also_in="C"),
    _passage("p4", "B", "液冷は市場シェアの44.4%を占める。"),  # same words, other article
]


# ---------------------------------------------------------------- qrels


def test_qrels_match_article_and_nfkc_substring() -> None:
    qrels = build_qrels([_question("q1", [("A", "市場シェアの44.4%")])], PASSAGES).to_dict()
    # p1 is full-width and matches after NFKC; p4 has the text but belongs to article B.
    assert qrels == {"q1": {"p1": 1}}


def test_qrels_several_gold_entries_are_several_relevant_passages() -> None:
    qrels = build_qrels([_question("q1", [("A", "72基のGPU"), ("B", "依存度を軽減")])], PASSAGES).to_dict()
    assert qrels == {"q1": {"p2": 1, "p3": 1}}


def test_qrels_article_a_passage_was_deduplicated_from_counts() -> None:
    qrels = build_qrels([_question("q1", [("C", "依存度を軽減")])], PASSAGES).to_dict()
    assert qrels == {"q1": {"p3": 1}}


def test_qrels_leave_out_unanswerable_questions() -> None:
    questions = [_question("q1", [("A", "72基のGPU")]), _question("q2", [], answerable=False)]
    assert set(build_qrels(questions, PASSAGES).to_dict()) == {"q1"}


def test_qrels_refuse_gold_that_matches_nothing() -> None:
    with pytest.raises(ValueError, match="q9"):
        build_qrels([_question("q9", [("A", "存在しない文")])], PASSAGES)


# ---------------------------------------------------------------- run and scores

QRELS = {"qa": [("A", "72基のGPU")], "qb": [("A", "市場シェアの44.4%"), ("B", "依存度を軽減")], "qc": [("B", "依存度")]}


def _scores(rankings: dict[str, list[str]]) -> dict[str, np.ndarray]:
    questions = [_question(qid, gold) for qid, gold in QRELS.items()]
    qrels = build_qrels(questions, PASSAGES)
    return per_question_scores(qrels, build_run(rankings, "x"), list(QRELS))


def test_scores_match_hand_computed_values() -> None:
    # qa: relevant p2 at rank 2. qb: relevant p1 (rank 1) and p3 (rank 3). qc: no ranking at all.
    scores = _scores({"qa": ["p1", "p2", "p3"], "qb": ["p1", "p4", "p3"], "qc": []})
    assert scores["R@1"].tolist() == [0.0, 1.0, 0.0]
    assert scores["R@5"].tolist() == [1.0, 1.0, 0.0]
    assert scores["R@10"].tolist() == [1.0, 1.0, 0.0]
    assert scores["MRR@10"].tolist() == pytest.approx([0.5, 1.0, 0.0])
    ideal_two = 1 + 1 / math.log2(3)
    assert scores["nDCG@10"].tolist() == pytest.approx([1 / math.log2(3), (1 + 1 / math.log2(4)) / ideal_two, 0.0])


def test_r_at_k_is_hit_rate_not_share_of_relevant_passages() -> None:
    # qb has two relevant passages; one in the top 1 is a full hit (ranx's recall@1 would give 0.5).
    scores = _scores({"qa": ["p2"], "qb": ["p3", "p1"], "qc": ["p3"]})
    assert scores["R@1"].tolist() == [1.0, 1.0, 1.0]


def test_relevant_passage_beyond_depth_ten_scores_zero() -> None:
    filler = [f"x{i}" for i in range(10)]
    scores = _scores({"qa": [*filler, "p2"], "qb": ["p1"], "qc": ["p3"]})
    assert scores["R@10"][0] == 0.0 and scores["MRR@10"][0] == 0.0 and scores["nDCG@10"][0] == 0.0


def test_run_refuses_a_ranking_that_repeats_a_passage() -> None:
    with pytest.raises(ValueError, match="repeats"):
        build_run({"qa": ["p1", "p1"]}, "x")


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_ci_is_seeded_and_brackets_the_mean() -> None:
    scores = np.array([1.0] * 30 + [0.0] * 10)
    first, again = bootstrap_ci(scores), bootstrap_ci(scores)
    assert first == again
    low, high = first
    assert low < 0.75 < high
    # The normal approximation sqrt(p(1-p)/n) * 1.96 = 0.134 for p=.75, n=40.
    assert (high - low) / 2 == pytest.approx(0.134, abs=0.02)


def test_bootstrap_ci_of_constant_scores_has_no_width() -> None:
    assert bootstrap_ci(np.ones(12)) == (1.0, 1.0)


def test_bootstrap_ci_of_nothing_is_nan() -> None:
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([])))


# ---------------------------------------------------------------- paired test


def _exact(differences: list[float]) -> float:
    observed = abs(sum(differences))
    flips = [
        abs(sum(s * d for s, d in zip(signs, differences)))
        for signs in itertools.product((-1, 1), repeat=len(differences))
    ]
    return sum(f >= observed - 1e-9 for f in flips) / len(flips)


def test_paired_p_value_exact_on_few_differences() -> None:
    # Four questions differ, all in favour of the treatment: 2 of 16 sign patterns are as extreme.
    control = np.array([1.0, 0.5, 1.0, 0.5, 1 / 6, 0.5] + [1.0] * 24)
    treatment = np.array([1.0, 1.0, 1.0, 1.0, 0.25, 1.0] + [1.0] * 24)
    assert paired_p_value(control, treatment) == pytest.approx(0.125)
    assert paired_p_value(treatment, control) == pytest.approx(0.125)


def test_paired_p_value_identical_or_one_difference_is_one() -> None:
    scores = np.array([1.0, 0.5, 0.0])
    assert paired_p_value(scores, scores) == 1.0
    assert paired_p_value(scores, np.array([1.0, 1.0, 0.0])) == 1.0


def test_paired_p_value_monte_carlo_agrees_with_exact_enumeration() -> None:
    rng = np.random.default_rng(3)
    differences = rng.choice([-1.0, -0.5, 0.5, 0.5, 1.0], size=18)
    control = np.zeros(18)
    estimate = paired_p_value(control, differences, permutations=20_000)
    assert estimate == pytest.approx(_exact(differences.tolist()), abs=0.01)


def test_paired_p_value_is_never_zero_when_estimated() -> None:
    p = paired_p_value(np.zeros(40), np.ones(40), permutations=1000)
    assert 0 < p <= 1 / 1000


def test_paired_p_value_needs_equal_lengths() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        paired_p_value(np.ones(3), np.ones(4))


# ---------------------------------------------------------------- Holm, abstention


def test_holm_adjusts_in_step_down_order() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_abstention_rates() -> None:
    rates = abstention_rates([True, False, True, False, False], [False, False, True, True, True])
    assert rates == {"unanswerable": 2, "abstention_rate": 0.5, "answerable": 3, "false_abstention_rate": 1 / 3}

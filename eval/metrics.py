"""Retrieval metrics with ranx: Qrels from the gold, Runs from rankings, per-question scores, CIs and tests.

R@k here is ranx's ``hit_rate@k`` (trec_eval's ``success@k``): 1 for a question when *any* relevant
passage is in the top k. ranx's ``recall@k`` would instead count the *share* of a question's relevant
passages in the top k, which is not what we ask of a retriever that shows one cited passage first.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from numba.core.errors import NumbaTypeSafetyWarning
from ranx import Qrels, Run, evaluate

from corpus.models import Passage
from eval.questions import Question, relevant_passage_ids

__all__ = [
    "METRICS",
    "abstention_rates",
    "bootstrap_ci",
    "build_qrels",
    "build_run",
    "holm",
    "paired_p_value",
    "per_question_scores",
]

# Our label → ranx's metric name.
METRICS: dict[str, str] = {
    "R@1": "hit_rate@1",
    "R@5": "hit_rate@5",
    "R@10": "hit_rate@10",
    "MRR@10": "mrr@10",
    "nDCG@10": "ndcg@10",
}

EXACT_LIMIT = 16  # 2**16 sign patterns enumerate in milliseconds

# ranx casts its internal ids between numba integer types; the warning says nothing about our data.
warnings.filterwarnings("ignore", category=NumbaTypeSafetyWarning)


def build_qrels(questions: list[Question], passages: list[Passage]) -> Qrels:
    """Relevant passage ids (relevance 1) of every answerable question.

    Raises ``ValueError`` naming the questions whose gold matches no passage, since a question
    without a relevant passage could never be answered and would silently score zero.
    """
    relevant: dict[str, dict[str, int]] = {}
    unmatched: list[str] = []
    for question in questions:
        if not question.answerable:
            continue
        ids = relevant_passage_ids(question, passages)
        if not ids:
            unmatched.append(question.id)
        relevant[question.id] = dict.fromkeys(sorted(ids), 1)
    if unmatched:
        raise ValueError(
            f"gold of {', '.join(unmatched)} matches no indexed passage: fix the substrings or rebuild the index"
        )
    return Qrels(relevant)


def build_run(rankings: dict[str, list[str]], name: str) -> Run:
    """A ranx Run from ranked passage ids per question (best first); scores fall with the rank."""
    run: dict[str, dict[str, float]] = {}
    for question_id, passage_ids in rankings.items():
        if len(set(passage_ids)) != len(passage_ids):
            raise ValueError(f"ranking of {question_id} repeats a passage: {passage_ids}")
        if passage_ids:  # ranx cannot hold an empty ranking; make_comparable scores a missing one as 0
            run[question_id] = {pid: float(len(passage_ids) - rank) for rank, pid in enumerate(passage_ids)}
    return Run(run, name=name)


def per_question_scores(qrels: Qrels, run: Run, question_ids: list[str]) -> dict[str, np.ndarray]:
    """Each metric's score for every question, aligned with ``question_ids`` (label → array)."""
    evaluate(qrels, run, list(METRICS.values()), return_mean=False, make_comparable=True)
    return {
        label: np.array([float(run.scores[name].get(qid, 0.0)) for qid in question_ids])
        for label, name in METRICS.items()
    }


def bootstrap_ci(scores: np.ndarray, resamples: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean over questions (seeded, reproducible)."""
    if len(scores) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = scores[rng.integers(0, len(scores), size=(resamples, len(scores)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def paired_p_value(control: np.ndarray, treatment: np.ndarray, permutations: int = 10_000, seed: int = 42) -> float:
    """Two-sided p-value of the paired randomization (sign-flip) test on per-question scores.

    This is Fisher's randomization test as ranx's ``compare`` runs it, done here because ranx 0.3.21
    compares the permuted and observed differences as floats without tolerance: permutations that tie
    the observed difference (common, since our scores take few values) are dropped by a rounding error
    and p comes out too small (0.0 instead of the exact 0.125 on four differing questions). Exact
    enumeration when at most ``EXACT_LIMIT`` questions differ; otherwise a seeded Monte-Carlo estimate
    that counts the observed assignment, so p is never 0.
    """
    if len(control) != len(treatment):
        raise ValueError(f"paired test needs equal lengths, got {len(control)} and {len(treatment)}")
    differences = np.asarray(treatment, dtype=float) - np.asarray(control, dtype=float)
    differences = differences[differences != 0]  # a tie is the same under either assignment
    if differences.size == 0:
        return 1.0
    observed = abs(differences.sum())
    tolerance = 1e-9 * max(1.0, observed)
    if differences.size <= EXACT_LIMIT:
        bits = (np.arange(2**differences.size)[:, None] >> np.arange(differences.size)) & 1
        statistics = np.abs((2 * bits - 1) @ differences)
        return float(np.mean(statistics >= observed - tolerance))
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(permutations, differences.size))
    extreme = int(np.count_nonzero(np.abs(signs @ differences) >= observed - tolerance))
    return (extreme + 1) / (permutations + 1)


def holm(p_values: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (same order as given); ranx offers no correction itself."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for position, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - position) * p_values[index]))
        adjusted[index] = running
    return adjusted


def abstention_rates(abstained: list[bool], answerable: list[bool]) -> dict[str, float | int]:
    """Share of unanswerable questions abstained on, and share of answerable ones wrongly abstained on."""
    unanswerable = [a for a, ok in zip(abstained, answerable) if not ok]
    answerable_only = [a for a, ok in zip(abstained, answerable) if ok]
    return {
        "unanswerable": len(unanswerable),
        "abstention_rate": sum(unanswerable) / len(unanswerable) if unanswerable else math.nan,
        "answerable": len(answerable_only),
        "false_abstention_rate": sum(answerable_only) / len(answerable_only) if answerable_only else math.nan,
    }

"""The abstention training: out-of-fold rates where neither the model nor its threshold saw the question;
the confidence reported when answering and when abstaining."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from eval.train_ranker import FALSE_ABSTENTION_BUDGET, _fit_confidence, _nested_abstention  # noqa: E402
from index.features import ABSTENTION_FEATURES  # noqa: E402
from index.ranker import CONFIDENCE_FEATURES  # noqa: E402


def _questions(separation: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """200 answerable and 20 unanswerable rows whose first feature differs by ``separation`` (others noise)."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(200, dtype=np.int64), np.zeros(20, dtype=np.int64)]
    x = rng.normal(size=(len(y), len(ABSTENTION_FEATURES)))
    x[:, 0] += separation * y
    return x, y


def test_nested_abstention_separates_separable_questions_within_the_budget() -> None:
    x, y = _questions(separation=8.0)
    abstained = _nested_abstention(x, y, 1.0, seed=0, budgets=[FALSE_ABSTENTION_BUDGET])[FALSE_ABSTENTION_BUDGET]
    assert abstained[y == 0].all()
    # Each fold's threshold is a low quantile of other questions' probabilities: a few answerable fall below it.
    assert abstained[y == 1].mean() <= 3 * FALSE_ABSTENTION_BUDGET


def test_nested_abstention_cannot_separate_noise() -> None:
    x, y = _questions(separation=0.0)
    abstained = _nested_abstention(x, y, 1.0, seed=0, budgets=[FALSE_ABSTENTION_BUDGET])[FALSE_ABSTENTION_BUDGET]
    assert abstained[y == 0].mean() < 0.3  # a threshold at the budget quantile catches few when nothing separates


def test_confidence_is_fitted_on_answered_questions_and_a_smoothed_rate_stands_for_abstentions() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, len(CONFIDENCE_FEATURES)))
    correct = (x[:, -1] > 0).astype(np.int64)  # the top-logit column decides, for the answered questions
    abstained = np.zeros(120, dtype=bool)
    abstained[:20] = True
    correct[:20] = [1, 0, 0, 0, 0] * 4  # 4 of 20 abstentions had a right first passage anyway
    model, when_abstaining = _fit_confidence(x, correct, abstained)
    assert model.features == CONFIDENCE_FEATURES
    assert when_abstaining == pytest.approx((4 + 1) / (20 + 2))
    answered = model.probability(x[20:])
    assert answered[correct[20:] == 1].mean() > 0.7 > 0.3 > answered[correct[20:] == 0].mean()

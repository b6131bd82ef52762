"""Retrieval metrics over ranked passages, and the loader for the reference questions.

A retrieved passage is a *hit* for a question when it is a citable passage (at most
``max_chars`` characters) and contains any of the question's gold substrings, compared
after Unicode NFKC normalisation so that full-width and half-width forms match.

Every metric takes ``hits``: one boolean per retrieved passage, best-ranked first.
"""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "Gold",
    "Question",
    "aggregate",
    "is_hit",
    "load_questions",
    "ndcg_at_k",
    "recall_at_k",
    "reciprocal_rank",
]


class Gold(BaseModel):
    """Where a question is answered: the article and verbatim spans of its answering paragraphs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    article_id: str = Field(min_length=1, description="File stem of the post, e.g. '002_214864c1432d6946'.")
    substrings: list[str] = Field(
        min_length=1,
        description="A verbatim span of each paragraph that answers the question; any one marks a hit.",
    )

    @field_validator("substrings")
    @classmethod
    def _non_empty_substrings(cls, value: list[str]) -> list[str]:
        """Reject blank substrings: an empty string would be contained in every passage."""
        for substring in value:
            if not substring.strip():
                raise ValueError("gold substrings must not be empty or whitespace")
        return value


class Question(BaseModel):
    """One reference question with its language, kind and gold answer location."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    lang: Literal["ja", "en"]
    type: Literal["fact", "reason"]
    question: str = Field(min_length=1)
    gold: Gold


def _nfkc(text: str) -> str:
    """Return ``text`` in Unicode NFKC form."""
    return unicodedata.normalize("NFKC", text)


def _check_k(k: int) -> None:
    """Raise ``ValueError`` unless ``k`` is a positive cut-off."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def is_hit(passage_text: str, gold_substrings: list[str], max_chars: int = 1000) -> bool:
    """Whether a retrieved passage counts as a hit for a question.

    A passage is a hit only if it is no longer than ``max_chars`` characters (measured on
    the text as given) and contains at least one of ``gold_substrings``. Containment is
    tested after NFKC normalisation of both the passage and each substring, so that e.g.
    full-width ``（ＯＣＰ）`` matches half-width ``(OCP)``. Empty substrings are ignored.
    """
    if len(passage_text) > max_chars:
        return False
    text = _nfkc(passage_text)
    return any(sub and _nfkc(sub) in text for sub in gold_substrings)


def recall_at_k(hits: list[bool], k: int) -> float:
    """Success at ``k``: 1.0 if any of the first ``k`` passages is a hit, else 0.0."""
    _check_k(k)
    return 1.0 if any(hits[:k]) else 0.0


def reciprocal_rank(hits: list[bool], k: int = 10) -> float:
    """``1 / rank`` of the first hit within the first ``k`` passages (rank 1 = best), else 0.0."""
    _check_k(k)
    for rank, hit in enumerate(hits[:k], start=1):
        if hit:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(hits: list[bool], k: int = 10, n_relevant: int = 1) -> float:
    """Normalised discounted cumulative gain at ``k`` with binary relevance.

    ``DCG = sum(1 / log2(rank + 1))`` over hits at ranks 1..k. The ideal DCG places
    ``min(n_relevant, k)`` hits at the top ranks. Returns 0.0 when ``n_relevant`` is 0.
    The result is capped at 1.0: if more passages hit than ``n_relevant`` says exist
    (e.g. near-duplicate passages), the ranking cannot be better than ideal.
    """
    _check_k(k)
    if n_relevant < 0:
        raise ValueError(f"n_relevant must be >= 0, got {n_relevant}")
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(n_relevant, k) + 1))
    if ideal == 0.0:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank, hit in enumerate(hits[:k], start=1) if hit)
    return min(1.0, dcg / ideal)


def aggregate(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over per-question rows.

    All rows must have the same metric keys; the result keeps the key order of the first
    row. An empty list gives an empty dict.
    """
    if not rows:
        return {}
    keys = list(rows[0])
    expected = set(keys)
    for index, row in enumerate(rows):
        if set(row) != expected:
            raise ValueError(f"row {index} has metric keys {sorted(row)}, expected {sorted(expected)}")
    return {key: math.fsum(float(row[key]) for row in rows) / len(rows) for key in keys}


def load_questions(path: Path) -> list[Question]:
    """Read reference questions from a JSON Lines file (one object per line, UTF-8).

    Blank lines are skipped. Raises ``ValueError`` naming the file and 1-based line
    number when a line is not valid JSON, does not match :class:`Question`, or repeats
    an earlier question id.
    """
    path = Path(path)
    questions: list[Question] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from exc
            try:
                question = Question.model_validate(data)
            except ValidationError as exc:
                raise ValueError(f"{path}:{lineno}: invalid question: {exc}") from exc
            if question.id in seen:
                raise ValueError(
                    f"{path}:{lineno}: duplicate question id {question.id!r} (first on line {seen[question.id]})"
                )
            seen[question.id] = lineno
            questions.append(question)
    return questions

"""Assign each reference question to dev or test, once, deterministically, stratified.

A stratum is (article of the first gold entry, or '-' when unanswerable) × language × type. Within a
stratum, questions without a split are taken in the order of a stable hash of their id and each goes
to the split that has fewer members of the stratum; a tie goes to the split with fewer questions
overall, then to the side the hash picks. Questions that already have a split keep it: the split is
frozen, so new questions never move old ones between dev and test.

Run ``python -m eval.split`` after adding questions.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from eval.questions import QUESTIONS_PATH, Question, load_question_rows, load_questions, write_question_rows

__all__ = ["assign_splits", "assign_splits_file", "stratum"]

logger = logging.getLogger(__name__)

SPLITS = ("dev", "test")


def stratum(question: Question) -> tuple[str, str, str]:
    """The stratum a question is balanced within: (article, language, type)."""
    article = question.gold[0].article_id if question.gold else "-"
    return article, question.lang, question.type


def _id_hash(question_id: str) -> int:
    """A stable hash of an id (Python's ``hash`` changes between processes)."""
    return int.from_bytes(hashlib.sha256(question_id.encode("utf-8")).digest()[:8], "big")


def assign_splits(questions: list[Question]) -> dict[str, str]:
    """The split of every question: the frozen ones unchanged, the rest assigned (id → 'dev'|'test')."""
    splits: dict[str, str] = {q.id: q.split for q in questions if q.split is not None}
    per_stratum: dict[tuple[str, str, str], Counter[str]] = {}
    overall: Counter[str] = Counter(splits.values())
    for q in questions:
        counts = per_stratum.setdefault(stratum(q), Counter())
        if q.split is not None:
            counts[q.split] += 1
    for q in sorted((q for q in questions if q.split is None), key=lambda q: (stratum(q), _id_hash(q.id), q.id)):
        counts = per_stratum[stratum(q)]
        key = _id_hash(q.id)
        chosen = min(SPLITS, key=lambda s: (counts[s], overall[s], (key ^ SPLITS.index(s)) & 1))
        splits[q.id] = chosen
        counts[chosen] += 1
        overall[chosen] += 1
    return {q.id: splits[q.id] for q in questions}


def assign_splits_file(path: Path = QUESTIONS_PATH) -> int:
    """Give every question in the file that has no split one; return how many were assigned."""
    questions = load_questions(path)  # validates every line before anything is written
    splits = assign_splits(questions)
    rows: list[dict[str, Any]] = load_question_rows(path)
    assigned = 0
    for row in rows:
        if row.get("split") is None:
            row["split"] = splits[row["id"]]
            assigned += 1
    if assigned:
        write_question_rows(rows, path)
    return assigned


def main(argv: list[str] | None = None) -> None:
    """Command line: assign splits in place and log the resulting balance."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=QUESTIONS_PATH, help="questions JSONL to update")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    assigned = assign_splits_file(args.questions)
    questions = load_questions(args.questions)
    balance = Counter(q.split for q in questions)
    logger.info(
        "%d questions newly assigned; %d dev, %d test in %s", assigned, balance["dev"], balance["test"], args.questions
    )


if __name__ == "__main__":
    main()

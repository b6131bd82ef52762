"""The checked-in reference questions are valid and their gold substrings point at the right article."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from eval.metrics import Question, load_questions

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS_PATH = ROOT / "eval" / "questions.jsonl"
POSTS_DIR = ROOT / "corpus" / "posts"


@pytest.fixture(scope="module")
def questions() -> list[Question]:
    return load_questions(QUESTIONS_PATH)


@pytest.fixture(scope="module")
def posts() -> dict[str, str]:
    texts = {path.stem: path.read_text(encoding="utf-8") for path in sorted(POSTS_DIR.glob("*.txt"))}
    assert len(texts) == 5, f"expected five posts under {POSTS_DIR}, found {sorted(texts)}"
    return texts


def test_at_least_40_questions(questions: list[Question]) -> None:
    assert len(questions) >= 40


def test_at_least_a_third_english(questions: list[Question]) -> None:
    english = sum(1 for q in questions if q.lang == "en")
    assert english * 3 >= len(questions), f"{english} of {len(questions)} questions are English"


def test_both_languages_present(questions: list[Question]) -> None:
    assert {q.lang for q in questions} == {"ja", "en"}


def test_both_types_present(questions: list[Question]) -> None:
    assert {q.type for q in questions} == {"fact", "reason"}


def test_ids_unique(questions: list[Question]) -> None:
    duplicates = [qid for qid, n in Counter(q.id for q in questions).items() if n > 1]
    assert not duplicates


def test_all_five_articles_covered(questions: list[Question], posts: dict[str, str]) -> None:
    assert {q.gold.article_id for q in questions} == set(posts)


def test_gold_article_ids_exist(questions: list[Question], posts: dict[str, str]) -> None:
    unknown = sorted({q.gold.article_id for q in questions} - set(posts))
    assert not unknown


def test_substrings_occur_verbatim_in_gold_article(questions: list[Question], posts: dict[str, str]) -> None:
    missing = [
        (q.id, sub) for q in questions for sub in q.gold.substrings if sub not in posts.get(q.gold.article_id, "")
    ]
    assert not missing, f"gold substrings not found in their article: {missing}"


def test_substrings_absent_from_other_articles(questions: list[Question], posts: dict[str, str]) -> None:
    leaks = [
        (q.id, sub, stem)
        for q in questions
        for sub in q.gold.substrings
        for stem, text in posts.items()
        if stem != q.gold.article_id and sub in text
    ]
    assert not leaks, f"gold substrings also found in other articles: {leaks}"


def test_substrings_are_short_single_line_spans(questions: list[Question]) -> None:
    bad = [
        (q.id, sub)
        for q in questions
        for sub in q.gold.substrings
        if not 10 <= len(sub) <= 40 or "\n" in sub or "**" in sub or "###" in sub
    ]
    assert not bad, f"substrings must be 10-40 characters on one line without markdown markers: {bad}"


def test_required_meta_tpu_questions_present(questions: list[Question]) -> None:
    texts = {q.question for q in questions}
    assert "Why would Meta adopt Google's TPUs?" in texts
    assert "メタがTPUを導入する理由は？" in texts

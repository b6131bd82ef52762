"""The checked-in reference questions are valid, split, and every gold substring is in a cleaned passage."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from corpus.loader import load_corpus
from corpus.models import Passage
from eval.questions import QUESTIONS_PATH, Question, is_relevant, load_question_rows, load_questions

POSTS_DIR = Path(__file__).resolve().parents[2] / "corpus" / "posts"


@pytest.fixture(scope="module")
def questions() -> list[Question]:
    return load_questions(QUESTIONS_PATH)


@pytest.fixture(scope="module")
def passages() -> list[Passage]:
    return load_corpus(POSTS_DIR).passages


def test_ids_unique() -> None:
    # Read raw rows too: the loader would stop at the first duplicate; this lists them all.
    counts = Counter(row["id"] for row in load_question_rows(QUESTIONS_PATH))
    assert not [qid for qid, n in counts.items() if n > 1]


def test_answerable_exactly_when_gold(questions: list[Question]) -> None:
    assert all(q.answerable == bool(q.gold) for q in questions)


def test_every_question_has_a_split(questions: list[Question]) -> None:
    missing = [q.id for q in questions if q.split is None]
    assert not missing, f"no split for {missing}: run python -m eval.split"


def test_every_gold_substring_is_in_a_cleaned_passage_of_its_article(
    questions: list[Question], passages: list[Passage]
) -> None:
    missing = [
        (q.id, gold.article_id, gold.substring)
        for q in questions
        for gold in q.gold
        if not any(is_relevant(p, gold) for p in passages)
    ]
    assert not missing, f"gold substrings found in no cleaned passage of their article: {missing}"


def test_splits_are_balanced_per_language(questions: list[Question]) -> None:
    for lang in ("ja", "en"):
        counts = Counter(q.split for q in questions if q.lang == lang)
        total = counts["dev"] + counts["test"]
        assert abs(counts["dev"] - counts["test"]) <= max(2, total // 10), f"{lang}: {dict(counts)}"


def test_the_seed_set_is_kept(questions: list[Question]) -> None:
    seed = [q for q in questions if q.set == "seed"]
    assert len(seed) == 69
    texts = {q.question for q in seed}
    assert "Why would Meta adopt Google's TPUs?" in texts
    assert "メタがTPUを導入する理由は？" in texts


# ---------------------------------------------------------------- the loader


def _row(qid: str = "q001", **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": qid,
        "lang": "en",
        "type": "fact",
        "question": "How many GPUs are in a Helios rack?",
        "answerable": True,
        "gold": [{"article_id": "004_8914f1a2936a845c", "substring": "72基のAMD Instinct"}],
        "set": "hard",
        "split": "dev",
    }
    row.update(overrides)
    return row


def _write(tmp_path: Path, rows: list[object]) -> Path:
    path = tmp_path / "questions.jsonl"
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_questions_valid(tmp_path: Path) -> None:
    unanswerable = _row("q002", type="unanswerable", answerable=False, gold=[], note="off-topic")
    del unanswerable["split"]
    questions = load_questions(_write(tmp_path, [_row(), "", unanswerable]))
    assert [q.id for q in questions] == ["q001", "q002"]
    assert questions[0].gold[0].substring == "72基のAMD Instinct"
    assert questions[1].split is None and questions[1].note == "off-topic"


def test_load_questions_bad_json_names_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r":2: invalid JSON"):
        load_questions(_write(tmp_path, [_row(), "{not json"]))


@pytest.mark.parametrize(
    "bad",
    [
        {"lang": "fr"},
        {"type": "reason"},
        {"question": ""},
        {"gold": []},
        {"answerable": False},
        {"type": "unanswerable"},
        {"gold": [{"article_id": "004_8914f1a2936a845c", "substring": "  "}]},
        {"gold": [{"article_id": "004_8914f1a2936a845c", "substrings": ["72基"]}]},
        {"set": "easy"},
        {"split": "train"},
        {"extra_field": 1},
    ],
)
def test_load_questions_invalid_row_names_line(tmp_path: Path, bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r":3: invalid question"):
        load_questions(_write(tmp_path, [_row("q001"), _row("q002"), _row("q003", **bad)]))


def test_load_questions_duplicate_id_names_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r":2: duplicate question id 'q001'"):
        load_questions(_write(tmp_path, [_row("q001"), _row("q001")]))

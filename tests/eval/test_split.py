"""The dev/test split is deterministic, stratified, and frozen once assigned."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from eval.questions import Gold, Question, load_questions
from eval.split import assign_splits, assign_splits_file, stratum

ARTICLES = ("000_a", "001_b", "002_c")


def _question(qid: str, article: str, lang: str, type_: str, split: str | None = None) -> Question:
    return Question(
        id=qid,
        lang=lang,  # type: ignore[arg-type]
        type=type_,  # type: ignore[arg-type]
        question=f"question {qid}",
        answerable=True,
        gold=[Gold(article_id=article, substring="something")],
        set="hard",
        split=split,  # type: ignore[arg-type]
    )


def _pool(count: int = 120, seed: int = 0) -> list[Question]:
    rng = random.Random(seed)
    return [
        _question(
            f"h{i:03d}", rng.choice(ARTICLES), rng.choice(("ja", "en")), rng.choice(("fact", "why_how", "number"))
        )
        for i in range(count)
    ]


def test_same_questions_in_any_order_get_the_same_splits() -> None:
    questions = _pool()
    shuffled = questions[:]
    random.Random(1).shuffle(shuffled)
    assert assign_splits(questions) == assign_splits(shuffled)


def test_every_stratum_and_the_whole_are_balanced_within_one() -> None:
    questions = _pool()
    splits = assign_splits(questions)
    per_stratum: dict[tuple[str, str, str], Counter[str]] = {}
    for q in questions:
        per_stratum.setdefault(stratum(q), Counter())[splits[q.id]] += 1
    assert all(abs(c["dev"] - c["test"]) <= 1 for c in per_stratum.values()), per_stratum
    overall = Counter(splits.values())
    assert abs(overall["dev"] - overall["test"]) <= 1


def test_singleton_strata_do_not_all_land_in_one_split() -> None:
    types = ("fact", "why_how", "comparison", "paraphrase", "number", "opinion", "en_term", "multi_paragraph")
    strata = [(a, lang, t) for a in ARTICLES for lang in ("ja", "en") for t in types]
    questions = [_question(f"s{i}", a, lang, t) for i, (a, lang, t) in enumerate(strata)]
    overall = Counter(assign_splits(questions).values())
    assert abs(overall["dev"] - overall["test"]) <= 1, overall


def test_assigned_splits_are_frozen_and_new_questions_fill_the_gap() -> None:
    frozen = [_question(f"f{i}", "000_a", "ja", "fact", split="dev") for i in range(3)]
    new = [_question("n1", "000_a", "ja", "fact"), _question("n2", "001_b", "en", "number")]
    splits = assign_splits(frozen + new)
    assert [splits[q.id] for q in frozen] == ["dev", "dev", "dev"]
    assert splits["n1"] == "test"  # its stratum had three dev questions and no test question


def test_adding_questions_never_moves_assigned_ones(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    first = _pool(40, seed=2)
    path.write_text("".join(q.model_dump_json(exclude_none=True) + "\n" for q in first), encoding="utf-8")
    assert assign_splits_file(path) == 40
    before = {q.id: q.split for q in load_questions(path)}
    with path.open("a", encoding="utf-8") as handle:
        for q in _pool(80, seed=3)[40:]:
            handle.write(q.model_copy(update={"id": "new-" + q.id}).model_dump_json(exclude_none=True) + "\n")
    assert assign_splits_file(path) == 40
    after = {q.id: q.split for q in load_questions(path)}
    assert {qid: after[qid] for qid in before} == before
    assert assign_splits_file(path) == 0


def test_assign_splits_file_keeps_other_fields_and_order(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    rows = [
        {
            "id": "b",
            "lang": "ja",
            "type": "unanswerable",
            "question": "天気は？",
            "answerable": False,
            "gold": [],
            "set": "hard",
            "note": "off-topic",
        },
        {
            "id": "a",
            "lang": "en",
            "type": "fact",
            "question": "q?",
            "answerable": True,
            "gold": [{"article_id": "000_a", "substring": "x"}],
            "set": "hard",
            "split": "test",
        },
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert assign_splits_file(path) == 1
    written = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in written] == ["b", "a"]
    assert written[0]["note"] == "off-topic" and written[0]["split"] in ("dev", "test")
    assert "天気は？" in path.read_text(encoding="utf-8")  # Japanese stays readable
    assert written[1] == rows[1]


def test_assign_splits_file_refuses_an_invalid_file_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    text = json.dumps({"id": "a", "lang": "fr"}) + "\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="invalid question"):
        assign_splits_file(path)
    assert path.read_text(encoding="utf-8") == text


def test_checked_in_seed_split_is_what_the_splitter_gives() -> None:
    seed = [q for q in load_questions() if q.set == "seed"]
    recomputed = assign_splits([q.model_copy(update={"split": None}) for q in seed])
    assert recomputed == {q.id: q.split for q in seed}

"""The reference questions: their format, loading and saving, and which passages answer them.

A passage is *relevant* to a gold entry when the passage belongs to the entry's article (its own
article or any article it was deduplicated from) and its text contains the entry's substring, both
compared in Unicode NFKC form so that full-width and half-width spellings match. A question with
several gold entries has several relevant passages.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from corpus.models import Passage

__all__ = [
    "QUESTIONS_PATH",
    "Gold",
    "Question",
    "QuestionType",
    "is_relevant",
    "load_question_rows",
    "load_questions",
    "relevant_passage_ids",
    "write_question_rows",
]

QUESTIONS_PATH = Path(__file__).resolve().parent / "questions.jsonl"

QuestionType = Literal[
    "fact",
    "why_how",
    "comparison",
    "paraphrase",
    "number",
    "opinion",
    "en_term",
    "multi_paragraph",
    "unanswerable",
]


class Gold(BaseModel):
    """One answering paragraph: its article and a verbatim span of its text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    article_id: str = Field(min_length=1, description="File stem of the post, e.g. '002_214864c1432d6946'.")
    substring: str = Field(description="A verbatim span of the answering paragraph's cleaned text.")

    @field_validator("substring")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        """Reject a blank substring: it would be contained in every passage."""
        if not value.strip():
            raise ValueError("gold substring must not be empty or whitespace")
        return value


class Question(BaseModel):
    """One reference question with its language, kind, gold paragraphs, set and frozen split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    lang: Literal["ja", "en"]
    type: QuestionType
    question: str = Field(min_length=1)
    answerable: bool
    gold: list[Gold] = Field(description="Every paragraph that answers the question; [] when unanswerable.")
    set: Literal["seed", "hard"] = Field(description="'seed': the first 69 (easy); 'hard': written for issue 14.")
    split: Literal["dev", "test"] | None = Field(None, description="Assigned once by `python -m eval.split`.")
    note: str | None = None

    @model_validator(mode="after")
    def _answerable_has_gold(self) -> Question:
        """An answerable question names its paragraphs; an unanswerable one names none."""
        if self.answerable and not self.gold:
            raise ValueError("answerable question has no gold: add the paragraphs that answer it")
        if not self.answerable and self.gold:
            raise ValueError("unanswerable question has gold entries: remove them or set answerable to true")
        if self.type == "unanswerable" and self.answerable:
            raise ValueError("type 'unanswerable' needs answerable false")
        return self


def _nfkc(text: str) -> str:
    """Return ``text`` in Unicode NFKC form."""
    return unicodedata.normalize("NFKC", text)


def is_relevant(passage: Passage, gold: Gold) -> bool:
    """Whether ``passage`` is the paragraph ``gold`` points at (article match, NFKC substring match)."""
    articles = {passage.article_id, *(source.article_id for source in passage.sources)}
    return gold.article_id in articles and _nfkc(gold.substring) in _nfkc(passage.text)


def relevant_passage_ids(question: Question, passages: list[Passage]) -> set[str]:
    """Ids of every passage relevant to any of the question's gold entries."""
    return {p.id for p in passages for gold in question.gold if is_relevant(p, gold)}


def load_question_rows(path: Path = QUESTIONS_PATH) -> list[dict[str, Any]]:
    """The raw JSON objects of a JSON Lines file, in file order (blank lines skipped)."""
    rows: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from exc
    return rows


def write_question_rows(rows: list[dict[str, Any]], path: Path = QUESTIONS_PATH) -> None:
    """Write JSON objects one per line (UTF-8, Japanese left readable)."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    Path(path).write_text(text, encoding="utf-8")


def load_questions(path: Path = QUESTIONS_PATH) -> list[Question]:
    """Read and validate reference questions; errors name the file, the line and what is wrong."""
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

"""Request and response models: the API's documentation."""

from __future__ import annotations

import unicodedata

from pydantic import BaseModel, ConfigDict, Field, field_validator

from corpus.models import Article, Passage
from index.answer import CitedPassage
from index.filters import FacetCount, Filters

MAX_QUESTION_CHARS = 1000
MAX_TOP_K = 50


def check_question(value: str) -> str:
    """Strip a question and reject empty or over-long ones with a message saying what to fix.

    Control characters (NUL, escape, DEL, ...) are not text: each becomes a space, so a question made only of
    them is empty rather than a search for nothing in particular.
    """
    value = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in value).strip()
    if not value:
        raise ValueError("question is empty: send a question with some text in it")
    if len(value) > MAX_QUESTION_CHARS:
        raise ValueError(f"question is {len(value)} characters long: send at most {MAX_QUESTION_CHARS}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800" is valid JSON but not text
        raise ValueError("question contains an invalid character (a lone UTF-16 surrogate): send plain text") from None
    return value


class QueryRequest(BaseModel):
    """A question and how many passages to return."""

    model_config = ConfigDict(extra="forbid")  # a misspelt "topk" is an error, not silently the default

    question: str = Field(description="The question, in Japanese or English (1–1,000 characters).")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, strict=True, description="How many passages (1–50).")
    filters: Filters | None = Field(
        None, description="Answer only from matching articles; every key is optional, lists match any value."
    )

    _check = field_validator("question")(check_question)


class QueryResponse(BaseModel):
    """Ranked, cited passages and an extractive answer whose [n] markers cite passage ranks."""

    question: str
    answer: str | None = Field(
        description="1–3 answering sentences, each followed by [rank] of its passage; null when the articles do not "
        "answer the question (the closest passages are still listed)."
    )
    confidence: float = Field(
        ge=0.0, le=1.0, description="Calibrated probability (0–1) that the first passage answers the question."
    )
    passages: list[CitedPassage]
    took_ms: float
    index_version: str


class ArticleSummary(BaseModel):
    """One post in the index."""

    id: str
    title: str
    date: str
    tags: list[str]
    passages: int


class ArticleChoice(BaseModel):
    """An article a question can be narrowed to."""

    id: str
    title: str
    date: str


class Facets(BaseModel):
    """What the filters of POST /query can take: the articles, their date range, categories and tags."""

    articles: list[ArticleChoice]
    first_date: str | None
    last_date: str | None
    categories: list[FacetCount]
    tags: list[FacetCount]


class ArticleDetail(Article):
    """A post with its passages."""

    passage_count: int
    passages: list[Passage]


class IndexUpdate(BaseModel):
    """What an upload, deletion or reindex did to the index."""

    article_id: str | None = None
    version: str
    passages_new: int
    passages_reused: int
    passages_removed: int
    passages_total: int
    took_ms: float
    rejected: list[str] = []


class Health(BaseModel):
    """Liveness / readiness."""

    status: str
    index_version: str | None = None
    passages: int | None = None
    problems: list[str] = []


class ErrorBody(BaseModel):
    """Every error: what was wrong and what to do."""

    detail: str


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI ``responses`` for routes: each status answers with an ErrorBody."""
    return {status: {"model": ErrorBody} for status in statuses}

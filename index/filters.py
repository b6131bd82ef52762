"""Metadata filters over an index's articles, as the bool row mask every backend applies before its top k."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from corpus.models import Article, Passage

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Filters(BaseModel):
    """Which articles a question may be answered from: a list matches any of its values, all keys apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    article_ids: list[str] = Field([], description="Only these articles (ids as GET /articles lists them).")
    since: dt.date | None = Field(None, description="Articles dated on or after this day (YYYY-MM-DD, UTC).")
    until: dt.date | None = Field(None, description="Articles dated on or before this day (YYYY-MM-DD, UTC).")
    categories: list[str] = Field([], description="Articles in any of these categories.")
    tags: list[str] = Field([], description="Articles with any of these tags.")

    @field_validator("since", "until", mode="before")
    @classmethod
    def _calendar_day(cls, value: object, info) -> object:  # type: ignore[no-untyped-def]
        # Only the one written form: pydantic alone would also take timestamps and datetimes.
        if value is None or isinstance(value, dt.date):
            return value
        text = str(value).strip()
        if not text:
            return None
        if _DATE.fullmatch(text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                pass
        raise ValueError(f"{info.field_name} must be a calendar day written YYYY-MM-DD, e.g. 2025-11-26 (got {text!r})")

    @model_validator(mode="after")
    def _ordered(self) -> Filters:
        if self.since and self.until and self.since > self.until:
            raise ValueError(
                f"since ({self.since}) is after until ({self.until}): no day can match; swap them or drop one"
            )
        return self

    @property
    def empty(self) -> bool:
        """True when nothing is filtered."""
        return not (self.article_ids or self.since or self.until or self.categories or self.tags)

    def matches(self, article: Article) -> bool:
        """Whether ``article`` passes every given filter (dates compared by calendar day, inclusive)."""
        if self.article_ids and article.id not in self.article_ids:
            return False
        if self.since or self.until:
            day = dt.date.fromisoformat(article.date[:10])
            if (self.since and day < self.since) or (self.until and day > self.until):
                return False
        if self.categories and not set(self.categories) & set(article.categories):
            return False
        return not (self.tags and not set(self.tags) & set(article.tags))

    def key(self) -> str:
        """A stable text form (equal filters, equal keys), for grouping and logging."""
        return self.model_dump_json(exclude_defaults=True)


def allowed_rows(
    filters: Filters | None, articles: Sequence[Article], passages: Sequence[Passage]
) -> np.ndarray | None:
    """The bool mask over passage rows whose article passes ``filters``; None when nothing is filtered."""
    if filters is None or filters.empty:
        return None
    keep = {a.id for a in articles if filters.matches(a)}
    return np.fromiter((p.article_id in keep for p in passages), dtype=bool, count=len(passages))


class FacetCount(BaseModel):
    """One category or tag and how many articles carry it."""

    value: str
    articles: int


def facet_counts(values: Sequence[Sequence[str]]) -> list[FacetCount]:
    """Each value with its article count, most common first (ties by name)."""
    counts = Counter(v for per_article in values for v in set(per_article))
    return [FacetCount(value=v, articles=n) for v, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]

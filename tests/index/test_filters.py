"""Metadata filters: validation, which articles they keep, the row mask, facet counts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pydantic import ValidationError

from corpus.models import Article, Passage
from index.filters import Filters, allowed_rows, facet_counts

ARTICLES = [
    Article(id="a", title="A", date="2025-11-26", categories=["投資分析"], tags=["AI", "チップ"]),
    Article(id="b", title="B", date="2025-11-27", categories=["AI導入戦略"], tags=["AI"]),
    Article(id="c", title="C", date="2025-12-02", categories=["投資分析"], tags=["Google"]),
]
ROWS = ["a", "a", "b", "c", "c", "c"]  # the article of each passage row
PASSAGES = [
    Passage(id=f"p{i}", article_id=a, title=a, date="", paragraph=i + 1, text="x", sources=[])
    for i, a in enumerate(ROWS)
]


def kept(filters: Filters) -> list[str]:
    return [a.id for a in ARTICLES if filters.matches(a)]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), ["a", "b", "c"]),
        (Filters(article_ids=["b", "c"]), ["b", "c"]),
        (Filters(since="2025-11-27"), ["b", "c"]),  # inclusive
        (Filters(until="2025-11-27"), ["a", "b"]),  # inclusive
        (Filters(since="2025-11-27", until="2025-11-27"), ["b"]),  # one calendar day
        (Filters(categories=["投資分析"]), ["a", "c"]),
        (Filters(tags=["チップ", "Google"]), ["a", "c"]),  # any of the values
        (Filters(categories=["投資分析"], tags=["AI"]), ["a"]),  # every key applies
        (Filters(article_ids=["nope"]), []),
    ],
)
def test_filters_keep_the_matching_articles(filters: Filters, expected: list[str]) -> None:
    assert kept(filters) == expected


def test_the_mask_flags_the_rows_of_the_kept_articles() -> None:
    mask = allowed_rows(Filters(categories=["AI導入戦略"]), ARTICLES, PASSAGES)
    assert mask is not None and mask.dtype == bool
    assert mask.tolist() == [a == "b" for a in ROWS]
    assert not allowed_rows(Filters(article_ids=["nope"]), ARTICLES, PASSAGES).any()


@pytest.mark.parametrize("filters", [None, Filters(), Filters(since="", categories=[])])
def test_no_filter_is_no_mask(filters: Filters | None) -> None:
    assert allowed_rows(filters, ARTICLES, PASSAGES) is None


@pytest.mark.parametrize("value", ["2025/11/26", "26-11-2025", "2025-02-30", "1732579200", "2025-11-26T00:00:00", "x"])
@pytest.mark.parametrize("field", ["since", "until"])
def test_a_malformed_date_names_the_field_and_the_format(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Filters(**{field: value})
    message = str(raised.value)
    assert f"{field} must be a calendar day written YYYY-MM-DD" in message and repr(value) in message


def test_since_after_until_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"since \(2025-12-02\) is after until \(2025-11-26\)"):
        Filters(since="2025-12-02", until="2025-11-26")


def test_dates_parse_to_calendar_days_and_unknown_keys_are_refused() -> None:
    assert Filters(since="2025-11-26").since == dt.date(2025, 11, 26)
    with pytest.raises(ValidationError, match="extra"):
        Filters(tag=["AI"])


def test_facet_counts_count_articles_most_common_first() -> None:
    counts = facet_counts([a.tags for a in ARTICLES] + [["AI", "AI"]])  # a repeated tag counts once per article
    assert [(c.value, c.articles) for c in counts] == [("AI", 3), ("Google", 1), ("チップ", 1)]


def test_mask_length_matches_the_passages() -> None:
    mask = allowed_rows(Filters(article_ids=["a"]), ARTICLES, PASSAGES)
    assert isinstance(mask, np.ndarray) and mask.shape == (len(PASSAGES),)

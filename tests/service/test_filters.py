"""POST/GET /query with metadata filters, and GET /facets."""

from __future__ import annotations

import pytest

from service.main import create_app
from tests.service.conftest import Service

HELIOS = "004_8914f1a2936a845c"
META = "002_214864c1432d6946"
QUESTION = "メタがTPUを導入する理由は？"


def test_an_article_filter_fills_top_k_from_that_article(shared_service: Service) -> None:
    # A question that article answers, so the answer (not only the passages) comes from it.
    body = {"question": "HPEとAMDが発表したHeliosとは何ですか？", "top_k": 6, "filters": {"article_ids": [HELIOS]}}
    response = shared_service.client.post("/query", json=body)
    assert response.status_code == 200, response.text
    passages = response.json()["passages"]
    assert len(passages) == 6 and {p["article_id"] for p in passages} == {HELIOS}
    assert response.json()["answer"]


def test_get_query_takes_repeatable_filter_parameters(shared_service: Service) -> None:
    params = [("q", QUESTION), ("top_k", "5"), ("category", "AI導入戦略"), ("category", "存在しない")]
    got = shared_service.client.get("/query", params=params).json()
    posted = shared_service.client.post(
        "/query", json={"question": QUESTION, "filters": {"categories": ["AI導入戦略", "存在しない"]}}
    ).json()
    assert {p["article_id"] for p in got["passages"]} == {"001_ef0b94e0c9148836"}
    assert [p["id"] for p in got["passages"]] == [p["id"] for p in posted["passages"]]


def test_date_filters_are_inclusive_calendar_days(shared_service: Service) -> None:
    # Posts dated 2025-11-26 (two), 2025-11-28, 2025-10-16, 2025-12-02.
    body = {"question": "AI", "top_k": 50, "filters": {"since": "2025-11-26", "until": "2025-11-28"}}
    passages = shared_service.client.post("/query", json=body).json()["passages"]
    assert {p["date"] for p in passages} == {"2025-11-26", "2025-11-28"}
    tag_and_day = {"question": "AI", "filters": {"tags": ["Google"], "until": "2025-11-27"}}
    assert shared_service.client.post("/query", json=tag_and_day).json()["passages"] == []


@pytest.mark.parametrize(
    "filters",
    [{"article_ids": ["no_such_article"]}, {"since": "2030-01-01"}, {"tags": ["no such tag"]}],
)
def test_filters_that_match_nothing_answer_200_with_no_passages(shared_service: Service, filters: dict) -> None:
    response = shared_service.client.post("/query", json={"question": QUESTION, "filters": filters})
    assert response.status_code == 200, response.text
    assert response.json()["passages"] == [] and response.json()["answer"] is None


@pytest.mark.parametrize("field", ["since", "until"])
def test_a_malformed_date_is_a_422_naming_field_and_format(shared_service: Service, field: str) -> None:
    response = shared_service.client.post("/query", json={"question": QUESTION, "filters": {field: "2025/11/26"}})
    assert response.status_code == 422
    assert f"{field} must be a calendar day written YYYY-MM-DD" in response.json()["detail"]
    response = shared_service.client.get("/query", params={"q": QUESTION, field: "yesterday"})
    assert response.status_code == 422
    assert f"{field} must be a calendar day written YYYY-MM-DD" in response.json()["detail"]


def test_since_after_until_and_unknown_filter_keys_are_422(shared_service: Service) -> None:
    client = shared_service.client
    response = client.post(
        "/query", json={"question": QUESTION, "filters": {"since": "2025-12-01", "until": "2025-11-01"}}
    )
    assert response.status_code == 422 and "is after until" in response.json()["detail"]
    response = client.post("/query", json={"question": QUESTION, "filters": {"tag": ["AI"]}})
    assert response.status_code == 422
    assert "unknown field 'filters.tag'" in response.json()["detail"] and "tags" in response.json()["detail"]


def test_facets_list_articles_dates_categories_and_tags_with_counts(shared_service: Service) -> None:
    body = shared_service.client.get("/facets").json()
    assert [a["date"] for a in body["articles"]] == sorted((a["date"] for a in body["articles"]), reverse=True)
    assert {a["id"] for a in body["articles"]} >= {META, HELIOS} and len(body["articles"]) == 5
    assert (body["first_date"], body["last_date"]) == ("2025-10-16", "2025-12-02")
    assert {c["value"]: c["articles"] for c in body["categories"]} == {"投資分析": 4, "AI導入戦略": 1}
    tags = {t["value"]: t["articles"] for t in body["tags"]}
    assert tags["AI"] == 5 and tags["Google"] == 1


def test_facets_before_the_index_is_loaded_is_503(shared_service: Service) -> None:
    from fastapi.testclient import TestClient

    from service.config import engine_from_settings

    engine = engine_from_settings(shared_service.settings, shared_service.engine.encoder)
    with TestClient(create_app(shared_service.settings, engine=engine, start=False)) as client:
        assert client.get("/facets").status_code == 503

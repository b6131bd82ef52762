"""Bad questions get a 4xx with a JSON detail that says what to fix — never a 500."""

import pytest

from tests.service.conftest import Service


@pytest.mark.parametrize(
    ("payload", "status", "says"),
    [
        ({"question": ""}, 422, "question is empty"),
        ({"question": "   \n\t"}, 422, "question is empty"),
        ({"question": "\u0000\u001b \u007f"}, 422, "question is empty"),
        ({"question": "あ" * 1001}, 422, "at most 1000"),
        ({"question": "液冷", "top_k": 0}, 422, "top_k"),
        ({"question": "液冷", "top_k": 51}, 422, "top_k"),
        ({"question": "液冷", "top_k": "5"}, 422, "top_k"),
        ({"question": "液冷", "top_k": 2.5}, 422, "top_k"),
        ({"top_k": 3}, 422, "'question' is missing"),
        ({"question": 42}, 422, "question"),
        ({"question": "液冷", "topk": 3}, 422, "unknown field 'topk'"),
        (["液冷"], 422, "must be a JSON object"),
    ],
)
def test_bad_query_fields(shared_service: Service, payload: dict, status: int, says: str) -> None:
    response = shared_service.client.post("/query", json=payload)
    assert response.status_code == status
    assert says in response.json()["detail"]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "says"),
    [
        (b"{bad json", "application/json", 422, "not valid JSON"),
        (b'{"question": "x"}', "text/plain", 415, "application/json"),
        (b"question=x", "application/x-www-form-urlencoded", 415, "application/json"),
        ('{"question": "液冷"}'.encode("shift_jis"), "application/json", 400, "UTF-8"),
        (b"", "application/json", 422, ""),
        (b'{"question": "\\ud800"}', "application/json", 422, "lone UTF-16 surrogate"),
        (b'{"question": "x"}', "", 415, "had no Content-Type"),
    ],
)
def test_bad_query_bodies(shared_service: Service, content: bytes, content_type: str, status: int, says: str) -> None:
    response = shared_service.client.post("/query", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert says in response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"q": ""}, "question is empty"),
        ({"q": "x" * 1001}, "at most 1000"),
        ({"q": "x", "top_k": "many"}, "top_k"),
        ({}, "'q' is missing"),
    ],
)
def test_bad_get_queries(shared_service: Service, params: dict, says: str) -> None:
    response = shared_service.client.get("/query", params=params)
    assert response.status_code == 422
    assert says in response.json()["detail"]


def test_unknown_route_and_wrong_method_say_what_to_do(shared_service: Service) -> None:
    response = shared_service.client.get("/nope")
    assert response.status_code == 404 and "/openapi.json" in response.json()["detail"]
    response = shared_service.client.put("/query", json={"question": "液冷"})
    assert response.status_code == 405 and "GET, POST" in response.json()["detail"]


@pytest.mark.parametrize("question", ["a\x00b", "😀", "？！", "\u200b", "x" * 1000, "SELECT * FROM passages; --"])
def test_odd_but_valid_questions_are_answered(shared_service: Service, question: str) -> None:
    response = shared_service.client.post("/query", json={"question": question, "top_k": 2})
    assert response.status_code == 200 and len(response.json()["passages"]) == 2


def test_control_characters_inside_a_question_become_spaces(shared_service: Service) -> None:
    response = shared_service.client.post("/query", json={"question": "液冷\u0000の割合は？\u001b"})
    assert response.status_code == 200, response.text
    assert response.json()["question"] == "液冷 の割合は？"

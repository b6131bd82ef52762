"""GET /metrics, the JSON query log and X-Request-ID, through the app."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.config import engine_from_settings
from service.main import create_app
from service.query_log import question_hash
from tests.service.conftest import ADMIN, QUANTUM_POST, Service, copy_index

QUESTION = "メタがTPUを導入する理由は？"


def _service(built_index, encoder, root: Path, **overrides) -> Iterator[Service]:
    settings = copy_index(built_index, root, index_poll_seconds=0, **overrides)
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        yield Service(client, engine, settings)
    engine.stop()


@pytest.fixture
def logged(built_index, encoder, tmp_path: Path) -> Iterator[Service]:
    """An app writing its query log to a file, questions hashed."""
    yield from _service(built_index, encoder, tmp_path, query_log=tmp_path / "logs" / "queries.jsonl")


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)"
    found = re.search(r"^" + pattern + "$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _log(service: Service) -> list[dict]:
    return [json.loads(line) for line in service.settings.query_log.read_text("utf-8").splitlines()]


def test_metrics_count_queries_by_outcome_and_time_each_stage(logged: Service) -> None:
    client = logged.client
    assert client.post("/query", json={"question": QUESTION}).status_code == 200
    nothing = {"question": QUESTION, "filters": {"article_ids": ["none"]}}
    assert client.post("/query", json=nothing).json()["answer"] is None
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _sample(text, "ragqa_queries_total", outcome="answered") == 1
    assert _sample(text, "ragqa_queries_total", outcome="abstained") == 1
    assert _sample(text, "ragqa_queries_total", outcome="error") == 0
    # Both questions were encoded; the one whose filter matches no article searched nothing.
    assert _sample(text, "ragqa_query_seconds_count", stage="encode") == 2
    for stage in ("lexical", "dense", "rank"):
        assert _sample(text, "ragqa_query_seconds_count", stage=stage) == 1, stage
    assert _sample(text, "ragqa_query_seconds_count", stage="total") == 2
    index = logged.engine.retriever.index
    assert _sample(text, "ragqa_index_passages") == len(index.passages)
    assert _sample(text, "ragqa_index_articles") == len(index.articles) == 5
    assert _sample(text, "ragqa_index_info", version=index.version) == 1
    assert _sample(text, "ragqa_http_requests_total", method="POST", route="/query", status="200") == 2
    assert _sample(text, "ragqa_http_request_seconds_count", method="POST", route="/query", status="200") == 2


def test_http_metrics_use_route_templates_not_paths(logged: Service) -> None:
    client = logged.client
    client.get("/articles/no_such_one")
    client.get("/articles/another_missing")
    client.get("/wp-admin/setup.php")
    text = client.get("/metrics").text
    assert _sample(text, "ragqa_http_requests_total", method="GET", route="/articles/{article_id}", status="404") == 2
    assert _sample(text, "ragqa_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert "wp-admin" not in text and "no_such_one" not in text


def test_every_response_carries_a_request_id_echoed_or_new(logged: Service) -> None:
    client = logged.client
    assert client.get("/healthz", headers={"X-Request-ID": "trace-42"}).headers["x-request-id"] == "trace-42"
    made = {client.get("/healthz").headers["x-request-id"] for _ in range(2)}
    assert len(made) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", m) for m in made)
    forged = client.get("/healthz", headers={"X-Request-ID": 'x" injected\\n'}).headers["x-request-id"]
    assert forged != 'x" injected\\n' and re.fullmatch(r"[0-9a-f]{32}", forged)
    too_big = client.post("/query", content=b"x" * 100_000, headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413 and too_big.headers["x-request-id"]


def test_the_query_log_has_one_json_line_per_query_with_a_hash_not_the_question(logged: Service) -> None:
    client = logged.client
    filters = {"categories": ["投資分析"], "since": "2025-11-01"}
    response = client.post("/query", json={"question": QUESTION, "filters": filters}, headers={"X-Request-ID": "r-1"})
    body = response.json()
    client.get("/query", params={"q": "液冷の普及率は？"})
    first, second = _log(logged)
    assert first["request_id"] == "r-1" and second["request_id"] == _log(logged)[1]["request_id"] != "r-1"
    assert first["question_sha256"] == question_hash(QUESTION) and "question" not in first
    assert QUESTION not in logged.settings.query_log.read_text("utf-8")
    assert first["index_version"] == body["index_version"] and first["took_ms"] > 0
    assert first["article_ids"] == list(dict.fromkeys(p["article_id"] for p in body["passages"]))
    assert first["abstained"] is False and first["filters"] == filters and second["filters"] is None
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+00:00", first["time"])


def test_the_question_is_logged_only_when_asked_to(built_index, encoder, tmp_path: Path) -> None:
    log = tmp_path / "q.jsonl"
    for service in _service(built_index, encoder, tmp_path, query_log=log, log_questions=True):
        service.client.post("/query", json={"question": QUESTION})
    (line,) = [json.loads(text) for text in log.read_text("utf-8").splitlines()]
    assert line["question"] == QUESTION and "question_sha256" not in line


def test_uploads_deletes_and_builds_are_counted(logged: Service) -> None:
    client = logged.client
    files = {"file": ("post.txt", QUANTUM_POST.encode(), "text/plain")}
    assert client.post("/articles?id=900_quantum", files=files, headers=ADMIN).status_code == 201
    assert client.post("/articles?id=900_quantum", files=files, headers=ADMIN).status_code == 409
    assert client.delete("/articles/900_quantum", headers=ADMIN).status_code == 200
    text = client.get("/metrics").text
    assert _sample(text, "ragqa_uploads_total", outcome="ok") == 1
    assert _sample(text, "ragqa_uploads_total", outcome="error") == 1
    assert _sample(text, "ragqa_deletes_total", outcome="ok") == 1
    assert _sample(text, "ragqa_index_builds_total", outcome="ok") == 2
    assert _sample(text, "ragqa_index_build_seconds_count") == 2

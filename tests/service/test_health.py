from pathlib import Path

from fastapi.testclient import TestClient

from service.engine import Engine
from service.main import create_app
from tests.service.conftest import Service, copy_index


def test_healthz_is_alive(shared_service: Service) -> None:
    assert shared_service.client.get("/healthz").json()["status"] == "alive"


def test_readyz_reports_version_when_ready(shared_service: Service) -> None:
    body = shared_service.client.get("/readyz").json()
    assert body["status"] == "ready" and body["passages"] > 150 and body["problems"] == []


def test_readyz_is_503_with_a_reason_before_loading(built_index, tmp_path: Path) -> None:
    engine = Engine(copy_index(built_index, tmp_path))
    with TestClient(create_app(engine=engine, start=False)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503 and "starting" in response.json()["status"]
        query = client.post("/query", json={"question": "液冷"})
        assert query.status_code == 503 and "not ready" in query.json()["detail"]
        assert client.get("/healthz").status_code == 200


def test_start_builds_the_index_when_there_is_none(built_index, encoder, tmp_path: Path) -> None:
    settings = copy_index(built_index, tmp_path)
    settings.index_dir = tmp_path / "fresh-index"
    engine = Engine(settings, encoder)
    engine.start(background=False)
    assert engine.ready and len(engine.retriever.index.passages) > 150

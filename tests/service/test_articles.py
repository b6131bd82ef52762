"""Listing, uploading and deleting posts; bad uploads leave the corpus and the index untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.config import engine_from_settings
from service.main import create_app
from tests.service.conftest import ADMIN, QUANTUM_POST, Service, tiny_index

QUESTION = "量子アニーリングで配送距離はどれだけ短縮された？"


def _snapshot(service: Service) -> tuple[list[str], str]:
    files = sorted(p.name for p in Path(service.settings.corpus_dir).iterdir())
    return files, service.engine.retriever.index.version


def test_list_get_article_and_passage(shared_service: Service) -> None:
    articles = shared_service.client.get("/articles").json()
    assert len(articles) == 5
    meta = next(a for a in articles if a["id"] == "002_214864c1432d6946")
    assert meta["title"].startswith("メタがGoogle TPUを採用") and meta["date"] == "2025-11-28"
    assert meta["passages"] > 20 and "Google" in meta["tags"]
    detail = shared_service.client.get("/articles/002_214864c1432d6946").json()
    assert detail["passage_count"] == meta["passages"] == len(detail["passages"])
    passage = detail["passages"][0]
    assert shared_service.client.get(f"/passages/{passage['id']}").json() == passage


def test_unknown_article_and_passage_are_404_with_a_hint(shared_service: Service) -> None:
    assert "GET /articles" in shared_service.client.get("/articles/nope").json()["detail"]
    assert shared_service.client.get("/passages/nope").status_code == 404


def test_upload_makes_the_post_answerable_and_delete_removes_it(service: Service) -> None:
    response = service.client.post(
        "/articles",
        params={"id": "900_quantum"},
        content=QUANTUM_POST.encode(),
        headers={**ADMIN, "Content-Type": "text/plain"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["article_id"] == "900_quantum" and body["passages_new"] == 2 and body["passages_reused"] > 150
    hits = service.client.get("/query", params={"q": QUESTION}).json()["passages"]
    assert hits[0]["article_id"] == "900_quantum" and "12%短縮" in hits[0]["text"]
    assert (Path(service.settings.corpus_dir) / "900_quantum.txt").is_file()

    response = service.client.delete("/articles/900_quantum", headers=ADMIN)
    assert response.status_code == 200 and response.json()["passages_removed"] == 2
    hits = service.client.get("/query", params={"q": QUESTION}).json()["passages"]
    assert all(h["article_id"] != "900_quantum" for h in hits)
    assert service.client.delete("/articles/900_quantum", headers=ADMIN).status_code == 404


def test_existing_id_is_409_unless_replace(service: Service) -> None:
    headers = {**ADMIN, "Content-Type": "text/plain"}
    assert (
        service.client.post("/articles", params={"id": "x1"}, content=QUANTUM_POST, headers=headers).status_code == 201
    )
    again = service.client.post("/articles", params={"id": "x1"}, content=QUANTUM_POST, headers=headers)
    assert again.status_code == 409 and "replace=true" in again.json()["detail"]
    changed = QUANTUM_POST.replace("12%", "15%")
    replaced = service.client.post(
        "/articles", params={"id": "x1", "replace": "true"}, content=changed, headers=headers
    )
    assert replaced.status_code == 201 and replaced.json()["passages_new"] == 1


@pytest.mark.parametrize(
    ("params", "content", "content_type", "status", "says"),
    [
        ({"id": "a1"}, "本文だけでfront matterがない。", "text/plain", 422, "no front matter"),
        ({"id": "a1"}, "---\ndate: 2026-01-01\n---\n本文です。\n", "text/plain", 422, "no 'title'"),
        ({"id": "a1"}, '---\ntitle: "t"\n---\n本文です。\n', "text/plain", 422, "no 'date'"),
        ({"id": "a1"}, '---\ntitle: "t"\ndate: 2026-01-01\n---\n\n', "text/plain", 422, "body is empty"),
        ({"id": "a1"}, "", "text/plain", 422, "body is empty"),
        ({"id": "a1"}, '---\ntitle: "t"\ndate: 2026-01-01\n---\n短い。\n', "text/plain", 422, "no paragraph"),
        ({"id": "a1"}, "\x00\x01binary", "application/octet-stream", 422, "NUL bytes"),
        ({"id": "a1"}, QUANTUM_POST.encode("shift_jis", "ignore"), "text/plain", 400, "UTF-8"),
        ({"id": "a1"}, "x" * 1_000_001, "text/plain", 413, "limit"),
        ({"id": "a1"}, QUANTUM_POST, "application/json", 415, "text/plain"),
        ({"id": "../evil"}, QUANTUM_POST, "text/plain", 422, "no paths"),
        ({"id": "/etc/passwd"}, QUANTUM_POST, "text/plain", 422, "no paths"),
        ({"id": "a\x00b"}, QUANTUM_POST, "text/plain", 422, "no paths"),
        ({"id": "a/b"}, QUANTUM_POST, "text/plain", 422, "no paths"),
        ({"id": "ab\n"}, QUANTUM_POST, "text/plain", 422, "no paths"),
        ({"id": "a1"}, QUANTUM_POST, "text/html", 415, "text/plain"),
    ],
)
def test_bad_uploads_change_nothing(service: Service, params, content, content_type, status, says) -> None:
    before = _snapshot(service)
    response = service.client.post(
        "/articles", params=params, content=content, headers={**ADMIN, "Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]
    assert _snapshot(service) == before


@pytest.mark.parametrize(
    ("headers", "status"), [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Basic abc"}, 401)]
)
def test_admin_endpoints_need_the_token(shared_service: Service, headers: dict, status: int) -> None:
    for method, url in (
        ("POST", "/articles?id=a1"),
        ("DELETE", "/articles/002_214864c1432d6946"),
        ("POST", "/admin/reindex"),
    ):
        response = shared_service.client.request(method, url, headers=headers, content=QUANTUM_POST)
        assert response.status_code == status
        assert "RAGQA_ADMIN_TOKEN" in response.json()["detail"]


def test_admin_endpoints_are_disabled_without_a_configured_token(built_index, encoder, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from service.config import engine_from_settings
    from service.main import create_app
    from tests.service.conftest import copy_index

    settings = copy_index(built_index, tmp_path, admin_token=None, index_poll_seconds=0)
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        response = client.post("/admin/reindex", headers=ADMIN)
    assert response.status_code == 403 and "set RAGQA_ADMIN_TOKEN" in response.json()["detail"]


def test_multipart_upload_is_accepted_too(service: Service) -> None:
    files = {"file": ("quantum.txt", QUANTUM_POST.encode(), "text/plain")}
    response = service.client.post("/articles", params={"id": "902_quantum"}, files=files, headers=ADMIN)
    assert response.status_code == 201, response.text
    assert response.json()["passages_new"] == 2
    assert (Path(service.settings.corpus_dir) / "902_quantum.txt").read_text(encoding="utf-8") == QUANTUM_POST
    wrong_field = service.client.post("/articles", params={"id": "903"}, files={"post": files["file"]}, headers=ADMIN)
    assert wrong_field.status_code == 422 and "file field 'file'" in wrong_field.json()["detail"]


def test_deleting_the_last_post_is_refused_and_nothing_is_lost(encoder, tmp_path: Path) -> None:
    settings = tiny_index(tmp_path, encoder)
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        assert client.delete("/articles/t1_cooling", headers=ADMIN).status_code == 200
        version = engine.retriever.index.version
        response = client.delete("/articles/t2_bakery", headers=ADMIN)
        assert response.status_code == 409 and "not deleted" in response.json()["detail"]
        assert (settings.corpus_dir / "t2_bakery.txt").is_file()
        assert engine.retriever.index.version == version

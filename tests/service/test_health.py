import threading
from pathlib import Path

from fastapi.testclient import TestClient

from service.config import engine_from_settings
from service.main import create_app
from tests.conftest import build_from_settings, make_post
from tests.service.conftest import ADMIN, QUANTUM_POST, TINY_POSTS, Service, copy_index, tiny_settings


def test_healthz_is_alive(shared_service: Service) -> None:
    assert shared_service.client.get("/healthz").json()["status"] == "alive"


def test_readyz_reports_version_when_ready(shared_service: Service) -> None:
    body = shared_service.client.get("/readyz").json()
    assert body["status"] == "ready" and body["passages"] > 150 and body["problems"] == []


def test_readyz_is_503_with_a_reason_before_loading(built_index, tmp_path: Path) -> None:
    settings = copy_index(built_index, tmp_path)
    engine = engine_from_settings(settings)
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503 and "starting" in response.json()["status"]
        query = client.post("/query", json={"question": "液冷"})
        assert query.status_code == 503 and "not ready" in query.json()["detail"]
        assert client.get("/healthz").status_code == 200


def test_start_builds_the_index_when_there_is_none(encoder, tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path)
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    assert engine.ready and {a.id for a in engine.retriever.index.articles} == set(TINY_POSTS)
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        body = client.get("/readyz").json()
        assert body["status"] == "ready" and body["index_version"] == engine.retriever.index.version
        hits = client.get("/query", params={"q": "カンパーニュの発酵時間は？", "top_k": 1}).json()["passages"]
        assert hits[0]["article_id"] == "t2_bakery"


def test_a_failed_startup_says_why_then_recovers_when_an_index_appears(encoder, tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path)
    for post in settings.corpus_dir.iterdir():
        post.unlink()  # nothing to build from
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"].startswith("failed") and "add posts" in response.json()["status"]
        # The operator adds a post and runs `ragqa index`: the service picks the index up, no restart.
        title, body = TINY_POSTS["t1_cooling"]
        (settings.corpus_dir / "t1_cooling.txt").write_text(make_post(title, body), encoding="utf-8")
        build_from_settings(settings, encoder)
        engine.poll_once()
        response = client.get("/readyz")
        assert response.status_code == 200 and response.json()["status"] == "ready"


def test_admin_and_article_endpoints_are_503_until_ready(built_index, tmp_path: Path) -> None:
    settings = copy_index(built_index, tmp_path)
    engine = engine_from_settings(settings)  # never started: no model yet
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        for method, url in (("GET", "/articles"), ("POST", "/admin/reindex"), ("DELETE", "/articles/x1")):
            response = client.request(method, url, headers=ADMIN)
            assert response.status_code == 503 and "retry" in response.json()["detail"], (url, response.text)
        upload = client.post("/articles", params={"id": "x1"}, content=QUANTUM_POST, headers=ADMIN)
        assert upload.status_code == 503


def test_the_search_page_is_served_at_the_root(shared_service: Service) -> None:
    page = shared_service.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert shared_service.client.get("/static/app.js").status_code == 200
    missing = shared_service.client.get("/static/nope.js")
    assert missing.status_code == 404 and "detail" in missing.json()


def test_readyz_says_building_not_ready_while_start_up_checks_a_stale_index(encoder, tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path)
    old = build_from_settings(settings, encoder).version
    (settings.corpus_dir / "901_quantum.txt").write_text(QUANTUM_POST, encoding="utf-8")  # added while down
    engine = engine_from_settings(settings, encoder)
    checking, release = threading.Event(), threading.Event()
    out_of_step = engine._sync.out_of_step

    def slow_check(fingerprint: str, settle: bool = True) -> bool:
        checking.set()
        release.wait(30)
        return out_of_step(fingerprint, settle)

    engine._sync.out_of_step = slow_check
    engine.start(background=True)
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        assert checking.wait(60), engine.status
        # The old index serves, but the start-up has not yet decided whether to rebuild it: not "ready".
        body = client.get("/readyz").json()
        assert body["index_version"] == old and body["status"] == "building"
        release.set()
        engine._threads[0].join(60)
        engine.wait_for_catch_up(120)
        body = client.get("/readyz").json()
        assert body["status"] == "ready" and body["index_version"] != old
    engine.stop()

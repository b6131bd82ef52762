"""The service on Milvus Lite (RAGQA_BACKEND=milvus): it builds, serves, uploads and deletes through Milvus."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from index import store
from index.backends.milvus import MilvusConnection
from index.backends.milvus_connect import close, connect
from ragqa.settings import PROJECT_ROOT, Settings
from service.config import engine_from_settings
from service.server_process import running_server
from tests.conftest import build_from_settings
from tests.service.conftest import ADMIN, QUANTUM_POST, TOKEN, tiny_settings

pytest.importorskip("milvus_lite", reason="milvus-lite is not installed: pip install 'ragqa[milvus]' to test Milvus")

SECRET = "milvus-token-that-must-never-be-written"
QUANTUM = "量子アニーリングで配送距離はどれだけ短縮された？"


def _milvus_env(db: Path) -> dict[str, str]:
    return {
        "RAGQA_BACKEND": "milvus",
        "RAGQA_MILVUS_URI": str(db),
        "RAGQA_MILVUS_TOKEN": SECRET,  # Lite ignores it; it is here to prove it is never logged or written
        "RAGQA_ADMIN_TOKEN": TOKEN,
    }


def _top_articles(server, question: str) -> list[str]:
    status, body = server.request("GET", "/query?" + urllib.parse.urlencode({"q": question, "top_k": 3}))
    assert status == 200, body
    return [p["article_id"] for p in body["passages"]]


@pytest.mark.slow
def test_serve_builds_queries_uploads_and_deletes_through_milvus_lite(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path)
    db = tmp_path / "milvus" / "ragqa.db"
    env = _milvus_env(db)
    with running_server(settings.corpus_dir, settings.index_dir, env=env) as server:
        ready = server.wait_ready()
        assert ready["passages"] == 4, ready
        assert _top_articles(server, "直接液冷ではGPUの上に何を取り付ける？")[0] == "t1_cooling"

        status, body = server.request(
            "POST", "/articles?id=900_quantum", QUANTUM_POST.encode(), {**ADMIN, "Content-Type": "text/plain"}
        )
        assert status == 201 and body["passages_new"] == 2 and body["passages_reused"] == 4, body
        assert _top_articles(server, QUANTUM)[0] == "900_quantum"

        # The server owns the .db: `ragqa index` against it is refused with what to do instead.
        index = subprocess.run(
            [sys.executable, "-c", "from ragqa.cli import app; app(['index'])"],
            cwd=PROJECT_ROOT,
            env={
                **os.environ,
                **env,
                "RAGQA_CORPUS_DIR": str(settings.corpus_dir),
                "RAGQA_INDEX_DIR": str(settings.index_dir),
                "PYTHONPATH": str(PROJECT_ROOT),
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert index.returncode == 2 and "POST /admin/reindex" in index.stderr, index.stderr[-2000:]

        status, body = server.request("DELETE", "/articles/900_quantum", headers=ADMIN)
        assert status == 200 and body["passages_removed"] == 2, body
        assert "900_quantum" not in _top_articles(server, QUANTUM)
        status, body = server.request("POST", "/admin/reindex", headers=ADMIN)
        assert status == 200 and body["passages_new"] == 0 and body["passages_total"] == 4, body
        log = server.log(200_000)

    current = store.current_version(settings.index_dir)
    kept = store.candidate_versions(settings.index_dir)
    connection = MilvusConnection(str(db))
    client = connect(connection.uri)  # the server is gone: this process may open the file now
    try:
        assert client.describe_alias(connection.alias)["collection_name"] == connection.collection_name(current)
        assert {c for c in client.list_collections() if connection.owns(c)} == {
            connection.collection_name(v) for v in kept
        }
    finally:
        close(connection.uri)
    written = [p.read_bytes() for p in settings.index_dir.rglob("*") if p.is_file()]
    assert SECRET not in log and not any(SECRET.encode() in data for data in written)


def test_a_faiss_index_is_rebuilt_into_milvus_when_the_backend_changes(encoder, tmp_path: Path) -> None:
    faiss = tiny_settings(tmp_path)
    built = build_from_settings(faiss, encoder)
    milvus = Settings(**{**faiss.model_dump(), "backend": "milvus", "milvus_uri": str(tmp_path / "m.db")})
    engine = engine_from_settings(milvus, encoder)
    try:
        engine.start(background=False)
        served = engine.retriever.index
        assert served.manifest.backends == {"bm25": "milvus_bm25", "dense": "milvus_dense"}
        assert served.version != built.version and engine.status == "ready"
        hits = engine.retriever.search("パンの発酵にかかった時間は？", 1)
        assert hits[0].passage.article_id == "t2_bakery"
    finally:
        engine.stop()
        close(str(tmp_path / "m.db"))


def test_milvus_settings_say_what_is_missing_and_keep_the_token_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RAGQA_BACKEND=milvus needs RAGQA_MILVUS_URI"):
        Settings(backend="milvus").build_options()
    settings = Settings(backend="milvus", milvus_uri=str(tmp_path / "x.db"), milvus_token=SECRET, milvus_prefix="shop")
    options = settings.build_options()
    assert options.milvus is not None and options.milvus.token == SECRET and options.milvus.prefix == "shop"
    assert SECRET not in repr(settings) and SECRET not in repr(options)
    assert set(settings.load_options()) == {"milvus_dense", "milvus_bm25"}
    assert Settings().load_options() == {} and Settings().build_options().milvus is None
    with pytest.raises(ValueError, match="letters and digits"):
        Settings(backend="milvus", milvus_uri=str(tmp_path / "x.db"), milvus_prefix="a__b").build_options()


def test_an_unreachable_milvus_is_a_503_that_names_it(encoder, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from service.main import create_app

    settings = tiny_settings(tmp_path, backend="milvus", milvus_uri="http://127.0.0.1:9")
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    try:
        with TestClient(create_app(settings, engine=engine, start=False)) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 503 and "cannot reach Milvus at http://127.0.0.1:9" in ready.json()["status"]
            upload = client.post(
                "/articles?id=900_quantum",
                content=QUANTUM_POST.encode(),
                headers={**ADMIN, "Content-Type": "text/plain"},
            )
            assert upload.status_code == 503 and "RAGQA_MILVUS_URI" in upload.json()["detail"], upload.json()
    finally:
        engine.stop()

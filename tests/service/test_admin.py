"""Reindexing while queries are served, one build at a time, and indexes built by another process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from index.store import build_lock
from ragqa.settings import Settings
from tests.conftest import build_from_settings
from tests.service.conftest import ADMIN, QUANTUM_POST, Service

QUESTION = "量子アニーリングで配送距離はどれだけ短縮された？"


def _top_article(service: Service) -> str:
    return service.client.get("/query", params={"q": QUESTION, "top_k": 1}).json()["passages"][0]["article_id"]


def test_reindex_picks_up_posts_copied_in_by_hand(service: Service) -> None:
    (Path(service.settings.corpus_dir) / "901_quantum.txt").write_text(QUANTUM_POST, encoding="utf-8")
    response = service.client.post("/admin/reindex", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["passages_new"] == 2
    assert _top_article(service) == "901_quantum"


def test_queries_keep_succeeding_during_a_reindex(service: Service) -> None:
    (Path(service.settings.corpus_dir) / "901_quantum.txt").write_text(QUANTUM_POST, encoding="utf-8")
    statuses: list[int] = []
    versions: set[str] = set()
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            response = service.client.post("/query", json={"question": "液冷の普及率は？", "top_k": 3})
            statuses.append(response.status_code)
            versions.add(response.json()["index_version"])

    before = service.engine.retriever.index.version
    asker = threading.Thread(target=ask)
    asker.start()
    try:
        assert service.client.post("/admin/reindex", headers=ADMIN, params={}).status_code == 200
        time.sleep(0.3)
    finally:
        done.set()
        asker.join()
    assert statuses and set(statuses) == {200}
    after = service.engine.retriever.index.version
    assert after != before and versions <= {before, after}


def test_a_second_build_gets_409(service: Service) -> None:
    with build_lock(service.settings.index_dir):  # e.g. `ragqa index` running in another process
        response = service.client.post("/admin/reindex", headers=ADMIN)
        assert response.status_code == 409 and "already running" in response.json()["detail"]
        upload = service.client.post(
            "/articles", params={"id": "x"}, content=QUANTUM_POST, headers={**ADMIN, "Content-Type": "text/plain"}
        )
        assert upload.status_code == 409
    assert not (Path(service.settings.corpus_dir) / "x.txt").exists()


def test_index_rebuilt_by_another_process_is_swapped_in(service: Service, encoder) -> None:
    (Path(service.settings.corpus_dir) / "901_quantum.txt").write_text(QUANTUM_POST, encoding="utf-8")
    outside = Settings(corpus_dir=service.settings.corpus_dir, index_dir=service.settings.index_dir)
    new_version = build_from_settings(outside, encoder).version  # what `ragqa index` does
    deadline = time.monotonic() + 10
    while service.engine.retriever.index.version != new_version and time.monotonic() < deadline:
        time.sleep(0.1)
    assert service.client.get("/readyz").json()["index_version"] == new_version
    assert _top_article(service) == "901_quantum"

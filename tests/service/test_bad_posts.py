"""A bad post in the corpus folder never stops the service: it starts, reindexes, and lists the post as rejected."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from service.config import engine_from_settings
from service.main import create_app
from tests.corpus.test_loader import BAD_POSTS
from tests.service.conftest import ADMIN, tiny_settings


def test_fresh_service_with_bad_posts_becomes_ready_and_reindex_lists_them(encoder, tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path)
    (settings.corpus_dir / "bad_date.txt").write_text(BAD_POSTS["bad_date"], encoding="utf-8")
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    assert engine.ready, engine.status
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        assert {a["id"] for a in client.get("/articles").json()} == {"t1_cooling", "t2_bakery"}
        for name in ("bad_nesting", "bad_bomb"):
            (settings.corpus_dir / f"{name}.txt").write_text(BAD_POSTS[name], encoding="utf-8")
        response = client.post("/admin/reindex", headers=ADMIN)
        assert response.status_code == 200, response.text
        rejected = response.json()["rejected"]
        assert [r.split(":")[0] for r in rejected] == ["bad_bomb.txt", "bad_date.txt", "bad_nesting.txt"]
        assert client.get("/readyz").json()["status"] == "ready"
    engine.stop()

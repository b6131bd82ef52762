"""Upload validation: off the event loop, and unusable posts refused by name with a 4xx, never a 500."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corpus.loader import MAX_PARAGRAPHS_PER_POST
from ragqa.settings import Settings
from service.config import engine_from_settings
from service.main import create_app
from service.server_process import running_server
from tests.conftest import make_post
from tests.corpus.test_frontmatter import BILLION_LAUGHS
from tests.corpus.test_loader import BAD_POSTS
from tests.service.conftest import ADMIN, TOKEN, tiny_index

# Runs inside the server process: validating the post "t1_cooling" takes 3 s more, as on a slow machine,
# so the test can look at the event loop while it happens.
SLOW_VALIDATION = """
import time
import corpus.loader as _loader
_build_passages = _loader.build_passages
def _slow(posts, *args, **kwargs):
    if [p.article.id for p in posts] == ["t1_cooling"]:
        time.sleep(3)
    return _build_passages(posts, *args, **kwargs)
_loader.build_passages = _slow
"""


def _big_post() -> bytes:
    """About 900 KB: 1,500 distinct paragraphs of ~200 characters."""
    body = "".join(
        f"第{i}項：液冷と電力の関係について、{i * 7919 % 10007}件の事例を確かめた。"
        + "データセンターの冷却は" * 15
        + "。\n\n"
        for i in range(1500)
    )
    return make_post("大きな記事", body).encode()


@pytest.mark.slow
def test_healthz_answers_within_a_second_while_a_big_upload_is_validated(encoder, tmp_path: Path) -> None:
    settings = tiny_index(tmp_path, encoder)
    post = _big_post()
    assert 800_000 < len(post) < settings.max_upload_bytes
    with running_server(
        settings.corpus_dir, settings.index_dir, {"RAGQA_ADMIN_TOKEN": TOKEN}, SLOW_VALIDATION
    ) as server:
        server.wait_ready()
        result: dict = {}

        def upload() -> None:
            started = time.monotonic()
            # The id exists and replace is not asked for: validated in full, then refused without a build.
            headers = {**ADMIN, "Content-Type": "text/plain"}
            result["status"], result["body"] = server.request("POST", "/articles?id=t1_cooling", post, headers)
            result["seconds"] = time.monotonic() - started

        uploader = threading.Thread(target=upload)
        uploader.start()
        waits = []
        while uploader.is_alive():
            started = time.monotonic()
            status, _ = server.request("GET", "/healthz", timeout=30)
            waits.append(time.monotonic() - started)
            assert status == 200
            time.sleep(0.1)
        uploader.join()
    assert result["status"] == 409, result
    assert max(waits) < 1, f"/healthz waited {max(waits):.1f}s during validation"
    assert result["seconds"] > 3 and len(waits) >= 10  # the polls did happen during validation


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    """The app without a model: uploads are validated before the engine is needed."""
    settings = Settings(corpus_dir=tmp_path, index_dir=tmp_path / "index", admin_token=TOKEN, index_poll_seconds=0)
    return TestClient(create_app(settings, engine=engine_from_settings(settings), start=False))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (f"---\n{BILLION_LAUGHS}\n---\n\n本文です。液冷はサーバーの熱を運ぶ。\n", "uses a YAML anchor"),
        (BAD_POSTS["bad_date"], "day is out of range for month"),
        (BAD_POSTS["bad_nesting"], "nested more than"),
        ("---\ntitle: [a]\ndate: 2025-01-01\n---\n\n本文です。液冷はサーバーの熱を運ぶ。\n", "single text value"),
    ],
)
def test_unusable_front_matter_is_422_naming_the_post(client: TestClient, text: str, says: str) -> None:
    headers = {**ADMIN, "Content-Type": "text/plain"}
    response = client.post("/articles?id=bad_post", content=text.encode(), headers=headers)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("upload bad_post: ") and says in detail


def test_too_many_paragraphs_is_413_naming_the_limit(client: TestClient) -> None:
    body = "".join(f"第{i}項：液冷について{i}件の事例を確かめた。\n\n" for i in range(MAX_PARAGRAPHS_PER_POST + 1))
    headers = {**ADMIN, "Content-Type": "text/plain"}
    response = client.post("/articles?id=many", content=make_post("多い", body).encode(), headers=headers)
    assert response.status_code == 413
    assert "over the limit of 2,000 per post: split it" in response.json()["detail"]

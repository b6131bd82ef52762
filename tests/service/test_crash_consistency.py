"""A server killed (SIGKILL) in the middle of a replace, a delete or an upload: the restart serves the corpus.

The post change is staged so the kill leaves each post file old or new, never half; on start the service
compares the served index's corpus fingerprint with the folder and brings the index up to date.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from index import store
from service.config import engine_from_settings
from service.main import create_app
from service.server_process import Server, running_server
from tests.conftest import make_post
from tests.service.conftest import ADMIN, TOKEN, tiny_index

# Runs inside the server process: while the file named by RAGQA_TEST_HANG_FLAG exists, the next index
# build hangs right after writing its FAISS file (the flag is removed), so the test can kill it there.
HANG_ONCE = """
import os, time
from index.backends.dense import FaissBackend
_save = FaissBackend.save
def _hang_once(self, folder):
    _save(self, folder)
    flag = os.environ["RAGQA_TEST_HANG_FLAG"]
    if os.path.exists(flag):
        os.remove(flag)
        time.sleep(600)
FaissBackend.save = _hang_once
"""
NEW_BODY = "液冷の改訂版。冷却水の温度を二度下げたところ、サーバー室全体の消費電力が一割下がった。\n"
UPLOAD_BODY = "天然酵母のパンを三日続けて焼いた。二日目は発酵を短くしたので、クープの開きが小さくなった。\n"
TEXT = {**ADMIN, "Content-Type": "text/plain"}


def _wait_until(server: Server, check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not seen in {timeout}s:\n{server.log()}"
        time.sleep(0.2)


def _kill_during_build(server: Server, flag: Path, index_dir: Path, method: str, path: str, body: bytes) -> None:
    """Send the request, then SIGKILL the server while its index build hangs after writing files."""
    flag.touch()

    def send() -> None:
        try:
            server.request(method, path, body or None, TEXT, timeout=60)
        except OSError:
            pass  # the server is killed while this request waits

    threading.Thread(target=send, daemon=True).start()
    _wait_until(server, lambda: not flag.exists(), "the build reaching its hang point")
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    assert any(p.name.startswith(".tmp-") for p in store.versions_dir(index_dir).iterdir())


def _title(server: Server, article_id: str) -> str | None:
    status, body = server.request("GET", f"/articles/{article_id}")
    return body["title"] if status == 200 else None


def test_sigkill_mid_replace_delete_upload_then_restart_serves_what_is_on_disk(encoder, tmp_path: Path) -> None:
    settings = tiny_index(tmp_path, encoder)
    flag = tmp_path / "hang-next-build"
    env = {"RAGQA_ADMIN_TOKEN": TOKEN, "RAGQA_TEST_HANG_FLAG": str(flag)}
    posts = settings.corpus_dir

    def server():
        return running_server(posts, settings.index_dir, env, prelude=HANG_ONCE)

    with server() as first:
        first.wait_ready()
        new_post = make_post("液冷の基礎（改訂）", NEW_BODY).encode()
        _kill_during_build(first, flag, settings.index_dir, "POST", "/articles?id=t1_cooling&replace=true", new_post)
    # The kill left the new file in place (whole) and the old index current.
    assert (posts / "t1_cooling.txt").read_bytes() == new_post

    with server() as second:
        second.wait_ready()
        _wait_until(second, lambda: _title(second, "t1_cooling") == "液冷の基礎（改訂）", "the replaced title")
        assert not [p.name for p in posts.iterdir() if p.name.startswith(".")]  # no backup left behind
        _kill_during_build(second, flag, settings.index_dir, "DELETE", "/articles/t2_bakery", b"")
    assert not (posts / "t2_bakery.txt").exists()

    with server() as third:
        third.wait_ready()
        _wait_until(third, lambda: _title(third, "t2_bakery") is None, "the deleted article gone")
        upload = make_post("新しい記事", UPLOAD_BODY).encode()
        _kill_during_build(third, flag, settings.index_dir, "POST", "/articles?id=t3_new", upload)

    with server() as fourth:
        fourth.wait_ready()
        _wait_until(fourth, lambda: _title(fourth, "t3_new") == "新しい記事", "the uploaded article")
        assert fourth.request("POST", "/articles?id=t3_new", upload, TEXT)[0] == 409  # consistent: it exists
        ready = fourth.request("GET", "/readyz")[1]
        assert ready["status"] == "ready" and ready["problems"] == []
        assert sorted(p.name for p in posts.iterdir()) == ["t1_cooling.txt", "t3_new.txt"]


def test_delete_removes_an_article_that_is_only_in_the_index(encoder, tmp_path: Path) -> None:
    settings = tiny_index(tmp_path, encoder)
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    engine.wait_for_catch_up()
    (settings.corpus_dir / "t2_bakery.txt").unlink()  # gone from disk; the index (no watcher here) still has it
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        assert client.get("/articles/t2_bakery").status_code == 200
        response = client.delete("/articles/t2_bakery", headers=ADMIN)
        assert response.status_code == 200, response.text
        assert response.json()["passages_removed"] > 0
        assert client.get("/articles/t2_bakery").status_code == 404
        assert client.delete("/articles/t2_bakery", headers=ADMIN).status_code == 404
    engine.stop()

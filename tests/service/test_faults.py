"""Faults: a server killed mid-reindex, corrupted index files, a bad version appearing on disk."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from index import store
from service.config import engine_from_settings
from service.main import create_app
from service.server_process import running_server
from tests.conftest import build_from_settings
from tests.service.conftest import ADMIN, QUANTUM_POST, TOKEN, copy_index, tiny_settings

# Runs inside the server process: the FAISS write of any build hangs, so the test can kill it mid-write.
HANG_DURING_WRITE = """
import time
from index.backends.dense import FaissBackend
_save = FaissBackend.save
def _hang(self, folder):
    _save(self, folder)
    time.sleep(600)
FaissBackend.save = _hang
"""


def _two_versions(built_index, encoder, root: Path):
    """A corpus + index with an older good version and a newer CURRENT one."""
    settings = copy_index(built_index, root, index_poll_seconds=0)
    old = store.current_version(settings.index_dir)
    (settings.corpus_dir / "901_quantum.txt").write_text(QUANTUM_POST, encoding="utf-8")
    new = build_from_settings(settings, encoder).version
    return settings, old, new


def _reindex_ignoring_the_kill(server) -> None:
    try:
        server.request("POST", "/admin/reindex", b"", ADMIN)
    except OSError:
        pass  # the server is killed while this request waits


def test_sigkill_mid_reindex_then_restart_serves_last_complete_index(built_index, tmp_path: Path) -> None:
    settings = copy_index(built_index, tmp_path)
    good = store.current_version(settings.index_dir)
    (settings.corpus_dir / "901_quantum.txt").write_text(QUANTUM_POST, encoding="utf-8")
    env = {"RAGQA_ADMIN_TOKEN": TOKEN}
    with running_server(settings.corpus_dir, settings.index_dir, env, prelude=HANG_DURING_WRITE) as server:
        server.wait_ready()
        threading.Thread(target=_reindex_ignoring_the_kill, args=(server,), daemon=True).start()
        versions = store.versions_dir(settings.index_dir)
        deadline = time.monotonic() + 120
        while not any(
            p.name.startswith(".tmp-") and (p / "dense" / "index.faiss").exists() for p in versions.iterdir()
        ):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
    assert any(p.name.startswith(".tmp-") for p in versions.iterdir())  # the half-written version
    assert store.current_version(settings.index_dir) == good

    with running_server(settings.corpus_dir, settings.index_dir, env) as server:
        server.wait_ready()
        # The last complete index serves at once; the post the killed reindex was adding is indexed next.
        ready = wait_for_status(server, "ready")
        assert ready["index_version"] != good and ready["problems"] == []
        assert not any(p.name.startswith(".tmp-") for p in versions.iterdir())
        assert server.request("GET", "/articles/901_quantum")[0] == 200
        status, body = server.request("GET", "/query?q=%E6%B6%B2%E5%86%B7")
        assert status == 200 and body["index_version"] == ready["index_version"]


def wait_for_status(server, status: str, timeout: float = 180) -> dict:
    """The /readyz body once its status is ``status`` (e.g. after a catch-up build)."""
    deadline = time.monotonic() + timeout
    while True:
        code, body = server.request("GET", "/readyz", timeout=10)
        if code == 200 and body["status"] == status:
            return body
        assert time.monotonic() < deadline, f"/readyz still {body} after {timeout}s:\n{server.log()}"
        time.sleep(0.2)


# Runs inside the server process: index builds take 4 s longer, so the test sees the degraded state.
SLOW_BUILD = """
import time
import index.build as _build
_build_index = _build.build_index
def _slow(*args, **kwargs):
    time.sleep(4)
    return _build_index(*args, **kwargs)
_build.build_index = _slow
import service.engine
service.engine.build_index = _slow
"""


def test_corrupt_current_version_serves_fallback_as_degraded_then_rebuilds(
    built_index, encoder, tmp_path: Path
) -> None:
    settings, old, new = _two_versions(built_index, encoder, tmp_path)
    faiss_file = store.versions_dir(settings.index_dir) / new / "dense" / "index.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:1000])
    with running_server(settings.corpus_dir, settings.index_dir, prelude=SLOW_BUILD) as server:
        ready = server.wait_ready()
        # Served, but not silently: the fallback (which lacks the newer post) is reported.
        assert ready["status"] == "degraded" and ready["index_version"] == old
        assert "dense/index.faiss does not match its checksum" in ready["problems"][0]
        assert server.request("GET", "/query?q=%E6%B6%B2%E5%86%B7")[1]["index_version"] == old
        # Rebuilt from the corpus in the background: a new good version, with the post the fallback lacked.
        ready = wait_for_status(server, "ready")
        assert ready["index_version"] not in (old, new) and ready["problems"] == []
        assert server.request("GET", "/articles/901_quantum")[0] == 200
    assert "dense/index.faiss does not match its checksum" in server.log(100_000)


def test_edited_passages_file_falls_back_to_previous_version(built_index, encoder, tmp_path: Path) -> None:
    settings, old, new = _two_versions(built_index, encoder, tmp_path)
    passages = store.versions_dir(settings.index_dir) / new / "passages.jsonl"
    rows = passages.read_text(encoding="utf-8").splitlines()
    row = json.loads(rows[3])
    row["text"] = row["text"].replace("AI", "ＡＩ", 1) + "（編集）"
    passages.write_text("\n".join(rows[:3] + [json.dumps(row, ensure_ascii=False)] + rows[4:]) + "\n", "utf-8")
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    assert engine.retriever.index.version == old and engine.degraded
    assert "passages.jsonl" in engine.problems[0]
    engine.wait_for_catch_up(180)
    assert engine.retriever.index.version not in (old, new) and not engine.degraded
    engine.stop()


def test_every_version_corrupt_means_rebuilt_from_the_corpus(encoder, tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path)
    only = build_from_settings(settings, encoder).version
    (store.versions_dir(settings.index_dir) / only / "embeddings.npy").write_bytes(b"garbage")
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    assert engine.ready and engine.retriever.index.version != only  # rebuilt, never the damaged one
    assert "embeddings.npy" in engine.problems[0]


def test_corrupt_version_appearing_on_disk_is_never_served(built_index, encoder, tmp_path: Path, caplog) -> None:
    settings = copy_index(built_index, tmp_path, index_poll_seconds=0)  # the test polls by hand
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    engine.wait_for_catch_up()
    serving = engine.retriever.index.version
    # Another process builds a version and its FAISS file is damaged before this service looks at it.
    (settings.corpus_dir / "901_quantum.txt").write_text(QUANTUM_POST, encoding="utf-8")
    bad = build_from_settings(settings, encoder).version
    faiss_file = store.versions_dir(settings.index_dir) / bad / "dense" / "index.faiss"
    intact = faiss_file.read_bytes()
    faiss_file.write_bytes(b"\0" * 10)
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        for _ in range(3):  # looked at once, then not reloaded on every poll
            engine.poll_once()
        assert caplog.text.count("refused") == 1
        ready = client.get("/readyz").json()
        assert ready["index_version"] == serving and "dense/index.faiss" in ready["problems"][0]
        assert client.post("/query", json={"question": "液冷"}).json()["index_version"] == serving

        faiss_file.write_bytes(intact)  # repaired; then `ragqa index` makes a newer version
        (settings.corpus_dir / "901_quantum.txt").unlink()
        good = build_from_settings(settings, encoder).version
        engine.poll_once()
        ready = client.get("/readyz").json()
        assert ready["index_version"] == good and ready["problems"] == []
    engine.stop()

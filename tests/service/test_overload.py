"""Overload against a real server process: idle connections, a full search queue, a watcher short of files."""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from service.server_process import running_server
from tests.service.conftest import tiny_index

IDLE_CONNECTIONS = 600
# Runs inside the server process: at most 400 open files, so the idle connections exhaust them.
FEW_FILES = """
import resource
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (400, _hard))
"""
# Runs inside the server process: every search batch takes 2 s, so questions pile up in the queue.
SLOW_SEARCH = """
import time
from index.retriever import HybridRetriever
_ask_many = HybridRetriever.ask_many  # what the engine's search worker calls
def _slow(self, *args, **kwargs):
    time.sleep(2)
    return _ask_many(self, *args, **kwargs)
HybridRetriever.ask_many = _slow
"""


@pytest.fixture
def tiny(encoder, tmp_path: Path):
    return tiny_index(tmp_path, encoder)


def _get(base: str, path: str, timeout: float) -> tuple[int, Message, dict]:
    """(status, headers (case-insensitive), JSON body or {} for uvicorn's plain-text 503)."""
    try:
        with urllib.request.urlopen(base + path, timeout=timeout) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, exc.headers, json.loads(body) if body.startswith(b"{") else {}


def test_hundreds_of_idle_connections_do_not_lock_out_a_client(tiny) -> None:
    env = {"RAGQA_HEADER_TIMEOUT": "1", "RAGQA_LIMIT_CONCURRENCY": "64"}
    with running_server(tiny.corpus_dir, tiny.index_dir, env, prelude=FEW_FILES) as server:
        server.wait_ready()
        port = int(server.base.rsplit(":", 1)[1])
        idle = []
        try:
            for _ in range(IDLE_CONNECTIONS):  # connected, never a byte sent (loopback only)
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            started = time.monotonic()
            answered = None
            while time.monotonic() - started < 20:
                try:
                    status, _, body = _get(server.base, "/readyz", timeout=2)
                except OSError:
                    continue  # still waiting to be accepted
                if status == 200:
                    answered = time.monotonic() - started
                    break
                time.sleep(0.2)  # 503 from limit_concurrency while idle connections are being timed out
            assert answered is not None, f"a client was locked out for 20 s:\n{server.log()}"
            # The server closed the idle connections it had accepted (their header time ran out).
            closed = sum(1 for s in idle[:50] if _closed_by_peer(s))
            assert closed == 50
        finally:
            for s in idle:
                s.close()
        assert server.proc.poll() is None


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False  # still open
    except OSError:
        return True  # reset by the server


def test_a_full_search_queue_answers_503_with_retry_after(tiny) -> None:
    env = {"RAGQA_SEARCH_QUEUE_SIZE": "2"}
    with running_server(tiny.corpus_dir, tiny.index_dir, env, prelude=SLOW_SEARCH) as server:
        server.wait_ready()
        results: list[tuple[int, Message, dict]] = []

        def ask() -> None:
            results.append(_get(server.base, "/query?q=%E6%B6%B2%E5%86%B7", timeout=60))

        first = threading.Thread(target=ask)
        first.start()
        time.sleep(0.7)  # the worker is busy with the first question
        crowd = [threading.Thread(target=ask) for _ in range(6)]
        for thread in crowd:
            thread.start()
        for thread in [first, *crowd]:
            thread.join(60)
        statuses = sorted(status for status, _, _ in results)
        # The first question is searched, two wait in the queue, the rest are refused at once.
        assert len(statuses) == 7 and set(statuses) == {200, 503}, statuses
        assert statuses.count(200) >= 2 and statuses.count(503) >= 3, statuses
        refused = next((headers, body) for status, headers, body in results if status == 503)
        assert int(refused[0]["Retry-After"]) > 0 and "busy" in refused[1]["detail"]


def test_the_index_watcher_survives_running_out_of_files(tiny, encoder, monkeypatch, caplog) -> None:
    from index import store
    from service.config import engine_from_settings

    settings = tiny.model_copy(update={"index_poll_seconds": 0.05})
    engine = engine_from_settings(settings, encoder)
    calls = {"n": 0}
    real = store.current_version

    def short_of_files(index_dir: Path) -> str | None:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise OSError(errno.EMFILE, "Too many open files")
        return real(index_dir)

    monkeypatch.setattr(store, "current_version", short_of_files)
    engine.start(background=False)
    deadline = time.monotonic() + 10
    # Wait for the load itself, not for a count of calls: loading reads CURRENT again before it is done.
    while not engine.ready:  # the load that failed for lack of files is retried by the watcher
        assert time.monotonic() < deadline, f"the watcher did not load the index ({calls['n']} looks at CURRENT)"
        time.sleep(0.05)
    assert calls["n"] >= 6  # three failures, then the poll, the load's own look and its candidate list
    assert any(t.name == "ragqa-index-watch" and t.is_alive() for t in engine._threads)
    engine.stop()

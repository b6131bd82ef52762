"""SIGTERM while an upload's index build runs: the server exits in bounded time, the post change undone."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from pathlib import Path

from index import store
from service.server_process import running_server
from tests.conftest import make_post
from tests.service.conftest import ADMIN, TOKEN, tiny_index

# Runs inside the server process: each encoder call of a build takes 1 s more (queries are unaffected).
SLOW_ENCODER = """
import time
from index.model.torch_encoder import SentenceTransformerEncoder
_encode = SentenceTransformerEncoder.encode_passages
def _slow(self, *args, **kwargs):
    time.sleep(1)
    return _encode(self, *args, **kwargs)
SentenceTransformerEncoder.encode_passages = _slow
"""
WORDS = (
    "液冷 空冷 サーバー 電力 温度 ラック 冷却水 配管 ポンプ 熱交換器 データセンター 湿度 騒音 効率 設計 "
    "予算 保守 点検 故障 交換 監視 警報 記録 測定 試験 結果 改善 計画 運用 費用 床下 天井 窓 屋上 発電機 "
    "蓄電池 照明 扉 通路 配線"
).split()
_pick = random.Random(15)
# Distinct enough that near-duplicate removal keeps every one: each is its own passage to embed.
PARAGRAPHS = ["、".join(_pick.sample(WORDS, 12)) + "について調べた。" for _ in range(30)]


def test_sigterm_during_a_build_exits_in_bounded_time_and_undoes_the_upload(encoder, tmp_path: Path) -> None:
    settings = tiny_index(tmp_path, encoder)
    current = store.current_version(settings.index_dir)
    # The torch encoder, which SLOW_ENCODER slows down (float32 vectors: they mix with the ONNX-built index).
    env = {
        "RAGQA_ADMIN_TOKEN": TOKEN,
        "RAGQA_EMBED_BATCH_SIZE": "1",
        "RAGQA_SHUTDOWN_TIMEOUT": "2",
        "RAGQA_ENCODER": "torch",
    }
    post = make_post("長い記事", "\n\n".join(PARAGRAPHS)).encode()  # ~90 encoder calls: minutes of building
    with running_server(settings.corpus_dir, settings.index_dir, env, prelude=SLOW_ENCODER) as server:
        server.wait_ready()

        answers: list[tuple[int, dict]] = []

        def upload() -> None:
            try:
                answers.append(
                    server.request("POST", "/articles?id=t3_long", post, {**ADMIN, "Content-Type": "text/plain"})
                )
            except OSError:  # the connection closed without an answer: also acceptable at shutdown
                pass

        threading.Thread(target=upload, daemon=True).start()
        deadline = time.monotonic() + 60
        while not (settings.corpus_dir / "t3_long.txt").exists():  # written: the build has started
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        time.sleep(2)  # well inside the embedding
        server.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            server.proc.wait(20)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running 20 s after SIGTERM:\n{server.log()}") from None
        took = time.monotonic() - started
    assert took < 15, took
    # The upload cut off by the shutdown was told to retry (a 503 in JSON), not given uvicorn's plain 500.
    assert answers and all(status == 503 and "retry" in body["detail"] for status, body in answers), answers
    # Consistent: the upload was undone, nothing half-written, the previous version still current.
    assert sorted(p.name for p in settings.corpus_dir.iterdir()) == ["t1_cooling.txt", "t2_bakery.txt"]
    assert store.current_version(settings.index_dir) == current
    assert not any(p.name.startswith(".tmp-") for p in store.versions_dir(settings.index_dir).iterdir())
    assert "build was stopped" in server.log(100_000)

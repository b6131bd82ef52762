"""Oversized request bodies are refused before they are read, against the real server process."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from fastapi.testclient import TestClient

from ragqa.settings import Settings
from service.config import engine_from_settings
from service.limits import QUERY_BODY_BYTES
from service.main import create_app
from service.server_process import Server, running_server
from tests.service.conftest import ADMIN, TOKEN, tiny_index

BIG = 50 * 1024 * 1024
MULTIPART_START = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'
MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, encoder) -> Iterator[Server]:
    settings = tiny_index(tmp_path_factory.mktemp("limits"), encoder)
    env = {"RAGQA_ADMIN_TOKEN": TOKEN}
    with running_server(settings.corpus_dir, settings.index_dir, env) as running:
        running.wait_ready()  # model loaded and index built: the memory baseline is steady
        yield running


def _read_response(sock: socket.socket) -> tuple[int, str]:
    """(status, body) of one HTTP/1.1 response with a Content-Length."""
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length:"))
    while len(body) < length and (chunk := sock.recv(65536)):
        body += chunk
    return int(lines[0].split()[1]), body.decode()


def _send_big(server: Server, path: str, chunked: bool, headers: dict[str, str]) -> tuple[int, str, float]:
    """POST a 50 MB body (declared or chunked) until the server answers; (status, body, seconds).

    The body starts as the route expects (a JSON question, a multipart file) and goes on with 'x's.
    """
    port = int(server.base.rsplit(":", 1)[1])
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {BIG}\r\n"
    multipart = headers.get("Content-Type", "").startswith("multipart/")
    start = MULTIPART_START if multipart else b'{"question": "'
    filler = b"x" * (64 * 1024)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall((head + "\r\n").encode())
            sent = 0
            while sent < BIG and not select.select([sock], [], [], 0)[0]:  # stop once the server has answered
                piece = (filler if sent else start + filler)[: BIG - sent]
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
                sent += len(piece)
            if chunked and sent >= BIG:
                sock.sendall(b"0\r\n\r\n")  # the server never answered early: end the body
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed; its answer is still in our receive buffer
        status, body = _read_response(sock)
    return status, body, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "chunked", "headers", "says"),
    [
        ("/query", False, {"Content-Type": "application/json"}, "16,384-byte limit"),
        ("/query", True, {"Content-Type": "application/json"}, "16,384-byte limit"),
        ("/articles?id=big", False, {**ADMIN, "Content-Type": "text/plain"}, "RAGQA_MAX_UPLOAD_BYTES"),
        ("/articles?id=big", True, {**ADMIN, "Content-Type": "multipart/form-data; boundary=b"}, "MAX_UPLOAD"),
    ],
)
def test_fifty_megabyte_body_gets_413_fast_without_growing_the_server(
    server: Server, path: str, chunked: bool, headers: dict[str, str], says: str
) -> None:
    process = psutil.Process(server.proc.pid)
    before = process.memory_info().rss
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        status, body, elapsed = _send_big(server, path, chunked, headers)
    finally:
        done.set()
        sampler.join()
    assert status == 413, body
    assert says in body and '"detail"' in body
    assert elapsed < 5, f"413 took {elapsed:.1f}s"
    assert peak - before < 50 * MB, f"server RSS grew by {(peak - before) / MB:.0f} MB"
    status, _ = server.request("GET", "/healthz", timeout=5)
    assert status == 200


def _client(tmp_path: Path) -> TestClient:
    settings = Settings(corpus_dir=tmp_path, index_dir=tmp_path / "index", admin_token=TOKEN, index_poll_seconds=0)
    return TestClient(create_app(settings, engine=engine_from_settings(settings), start=False))


def test_query_body_over_the_limit_is_413_even_when_streamed(tmp_path: Path) -> None:
    client = _client(tmp_path)
    body = b'{"question": "' + b"x" * QUERY_BODY_BYTES + b'"}'
    for content in (body, iter([body[i : i + 4096] for i in range(0, len(body), 4096)])):
        response = client.post("/query", content=content, headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert "16,384-byte limit" in response.json()["detail"]


def test_small_bodies_still_reach_the_routes(tmp_path: Path) -> None:
    client = _client(tmp_path)
    response = client.post("/query", json={"question": "液冷" * 500})
    assert response.status_code == 503  # validated and queued; the engine was never started
    response = client.post("/articles?id=x", content=b"x" * 2000, headers={**ADMIN, "Content-Type": "text/plain"})
    assert response.status_code == 422  # read and validated: not a post

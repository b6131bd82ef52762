"""Run the real `ragqa serve` as a child process on a free loopback port (end-to-end tests, benchmarks)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ragqa.settings import PROJECT_ROOT

READY_TIMEOUT_S = 180


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running server process."""

    base: str
    proc: subprocess.Popen
    log_path: Path | None
    started: float  # time.perf_counter() at spawn
    ready_seconds: float | None = None  # spawn to the first GET /readyz = 200, once seen

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 120
    ) -> tuple[int, dict]:
        """(status, JSON body) of one HTTP request; a body that is not JSON comes back as ``{"text": ...}``."""
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, _json_or_text(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _json_or_text(exc.read())

    def log(self, chars: int = 4000) -> str:
        """The end of the server's log (empty when it is not kept)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> dict:
        """Block until GET /readyz is 200; return its body (and record ``ready_seconds``)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} before ready:\n{self.log()}")
            try:
                status, body = self.request("GET", "/readyz", timeout=5)
                if status == 200:
                    self.ready_seconds = time.perf_counter() - self.started
                    return body
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready in {timeout}s:\n{self.log()}")
            time.sleep(0.05)


@contextmanager
def running_server(
    corpus_dir: Path | None = None,
    index_dir: Path | None = None,
    env: dict | None = None,
    prelude: str = "",
    log_path: Path | None = None,
) -> Iterator[Server]:
    """Start `ragqa serve` (after running ``prelude`` Python code in the same process, for fault injection).

    Folders not given come from the environment, as for `ragqa serve`; the log goes to ``log_path`` (default:
    beside the index folder, or nowhere).
    """
    port = free_port()
    folders = {"RAGQA_CORPUS_DIR": corpus_dir, "RAGQA_INDEX_DIR": index_dir}
    full_env = {
        **os.environ,
        **{name: str(path) for name, path in folders.items() if path is not None},
        # A test's private index changes under the server: notice it quickly.
        **({"RAGQA_INDEX_POLL_SECONDS": "0.5"} if index_dir is not None else {}),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        **(env or {}),
    }
    code = prelude + f"\nfrom ragqa.cli import app\napp(['serve', '--host', '127.0.0.1', '--port', '{port}'])\n"
    if log_path is None and index_dir is not None:
        log_path = index_dir.parent / f"server-{port}.log"
    with open(log_path or os.devnull, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", proc, log_path, started)
    try:
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


def _json_or_text(body: bytes) -> dict:
    """A response body as JSON, or ``{"text": body}`` when it is not (e.g. uvicorn's own plain-text errors)."""
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return {"text": body.decode("utf-8", errors="replace")}

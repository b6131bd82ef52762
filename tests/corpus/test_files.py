"""The shared file primitives: atomic replace, JSON, the cross-process lock."""

import json
import multiprocessing
from pathlib import Path

import pytest

from corpus.files import LockBusyError, atomic_write, file_lock, write_json


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "post.txt"
    atomic_write(path, b"one")
    atomic_write(path, b"two", durable=True)
    assert path.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["post.txt"]


def test_atomic_write_into_a_missing_folder_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "nowhere" / "post.txt", b"x")
    assert list(tmp_path.iterdir()) == []


def test_write_json_keeps_japanese_readable(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {"title": "液冷"})
    write_json(tmp_path / "b.json", [1], indent=2)
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == '{"title": "液冷"}'
    assert (tmp_path / "b.json").read_text(encoding="utf-8").endswith("]\n")
    assert json.loads((tmp_path / "b.json").read_text(encoding="utf-8")) == [1]


def _try_lock(path: str, queue) -> None:  # runs in another process
    try:
        with file_lock(Path(path), blocking=False):
            queue.put("got it")
    except LockBusyError:
        queue.put("busy")


def test_lock_excludes_another_process(tmp_path: Path) -> None:
    lock = tmp_path / "build.lock"
    queue = multiprocessing.get_context("fork").Queue()
    with file_lock(lock):
        proc = multiprocessing.get_context("fork").Process(target=_try_lock, args=(str(lock), queue))
        proc.start()
        proc.join(10)
        assert queue.get(timeout=5) == "busy"
    proc = multiprocessing.get_context("fork").Process(target=_try_lock, args=(str(lock), queue))
    proc.start()
    proc.join(10)
    assert queue.get(timeout=5) == "got it"

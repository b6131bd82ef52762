"""File primitives every stage shares: atomic replace, JSON files, an advisory lock across processes."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path


class LockBusyError(RuntimeError):
    """A non-blocking ``file_lock`` found the lock held by another process."""


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename inside it survives a power cut); best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, data: bytes, durable: bool = False) -> None:
    """Replace ``path`` with ``data`` at once: readers see the old bytes or the new, never half.

    ``durable`` also fsyncs the file and its folder, so the new bytes survive a crash of the machine.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def write_json(path: Path, obj: object, indent: int | None = None) -> None:
    """Write ``obj`` as UTF-8 JSON (non-ASCII kept readable; a final newline when indented)."""
    text = json.dumps(obj, ensure_ascii=False, indent=indent)
    path.write_text(text + "\n" if indent else text, encoding="utf-8")


@contextlib.contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if missing); LockBusyError if not ``blocking`` and held."""
    with path.open("a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LockBusyError(f"{path} is held by another process") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

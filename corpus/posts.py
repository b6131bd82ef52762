"""The posts folder as a store: find a post by id, write one atomically, delete one, each undoable.

``write`` and ``delete`` are context managers: the change is on disk inside the ``with`` block (so the
index can be rebuilt from it), and undone if the block raises, so a failed index update leaves the
folder as it was. One change at a time per folder object (its ``lock``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from corpus.files import atomic_write
from corpus.parse import POST_SUFFIXES

NEW_POST_SUFFIX = ".txt"


class PostExistsError(RuntimeError):
    """A write would overwrite a post without asking to."""


class PostNotFoundError(LookupError):
    """No post with that id in the folder."""


class PostsFolder:
    """The folder of post files (``<id>.txt``, ``.md`` or ``.markdown``); ids are validated by the caller."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.RLock()

    def find(self, post_id: str) -> Path | None:
        """The file of the post with this id, if any."""
        for suffix in POST_SUFFIXES:
            path = self.folder / f"{post_id}{suffix}"
            if path.is_file():
                return path
        return None

    @contextmanager
    def write(self, post_id: str, data: bytes, replace: bool = False) -> Iterator[Path]:
        """Save the post atomically; restore the previous file (or none) if the block raises."""
        with self.lock:
            existing = self.find(post_id)
            if existing is not None and not replace:
                raise PostExistsError(
                    f"article {post_id!r} already exists: add ?replace=true to replace it, or choose another id"
                )
            path = existing or self.folder / f"{post_id}{NEW_POST_SUFFIX}"
            previous = path.read_bytes() if existing is not None else None
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data)
            try:
                yield path
            except BaseException:
                if previous is None:
                    path.unlink(missing_ok=True)
                else:
                    atomic_write(path, previous)
                raise

    @contextmanager
    def delete(self, post_id: str) -> Iterator[Path]:
        """Remove the post; put it back if the block raises."""
        with self.lock:
            path = self.find(post_id)
            if path is None:
                raise PostNotFoundError(f"no article {post_id!r}: GET /articles lists the ids")
            previous = path.read_bytes()
            path.unlink()
            try:
                yield path
            except BaseException:
                atomic_write(path, previous)
                raise

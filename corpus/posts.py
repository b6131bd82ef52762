"""The posts folder as a store: find a post by id, write one atomically, delete one, each undoable.

``write`` and ``delete`` are context managers: the change is on disk inside the ``with`` block (so the
index can be rebuilt from it), and undone if the block raises, so a failed index update leaves the
folder as it was. One change at a time per folder object (its ``lock``).

An original is never rewritten in place: it is moved aside by a rename (to a hidden backup beside it, which
no reader of the corpus sees), put back by a rename, and its backup deleted only once the block succeeded.
A rename needs no free space, so undoing works on a full disk; a crash leaves every post file either
old or new (never half), plus at most a stale backup that ``remove_stale_backups`` clears.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from corpus.files import atomic_write, fsync_dir
from corpus.parse import POST_SUFFIXES

logger = logging.getLogger(__name__)

NEW_POST_SUFFIX = ".txt"
BACKUP_SUFFIX = ".ragqa-backup"


class PostExistsError(RuntimeError):
    """A write would overwrite a post without asking to."""


class PostNotFoundError(LookupError):
    """No post with that id in the folder."""


def _backup_path(path: Path) -> Path:
    # Hidden and without a post suffix: corpus readers (post_paths) skip it.
    return path.with_name(f".{path.name}{BACKUP_SUFFIX}")


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

    def remove_stale_backups(self) -> list[str]:
        """Delete backups a killed process left behind (their post files are already the new state)."""
        removed = []
        with self.lock:
            if not self.folder.is_dir():
                return removed
            for path in self.folder.glob(f".*{BACKUP_SUFFIX}"):
                path.unlink(missing_ok=True)
                removed.append(path.name)
                logger.warning("removed %s, left by a post change that was interrupted", path.name)
        return removed

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
            self.folder.mkdir(parents=True, exist_ok=True)
            backup = _backup_path(path)
            if existing is not None:
                os.replace(path, backup)
            try:
                atomic_write(path, data, durable=True)
                yield path
            except BaseException:
                if existing is not None:
                    os.replace(backup, path)  # the old file is back, whole: a rename needs no space
                else:
                    path.unlink(missing_ok=True)
                fsync_dir(self.folder)
                raise
            backup.unlink(missing_ok=True)

    @contextmanager
    def delete(self, post_id: str) -> Iterator[Path]:
        """Remove the post; put it back if the block raises."""
        with self.lock:
            path = self.find(post_id)
            if path is None:
                raise PostNotFoundError(f"no article {post_id!r}: GET /articles lists the ids")
            backup = _backup_path(path)
            os.replace(path, backup)
            fsync_dir(self.folder)
            try:
                yield path
            except BaseException:
                os.replace(backup, path)
                fsync_dir(self.folder)
                raise
            backup.unlink(missing_ok=True)

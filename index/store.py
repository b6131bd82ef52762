"""Index versions on disk, whatever they hold: write beside the current one, verify checksums, switch atomically.

What a version contains is ``index/version.py``'s business; this module only handles folders. ``index_dir``::

    CURRENT                 name of the version being served
    build.lock              held (flock) while a build runs: one build at a time, across processes
    versions/<name>/        a complete version: manifest.json + the files it lists with their sha256
    versions/.tmp-<name>/   a build in progress (or one killed halfway: removed by the next build/load)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from corpus.files import LockBusyError, atomic_write, file_lock, fsync_dir

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_CHECKSUM = "manifest_sha256"
_TMP_PREFIX = ".tmp-"


class IndexStoreError(RuntimeError):
    """Base for index problems the user must act on."""


class IndexMissingError(IndexStoreError):
    """No complete index exists yet."""


class IndexCorruptError(IndexStoreError):
    """A version's files do not match its manifest."""


class BuildInProgressError(IndexStoreError):
    """Another build holds the lock."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions_dir(index_dir: Path) -> Path:
    """Folder holding all versions."""
    return index_dir / "versions"


def current_version(index_dir: Path) -> str | None:
    """Name of the version CURRENT points to, if any."""
    pointer = index_dir / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def candidate_versions(index_dir: Path) -> list[str]:
    """Versions to try when loading: CURRENT first, then the others newest first."""
    folder = versions_dir(index_dir)
    if not folder.is_dir():
        return []
    names = sorted((p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
    current = current_version(index_dir)
    if current in names:
        names.remove(current)
        names.insert(0, current)
    return names


def read_manifest(version_dir: Path) -> dict[str, Any]:
    """The manifest of a version as a dict (IndexCorruptError if missing or unreadable)."""
    try:
        manifest = json.loads((version_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"index version {version_dir.name}: manifest unreadable ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise IndexCorruptError(f"index version {version_dir.name}: manifest has no file list")
    return manifest


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's own fields (all but this checksum), in a canonical JSON form."""
    fields = {k: v for k, v in manifest.items() if k != MANIFEST_CHECKSUM}
    canonical = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def verify(version_dir: Path, format_version: int) -> dict[str, Any]:
    """Check a version's format, the manifest's own checksum and every file's; return the manifest."""
    manifest = read_manifest(version_dir)
    # An edited manifest (a corpus fingerprint, a count, a file's checksum) would otherwise pass as valid.
    if manifest.get(MANIFEST_CHECKSUM) != manifest_checksum(manifest):
        raise IndexCorruptError(
            f"index version {version_dir.name}: manifest.json does not match its own checksum "
            "(corrupted, edited, or written by an older ragqa): run `ragqa index` to rebuild"
        )
    found = manifest.get("format_version")
    if found != format_version:
        raise IndexCorruptError(
            f"index version {version_dir.name} has format {found}, this ragqa reads "
            f"{format_version}: run `ragqa index` to rebuild"
        )
    for name, expected in manifest["files"].items():
        path = version_dir / name
        if not path.is_file():
            raise IndexCorruptError(f"index version {version_dir.name}: file {name} is missing")
        if sha256_file(path) != expected:
            raise IndexCorruptError(
                f"index version {version_dir.name}: file {name} does not match its checksum (corrupted or edited)"
            )
    return manifest


def new_version_name() -> str:
    """Sortable, unique version name."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]


def write_version(index_dir: Path, name: str, write: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """Write a version: ``write(folder)`` fills the folder and returns manifest fields; switch CURRENT last.

    The manifest gets the fields plus the version's name, creation time and every file's sha256. A crash at
    any point leaves CURRENT on the previous complete version.
    """
    folder = versions_dir(index_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{_TMP_PREFIX}{name}"
    tmp.mkdir()
    try:
        fields = write(tmp)
        files = {
            str(p.relative_to(tmp)): sha256_file(p)
            for p in sorted(tmp.rglob("*"))
            if p.is_file() and p.name != MANIFEST
        }
        manifest = {**fields, "version": name, "created_at": dt.datetime.now(dt.UTC).isoformat(), "files": files}
        manifest[MANIFEST_CHECKSUM] = manifest_checksum(manifest)
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        for path in tmp.rglob("*"):
            if path.is_file():
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
        os.replace(tmp, folder / name)
    except BaseException as exc:
        # A full disk must not stay full of a version that will never be served.
        shutil.rmtree(tmp, ignore_errors=True)
        if not (isinstance(exc, OSError) and exc.errno) and _disk_full(folder):
            # numpy and FAISS report a short write without an errno (OSError, RuntimeError): say what it was.
            raise OSError(
                errno.ENOSPC, f"no space left on the disk of {index_dir} while writing an index version"
            ) from exc
        raise
    fsync_dir(folder)
    set_current(index_dir, name)
    return manifest


def _disk_full(folder: Path, margin: int = 1 << 20) -> bool:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < margin


def set_current(index_dir: Path, name: str) -> None:
    """Point CURRENT at a version, atomically and durably."""
    atomic_write(index_dir / "CURRENT", (name + "\n").encode("utf-8"), durable=True)


def prune(index_dir: Path, keep: int) -> list[str]:
    """Remove all but the newest ``keep`` complete versions (never CURRENT); return what was removed."""
    current = current_version(index_dir)
    names = [n for n in candidate_versions(index_dir) if n != current]
    removed = names[max(0, keep - 1) :]
    for name in removed:
        shutil.rmtree(versions_dir(index_dir) / name, ignore_errors=True)
    return removed


def remove_partial(index_dir: Path) -> list[str]:
    """Delete half-written versions left by a killed build. Call only while holding the build lock."""
    folder = versions_dir(index_dir)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.iterdir():
        if path.name.startswith(_TMP_PREFIX):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
            logger.warning("removed half-written index version %s (a build was interrupted)", path.name)
    return removed


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's build lock, or raise BuildInProgressError at once if another build holds it."""
    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        with file_lock(index_dir / "build.lock", blocking=False):
            yield
    except LockBusyError:
        raise BuildInProgressError("an index build is already running: wait for it to finish, then try again") from None


def cleanup_if_idle(index_dir: Path) -> list[str]:
    """Remove half-written versions unless a build is running right now."""
    try:
        with build_lock(index_dir):
            return remove_partial(index_dir)
    except BuildInProgressError:
        return []
    except OSError:
        return []

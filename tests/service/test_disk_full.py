"""A full disk (a real, small tmpfs) or a read-only one: no post is lost, and the client hears why (507/503)."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from index import store
from service.config import engine_from_settings
from service.main import create_app
from tests.conftest import make_post
from tests.service.conftest import ADMIN, TINY_POSTS, tiny_index

TMPFS_BYTES = 8 * 1024 * 1024
RESERVE_BYTES = 16 * 1024  # room for a post file, not for an index version (a dozen files of pages)
NEW_TEXT = "液冷の新しい記事。冷却水の温度を下げるとサーバーの消費電力が下がるという測定結果が出た。\n"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MB tmpfs mounted for the test (needs root; skipped where mounting is not allowed)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}): run as root to test a full disk")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path) -> Path:
    """Fill the disk, then free a little: a post still fits, an index version does not. Returns the filler."""
    filler = disk / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    # Trim the filler by the reserve (sizes on tmpfs are whole pages).
    os.truncate(filler, filler.stat().st_size - RESERVE_BYTES)
    return filler


def _leftovers(settings) -> list[str]:
    hidden = [p.name for p in settings.corpus_dir.iterdir() if p.name.startswith(".")]  # backups, temp files
    partial = [p.name for p in store.versions_dir(settings.index_dir).iterdir() if p.name.startswith(".tmp-")]
    return hidden + partial


def test_full_disk_loses_no_post_and_answers_507(small_disk: Path, encoder) -> None:
    settings = tiny_index(small_disk, encoder)
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    serving = engine.retriever.index.version
    originals = {p.name: p.read_bytes() for p in settings.corpus_dir.iterdir()}
    filler = _fill(small_disk)
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        replaced = client.post(
            "/articles?id=t1_cooling&replace=true",
            content=make_post("液冷の基礎（改訂）", NEW_TEXT).encode(),
            headers={**ADMIN, "Content-Type": "text/plain"},
        )
        assert replaced.status_code == 507, replaced.text
        assert "disk is full" in replaced.json()["detail"]
        deleted = client.delete("/articles/t2_bakery", headers=ADMIN)
        assert deleted.status_code == 507, deleted.text
        uploaded = client.post(
            "/articles?id=t3_new",
            content=make_post("新しい記事", NEW_TEXT).encode(),
            headers={**ADMIN, "Content-Type": "text/plain"},
        )
        assert uploaded.status_code == 507, uploaded.text

        # Every post is whole, nothing half-written stays behind, the same index is served.
        assert {p.name: p.read_bytes() for p in settings.corpus_dir.iterdir()} == originals
        assert _leftovers(settings) == []
        assert client.get("/readyz").json()["index_version"] == serving

        filler.unlink()  # space is back: the same changes now go through
        assert client.delete("/articles/t2_bakery", headers=ADMIN).status_code == 200
        assert client.get("/articles/t2_bakery").status_code == 404
        assert client.get("/articles/t1_cooling").json()["title"] == TINY_POSTS["t1_cooling"][0]
    engine.stop()


def test_read_only_corpus_answers_503_and_keeps_the_post(tmp_path: Path, encoder) -> None:
    settings = tiny_index(tmp_path, encoder)
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    disk = tmp_path / "posts"
    if subprocess.run(["mount", "--bind", str(disk), str(disk)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here: run as root to test a read-only corpus folder")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(disk)], check=True)
        with TestClient(create_app(settings, engine=engine, start=False)) as client:
            response = client.delete("/articles/t1_cooling", headers=ADMIN)
            assert response.status_code == 503, response.text
            assert "read-only" in response.json()["detail"] and response.headers["Retry-After"]
            assert client.get("/articles/t1_cooling").status_code == 200
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    assert (disk / "t1_cooling.txt").is_file()
    engine.stop()

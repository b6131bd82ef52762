from pathlib import Path

import pytest

from index import store

FORMAT = 7


def _write(payload: str):
    def write(folder: Path) -> dict:
        (folder / "data.txt").write_text(payload, encoding="utf-8")
        (folder / "sub").mkdir()
        (folder / "sub" / "more.bin").write_bytes(payload.encode() * 3)
        return {"format_version": FORMAT, "payload": payload}

    return write


def test_write_version_switches_current_and_verifies(tmp_path: Path) -> None:
    manifest = store.write_version(tmp_path, "v1", _write("one"))
    assert store.current_version(tmp_path) == "v1"
    assert set(manifest["files"]) == {"data.txt", "sub/more.bin"}
    verified = store.verify(store.versions_dir(tmp_path) / "v1", FORMAT)
    assert verified["version"] == "v1" and verified["payload"] == "one"


def test_other_format_is_refused_with_the_fix(tmp_path: Path) -> None:
    store.write_version(tmp_path, "v1", _write("one"))
    with pytest.raises(store.IndexCorruptError, match="has format 7, this ragqa reads 8: run `ragqa index`"):
        store.verify(store.versions_dir(tmp_path) / "v1", FORMAT + 1)


def test_edited_file_fails_verification(tmp_path: Path) -> None:
    store.write_version(tmp_path, "v1", _write("one"))
    (store.versions_dir(tmp_path) / "v1" / "data.txt").write_text("two", encoding="utf-8")
    with pytest.raises(store.IndexCorruptError, match="data.txt does not match its checksum"):
        store.verify(store.versions_dir(tmp_path) / "v1", FORMAT)


def test_missing_file_fails_verification(tmp_path: Path) -> None:
    store.write_version(tmp_path, "v1", _write("one"))
    (store.versions_dir(tmp_path) / "v1" / "sub" / "more.bin").unlink()
    with pytest.raises(store.IndexCorruptError, match="missing"):
        store.verify(store.versions_dir(tmp_path) / "v1", FORMAT)


def test_failed_write_leaves_current_untouched_and_partial_is_cleaned(tmp_path: Path) -> None:
    store.write_version(tmp_path, "v1", _write("one"))

    def crash(folder: Path) -> dict:
        (folder / "half.txt").write_text("half", encoding="utf-8")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.write_version(tmp_path, "v2", crash)
    assert store.current_version(tmp_path) == "v1"
    assert store.candidate_versions(tmp_path) == ["v1"]
    # A failed write removes its own folder (on a full disk it holds the space) ...
    assert not (store.versions_dir(tmp_path) / ".tmp-v2").exists()
    # ... and one a killed build left behind is removed by the next load or build.
    (store.versions_dir(tmp_path) / ".tmp-v3").mkdir()
    (store.versions_dir(tmp_path) / ".tmp-v3" / "half.txt").write_text("half", encoding="utf-8")
    assert store.cleanup_if_idle(tmp_path) == [".tmp-v3"]
    assert not any(p.name.startswith(".tmp") for p in store.versions_dir(tmp_path).iterdir())


def test_candidates_put_current_first_then_newest(tmp_path: Path) -> None:
    for name in ("v1", "v2", "v3"):
        store.write_version(tmp_path, name, _write(name))
    store.set_current(tmp_path, "v2")
    assert store.candidate_versions(tmp_path) == ["v2", "v3", "v1"]


def test_prune_keeps_current_and_newest(tmp_path: Path) -> None:
    for name in ("v1", "v2", "v3", "v4"):
        store.write_version(tmp_path, name, _write(name))
    assert sorted(store.prune(tmp_path, keep=2)) == ["v1", "v2"]
    assert store.candidate_versions(tmp_path) == ["v4", "v3"]


def test_second_build_lock_is_refused(tmp_path: Path) -> None:
    with store.build_lock(tmp_path):
        with pytest.raises(store.BuildInProgressError, match="already running"):
            with store.build_lock(tmp_path):
                pass
        assert store.cleanup_if_idle(tmp_path) == []
    with store.build_lock(tmp_path):
        pass

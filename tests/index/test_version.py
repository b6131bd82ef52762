"""A version's contents: each backend in its own sub-folder, read back through the protocol; old formats refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from index import store
from index.backends import BM25Backend, Documents, FaissBackend, Queries
from index.version import FORMAT_VERSION, TOKEN_OFFSETS, TOKENS, _read_tokens, load_latest, load_version


@pytest.fixture
def version_dir(built_index, tmp_path: Path) -> Path:
    _, _, index_dir, summary = built_index
    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy)
    return store.versions_dir(copy) / summary.version


def test_backends_live_in_their_own_folders_and_load_by_name(version_dir: Path) -> None:
    loaded = load_version(version_dir)
    assert isinstance(loaded.backends["bm25"], BM25Backend) and isinstance(loaded.backends["dense"], FaissBackend)
    assert (version_dir / "bm25" / "tokenizer.json").is_file() and (version_dir / "dense" / "index.faiss").is_file()
    rows = len(loaded.passages)
    assert loaded.vectors.shape == (rows, loaded.manifest.dimension)
    assert len(loaded.sentences.offsets) == rows + 1
    first = loaded.passages[0]
    hits = loaded.backends["dense"].search(Queries([first.text], loaded.vectors[:1]), 1)
    assert hits[0][0][0] == 0


def test_older_format_is_refused_with_the_fix(version_dir: Path) -> None:
    manifest_path = version_dir / store.MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["format_version"] = FORMAT_VERSION - 1
    manifest["manifest_sha256"] = store.manifest_checksum(manifest)  # a consistent manifest, of an older format
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(store.IndexCorruptError, match=r"has format \d+, this ragqa reads .*run `ragqa index`"):
        load_version(version_dir)
    with pytest.raises(store.IndexCorruptError, match="no usable index version"):
        load_latest(version_dir.parent.parent)


@pytest.mark.parametrize(
    ("field", "value"),
    [("corpus_fingerprint", "0" * 64), ("passage_count", 1), ("model", "another-model"), ("files", {})],
)
def test_edited_manifest_field_is_refused(version_dir: Path, field: str, value: object) -> None:
    manifest_path = version_dir / store.MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest[field] = value
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(store.IndexCorruptError, match="manifest.json does not match its own checksum"):
        load_version(version_dir)


def test_backend_save_load_round_trip_keeps_search_options(tmp_path: Path) -> None:
    backend = BM25Backend("lemma", drop_stopwords=False)
    backend.build(Documents(["液冷が広がる。", "パンを焼く。"]))
    backend.save(tmp_path)
    loaded = BM25Backend.load(tmp_path)
    assert loaded.form == "lemma" and loaded.drop_stopwords is False
    assert loaded.search(Queries(["液冷"]), 1)[0][0][0] == 0


def test_lexicon_is_stored_and_checksummed_with_the_version(version_dir: Path) -> None:
    lexicon = json.loads((version_dir / "lexicon.json").read_text("utf-8"))
    assert load_version(version_dir).lexicon == lexicon
    assert all(isinstance(forms, list) and forms for forms in lexicon.values())
    manifest = json.loads((version_dir / "manifest.json").read_text("utf-8"))
    assert "lexicon.json" in manifest["files"]  # checksummed like every other file of the version


def test_a_token_table_that_disagrees_with_its_offsets_or_passages_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / TOKENS, np.zeros((3, 4), np.float32))
    np.save(tmp_path / TOKEN_OFFSETS, np.array([0, 1, 3], np.int64))
    table = _read_tokens(tmp_path, mmap=True, rows=2)
    assert table.block(1).shape == (2, 4) and isinstance(table.vectors.base, np.memmap)
    with pytest.raises(store.IndexCorruptError, match="token table"):
        _read_tokens(tmp_path, mmap=True, rows=3)  # offsets for 2 passages, the version has 3
    np.save(tmp_path / TOKEN_OFFSETS, np.array([0, 1, 2], np.int64))
    with pytest.raises(store.IndexCorruptError, match="token table"):
        _read_tokens(tmp_path, mmap=False)  # offsets end before the table does

"""Building the real index with the real model: incremental, atomic, verified."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from index import store
from index.version import IndexModelMismatchError, load_latest, load_version, verify_version
from ragqa.settings import Settings
from tests.conftest import build_from_settings

NEW_POST = """---
title: "量子アニーリングと物流"
date: 2026-01-05
tags: ["量子"]
---

量子アニーリングは物流の配送ルート最適化に使われ始めている。ある運送会社は配送距離を12%短縮したという。

一方で、量子ハードウェアの冷却には極低温が必要であり、運用コストは依然として高い。
"""


@pytest.fixture
def index_copy(built_index, tmp_path: Path):
    settings, corpus_dir, index_dir, _ = built_index
    corpus_copy, index_copy = tmp_path / "posts", tmp_path / "index"
    shutil.copytree(corpus_dir, corpus_copy)
    shutil.copytree(index_dir, index_copy)
    return Settings(corpus_dir=corpus_copy, index_dir=index_copy)


def test_full_build_embeds_every_passage(built_index, encoder) -> None:
    _, _, index_dir, summary = built_index
    assert summary.changed and summary.new == summary.passages > 150 and summary.reused == 0
    manifest = verify_version(store.versions_dir(index_dir) / summary.version)
    # The served default is the base model with the shipped adapter merged in; the manifest names both.
    assert manifest.model == encoder.name and manifest.dimension == 384
    assert manifest.model.startswith("multilingual-e5-small+ragqa-")
    assert manifest.variant == encoder.variant
    assert manifest.passage_count == summary.passages and manifest.article_count == 5
    files = {"passages.jsonl", "embeddings.npy", "dense/index.faiss", "bm25/tokenizer.json", "sentences.npz"}
    assert files | {"tokens.npy", "token_offsets.npy"} <= set(manifest.files)
    assert manifest.backends == {"bm25": "bm25", "dense": "dense"}
    loaded = load_version(store.versions_dir(index_dir) / summary.version, encoder.name)
    tokens = loaded.tokens
    assert len(tokens.offsets) == summary.passages + 1 and tokens.vectors.shape[1] == 384
    assert all(len(tokens.block(row)) > 0 for row in range(summary.passages))  # every passage has content tokens
    assert isinstance(tokens.vectors.base, np.memmap)  # served from the page cache, not copied into the heap


def test_unchanged_corpus_is_not_rebuilt(index_copy: Settings, encoder) -> None:
    before = store.current_version(index_copy.index_dir)
    summary = build_from_settings(index_copy, encoder)
    assert not summary.changed and summary.version == before


def test_new_post_embeds_only_its_passages_and_removal_drops_them(index_copy: Settings, encoder) -> None:
    before = load_latest(index_copy.index_dir, encoder.name)[0]
    (index_copy.corpus_dir / "900_quantum.txt").write_text(NEW_POST, encoding="utf-8")
    added = build_from_settings(index_copy, encoder)
    assert added.changed and added.new == 2 and added.reused == added.passages - 2 and added.removed == 0
    after = load_latest(index_copy.index_dir, encoder.name)[0]
    old_rows = {p.id: row for row, p in enumerate(before.passages)}
    for row, passage in enumerate(after.passages):  # reused passages keep their token vectors, new ones get theirs
        block = after.tokens.block(row)
        if passage.id in old_rows:
            np.testing.assert_array_equal(block, before.tokens.block(old_rows[passage.id]))
        else:
            assert passage.article_id.startswith("900_") and len(block) > 0
    (index_copy.corpus_dir / "900_quantum.txt").unlink()
    removed = build_from_settings(index_copy, encoder)
    assert removed.new == 0 and removed.removed == 2


def test_index_built_for_another_model_is_refused(index_copy: Settings) -> None:
    with pytest.raises(IndexModelMismatchError, match="run `ragqa index`"):
        load_latest(index_copy.index_dir, "some-other-model")


def test_edited_passages_file_falls_back_to_previous_version(index_copy: Settings, encoder) -> None:
    good = store.current_version(index_copy.index_dir)
    (index_copy.corpus_dir / "900_quantum.txt").write_text(NEW_POST, encoding="utf-8")
    newer = build_from_settings(index_copy, encoder).version
    passages = store.versions_dir(index_copy.index_dir) / newer / "passages.jsonl"
    rows = passages.read_text("utf-8").splitlines()
    first = json.loads(rows[0])
    first["text"] = "改ざんされた段落。"
    passages.write_text("\n".join([json.dumps(first, ensure_ascii=False), *rows[1:]]) + "\n", "utf-8")
    with pytest.raises(store.IndexCorruptError):
        load_version(passages.parent)
    loaded, problems = load_latest(index_copy.index_dir, encoder.name)
    assert loaded.version == good
    assert problems and "passages.jsonl" in problems[0]


def test_build_killed_halfway_leaves_previous_index_loadable(index_copy: Settings, encoder, monkeypatch) -> None:
    good = store.current_version(index_copy.index_dir)
    (index_copy.corpus_dir / "900_quantum.txt").write_text(NEW_POST, encoding="utf-8")

    def die(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for the process dying while the FAISS file is written

    monkeypatch.setattr("index.backends.dense.FaissBackend.save", die)
    with pytest.raises(KeyboardInterrupt):
        build_from_settings(index_copy, encoder)
    assert store.current_version(index_copy.index_dir) == good
    loaded, _ = load_latest(index_copy.index_dir, encoder.name)
    assert loaded.version == good
    assert not any(p.name.startswith(".tmp") for p in store.versions_dir(index_copy.index_dir).iterdir())

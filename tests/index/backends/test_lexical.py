"""BM25 over fugashi tokens: tokenization, search, the row mask, save/load."""

import logging
from pathlib import Path

import numpy as np
import pytest

from index.backends import BACKENDS, BM25Backend, Documents, Queries, get_backend
from index.tokenize import japanese_tokenizer

TEXTS = ["メタがGoogleのTPUを導入する。", "NVIDIAのGPUは液冷を必要とする。", "FoxconnとOpenAIが提携した。"]
# Eight passages that all mention 液冷, with different amounts of it, and two that do not.
COOLING = [f"液冷の事例{i}。" + "液冷" * i for i in range(1, 9)] + ["空冷のみ。", "パンを焼いた。"]


def test_tokenizer_normalises_and_drops_particles() -> None:
    tokens = japanese_tokenizer("surface")("ＴＰＵをメタが導入した。")
    assert tokens[:3] == ["tpu", "メタ", "導入"]
    assert "を" not in tokens and "。" not in tokens


def test_lemma_tokens_fold_inflections() -> None:
    tok = japanese_tokenizer("lemma")
    assert "導入" in tok("導入した") and tok("高かった")[0] == tok("高い")[0]


def test_bm25_finds_the_matching_passage_and_survives_save_load(tmp_path: Path) -> None:
    backend = BM25Backend()
    backend.build(Documents(TEXTS))
    assert backend.search(Queries(["TPUの導入"]), 2)[0][0][0] == 0
    backend.save(tmp_path)
    loaded = BM25Backend.load(tmp_path)
    assert loaded.search(Queries(["液冷"]), 3)[0][0][0] == 1
    assert loaded.search(Queries(["zzz 未知語"]), 3) == [[]]


def test_mask_is_applied_before_top_k() -> None:
    backend = BM25Backend()
    backend.build(Documents(COOLING))
    unmasked = [row for row, _ in backend.search(Queries(["液冷"]), 3)[0]]
    assert len(unmasked) == 3 and max(unmasked) <= 7
    allowed = np.zeros(len(COOLING), dtype=bool)
    allowed[[0, 1, 8]] = True  # two matching rows, one that cannot match
    hits = backend.search(Queries(["液冷"]), 5, allowed_rows=allowed)[0]
    assert sorted(row for row, _ in hits) == [0, 1]  # only allowed rows with a score above 0
    assert all(score > 0 for _, score in hits)
    rest = ~allowed
    hits = backend.search(Queries(["液冷"]), 3, allowed_rows=rest)[0]
    assert len(hits) == 3 and not any(allowed[row] for row, _ in hits)


def test_mask_of_the_wrong_length_is_refused() -> None:
    backend = BM25Backend()
    backend.build(Documents(TEXTS))
    with pytest.raises(ValueError, match="one flag per row"):
        backend.search(Queries(["液冷"]), 2, allowed_rows=np.ones(5, dtype=bool))


def test_registry_names_every_backend() -> None:
    assert get_backend("bm25") is BM25Backend
    assert set(BACKENDS) == {"bm25", "dense", "milvus_bm25", "milvus_dense"}
    with pytest.raises(ValueError, match="known are bm25, dense, milvus_bm25, milvus_dense"):
        get_backend("nope")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)  # like logging.basicConfig's handler: the logger levels decide
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_building_logs_no_bm25s_debug_lines_at_info(tmp_path) -> None:
    root = logging.getLogger()
    handler, level = _Collect(), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # what `ragqa` configures without --verbose
    try:
        backend = BM25Backend()
        backend.build(Documents(["液冷はGPUを冷やす。", "電力の話。"]))
        backend.save(tmp_path)
        BM25Backend.load(tmp_path)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    debug = [r.getMessage() for r in handler.records if r.name.startswith("bm25s") and r.levelno < logging.INFO]
    assert debug == []

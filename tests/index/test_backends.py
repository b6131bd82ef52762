from pathlib import Path

import numpy as np
import pytest

from index.backends import Documents, Queries
from index.dense import FaissBackend
from index.lexical import BM25Backend
from index.tokenize import japanese_tokenizer

TEXTS = ["メタがGoogleのTPUを導入する。", "NVIDIAのGPUは液冷を必要とする。", "FoxconnとOpenAIが提携した。"]


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


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_faiss_returns_nearest_by_cosine_and_survives_save_load(kind: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    backend = FaissBackend(kind, nprobe=64)
    backend.build(Documents(["x"] * 300, vectors))
    query = Queries(["q"], vectors[[42]])
    assert backend.search(query, 1)[0][0][0] == 42
    backend.save(tmp_path)
    assert FaissBackend.load(tmp_path).search(query, 1)[0][0][0] == 42


def test_dense_backend_demands_vectors() -> None:
    with pytest.raises(ValueError, match="embed the documents first"):
        FaissBackend().build(Documents(TEXTS))

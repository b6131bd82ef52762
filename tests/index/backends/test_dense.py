"""FAISS over unit vectors: nearest by cosine for every index kind, the row mask, save/load."""

from pathlib import Path

import numpy as np
import pytest

from index.backends import Documents, FaissBackend, Queries
from index.backends.dense import set_search_threads


def _unit_vectors(n: int, dim: int = 16) -> np.ndarray:
    vectors = np.random.default_rng(0).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_faiss_returns_nearest_by_cosine_and_survives_save_load(kind: str, tmp_path: Path) -> None:
    vectors = _unit_vectors(300)
    backend = FaissBackend(kind, nprobe=64)
    backend.build(Documents(["x"] * 300, vectors))
    query = Queries(["q"], vectors[[42]])
    assert backend.search(query, 1)[0][0][0] == 42
    backend.save(tmp_path)
    assert FaissBackend.load(tmp_path).search(query, 1)[0][0][0] == 42


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_mask_allows_three_rows_so_k5_returns_exactly_those(kind: str) -> None:
    vectors = _unit_vectors(300)
    backend = FaissBackend(kind, nprobe=4096)  # IVF probes every list, so no allowed row is out of reach
    backend.build(Documents(["x"] * 300, vectors))
    allowed = np.zeros(300, dtype=bool)
    allowed[[7, 150, 299]] = True
    hits = backend.search(Queries(["q"], vectors[[42]]), 5, allowed_rows=allowed)[0]
    assert sorted(row for row, _ in hits) == [7, 150, 299]
    exact = vectors[[7, 150, 299]] @ vectors[42]
    assert [round(s, 5) for _, s in hits] == [round(float(s), 5) for s in sorted(exact, reverse=True)]


def test_mask_keeps_k_hits_when_k_allowed_rows_exist() -> None:
    vectors = _unit_vectors(200)
    backend = FaissBackend()
    backend.build(Documents(["x"] * 200, vectors))
    nearest = [row for row, _ in backend.search(Queries(["q"], vectors[[0]]), 10)[0]]
    allowed = np.ones(200, dtype=bool)
    allowed[nearest] = False  # the ten nearest are filtered out: ten others must still come back
    hits = backend.search(Queries(["q"], vectors[[0]]), 10, allowed_rows=allowed)[0]
    assert len(hits) == 10 and not set(nearest) & {row for row, _ in hits}
    assert backend.search(Queries(["q"], vectors[[0]]), 5, allowed_rows=np.zeros(200, dtype=bool)) == [[]]


def test_dense_backend_demands_vectors_and_a_known_kind() -> None:
    with pytest.raises(ValueError, match="embed the documents first"):
        FaissBackend().build(Documents(["a", "b"]))
    with pytest.raises(ValueError, match="unknown FAISS index kind"):
        FaissBackend("annoy")  # type: ignore[arg-type]


def test_search_threads_cap_faiss_for_the_process_and_the_service_edge_applies_the_setting(tmp_path: Path) -> None:
    import faiss

    from ragqa.settings import Settings
    from service.config import engine_from_settings

    before = faiss.omp_get_max_threads()
    try:
        set_search_threads(1)
        assert faiss.omp_get_max_threads() == 1
        set_search_threads(0)  # 0 leaves FAISS as it is
        assert faiss.omp_get_max_threads() == 1
        faiss.omp_set_num_threads(before)
        engine_from_settings(Settings(search_threads=1, corpus_dir=tmp_path, index_dir=tmp_path / "index"))
        assert faiss.omp_get_max_threads() == 1
    finally:
        faiss.omp_set_num_threads(before)

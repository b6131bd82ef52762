"""Dense backend: FAISS inner product over unit passage vectors (exact, or HNSW/IVF for large corpora)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Self

import numpy as np

from index.backends import Documents, Hits, Queries

IndexKind = Literal["flat", "hnsw", "ivf"]


class FaissBackend:
    """Cosine search over normalised embeddings with FAISS."""

    name = "dense"

    def __init__(self, kind: IndexKind = "flat", hnsw_m: int = 32, ef_search: int = 1024, nprobe: int = 16) -> None:
        self.kind: IndexKind = kind
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self.nprobe = nprobe
        self._index = None

    def _make(self, dim: int, n: int):  # type: ignore[no-untyped-def]
        import faiss

        if self.kind == "flat":
            return faiss.IndexFlatIP(dim)
        if self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 200
            return index
        nlist = max(1, min(4096, int(4 * np.sqrt(n))))
        return faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)

    def build(self, docs: Documents) -> None:
        if docs.vectors is None:
            raise ValueError("the dense backend needs passage vectors: embed the documents first")
        vectors = np.ascontiguousarray(docs.vectors, dtype=np.float32)
        self._index = self._make(vectors.shape[1], len(vectors))
        if not self._index.is_trained:
            self._index.train(vectors)
        self._index.add(vectors)
        self._tune()

    def _tune(self) -> None:
        if self.kind == "hnsw":
            self._index.hnsw.efSearch = self.ef_search
        elif self.kind == "ivf":
            self._index.nprobe = self.nprobe

    @property
    def size(self) -> int:
        """Number of indexed vectors."""
        return 0 if self._index is None else int(self._index.ntotal)

    def search(self, queries: Queries, k: int) -> list[Hits]:
        if self._index is None:
            raise RuntimeError("FAISS index is not built: call build() or load() first")
        if queries.vectors is None:
            raise ValueError("the dense backend needs query vectors: encode the questions first")
        k_eff = min(k, self.size)
        if k_eff == 0:
            return [[] for _ in queries.texts]
        scores, rows = self._index.search(np.ascontiguousarray(queries.vectors, dtype=np.float32), k_eff)
        return [[(int(r), float(s)) for r, s in zip(rr, ss) if r >= 0] for rr, ss in zip(rows, scores)]

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(folder / "dense.faiss"))
        options = {"kind": self.kind, "hnsw_m": self.hnsw_m, "ef_search": self.ef_search, "nprobe": self.nprobe}
        (folder / "dense.json").write_text(json.dumps(options), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Self:
        import faiss

        backend = cls(**json.loads((folder / "dense.json").read_text(encoding="utf-8")))
        backend._index = faiss.read_index(str(folder / "dense.faiss"))
        backend._tune()
        return backend

"""Dense backend: FAISS inner product over unit passage vectors (exact, or HNSW/IVF for large corpora)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np

from index.backends.base import Documents, Hits, Queries, check_mask

IndexKind = Literal["flat", "hnsw", "ivf"]
INDEX_KINDS: tuple[IndexKind, ...] = ("flat", "hnsw", "ivf")
# Search-quality knobs, not ranking ones: efSearch 1024 keeps recall@10 at 1.0 on 100k passages (bench/scale.py).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 1024
IVF_NPROBE = 16
INDEX_FILE = "index.faiss"
OPTIONS_FILE = "options.json"


def set_search_threads(threads: int) -> None:
    """Cap the OpenMP threads FAISS searches with, for this whole process (0: FAISS's default, all cores).

    A service searches one small batch at a time while the encoder runs on every core: FAISS's OpenMP
    threads then mostly spin against the encoder's (one thread: +7-25 % QPS with 8 clients, bench/RESULTS.md).
    """
    import faiss

    if threads > 0:
        faiss.omp_set_num_threads(threads)


class FaissBackend:
    """Cosine search over normalised embeddings with FAISS."""

    name = "dense"

    def __init__(
        self, kind: IndexKind = "flat", hnsw_m: int = HNSW_M, ef_search: int = HNSW_EF_SEARCH, nprobe: int = IVF_NPROBE
    ) -> None:
        if kind not in INDEX_KINDS:
            raise ValueError(f"unknown FAISS index kind {kind!r}: use one of {', '.join(INDEX_KINDS)}")
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
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
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

    def _selector_params(self, mask: np.ndarray):  # type: ignore[no-untyped-def]
        """Search parameters that let FAISS visit only the allowed rows (with this index's own tuning)."""
        import faiss

        bitmap = np.packbits(mask, bitorder="little")  # FAISS reads bit i at byte i >> 3, position i & 7
        selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=self.ef_search)
        elif self.kind == "ivf":
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)
        else:
            params = faiss.SearchParameters(sel=selector)
        return params, (bitmap, selector)  # the caller keeps both alive while FAISS searches

    def search(self, queries: Queries, k: int, allowed_rows: np.ndarray | None = None) -> list[Hits]:
        if self._index is None:
            raise RuntimeError("FAISS index is not built: call build() or load() first")
        if queries.vectors is None:
            raise ValueError("the dense backend needs query vectors: encode the questions first")
        mask = check_mask(allowed_rows, self.size)
        k_eff = min(k, self.size if mask is None else int(mask.sum()))
        if k_eff == 0:
            return [[] for _ in queries.texts]
        vectors = np.ascontiguousarray(queries.vectors, dtype=np.float32)
        if mask is None:
            scores, rows = self._index.search(vectors, k_eff)
        else:
            params, _keep_alive = self._selector_params(mask)
            scores, rows = self._index.search(vectors, k_eff, params=params)
        return [[(int(r), float(s)) for r, s in zip(rr, ss) if r >= 0] for rr, ss in zip(rows, scores)]

    def save(self, folder: Path) -> None:
        import faiss

        if self._index is None:
            raise RuntimeError("FAISS index is not built: nothing to save")
        faiss.write_index(self._index, str(folder / INDEX_FILE))
        options = {"kind": self.kind, "hnsw_m": self.hnsw_m, "ef_search": self.ef_search, "nprobe": self.nprobe}
        (folder / OPTIONS_FILE).write_text(json.dumps(options), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, **options: Any) -> Self:
        import faiss

        saved = json.loads((folder / OPTIONS_FILE).read_text(encoding="utf-8"))
        backend = cls(**{**saved, **options})
        backend._index = faiss.read_index(str(folder / INDEX_FILE))
        backend._tune()
        return backend

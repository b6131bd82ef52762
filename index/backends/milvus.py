"""Milvus backends: dense (COSINE) and lexical (BM25) search over one Milvus collection per index version.

Both backends share one collection (``milvus_collection.py``), so a version is one bulk insert (one BM25
IDF), one set of metadata filters applies to both searches, and one alias switch publishes both. The
connection lives in ``milvus_connect``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import numpy as np

from index.backends.base import Documents, Hits, Queries, check_mask
from index.backends.milvus_collection import (
    MilvusCollection,
    MilvusConnection,
    RowMeta,
    collection_exists,
    day_number,
    filter_expression,
    lemma_text,
    publish,
    row_meta,
    rows_expression,
)

__all__ = [
    "MilvusCollection",
    "MilvusConnection",
    "MilvusDense",
    "MilvusLexical",
    "RowMeta",
    "collection_exists",
    "day_number",
    "filter_expression",
    "lemma_text",
    "load_options",
    "publish",
    "row_meta",
    "rows_expression",
]


def _expr(allowed_rows: np.ndarray | None, size: int, where: str | None) -> tuple[str | None, bool]:
    """The combined filter, and whether nothing can match."""
    mask = check_mask(allowed_rows, size)
    if mask is not None and not mask.any():
        return None, True
    rows = None if mask is None else rows_expression(mask)
    parts = [f"({p})" for p in (where, rows) if p]
    return " and ".join(parts) or None, False


class _MilvusBackend:
    """What both Milvus backends share: one collection, built, saved and loaded as one."""

    def __init__(self, collection: MilvusCollection) -> None:
        self.collection = collection

    def build(self, docs: Documents) -> None:
        self.collection.build(docs)

    def save(self, folder: Path) -> None:
        self.collection.save(folder)

    @classmethod
    def load(cls, folder: Path, connection: MilvusConnection | None = None, **_: Any) -> Self:
        return cls(MilvusCollection.load(folder, connection))


class MilvusDense(_MilvusBackend):
    """Cosine search over passage vectors in a Milvus collection."""

    name = "milvus_dense"

    def search(
        self, queries: Queries, k: int, allowed_rows: np.ndarray | None = None, where: str | None = None
    ) -> list[Hits]:
        """Top ``k`` rows per query among those ``allowed_rows`` and ``where`` (a filter_expression) keep."""
        if queries.vectors is None:
            raise ValueError("the dense backend needs query vectors: encode the questions first")
        expr, empty = _expr(allowed_rows, self.collection.size, where)
        if empty or k <= 0:
            return [[] for _ in queries.texts]
        return self.collection.search("vector", np.asarray(queries.vectors, np.float32).tolist(), k, expr)


class MilvusLexical(_MilvusBackend):
    """BM25 over our fugashi lemmas, scored by Milvus."""

    name = "milvus_bm25"

    def search(
        self, queries: Queries, k: int, allowed_rows: np.ndarray | None = None, where: str | None = None
    ) -> list[Hits]:
        """Top ``k`` rows per query with a BM25 score above zero, as the bm25s backend returns them."""
        expr, empty = _expr(allowed_rows, self.collection.size, where)
        out: list[Hits] = [[] for _ in queries.texts]
        if empty or k <= 0:
            return out
        texts = [lemma_text(self.collection.tokenize, t) for t in queries.texts]
        asked = [i for i, t in enumerate(texts) if t]  # Milvus rejects an empty query text
        for i, hits in zip(asked, self.collection.search("sparse", [texts[i] for i in asked], k, expr)):
            out[i] = [(row, score) for row, score in hits if score > 0]
        return out


def load_options(connection: MilvusConnection) -> dict[str, dict[str, Any]]:
    """What ``index.version.load_latest`` passes to each Milvus backend's ``load`` (by registered name)."""
    return {MilvusDense.name: {"connection": connection}, MilvusLexical.name: {"connection": connection}}

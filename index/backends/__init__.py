"""Index backends behind one protocol: build, search (within allowed rows), save, load.

base.py     ``Hits``, ``Documents``, ``Queries`` and the ``Backend`` protocol
lexical.py  BM25 (bm25s) over fugashi tokens
dense.py    FAISS inner product over unit vectors (flat, HNSW or IVF)
milvus.py   both roles in one Milvus collection per version (ragqa[milvus]; milvus_connect.py connects)
milvus_collection.py  that collection: schema, bulk insert, versions by alias, filter expressions

A new backend is one class plus one line in ``BACKENDS``; a version stores each in its own sub-folder.
"""

from __future__ import annotations

from index.backends.base import Backend, Documents, Hits, Queries
from index.backends.dense import FaissBackend
from index.backends.lexical import BM25Backend
from index.backends.milvus import MilvusDense, MilvusLexical  # pymilvus is imported only when connecting

__all__ = ["BACKENDS", "Backend", "BM25Backend", "Documents", "FaissBackend", "Hits", "Queries", "get_backend"]

BACKENDS: dict[str, type] = {
    BM25Backend.name: BM25Backend,
    FaissBackend.name: FaissBackend,
    MilvusLexical.name: MilvusLexical,
    MilvusDense.name: MilvusDense,
}


def get_backend(name: str) -> type:
    """The backend class registered under ``name`` (ValueError naming the known ones otherwise)."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown index backend {name!r}: known are {', '.join(sorted(BACKENDS))}") from None

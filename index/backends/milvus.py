"""Milvus backends: dense (COSINE) and lexical (BM25) search over one Milvus collection per index version.

Both backends share one collection, so a version is one bulk insert (one BM25 IDF, see below), one set of
metadata filters applies to both searches, and one alias switch publishes both. The connection lives in
``milvus_connect``.

What we learnt and rely on:
- Lite has no Japanese analyzer, so the collection stores our own fugashi lemmas, alphanumeric only and
  space-joined, in a VARCHAR with the ``standard`` analyzer; Milvus's BM25 function turns it into a sparse
  vector.
- BM25 IDF is computed per segment: a version is inserted in one go and flushed once, never per article.
- Every read is ``consistency_level="Strong"``; VARCHAR ``max_length`` is sized for UTF-8 bytes (a cluster
  counts bytes, Lite characters).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np

from index.backends import Documents, Hits, Queries
from index.backends.milvus_connect import MilvusError, UriKind, connect, uri_kind
from index.tokenize import Tokenizer, japanese_tokenizer

logger = logging.getLogger(__name__)

PREFIX = "ragqa_"
CURRENT_ALIAS = "ragqa_current"
FLAT_BELOW = 20_000  # rows; exact search is fast enough below this and needs no tuning
HNSW = {"M": 32, "efConstruction": 200}
EF_SEARCH = 1024  # as the FAISS HNSW index: recall@10 1.0 at 100k in bench/scale.py
BM25 = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s's defaults, so both lexical backends rank alike
INSERT_BATCH = 2_000  # rows per insert call: stays far below gRPC's 64 MB message limit
MAX_VARCHAR = 65_535
DenseIndex = Literal["auto", "flat", "hnsw"]  # auto: flat below FLAT_BELOW rows, else HNSW


def collection_name(version: str) -> str:
    """The collection holding an index version, e.g. ``ragqa_20261127T113810Z_1a2b3c``."""
    return PREFIX + re.sub(r"[^0-9A-Za-z_]", "_", version)


@dataclass(frozen=True)
class RowMeta:
    """What filters can ask about one passage row."""

    article_id: str
    date: str  # YYYY-MM-DD
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


def day_number(value: str | dt.date) -> int:
    """A calendar day as the integer YYYYMMDD, which Milvus compares as a number."""
    if isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(str(value)[:10])
        except ValueError:
            raise ValueError(f"date {value!r} is not a calendar day: use YYYY-MM-DD") from None
    return day.year * 10_000 + day.month * 100 + day.day


def _strings(values: Sequence[str]) -> str:
    return json.dumps(list(values), ensure_ascii=False)  # a JSON string list is a valid, escaped Milvus list


def filter_expression(
    article_ids: Sequence[str] | None = None,
    since: str | dt.date | None = None,
    until: str | dt.date | None = None,
    categories: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
) -> str | None:
    """A Milvus filter for issue 12's filters: lists match any value, keys all apply, dates inclusive."""
    parts = []
    if article_ids:
        parts.append(f"article_id in {_strings(article_ids)}")
    if since is not None:
        parts.append(f"date >= {day_number(since)}")
    if until is not None:
        parts.append(f"date <= {day_number(until)}")
    if categories:
        parts.append(f"array_contains_any(categories, {_strings(categories)})")
    if tags:
        parts.append(f"array_contains_any(tags, {_strings(tags)})")
    return " and ".join(f"({p})" for p in parts) or None


def rows_expression(allowed_rows: np.ndarray) -> str | None:
    """A filter keeping the rows a boolean mask allows (None when it allows all), in the shorter form."""
    allowed = np.flatnonzero(allowed_rows)
    if len(allowed) == len(allowed_rows):
        return None
    if len(allowed) <= len(allowed_rows) // 2:
        return f"row in {allowed.tolist()}"
    return f"row not in {np.flatnonzero(~allowed_rows.astype(bool)).tolist()}"


def lemma_text(tokenize: Tokenizer, text: str) -> str:
    """Our lemmas, alphanumeric only and space-joined, so Milvus's ``standard`` analyzer keeps each whole."""
    return " ".join(t for t in tokenize(text) if t.isalnum())


def _varchar_length(texts: Sequence[str], floor: int = 256) -> int:
    """A VARCHAR max_length that fits every text in UTF-8 bytes, with headroom for later inserts."""
    need = max((len(t.encode("utf-8")) for t in texts), default=0)
    if need > MAX_VARCHAR:
        raise MilvusError(f"a text is {need} UTF-8 bytes, over Milvus's VARCHAR limit of {MAX_VARCHAR}")
    return min(MAX_VARCHAR, max(floor, 1 << (need * 2 - 1).bit_length()))


class MilvusCollection:
    """One index version in Milvus: row id, metadata, dense vector and BM25 lemma text of every passage."""

    def __init__(self, client: Any, name: str, uri_kind: UriKind, index: DenseIndex = "auto") -> None:
        self.client = client
        self.name = name
        self.uri_kind: UriKind = uri_kind
        self.index: DenseIndex = index
        self.tokenize = japanese_tokenizer("lemma")
        self.meta: list[RowMeta] | None = None  # set before build() so filters can use metadata
        self.size = 0

    @classmethod
    def new(cls, uri: str, version: str, token: str | None = None, index: DenseIndex = "auto") -> Self:
        """An empty collection object for ``version`` (created in Milvus by ``build``)."""
        return cls(connect(uri, token), collection_name(version), uri_kind(uri), index)

    def build(self, docs: Documents) -> None:
        """Create the collection and insert every row in one go; a second call with the same rows is a no-op."""
        if self.size:
            if self.size != len(docs.texts):
                raise MilvusError(f"collection {self.name} holds {self.size} rows, not {len(docs.texts)}")
            return
        if docs.vectors is None:
            raise ValueError("the Milvus collection holds dense and lexical fields: build it with passage vectors")
        meta = self.meta or [RowMeta("", "1970-01-01")] * len(docs.texts)
        if len(meta) != len(docs.texts):
            raise ValueError(f"{len(meta)} metadata rows for {len(docs.texts)} passages")
        lemmas = [lemma_text(self.tokenize, t) for t in docs.texts]
        if self.index == "auto":
            self.index = "flat" if len(lemmas) < FLAT_BELOW else "hnsw"
        if self.client.has_collection(self.name):  # left by a build killed before its switch
            self.client.drop_collection(self.name)
        self.client.create_collection(
            self.name,
            schema=self._schema(docs.vectors.shape[1], lemmas, meta),
            index_params=self._index_params(),
            consistency_level="Strong",
        )
        vectors = np.asarray(docs.vectors, dtype=np.float32)
        for start in range(0, len(lemmas), INSERT_BATCH):
            rows = [
                {
                    "row": i,
                    "article_id": meta[i].article_id,
                    "date": day_number(meta[i].date),
                    "categories": list(meta[i].categories),
                    "tags": list(meta[i].tags),
                    "vector": vectors[i].tolist(),
                    "lemmas": lemmas[i],
                }
                for i in range(start, min(start + INSERT_BATCH, len(lemmas)))
            ]
            self.client.insert(self.name, rows)
        self.client.flush(self.name)  # once: BM25 IDF is per segment, so no per-article flushes
        self.client.load_collection(self.name)
        self.size = len(lemmas)

    def _schema(self, dim: int, lemmas: list[str], meta: list[RowMeta]) -> Any:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        labels = [x for m in meta for x in (*m.categories, *m.tags)]
        capacity = max((len(m.categories) + len(m.tags) for m in meta), default=0)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("article_id", DataType.VARCHAR, max_length=_varchar_length([m.article_id for m in meta]))
        schema.add_field("date", DataType.INT64)
        for field in ("categories", "tags"):
            schema.add_field(
                field,
                DataType.ARRAY,
                element_type=DataType.VARCHAR,
                max_capacity=max(64, capacity * 2),
                max_length=_varchar_length(labels),
            )
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field(
            "lemmas",
            DataType.VARCHAR,
            max_length=_varchar_length(lemmas, floor=1024),
            enable_analyzer=True,
            analyzer_params={"type": "standard"},
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="lemmas_bm25",
                function_type=FunctionType.BM25,
                input_field_names=["lemmas"],
                output_field_names=["sparse"],
            )
        )
        return schema

    def _index_params(self) -> Any:
        params = self.client.prepare_index_params()
        if self.index == "hnsw":
            params.add_index("vector", index_type="HNSW", metric_type="COSINE", params=HNSW)
        else:
            params.add_index("vector", index_type="FLAT", metric_type="COSINE")
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25)
        return params

    def publish(self, keep_previous: bool = True) -> list[str]:
        """Point the ``ragqa_current`` alias here, then drop older collections; returns the dropped names.

        The alias moves only after the rows are flushed and loaded, so a build killed earlier leaves it on
        the previous version. The previous collection survives one switch (``keep_previous``) so a replica
        still serving it can finish swapping; leftovers of killed builds are dropped.
        """
        previous = None
        if CURRENT_ALIAS in self.client.list_aliases().get("aliases", []):
            previous = self.client.describe_alias(CURRENT_ALIAS)["collection_name"]
            self.client.alter_alias(self.name, CURRENT_ALIAS)  # atomic: readers see the old or the new
        else:  # the first version
            self.client.create_alias(self.name, CURRENT_ALIAS)
        previous = None if previous == self.name else previous
        keep = {self.name} | ({previous} if keep_previous and previous else set())
        dropped = [c for c in self.client.list_collections() if c.startswith(PREFIX) and c not in keep]
        for name in dropped:
            self.client.drop_collection(name)
        logger.info("milvus alias %s → %s; dropped %s", CURRENT_ALIAS, self.name, dropped or "nothing")
        return dropped

    def search(self, field: str, data: list, k: int, expr: str | None) -> list[Hits]:
        """The top ``k`` rows for each query on ``field`` (``vector`` or ``sparse``), filtered by ``expr``."""
        if not data:
            return []
        dense = field == "vector"
        params: dict[str, Any] = {"metric_type": "COSINE" if dense else "BM25"}
        if dense and self.index == "hnsw":
            params["params"] = {"ef": max(EF_SEARCH, k)}
        result = self.client.search(
            self.name,
            data=data,
            anns_field=field,
            limit=min(k, 16_384),  # Milvus's cap on topk
            filter=expr or "",
            output_fields=["row"],
            search_params=params,
            consistency_level="Strong",
        )
        # Lite reports BM25 as a negated distance, a server as a positive score: BM25 is never negative.
        return [
            [(int(h["entity"]["row"]), float(h["distance"] if dense else abs(h["distance"]))) for h in hits]
            for hits in result
        ]

    def save(self, folder: Path) -> None:
        """Write where the version lives (never the URI's token)."""
        info = {"uri_kind": self.uri_kind, "collection": self.name, "index": self.index, "rows": self.size}
        (folder / "milvus.json").write_text(json.dumps(info), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, uri: str, token: str | None = None) -> Self:
        """Reconnect to the collection a version's ``milvus.json`` names, and load it for search."""
        info = json.loads((folder / "milvus.json").read_text(encoding="utf-8"))
        client = connect(uri, token)
        if not client.has_collection(info["collection"]):
            raise MilvusError(
                f"Milvus at {uri} has no collection {info['collection']} for this index version: "
                "rebuild the index (ragqa index) against this RAGQA_MILVUS_URI"
            )
        client.load_collection(info["collection"])  # reopened collections start released
        collection = cls(client, info["collection"], uri_kind(uri), info["index"])
        collection.size = info["rows"]
        return collection


def _expr(allowed_rows: np.ndarray | None, where: str | None) -> tuple[str | None, bool]:
    """The combined filter, and whether nothing can match."""
    rows = None if allowed_rows is None else rows_expression(np.asarray(allowed_rows, dtype=bool))
    if allowed_rows is not None and not np.any(allowed_rows):
        return None, True
    parts = [f"({p})" for p in (where, rows) if p]
    return " and ".join(parts) or None, False


class MilvusDense:
    """Cosine search over passage vectors in a Milvus collection."""

    name = "dense"

    def __init__(self, collection: MilvusCollection) -> None:
        self.collection = collection

    def build(self, docs: Documents) -> None:
        self.collection.build(docs)

    def search(
        self, queries: Queries, k: int, allowed_rows: np.ndarray | None = None, where: str | None = None
    ) -> list[Hits]:
        """Top ``k`` rows per query among those ``allowed_rows`` and ``where`` (a filter_expression) keep."""
        if queries.vectors is None:
            raise ValueError("the dense backend needs query vectors: encode the questions first")
        expr, empty = _expr(allowed_rows, where)
        if empty or k <= 0:
            return [[] for _ in queries.texts]
        return self.collection.search("vector", np.asarray(queries.vectors, np.float32).tolist(), k, expr)

    def save(self, folder: Path) -> None:
        self.collection.save(folder)

    @classmethod
    def load(cls, folder: Path, uri: str = "", token: str | None = None) -> Self:
        return cls(MilvusCollection.load(folder, uri, token))


class MilvusLexical:
    """BM25 over our fugashi lemmas, scored by Milvus."""

    name = "bm25"

    def __init__(self, collection: MilvusCollection) -> None:
        self.collection = collection

    def build(self, docs: Documents) -> None:
        self.collection.build(docs)

    def search(
        self, queries: Queries, k: int, allowed_rows: np.ndarray | None = None, where: str | None = None
    ) -> list[Hits]:
        """Top ``k`` rows per query with a BM25 score above zero, as the bm25s backend returns them."""
        expr, empty = _expr(allowed_rows, where)
        out: list[Hits] = [[] for _ in queries.texts]
        if empty or k <= 0:
            return out
        texts = [lemma_text(self.collection.tokenize, t) for t in queries.texts]
        asked = [i for i, t in enumerate(texts) if t]  # Milvus rejects an empty query text
        for i, hits in zip(asked, self.collection.search("sparse", [texts[i] for i in asked], k, expr)):
            out[i] = [(row, score) for row, score in hits if score > 0]
        return out

    def save(self, folder: Path) -> None:
        self.collection.save(folder)

    @classmethod
    def load(cls, folder: Path, uri: str = "", token: str | None = None) -> Self:
        return cls(MilvusCollection.load(folder, uri, token))

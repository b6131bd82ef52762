"""One Milvus collection per index version: its schema, bulk insert, search, versions by alias, and filters.

``milvus.py`` puts the two search backends on top of it; the connection lives in ``milvus_connect``.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np

from corpus.models import Article, Passage
from index.backends.base import Documents, Hits
from index.backends.milvus_connect import MilvusError, connect, uri_kind
from index.store import IndexCorruptError
from index.tokenize import TokenForm, Tokenizer, japanese_tokenizer

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "ragqa"
# No "__" and no trailing "_" in a prefix, so "<prefix>__v…" names of two prefixes can never collide.
PREFIX_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*")
INFO_FILE = "milvus.json"
FLAT_BELOW = 20_000  # rows; exact search is fast enough below this and needs no tuning
HNSW = {"M": 32, "efConstruction": 200}
EF_SEARCH = 1024  # as the FAISS HNSW index: recall@10 1.0 at 100k in bench/scale.py
BM25 = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s's defaults, so both lexical backends rank alike
INSERT_BATCH = 2_000  # rows per insert call: stays far below gRPC's 64 MB message limit
MAX_VARCHAR = 65_535
DenseIndex = Literal["auto", "flat", "hnsw"]  # auto: flat below FLAT_BELOW rows, else HNSW


@dataclass(frozen=True)
class MilvusConnection:
    """Where a deployment's collections live: the URI (a Lite ``.db`` path or http(s)://), its token, a prefix.

    The prefix names every collection and the alias this deployment owns (``<prefix>__v<version>``,
    ``<prefix>__current``), so deployments sharing a cluster with different prefixes never touch each
    other's collections. The token is kept out of ``repr`` so it cannot reach a log line.
    """

    uri: str
    token: str | None = field(default=None, repr=False)
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        uri_kind(self.uri)  # a MilvusError naming the two accepted forms
        if not PREFIX_PATTERN.fullmatch(self.prefix) or len(self.prefix) > 64:
            raise ValueError(
                f"Milvus collection prefix {self.prefix!r} is not usable: use letters and digits, single "
                "underscores between them, at most 64 characters (e.g. ragqa or shop_ragqa)"
            )

    @property
    def alias(self) -> str:
        """The alias that points at the collection being served."""
        return f"{self.prefix}__current"

    def collection_name(self, version: str) -> str:
        """The collection holding an index version, e.g. ``ragqa__v20261127T113810123456Z_1a2b3c``."""
        return f"{self.prefix}__v" + re.sub(r"[^0-9A-Za-z_]", "_", version)

    def owns(self, name: str) -> bool:
        """True for a collection of this deployment (this prefix), whichever version it holds."""
        return re.fullmatch(re.escape(self.prefix) + r"__v\w+", name) is not None

    def client(self) -> Any:
        """The process's MilvusClient for this URI."""
        return connect(self.uri, self.token)


@dataclass(frozen=True)
class RowMeta:
    """What filters can ask about one passage row."""

    article_id: str
    date: str  # YYYY-MM-DD
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


def row_meta(passages: Sequence[Passage], articles: Sequence[Article]) -> list[RowMeta]:
    """Each passage row's filterable metadata (categories and tags come from its article)."""
    by_id = {a.id: a for a in articles}
    out = []
    for p in passages:
        article = by_id.get(p.article_id)
        labels = (tuple(article.categories), tuple(article.tags)) if article else ((), ())
        out.append(RowMeta(p.article_id, p.date, *labels))
    return out


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

    def __init__(
        self,
        connection: MilvusConnection,
        name: str,
        index: DenseIndex = "auto",
        token_form: TokenForm = "lemma",
        meta: list[RowMeta] | None = None,
    ) -> None:
        self.connection = connection
        self.client = connection.client()
        self.name = name
        self.index: DenseIndex = index
        self.token_form: TokenForm = token_form
        self.tokenize = japanese_tokenizer(token_form)
        self.meta = meta  # per row, for metadata filters; without it every row gets empty metadata
        self.size = 0

    @classmethod
    def new(
        cls,
        connection: MilvusConnection,
        version: str,
        index: DenseIndex = "auto",
        token_form: TokenForm = "lemma",
        meta: list[RowMeta] | None = None,
    ) -> Self:
        """An empty collection object for ``version`` (created in Milvus by ``build``)."""
        return cls(connection, connection.collection_name(version), index, token_form, meta)

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
        for name in ("categories", "tags"):
            schema.add_field(
                name,
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
        """Write which collection holds the version (never the URI or its token)."""
        info = {
            "collection": self.name,
            "uri_kind": uri_kind(self.connection.uri),
            "index": self.index,
            "token_form": self.token_form,
            "rows": self.size,
        }
        (folder / INFO_FILE).write_text(json.dumps(info), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, connection: MilvusConnection | None) -> Self:
        """Reconnect to the collection a version's ``milvus.json`` names, and load it for search."""
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        if connection is None:
            raise IndexCorruptError(
                f"index version {folder.parent.name} is stored in Milvus collection {info['collection']}: set "
                "RAGQA_BACKEND=milvus and RAGQA_MILVUS_URI to serve it, or run `ragqa index` to rebuild"
            )
        collection = cls(connection, info["collection"], info["index"], info.get("token_form", "lemma"))
        if not collection.client.has_collection(info["collection"]):
            # Like a missing file: the version is refused and an older one (or a rebuild) takes over.
            raise IndexCorruptError(
                f"index version {folder.parent.name}: Milvus at {connection.uri} has no collection "
                f"{info['collection']} (dropped, or another RAGQA_MILVUS_URI/PREFIX): run `ragqa index` to rebuild"
            )
        collection.client.load_collection(info["collection"])  # reopened collections start released
        collection.size = info["rows"]
        return collection


def publish(connection: MilvusConnection, version: str, keep_versions: Sequence[str]) -> list[str]:
    """Point the alias at ``version``'s collection, then drop this prefix's collections no kept version names.

    Called after the index folder's CURRENT switched, so the alias never runs ahead of it; a build killed
    earlier leaves the alias on the previous collection and its half-written one is dropped here next time.
    ``keep_versions`` are the versions still on disk (fallbacks): their collections stay, released except
    the previous one, which a replica may still be serving while it swaps. Returns the dropped names.
    """
    client = connection.client()
    name = connection.collection_name(version)
    previous = None
    if connection.alias in client.list_aliases().get("aliases", []):
        previous = client.describe_alias(connection.alias)["collection_name"]
        client.alter_alias(name, connection.alias)  # atomic: readers see the old or the new collection
    else:  # this deployment's first version
        client.create_alias(name, connection.alias)
    keep = {name} | {connection.collection_name(v) for v in keep_versions}
    owned = [c for c in client.list_collections() if connection.owns(c)]
    dropped = [c for c in owned if c not in keep]
    for collection in dropped:
        client.drop_collection(collection)
    for collection in set(owned) & (keep - {name, previous}):
        client.release_collection(collection)  # a fallback: loaded again only if it is ever served
    logger.info("milvus alias %s → %s; dropped %s", connection.alias, name, dropped or "nothing")
    return dropped


def collection_exists(folder: Path, connection: MilvusConnection) -> bool:
    """True if the collection a version's backend folder names is in Milvus."""
    try:
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(connection.client().has_collection(info["collection"]))

"""The Milvus backends against Milvus Lite: parity with FAISS and bm25s, filters before top-k, versions by alias."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from corpus.loader import load_corpus
from eval.questions import load_questions
from index import store
from index.backends import BACKENDS, BM25Backend, Documents, FaissBackend, Queries
from index.backends.milvus import (
    MilvusCollection,
    MilvusConnection,
    MilvusDense,
    MilvusLexical,
    filter_expression,
    lemma_text,
    load_options,
    publish,
    row_meta,
    rows_expression,
)
from index.backends.milvus_connect import MilvusError, close, connect, uri_kind
from ragqa.settings import DEFAULT_CORPUS_DIR

logger = logging.getLogger(__name__)
pytest.importorskip("pymilvus", reason="pymilvus is not installed: pip install 'ragqa[milvus]' to test Milvus")
pytest.importorskip("milvus_lite", reason="milvus-lite is not installed: pip install 'ragqa[milvus]' to test Milvus")


def _unit(m: np.ndarray) -> np.ndarray:
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One Milvus Lite file for the module: one process owns a .db, so every test shares this client."""
    path = str(tmp_path_factory.mktemp("milvus") / "ragqa.db")
    yield path
    close(path)


@pytest.fixture(scope="module")
def conn(uri: str) -> MilvusConnection:
    return MilvusConnection(uri)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(DEFAULT_CORPUS_DIR)


@pytest.fixture(scope="module")
def real(conn: MilvusConnection, corpus) -> tuple[MilvusCollection, BM25Backend, list[str]]:
    """The shipped corpus in Milvus (random stand-in vectors) and in bm25s over lemmas."""
    texts = [p.text for p in corpus.passages]
    collection = MilvusCollection.new(conn, "real", meta=row_meta(corpus.passages, corpus.articles))
    vectors = _unit(np.random.default_rng(0).normal(size=(len(texts), 16)))
    collection.build(Documents(texts, vectors))
    reference = BM25Backend("lemma")
    reference.build(Documents(texts))
    return collection, reference, [q.question for q in load_questions()]


def test_dense_top10_matches_exact_faiss(conn: MilvusConnection) -> None:
    rng = np.random.default_rng(1)
    vectors = _unit(rng.normal(size=(500, 32)))
    queries = Queries([""] * 20, _unit(rng.normal(size=(20, 32))))
    dense = MilvusDense(MilvusCollection.new(conn, "dense-parity"))
    dense.build(Documents([f"passage {i}" for i in range(500)], vectors))
    exact = FaissBackend("flat")
    exact.build(Documents([""] * 500, vectors))
    got, want = dense.search(queries, 10), exact.search(queries, 10)
    assert [[r for r, _ in hits] for hits in got] == [[r for r, _ in hits] for hits in want]
    assert np.allclose([s for h in got for _, s in h], [s for h in want for _, s in h], atol=1e-4)


def test_bm25_top10_overlaps_bm25s_on_the_corpus(real) -> None:
    collection, reference, questions = real
    queries = Queries(questions)
    got, want = MilvusLexical(collection).search(queries, 10), reference.search(queries, 10)
    overlap = [len({r for r, _ in g} & {r for r, _ in w}) / max(1, len(w)) for g, w in zip(got, want)]
    top1 = np.mean([bool(g) and bool(w) and g[0][0] == w[0][0] for g, w in zip(got, want)])
    logger.info("BM25 top-10 overlap Milvus vs bm25s: %.3f, top-1 agreement %.3f", np.mean(overlap), top1)
    assert np.mean(overlap) >= 0.9
    assert top1 >= 0.9


def test_lemma_text_keeps_whole_alphanumeric_lemmas(real) -> None:
    collection, _, _ = real
    text = lemma_text(collection.tokenize, "メタがTPUを導入した。GPT-4も")
    assert text.split() == [t for t in text.split() if t.isalnum()]
    assert "tpu" in text.split() and "導入" in text.split()


@pytest.mark.parametrize("backend", [MilvusDense, MilvusLexical])
def test_allowed_rows_apply_before_top_k(real, backend) -> None:
    collection, _, questions = real
    mask = np.zeros(collection.size, dtype=bool)
    allowed = [3, 50, 120]
    mask[allowed] = True
    queries = Queries(["液冷 冷却 データセンター"], _unit(np.ones((1, 16))))
    hits = backend(collection).search(queries, 5, allowed_rows=mask)[0]
    if backend is MilvusLexical:  # BM25 returns only rows sharing a word with the question
        assert {r for r, _ in hits} <= set(allowed)
    else:
        assert sorted(r for r, _ in hits) == allowed
    assert backend(collection).search(queries, 5, allowed_rows=np.zeros_like(mask)) == [[]]


def test_metadata_filters_apply_before_top_k(real, corpus) -> None:
    collection, _, _ = real
    article = corpus.articles[1]
    n = sum(p.article_id == article.id for p in corpus.passages)
    queries = Queries(["NVIDIA"], _unit(np.ones((1, 16))))
    hits = MilvusDense(collection).search(queries, n + 10, where=filter_expression(article_ids=[article.id]))[0]
    assert len(hits) == n and all(collection.meta[r].article_id == article.id for r, _ in hits)
    day = dt.date.fromisoformat(article.date[:10])
    dated = MilvusDense(collection).search(queries, 500, where=filter_expression(since=day, until=day))[0]
    assert {collection.meta[r].date[:10] for r, _ in dated} == {article.date[:10]}
    if article.tags:
        tagged = MilvusDense(collection).search(queries, 500, where=filter_expression(tags=[article.tags[0]]))[0]
        assert tagged and all(article.tags[0] in collection.meta[r].tags for r, _ in tagged)
    none = MilvusDense(collection).search(queries, 5, where=filter_expression(categories=["no such category"]))
    assert none == [[]]


def test_filter_expression_escapes_and_combines() -> None:
    expr = filter_expression(article_ids=['a"b'], since="2025-01-02", tags=["日本"])
    assert expr == '(article_id in ["a\\"b"]) and (date >= 20250102) and (array_contains_any(tags, ["日本"]))'
    assert filter_expression() is None
    with pytest.raises(ValueError, match="use YYYY-MM-DD"):
        filter_expression(until="26/11/2025")
    assert rows_expression(np.array([True, False, True, True])) == "row not in [1]"
    assert rows_expression(np.array([False, False, True, False])) == "row in [2]"
    assert rows_expression(np.ones(3, dtype=bool)) is None


def _build(conn: MilvusConnection, version: str) -> MilvusCollection:
    collection = MilvusCollection.new(conn, version)
    collection.build(Documents(["word one", "word two"], _unit(np.eye(2, 8, dtype=np.float32) + 0.1)))
    return collection


def test_alias_switch_killed_build_and_old_collections_dropped(tmp_path: Path) -> None:
    uri = str(tmp_path / "versions.db")  # its own file: publishing drops the prefix's unkept collections
    conn, other = MilvusConnection(uri), MilvusConnection(uri, prefix="ragqa_other")
    client = connect(uri)
    v1, v2, v3, v4 = (store.new_version_name() for _ in range(4))
    _build(other, v1)
    publish(other, v1, [v1])  # another deployment on the same Milvus: never touched below
    _build(conn, v1)
    publish(conn, v1, [v1])
    assert client.describe_alias("ragqa__current")["collection_name"] == conn.collection_name(v1)
    _build(conn, v2)
    publish(conn, v2, [v1, v2])
    assert client.describe_alias("ragqa__current")["collection_name"] == conn.collection_name(v2)
    _build(conn, v3)  # killed before its switch: rows written, alias never moved
    assert client.describe_alias("ragqa__current")["collection_name"] == conn.collection_name(v2)
    _build(conn, v4)
    dropped = publish(conn, v4, [v2, v4])  # v1 pruned from disk, v3 never reached it
    assert client.describe_alias("ragqa__current")["collection_name"] == conn.collection_name(v4)
    assert set(dropped) == {conn.collection_name(v1), conn.collection_name(v3)}
    assert {c for c in client.list_collections() if conn.owns(c)} == {conn.collection_name(v) for v in (v2, v4)}
    assert client.describe_alias("ragqa_other__current")["collection_name"] == other.collection_name(v1)
    assert client.has_collection(other.collection_name(v1))
    hits = client.search("ragqa__current", data=["two"], anns_field="sparse", limit=1, output_fields=["row"])
    assert hits[0][0]["entity"]["row"] == 1
    close(uri)


def test_prefixes_never_claim_each_others_collections() -> None:
    ragqa, shop = MilvusConnection("/tmp/x.db"), MilvusConnection("/tmp/x.db", prefix="ragqa_shop")
    assert ragqa.owns(ragqa.collection_name("20261127T1-ab")) and not ragqa.owns(shop.collection_name("1"))
    assert not shop.owns(ragqa.collection_name("1")) and not ragqa.owns("ragqa__current")
    for bad in ("ragqa_", "a__b", "1abc", "", "x-y"):
        with pytest.raises(ValueError, match="letters and digits"):
            MilvusConnection("/tmp/x.db", prefix=bad)
    assert "sekrit" not in repr(MilvusConnection("/tmp/x.db", token="sekrit"))


def test_backends_are_registered_and_take_the_connection_as_a_load_option(conn: MilvusConnection) -> None:
    assert BACKENDS["milvus_dense"] is MilvusDense and BACKENDS["milvus_bm25"] is MilvusLexical
    assert load_options(conn) == {"milvus_dense": {"connection": conn}, "milvus_bm25": {"connection": conn}}


def test_save_and_load_reconnect(real, conn: MilvusConnection, tmp_path: Path) -> None:
    collection, _, questions = real
    MilvusLexical(collection).save(tmp_path)
    saved = json.loads((tmp_path / "milvus.json").read_text())
    assert set(saved) == {"collection", "uri_kind", "index", "token_form", "rows"}  # no URI, never a token
    loaded = MilvusLexical.load(tmp_path, connection=conn)
    assert loaded.collection.name == collection.name and loaded.collection.size == collection.size
    queries = Queries(questions[:5])
    assert loaded.search(queries, 10) == MilvusLexical(collection).search(queries, 10)
    with pytest.raises(store.IndexCorruptError, match="set RAGQA_BACKEND=milvus"):
        MilvusDense.load(tmp_path)  # a Milvus version loaded without a connection
    gone = {"uri_kind": "lite", "collection": "ragqa__vgone", "index": "flat", "rows": 1}
    (tmp_path / "milvus.json").write_text(json.dumps(gone))
    with pytest.raises(store.IndexCorruptError, match="no collection ragqa__vgone"):
        MilvusDense.load(tmp_path, connection=conn)


def test_connect_says_what_is_wrong() -> None:
    assert uri_kind("http://milvus:19530") == "server" and uri_kind("/tmp/x.db") == "lite"
    with pytest.raises(MilvusError, match="neither an http"):
        connect("/tmp/not-a-db-file")
    with pytest.raises(MilvusError, match="cannot reach Milvus at http://127.0.0.1:9"):
        connect("http://127.0.0.1:9", timeout=1)

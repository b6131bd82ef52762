"""Milvus Lite vs FAISS + bm25s on the real corpus: per-query search latency, top-10 agreement, per-segment IDF.

Embeds the default corpus's passages and the eval questions with the configured encoder, builds both
backends over the same documents, and prints one table. The last row re-inserts the passages one article
at a time with a flush after each (several segments, each with its own BM25 IDF) and counts the questions
whose BM25 top-1 differs from the one-bulk-insert collection.

    python bench/milvus_parity.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from corpus.loader import load_corpus
from eval.metrics import load_questions
from eval.run import QUESTIONS_PATH
from index.backends import Documents, Hits, Queries
from index.backends.milvus import MilvusCollection, MilvusDense, MilvusLexical, RowMeta, day_number, lemma_text
from index.backends.milvus_connect import close, connect
from index.dense import FaissBackend
from index.documents import document_text
from index.embedder import load_encoder
from index.lexical import BM25Backend
from ragqa.settings import get_settings


def _latency(search, queries: Queries, repeats: int) -> tuple[float, float]:
    """p50 and p95 ms of one-question searches."""
    times = []
    for _ in range(repeats):
        for i, text in enumerate(queries.texts):
            one = Queries([text], None if queries.vectors is None else queries.vectors[i : i + 1])
            started = time.perf_counter()
            search(one, 10)
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * len(times))]


def _overlap(got: list[Hits], want: list[Hits]) -> tuple[float, float]:
    """Mean top-10 overlap and top-1 agreement over questions the reference answers."""
    pairs = [(g, w) for g, w in zip(got, want) if w]
    overlap = statistics.mean(len({r for r, _ in g} & {r for r, _ in w}) / len(w) for g, w in pairs)
    top1 = statistics.mean(bool(g) and g[0][0] == w[0][0] for g, w in pairs)
    return overlap, top1


def _per_article(collection: MilvusCollection, docs: Documents, meta: list[RowMeta]) -> None:
    """Insert one article at a time and flush after each: what a naive incremental build would do."""
    client = collection.client
    lemmas = [lemma_text(collection.tokenize, t) for t in docs.texts]
    client.create_collection(
        collection.name,
        schema=collection._schema(docs.vectors.shape[1], lemmas, meta),
        index_params=collection._index_params(),
        consistency_level="Strong",
    )
    for article in dict.fromkeys(m.article_id for m in meta):
        rows = [i for i, m in enumerate(meta) if m.article_id == article]
        client.insert(
            collection.name,
            [
                {
                    "row": i,
                    "article_id": meta[i].article_id,
                    "date": day_number(meta[i].date),
                    "categories": list(meta[i].categories),
                    "tags": list(meta[i].tags),
                    "vector": docs.vectors[i].tolist(),
                    "lemmas": lemmas[i],
                }
                for i in rows
            ],
        )
        client.flush(collection.name)
    client.load_collection(collection.name)
    collection.size = len(lemmas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed passes over the questions")
    args = parser.parse_args()

    settings = get_settings()
    corpus = load_corpus(settings.corpus_dir)
    articles = {a.id: a for a in corpus.articles}
    texts = [document_text(p, settings.document_format) for p in corpus.passages]
    meta = [
        RowMeta(p.article_id, p.date, tuple(articles[p.article_id].categories), tuple(articles[p.article_id].tags))
        for p in corpus.passages
    ]
    encoder = load_encoder(settings)
    questions = [q.question for q in load_questions(QUESTIONS_PATH)]
    docs = Documents(texts, encoder.encode_passages(texts))
    queries = Queries(questions, encoder.encode_queries(questions))

    faiss_flat, bm25 = FaissBackend("flat"), BM25Backend("lemma")
    faiss_flat.build(docs)
    bm25.build(docs)

    with tempfile.TemporaryDirectory() as tmp:
        uri = str(Path(tmp) / "parity.db")
        started = time.perf_counter()
        connect(uri)
        start_s = time.perf_counter() - started
        lite = [p for p in psutil.Process().children(recursive=True) if "milvus" in " ".join(p.cmdline()).lower()]
        bulk = MilvusCollection.new(uri, "bulk")
        bulk.meta = meta
        started = time.perf_counter()
        bulk.build(docs)
        build_s = time.perf_counter() - started
        dense, lexical = MilvusDense(bulk), MilvusLexical(bulk)
        rss = sum(p.memory_info().rss for p in lite) / 1e6 if lite else float("nan")

        print(f"{len(texts)} passages, {len(questions)} questions; Lite start {start_s:.2f} s, build {build_s:.2f} s")
        print(f"Lite processes: {len(lite)} ({'in-process' if not lite else 'child'}), RSS {rss:.0f} MB")
        print(f"{'search':<22} {'p50 ms':>7} {'p95 ms':>7} {'top-10 overlap':>15} {'top-1 agree':>12}")
        rows = [
            ("FAISS flat", faiss_flat.search, None),
            ("Milvus dense (FLAT)", dense.search, faiss_flat.search(queries, 10)),
            ("bm25s (lemma)", bm25.search, None),
            ("Milvus BM25 (bulk)", lexical.search, bm25.search(queries, 10)),
        ]
        for label, search, reference in rows:
            p50, p95 = _latency(search, queries, args.repeats)
            if reference is None:
                print(f"{label:<22} {p50:>7.2f} {p95:>7.2f} {'reference':>15} {'':>12}")
            else:
                overlap, top1 = _overlap(search(queries, 10), reference)
                print(f"{label:<22} {p50:>7.2f} {p95:>7.2f} {overlap:>15.3f} {top1:>12.3f}")

        segmented = MilvusCollection.new(uri, "per_article")
        _per_article(segmented, docs, meta)
        got = MilvusLexical(segmented).search(queries, 10)
        overlap, top1 = _overlap(got, lexical.search(queries, 10))
        moved = 1 - top1
        print(
            f"{'Milvus BM25 per-article':<22} {'':>7} {'':>7} {overlap:>15.3f} {top1:>12.3f}  "
            f"(vs bulk: top-1 moved for {moved:.1%} of questions, {len(articles)} flushes)"
        )
        close(uri)


if __name__ == "__main__":
    main()

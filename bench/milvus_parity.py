"""Milvus Lite vs FAISS + bm25s on the real corpus: per-query search latency, top-10 agreement, per-segment IDF.

Embeds the default corpus's passages and the eval questions with the configured encoder, builds both
backends over the same documents, and prints one table. The last row re-inserts the passages one article
at a time with a flush after each (several segments, each with its own BM25 IDF) and counts the questions
whose BM25 top-1 differs from the one-bulk-insert collection. With ``--eval`` it also builds a real index
in a temporary folder, rebuilds it into Milvus Lite (vectors reused) and runs ``ragqa eval``'s scoring on
the dev split with each (tests/index/backends/test_milvus_parity.py asserts the same in ``make test``).

    python bench/milvus_parity.py [--repeats 20] [--eval]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from corpus.loader import load_corpus
from eval.questions import load_questions
from eval.retrieval import CONFIGURATIONS
from eval.run import evaluate
from index.backends import BM25Backend, Documents, FaissBackend, Hits, Queries
from index.backends.milvus import (
    MilvusCollection,
    MilvusConnection,
    MilvusDense,
    MilvusLexical,
    RowMeta,
    day_number,
    lemma_text,
    load_options,
    row_meta,
)
from index.backends.milvus_connect import close, connect
from index.build import build_index
from index.documents import document_text
from index.model import Encoder, load_encoder
from index.params import load_rank_params
from index.retriever import HybridRetriever
from index.version import load_latest
from ragqa.settings import Settings, get_settings


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


def compare_eval(settings: Settings, encoder: Encoder, uri: str) -> None:
    """``ragqa eval --split dev`` scores with the default backends and with Milvus behind the same retriever."""
    questions = load_questions()
    params = load_rank_params()
    connection = MilvusConnection(uri, prefix="parity")
    with tempfile.TemporaryDirectory() as tmp:
        faiss_dir, milvus_dir = Path(tmp) / "faiss", Path(tmp) / "milvus"
        build_index(
            settings.corpus_dir, faiss_dir, encoder, dataclasses.replace(settings.build_options(), backend="faiss")
        )
        shutil.copytree(faiss_dir, milvus_dir)  # so the Milvus build reuses every vector
        options = dataclasses.replace(settings.build_options(), backend="milvus", milvus=connection)
        build_index(settings.corpus_dir, milvus_dir, encoder, options)
        default, _ = load_latest(faiss_dir, encoder.name)
        milvus, _ = load_latest(milvus_dir, encoder.name, load_options=load_options(connection))
        configurations = list(CONFIGURATIONS)
        base = evaluate(HybridRetriever(default, encoder, params), questions, configurations, "dev")
        other = evaluate(HybridRetriever(milvus, encoder, params), questions, configurations, "dev")
    print(
        f"\n{'mode':<7} {'lang':<4} {'R@5 default':>12} {'R@5 milvus':>11} {'MRR@10 default':>15} {'MRR@10 milvus':>14}"
    )
    for configuration in configurations:
        for lang in ("all", "ja", "en"):
            row, got = base.row(configuration, "lang", lang), other.row(configuration, "lang", lang)
            if row is None or got is None:
                continue
            print(
                f"{configuration:<7} {lang:<4} {row.scores['R@5'].mean:>12.3f} {got.scores['R@5'].mean:>11.3f} "
                f"{row.scores['MRR@10'].mean:>15.3f} {got.scores['MRR@10'].mean:>14.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed passes over the questions")
    parser.add_argument("--eval", action="store_true", help="also compare ragqa eval scores (builds an index)")
    args = parser.parse_args()

    settings = get_settings()
    corpus = load_corpus(settings.corpus_dir)
    articles = {a.id: a for a in corpus.articles}
    texts = [document_text(p, settings.document_format) for p in corpus.passages]
    meta = row_meta(corpus.passages, corpus.articles)
    encoder = load_encoder(settings.model, settings.model_cache_dir, settings.torch_threads)
    questions = [q.question for q in load_questions()]
    docs = Documents(texts, encoder.encode_passages(texts))
    queries = Queries(questions, encoder.encode_queries(questions))

    faiss_flat, bm25 = FaissBackend("flat"), BM25Backend("lemma")
    faiss_flat.build(docs)
    bm25.build(docs)

    with tempfile.TemporaryDirectory() as tmp:
        uri = str(Path(tmp) / "parity.db")
        process = psutil.Process()
        rss0 = process.memory_info().rss
        started = time.perf_counter()
        connect(uri)
        start_s = time.perf_counter() - started
        connection = MilvusConnection(uri, prefix="parity")
        bulk = MilvusCollection.new(connection, "bulk", meta=meta)
        started = time.perf_counter()
        bulk.build(docs)
        build_s = time.perf_counter() - started
        dense, lexical = MilvusDense(bulk), MilvusLexical(bulk)
        rss = (process.memory_info().rss - rss0) / 1e6  # milvus-lite 3 runs inside this process

        print(f"{len(texts)} passages, {len(questions)} questions; Lite start {start_s:.2f} s, build {build_s:.2f} s")
        print(f"Milvus Lite (in-process): RSS +{rss:.0f} MB after start and build")
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

        segmented = MilvusCollection.new(connection, "per_article")
        _per_article(segmented, docs, meta)
        got = MilvusLexical(segmented).search(queries, 10)
        overlap, top1 = _overlap(got, lexical.search(queries, 10))
        moved = 1 - top1
        print(
            f"{'Milvus BM25 per-article':<22} {'':>7} {'':>7} {overlap:>15.3f} {top1:>12.3f}  "
            f"(vs bulk: top-1 moved for {moved:.1%} of questions, {len(articles)} flushes)"
        )
        if args.eval:
            compare_eval(settings, encoder, uri)
        close(uri)


if __name__ == "__main__":
    main()

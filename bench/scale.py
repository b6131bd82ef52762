"""Scale benchmark: search latency excluding the encoder, memory per passage, and ANN recall vs exact.

Synthetic corpora of N passages are recombined from the default corpus's sentences; their vectors are
stand-ins (mixtures of real passage embeddings plus noise when an index exists, else clustered random
vectors), so no hours of encoding are needed. Prints one table.

    python bench/scale.py --sizes 1000 10000 100000
    python bench/scale.py --sizes 10000 100000 --kinds flat hnsw milvus   # milvus: Milvus Lite (HNSW), both backends

Milvus Lite runs inside this process, so its memory is this process's RSS growth over the build.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from load import QUESTIONS

from corpus.loader import load_corpus
from corpus.models import Passage
from corpus.text import sentence_spans, split_sentences
from index import store
from index.backends import BM25Backend, Documents, FaissBackend, Queries
from index.backends.milvus import MilvusCollection, MilvusConnection, MilvusDense, MilvusLexical
from index.backends.milvus_connect import close
from index.late_interaction import TokenTable
from index.retriever import HybridRetriever
from index.version import DENSE, LEXICAL, LoadedIndex, Manifest, SentenceTable, load_latest
from ragqa.settings import get_settings


def _unit(m: np.ndarray) -> np.ndarray:
    return (m / np.linalg.norm(m, axis=-1, keepdims=True)).astype(np.float32)


def _centres(dim: int = 384) -> np.ndarray:
    try:
        settings = get_settings()
        loaded, _ = load_latest(settings.index_dir, None, load_options=settings.load_options())
        return loaded.vectors
    except store.IndexStoreError:
        return _unit(np.random.default_rng(1).normal(size=(200, dim)))


def synthetic(
    n: int, sentences: list[str], centres: np.ndarray, rng: random.Random
) -> tuple[list[Passage], np.ndarray]:
    """N passages of 3–6 corpus sentences each, with stand-in vectors near real embeddings."""
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    passages, vectors = [], np.empty((n, centres.shape[1]), np.float32)
    for i in range(n):
        text = "".join(rng.sample(sentences, rng.randint(3, 6)))[:1000]
        passages.append(
            Passage(
                id=f"s{i:07d}",
                article_id=f"a{i // 40:05d}",
                title="synthetic",
                date="2026-01-01",
                section=None,
                paragraph=i % 40 + 1,
                text=text,
                sources=[],
            )
        )
        mix = centres[nprng.integers(len(centres), size=2)].sum(axis=0)
        vectors[i] = mix + nprng.normal(scale=0.02, size=centres.shape[1])
    return passages, _unit(vectors)


def build(passages: list[Passage], vectors: np.ndarray, kind: str, milvus_uri: str = "") -> LoadedIndex:
    """An in-memory index over synthetic passages (no files); kind ``milvus`` puts both backends in Milvus."""
    texts = [p.text for p in passages]
    if kind == "milvus":
        collection = MilvusCollection.new(MilvusConnection(milvus_uri), f"scale_{len(passages)}", index="hnsw")
        collection.build(Documents(texts, vectors))
        lexical, dense = MilvusLexical(collection), MilvusDense(collection)
    else:
        lexical = BM25Backend()
        lexical.build(Documents(texts))
        dense = FaissBackend(kind)  # type: ignore[arg-type]
        dense.build(Documents(texts, vectors))
    spans = [sentence_spans(t) for t in texts]
    offsets = np.cumsum([0] + [len(s) for s in spans])
    sent_vectors = np.repeat(vectors, [len(s) for s in spans], axis=0).astype(np.float16)
    manifest = Manifest(
        version=f"synthetic-{len(passages)}",
        model="stand-in",
        variant="synthetic",
        dimension=vectors.shape[1],
        document_format="text",
        corpus_fingerprint="",
        passage_count=len(passages),
        article_count=0,
        backends={LEXICAL: lexical.name, DENSE: dense.name},
        created_at="",
        files={},
    )
    sentences = SentenceTable(offsets, np.asarray([x for s in spans for x in s], np.int32), sent_vectors)
    # No token vectors: this benchmark measures the hybrid search, not the ranking stage that reads them.
    tokens = TokenTable(np.zeros(len(passages) + 1, np.int64), np.zeros((0, vectors.shape[1]), np.float32))
    return LoadedIndex(manifest, passages, [], vectors, sentences, tokens, {LEXICAL: lexical, DENSE: dense})


def recall_at_10(approx: FaissBackend, exact: FaissBackend, queries: np.ndarray) -> float:
    """Share of exact top-10 that the approximate index also returns."""
    q = Queries([""] * len(queries), queries)
    got = approx.search(q, 10)
    want = exact.search(q, 10)
    return statistics.mean(len({r for r, _ in g} & {r for r, _ in w}) / 10 for g, w in zip(got, want))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeats", type=int, default=30, help="timed searches per question set")
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=["flat", "hnsw", "milvus"],
        default=["flat", "hnsw"],
        help="indexes to measure; milvus needs pip install 'ragqa[milvus]'",
    )
    args = parser.parse_args()

    corpus = load_corpus(get_settings().corpus_dir)
    sentences = [s for p in corpus.passages for s in split_sentences(p.text) if len(s) >= 15]
    centres = _centres()
    rng = random.Random(7)
    process = psutil.Process()
    header = (
        f"{'passages':>9} {'index':>6} {'build s':>8} {'MB/1k psg':>10} {'p50 ms':>7} {'p95 ms':>7} {'recall@10':>10}"
    )
    warm, warm_vectors = synthetic(200, sentences, centres, rng)
    build(warm, warm_vectors, "hnsw")  # first use loads the tagger and FAISS: keep that out of the figures
    print(header)
    for n in args.sizes:
        passages, vectors = synthetic(n, sentences, centres, rng)
        nprng = np.random.default_rng(n)
        qvecs = _unit(
            centres[nprng.integers(len(centres), size=len(QUESTIONS))]
            + nprng.normal(scale=0.05, size=(len(QUESTIONS), centres.shape[1]))
        )
        exact = FaissBackend("flat")  # recall reference: exact search over the same vectors
        exact.build(Documents([""] * n, vectors))
        tmp = tempfile.TemporaryDirectory()
        milvus_uri = str(Path(tmp.name) / "scale.db")
        for kind in args.kinds:
            gc.collect()
            rss0 = process.memory_info().rss
            started = time.perf_counter()
            loaded = build(passages, vectors, kind, milvus_uri)
            build_s = time.perf_counter() - started
            rss = process.memory_info().rss - rss0
            retriever = HybridRetriever(loaded, encoder=None)  # type: ignore[arg-type]
            retriever.search_many(QUESTIONS, 5, vectors=qvecs)  # warm caches
            times = []
            for _ in range(args.repeats):
                for i, question in enumerate(QUESTIONS):
                    t = time.perf_counter()
                    retriever.search_many([question], 5, vectors=qvecs[i : i + 1])
                    times.append((time.perf_counter() - t) * 1000)
            times.sort()
            recall = "exact" if kind == "flat" else f"{recall_at_10(loaded.backends[DENSE], exact, qvecs):.3f}"  # type: ignore[arg-type]
            print(
                f"{n:>9} {kind:>6} {build_s:>8.1f} {rss / 1e6 / (n / 1000):>10.2f} "
                f"{statistics.median(times):>7.2f} {times[int(0.95 * len(times))]:>7.2f} {recall:>10}"
            )
            del loaded, retriever
        if "milvus" in args.kinds:
            close(milvus_uri)
        tmp.cleanup()


if __name__ == "__main__":
    main()

"""What the ranking stage adds per query: mode 'ranked' vs mode 'hybrid', question vectors precomputed.

Both modes search the same backends for the same pool; the difference is the stage itself (pool features
with the character-bigram and bridged BM25, token-level MaxSim over the pool's stored token vectors, three
dot products, the abstention decision). The question's token vectors come from the encoder pass that gives
its vector, so they are precomputed too.

    python bench/ranking.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

from load import QUESTIONS

from index.model import load_encoder
from index.ranker import open_ranker
from index.retriever import HybridRetriever, set_query_threads
from index.version import load_latest
from ragqa.settings import get_settings


def _timed(retriever: HybridRetriever, mode: str, vectors, tokens, rounds: int) -> list[float]:
    out = []
    for i in range(rounds):
        j = i % len(QUESTIONS)
        t = time.perf_counter()
        retriever.ask_many([QUESTIONS[j]], 5, mode, vectors=vectors[j : j + 1], tokens=tokens[j : j + 1])  # type: ignore[arg-type]
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    settings = get_settings()
    set_query_threads(settings.search_threads)  # as a serving process does
    encoder = load_encoder(settings.model, settings.model_cache_dir, settings.torch_threads)
    loaded, _ = load_latest(settings.index_dir, encoder.name)
    ranker = open_ranker(loaded)
    if ranker is None:
        raise SystemExit("no usable index/ranker.json: run `ragqa train-ranker` first")
    retriever = HybridRetriever(loaded, encoder, ranker=ranker)
    vectors, tokens = retriever.encode_with_tokens(QUESTIONS)
    for mode in ("hybrid", "ranked"):  # warm-up (tokenizer, caches)
        _timed(retriever, mode, vectors, tokens, len(QUESTIONS))
    hybrid = _timed(retriever, "hybrid", vectors, tokens, args.rounds)
    ranked = _timed(retriever, "ranked", vectors, tokens, args.rounds)
    p50_h, p50_r = statistics.median(hybrid), statistics.median(ranked)
    print(f"passages {len(loaded.passages)}, rounds {args.rounds}, questions {len(QUESTIONS)}")
    print(f"hybrid  p50 {p50_h:.2f} ms")
    print(f"ranked  p50 {p50_r:.2f} ms")
    print(f"ranking stage adds {p50_r - p50_h:.2f} ms at p50 (budget 3 ms)")


if __name__ == "__main__":
    main()

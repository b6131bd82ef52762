"""Why a served question encodes slower than a back-to-back one: the encode after an idle gap.

In a running server the encoder never runs back to back: between two questions come the rest of the
search (BM25, the ranking stage, the answer), the HTTP exchange and the client. This script times one
question's encode (the serving encoder, in this process) after each kind of gap, for a session with one
thread and with every core, the gap kinds interleaved round by round so drift hits all alike:

- none (back to back: what in-process encoder benchmarks measure);
- idle sleeps of 0.3, 1.2 and 3 ms;
- the rest of a real search of the previous question (mode 'ranked', its vector precomputed).

    PYTHONPATH=. python bench/encode_gaps.py [--rounds 8] [--per-round 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from load import QUESTIONS

from index.model import load_encoder
from index.ranker import open_ranker
from index.retriever import HybridRetriever, set_query_threads
from index.version import load_latest
from ragqa.settings import get_settings


def _gaps(retriever: HybridRetriever) -> dict[str, Callable[[int], None]]:
    vectors, tokens = retriever.encode_with_tokens(QUESTIONS)

    def search_rest(i: int) -> None:
        j = (i - 1) % len(QUESTIONS)
        retriever.ask_many([QUESTIONS[j]], 5, vectors=vectors[j : j + 1], tokens=tokens[j : j + 1])

    return {
        "none (back to back)": lambda i: None,
        "sleep 0.3 ms": lambda i: time.sleep(0.0003),
        "sleep 1.2 ms": lambda i: time.sleep(0.0012),
        "sleep 3 ms": lambda i: time.sleep(0.003),
        "the rest of a search": search_rest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per-round", type=int, default=40)
    args = parser.parse_args()
    settings = get_settings()
    set_query_threads(settings.search_threads)  # as a serving process does
    cores = os.cpu_count() or 1
    print(f"one question's encode p50 (ms) after each gap; {cores} cores, {args.rounds}×{args.per_round} per cell")
    print(f"{'threads':>7}  {'gap before the encode':<22} {'p50 ms':>7} {'vs none':>7}")
    for threads in sorted({1, cores}):
        encoder = load_encoder(settings.model, settings.model_cache_dir, threads, settings.encoder, settings.adapter)
        loaded, _ = load_latest(settings.index_dir, encoder.name, encoder.variant)
        retriever = HybridRetriever(loaded, encoder, ranker=open_ranker(loaded))
        gaps = _gaps(retriever)
        times: dict[str, list[float]] = {name: [] for name in gaps}
        for gap in gaps.values():  # warm-up: tokenizer, pages of the embedding table, the ranking stage
            for i in range(len(QUESTIONS)):
                gap(i)
                encoder.encode_queries([QUESTIONS[i]])
        for _ in range(args.rounds):
            for name, gap in gaps.items():
                for i in range(args.per_round):
                    gap(i)
                    started = time.perf_counter()
                    encoder.encode_queries([QUESTIONS[i % len(QUESTIONS)]])
                    times[name].append((time.perf_counter() - started) * 1000)
        base = statistics.median(times["none (back to back)"])
        for name, values in times.items():
            p50 = statistics.median(values)
            print(f"{threads:>7}  {name:<22} {p50:>7.2f} {p50 / base:>6.2f}×")


if __name__ == "__main__":
    main()

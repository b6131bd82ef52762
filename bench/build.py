"""Index build benchmark: full build and one-post incremental update, each against its floor.

The floor of a full build is the bare `SentenceTransformer.encode` of all its passages (same model,
same texts, same batch size); an incremental update is compared with the full build. All figures come
from one run, side by side, as ratios.

    python bench/build.py
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from corpus.loader import load_corpus
from corpus.text import sentence_spans
from index.build import build_index
from index.documents import document_text, sentence_document
from index.model import build_runtime, load_encoder
from ragqa.settings import get_settings

NEW_POST = """---
title: "光電融合チップがデータセンターを変える"
date: 2026-02-01
tags: ["光電融合"]
---

光電融合チップは、電気信号の代わりに光で配線することで、チップ間通信の消費電力を大幅に下げると期待されている。

NTTのIOWN構想は、この光電融合技術をデータセンター間のネットワークにまで広げようとしている。

ただし、量産コストと既存の半導体製造装置との互換性には、まだ課題が残っている。
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base = get_settings()
    # The runtime `ragqa index` builds with (sentence-transformers for float32), which is also the floor's.
    runtime = build_runtime(base.model, base.encoder)
    encoder = load_encoder(base.model, base.model_cache_dir, base.torch_threads, runtime, base.adapter)
    if not hasattr(encoder, "model"):
        raise SystemExit(f"the build runtime is {runtime}: this benchmark's floor is sentence-transformers (float32)")
    corpus = load_corpus(base.corpus_dir)
    documents = [document_text(p, base.document_format) for p in corpus.passages]
    prompt = encoder.model.prompts.get("passage", "")
    sentences = [sentence_document(p.title, p.text[a:b]) for p in corpus.passages for a, b in sentence_spans(p.text)]
    encoder.model.encode(documents[:8], prompt=prompt)  # warm-up

    floors, all_floors, fulls, incrementals, embedded = [], [], [], [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        encoder.model.encode(documents, prompt=prompt, batch_size=base.embed_batch_size, normalize_embeddings=True)
        floors.append(time.perf_counter() - started)
        started = time.perf_counter()
        encoder.model.encode(
            documents + sentences, prompt=prompt, batch_size=base.embed_batch_size, normalize_embeddings=True
        )
        all_floors.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as tmp:
            corpus_dir = Path(tmp) / "posts"
            shutil.copytree(base.corpus_dir, corpus_dir)
            index_dir, options = Path(tmp) / "index", base.build_options()
            fulls.append(build_index(corpus_dir, index_dir, encoder, options).seconds)
            (corpus_dir / "900_photonics.txt").write_text(NEW_POST, encoding="utf-8")
            summary = build_index(corpus_dir, index_dir, encoder, options)
            incrementals.append(summary.seconds)
            embedded.append(summary.new)

    floor, all_floor, full, inc = min(floors), min(all_floors), min(fulls), min(incrementals)
    print(f"passages: {len(documents)}, their sentences: {len(sentences)}  (best of {args.repeats})")
    print(f"{'stage':<34} {'seconds':>8} {'ratio':>12}")
    print(f"{'floor: bare encode of all passages':<34} {floor:>8.2f} {'1.00 x floor':>12}")
    print(f"{'bare encode of passages+sentences':<34} {all_floor:>8.2f} {all_floor / floor:>7.2f} x floor")
    print(f"{'full index build':<34} {full:>8.2f} {full / floor:>7.2f} x floor")
    print(f"{'  … vs encoding what it embeds':<34} {'':>8} {full / all_floor:>7.2f} x")
    print(f"{'incremental: +1 post':<34} {inc:>8.2f} {inc / full:>7.2f} x full")
    print(f"passages embedded by the incremental update: {embedded[0]} (the new post's passages)")


if __name__ == "__main__":
    main()

"""Encoders side by side: sentence-transformers fp32 vs ONNX Runtime fp32 vs ONNX Runtime int8, in one run.

    python bench/encoders.py [--rounds 2] [--repeats 2]

Rows: one-question encode p50/p95 (the eval questions, encoders interleaved), passage throughput with
and without length-sorted batches, spawn of a bare process to its first query vector, RSS of a process
that loaded the encoder and encoded 200 questions one by one, and dense top-5 retrieval over the shipped
corpus with each encoder's vectors (agreement with sentence-transformers, R@1/R@5/MRR@10 on the gold).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpus.loader import load_corpus  # noqa: E402
from eval.metrics import build_qrels, build_run, per_question_scores  # noqa: E402
from eval.questions import load_questions  # noqa: E402
from index.model import load_encoder  # noqa: E402
from index.model.onnx import load_onnx_encoder  # noqa: E402
from index.model.onnx_export import (  # noqa: E402
    ONNX_DIR,
    SHARED_FILES,
    VARIANT_FILES,
    ensure_onnx_export,
    file_sha256,
)
from ragqa.settings import DEFAULT_CORPUS_DIR, Settings  # noqa: E402

# A bare process: import, load, encode one question (cold start), then 200 questions one by one (RSS).
CHILD = """
import os, sys, time
started = time.perf_counter()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
kind, folder, arena = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
questions = [line for line in sys.stdin.read().splitlines() if line]
if kind == "torch":
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(folder, device="cpu", local_files_only=True)
    encode = lambda q: model.encode([q], prompt="query: ", normalize_embeddings=True)
else:
    from pathlib import Path
    from index.model.onnx import load_onnx_encoder
    encoder = load_onnx_encoder(Path(folder), kind, memory_arena=arena)
    encode = lambda q: encoder.encode_queries([q])
encode(questions[0])
print(f"first {time.perf_counter() - started:.3f}", flush=True)
for i in range(200):
    encode(questions[i % len(questions)])
import psutil
rss = psutil.Process().memory_info().rss / 2**20
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forked parent across exec.
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(f"rss {rss:.0f} {peak:.0f}", flush=True)
"""


def child_run(kind: str, folder: Path, arena: bool, questions: list[str]) -> tuple[float, float, float]:
    """Spawn → first vector seconds, RSS MB after 200 questions, peak RSS MB."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, kind, str(folder), "1" if arena else "0"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n".join(questions))
    proc.stdin.close()
    first = proc.stdout.readline().split()
    spawn_to_first = time.perf_counter() - started
    assert first and first[0] == "first", f"{kind} child failed"
    rss_line = proc.stdout.readline().split()
    proc.wait(timeout=300)
    return spawn_to_first, float(rss_line[1]), float(rss_line[2])


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000, q))


def bare_encode(model: object, question: str) -> np.ndarray:
    return model.encode([question], prompt="query: ", normalize_embeddings=True)


def encode_one(encoder: object, question: str) -> np.ndarray:
    return encoder.encode_queries([question])


def dense_top(query_vectors: np.ndarray, passage_vectors: np.ndarray, k: int) -> np.ndarray:
    """Indices of the top-k passages per question by cosine (vectors are unit length)."""
    return np.argsort(-(query_vectors @ passage_vectors.T), axis=1, kind="stable")[:, :k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over the questions for latency")
    parser.add_argument("--repeats", type=int, default=2, help="cold-start spawns per encoder (best taken)")
    args = parser.parse_args()

    settings = Settings()
    folder = ensure_onnx_export(settings.model_cache_dir)
    questions = [q for q in load_questions() if q.answerable]
    texts = [q.question for q in questions]
    passages = load_corpus(DEFAULT_CORPUS_DIR).passages
    passage_texts = [p.text for p in passages]
    qrels = build_qrels(questions, passages)

    torch_encoder = load_encoder(settings.model, settings.model_cache_dir, runtime="torch", adapter=settings.adapter)
    model = torch_encoder.model
    onnx = {variant: load_onnx_encoder(folder, variant) for variant in VARIANT_FILES}
    names = ["torch-fp32", *onnx]
    # The floor of the other benchmarks: a bare SentenceTransformer.encode of one question.
    single: dict[str, Callable[[str], np.ndarray]] = {"torch-fp32": partial(bare_encode, model)}
    single.update({variant: partial(encode_one, encoder) for variant, encoder in onnx.items()})

    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, {os.cpu_count()} cores")
    print(f"# load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (others share the machine)")
    print(f"# {len(texts)} questions, {len(passage_texts)} passages, graphs in {folder / ONNX_DIR}\n")

    # 1. One question at a time, encoders interleaved so that machine drift hits all alike.
    for q in texts[:5]:
        for name in names:
            single[name](q)
    latency: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        for i, q in enumerate(texts):
            order = names[(i + round_) % len(names) :] + names[: (i + round_) % len(names)]
            for name in order:
                started = time.perf_counter()
                single[name](q)
                latency[name].append(time.perf_counter() - started)
    floor = percentile(latency["torch-fp32"], 50)
    print("| encoder | one question p50 ms | p95 ms | p50 / torch |")
    print("| --- | --- | --- | --- |")
    for name in names:
        p50 = percentile(latency[name], 50)
        print(f"| {name} | {p50:.1f} | {percentile(latency[name], 95):.1f} | {p50 / floor:.2f}× |")

    # 2. Passage batches (32): sentence-transformers sorts by length itself; ORT with and without sorting.
    vectors: dict[str, np.ndarray] = {}
    throughput: list[tuple[str, float]] = []
    started = time.perf_counter()
    vectors["torch-fp32"] = torch_encoder.encode_passages(passage_texts)
    throughput.append(("torch-fp32 (sorts internally)", time.perf_counter() - started))
    for variant, encoder in onnx.items():
        for sort in (True, False):
            encoder.sort_by_length = sort
            started = time.perf_counter()
            result = encoder.encode_passages(passage_texts)
            throughput.append((f"{variant} {'sorted' if sort else 'unsorted'}", time.perf_counter() - started))
            if sort:
                vectors[variant] = result
        encoder.sort_by_length = True
    base = throughput[0][1]
    print("\n| passages, batches of 32 | seconds | passages/s | time / torch |")
    print("| --- | --- | --- | --- |")
    for label, seconds in throughput:
        print(f"| {label} | {seconds:.2f} | {len(passage_texts) / seconds:.1f} | {seconds / base:.2f}× |")

    # 3. Dense retrieval with each encoder's vectors: does int8 change the rankings?
    query_vectors = {"torch-fp32": torch_encoder.encode_queries(texts)}
    query_vectors.update({v: e.encode_queries(texts) for v, e in onnx.items()})
    reference = dense_top(query_vectors["torch-fp32"], vectors["torch-fp32"], 5)
    print("\n| dense top-5 | same top-1 as torch | mean top-5 overlap | R@1 | R@5 | MRR@10 | min query cosine |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        top = dense_top(query_vectors[name], vectors[name], 10)
        same_first = float(np.mean(top[:, 0] == reference[:, 0]))
        overlap = float(np.mean([len(set(a[:5]) & set(b)) / 5 for a, b in zip(top, reference)]))
        run = build_run({q.id: [passages[i].id for i in row] for q, row in zip(questions, top)}, name)
        scores = per_question_scores(qrels, run, [q.id for q in questions])
        r1, r5, mrr = (float(scores[label].mean()) for label in ("R@1", "R@5", "MRR@10"))
        cosine = float((query_vectors[name] * query_vectors["torch-fp32"]).sum(1).min())
        print(f"| {name} | {same_first:.3f} | {overlap:.3f} | {r1:.3f} | {r5:.3f} | {mrr:.3f} | {cosine:.4f} |")
    del torch_encoder, model, onnx, single  # the children below measure alone

    # 4. Bare processes: spawn → first vector (best of repeats), RSS after 200 questions.
    configs = [("torch-fp32", "torch", False)]
    for variant in VARIANT_FILES:
        configs += [(f"{variant}, arena off", variant, False), (f"{variant}, arena on", variant, True)]
    cold: dict[str, list[float]] = {label: [] for label, _, _ in configs}
    memory: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeats):
        for label, kind, arena in configs:
            seconds, rss, peak = child_run(kind, folder, arena, texts)
            cold[label].append(seconds)
            memory[label] = (rss, peak)
    torch_cold, torch_rss = min(cold["torch-fp32"]), memory["torch-fp32"][0]
    print(f"\n| bare process | spawn → first vector s (best of {args.repeats}) | ratio | RSS after 200 q MB | peak |")
    print("| --- | --- | --- | --- | --- |")
    for label, _, _ in configs:
        seconds = min(cold[label])
        rss, peak = memory[label]
        ratio = rss / torch_rss
        print(f"| {label} | {seconds:.2f} | {seconds / torch_cold:.2f}× | {rss:.0f} ({ratio:.2f}×) | {peak:.0f} MB |")

    print("\n| exported file | MB | sha256 check s (part of each ORT load above) |")
    print("| --- | --- | --- |")
    for variant, file in {**VARIANT_FILES, **SHARED_FILES}.items():
        path = folder / ONNX_DIR / file
        started = time.perf_counter()
        file_sha256(path)
        print(f"| {variant} | {path.stat().st_size / 1e6:.0f} | {time.perf_counter() - started:.2f} |")
    print(f"\n# load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

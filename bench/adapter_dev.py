"""Score embedding models on the DEV split of the hard reference questions: dense only and full hybrid.

For each model folder it builds a fresh index over the corpus in a temporary folder (passages and sentences
embedded by that model) and prints R@5 and MRR@10 per language for the dense leg alone (FAISS cosine of the
passage vectors) and for today's hybrid retriever. Only ``split == "dev"`` answerable questions are read:
the test split is never touched here.

    python bench/adapter_dev.py base=multilingual-e5-small lora=/tmp/adapted-lora [--json out.json]

A model is ``label=name``: the default name, or a sentence-transformers folder (e.g. one written by
``index.model.finetune.apply_adapter``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from index.build import build_index  # noqa: E402
from index.embedder import load_encoder  # noqa: E402
from index.retriever import HybridRetriever, load_latest  # noqa: E402
from ragqa.settings import Settings  # noqa: E402

QUESTIONS = ROOT / "eval" / "hard_questions.jsonl"
DEPTH = 10


def dev_questions(path: Path = QUESTIONS) -> list[dict]:
    """Answerable questions of the dev split (the only ones any choice may look at)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r["split"] == "dev" and r["answerable"]]


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def first_hit(hits: list, gold: list[dict]) -> int | None:
    """Rank of the first passage of a gold article that contains that article's gold substring."""
    for rank, hit in enumerate(hits, start=1):
        text = _nfkc(hit.passage.text)
        if any(hit.passage.article_id == g["article_id"] and _nfkc(g["substring"]) in text for g in gold):
            return rank
    return None


def score(ranks: list[int | None]) -> dict[str, float]:
    """R@5 and MRR@10 from first-hit ranks."""
    n = len(ranks)
    return {
        "R@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "MRR@10": sum(1.0 / r for r in ranks if r is not None and r <= DEPTH) / n,
    }


def evaluate(
    name: str, questions: list[dict], threads: int, lexical_weights: tuple[float, ...] = ()
) -> dict[str, dict[str, dict[str, float]]]:
    """Build an index with model ``name`` in a temporary folder and score dense and hybrid per language.

    Each of ``lexical_weights`` adds a hybrid run with that BM25 weight (same index, search only).
    """
    settings = Settings(model=name, torch_threads=threads)
    encoder = load_encoder(settings)
    with tempfile.TemporaryDirectory(prefix="ragqa-adapter-dev-") as tmp:
        settings = Settings(model=name, torch_threads=threads, index_dir=Path(tmp) / "index")
        started = time.perf_counter()
        build_index(settings, encoder)
        print(f"  built index with {name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        index, _ = load_latest(settings.index_dir, encoder.name)
        retriever = HybridRetriever(index, encoder)
        texts = [q["question"] for q in questions]
        vectors = retriever.encode(texts)
        out: dict[str, dict[str, dict[str, float]]] = {}
        runs = [("dense", retriever, "dense"), ("hybrid", retriever, "hybrid")]
        runs += [
            (f"hybrid_lex{w:g}", HybridRetriever(index, encoder, lexical_weight=w), "hybrid") for w in lexical_weights
        ]
        for label, searcher, mode in runs:
            results = searcher.search_many(texts, DEPTH, mode, vectors=vectors)
            ranks = {"all": [], "ja": [], "en": []}
            for question, hits in zip(questions, results):
                rank = first_hit(hits, question["gold"])
                ranks["all"].append(rank)
                ranks[question["lang"]].append(rank)
            out[label] = {lang: score(r) for lang, r in ranks.items()}
            out[label]["ranks"] = {q["id"]: rank for q, rank in zip(questions, ranks["all"])}
    return out


def paired_p(a: list[float], b: list[float], rounds: int = 20000, seed: int = 0) -> float:
    """Two-sided paired randomisation test (sign flips of per-question differences)."""
    import numpy as np

    diff = np.asarray(b) - np.asarray(a)
    observed = abs(diff.mean())
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(rounds, len(diff)))
    return float(((np.abs((signs * diff).mean(axis=1)) >= observed - 1e-12).sum() + 1) / (rounds + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="label=model name or folder")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lexical-weights", default="", help="comma-separated extra BM25 weights for hybrid")
    parser.add_argument("--json", type=Path, help="also write the scores here")
    args = parser.parse_args()
    questions = dev_questions()
    print(f"{len(questions)} dev answerable questions", file=sys.stderr)
    table = {}
    for spec in args.models:
        label, _, name = spec.partition("=")
        weights = tuple(float(w) for w in args.lexical_weights.split(",") if w)
        table[label] = evaluate(name or label, questions, args.threads, weights)
    print("| model | mode | lang | R@5 | MRR@10 |\n| --- | --- | --- | --- | --- |")
    for label, by_mode in table.items():
        for mode, by_lang in by_mode.items():
            for lang in ("ja", "en", "all"):
                values = by_lang[lang]
                print(f"| {label} | {mode} | {lang} | {values['R@5']:.3f} | {values['MRR@10']:.3f} |")
    labels = list(table)
    for label in labels[1:]:
        for mode in ("dense", "hybrid"):
            for lang in ("ja", "en", "all"):
                ids = [q["id"] for q in questions if lang == "all" or q["lang"] == lang]
                ranks = [(table[labels[0]][mode]["ranks"][i], table[label][mode]["ranks"][i]) for i in ids]
                rr = [tuple(1.0 / r if r else 0.0 for r in pair) for pair in ranks]
                hit = [tuple(float(r is not None and r <= 5) for r in pair) for pair in ranks]
                p_mrr = paired_p([x for x, _ in rr], [y for _, y in rr])
                p_r5 = paired_p([x for x, _ in hit], [y for _, y in hit])
                print(f"{label} vs {labels[0]} {mode} {lang}: p(MRR@10) = {p_mrr:.4f}, p(R@5) = {p_r5:.4f}")
    if args.json:
        existing = json.loads(args.json.read_text()) if args.json.is_file() else {}
        existing.update(table)
        args.json.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Which int8 graph could serve the adapted model: parity with float32 against speed, in one run.

    python bench/quantisation.py [--rounds 3] [--split dev]

The shipped ``onnx-int8`` variant (``quantize_dynamic`` of every MatMul, per channel) is fast but, with the
8-epoch adapter merged, turns some questions to cosine < 0.99 against float32, so it stays opt-in. This
script compares, on the same session settings as the service: the served float32 graph (the reference),
the served int8 graph, int8 with the most sensitive
MatMuls left in float32 (each FFN's output projection, whose input is the GELU output: all twelve, or only
layer 4's, the worst one alone; these two quantise the served model traced again with torch, in this
process), and ONNX Runtime's blockwise 8-bit weights (``MatMulNBits``, int8 compute, on the served float32
graph; needs ``pip install onnx-ir``). Rows: worst and mean question and passage cosine to
float32 (questions of ``--split``, passages of the shipped corpus), one-question encode p50 and the 188
passages in batches of 32, each as a ratio to float32 measured interleaved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from corpus.loader import load_corpus
from eval.questions import load_questions
from index.model.lean_tokenizer import LeanTokenizer
from index.model.materialise import MAX_SEQ_LENGTH
from index.model.onnx import OnnxEncoder, session_options
from index.model.onnx_export import (
    EMBEDDINGS_FILE,
    ONNX_DIR,
    VARIANT_FILES,
    ensure_onnx_export,
    export_fp32,
    quantise_int8,
)
from ragqa.settings import DEFAULT_CORPUS_DIR, Settings


def _matmuls(path: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [node.name for node in graph.node if node.op_type == "MatMul"]


def _blockwise(source: Path, target: Path, block_size: int) -> None:
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(str(source), bits=8, block_size=block_size, is_symmetric=True, accuracy_level=4)
    quantizer.process()
    quantizer.model.save_model_to_file(str(target), use_external_data_format=False)


def _graphs(folder: Path, work: Path) -> dict[str, Path]:
    """The served graphs, and each candidate graph written into ``work`` (from a fresh trace where needed)."""
    served = {variant: folder / ONNX_DIR / file for variant, file in VARIANT_FILES.items()}
    graphs = {
        "float32 (served model.onnx; reference)": served["onnx-fp32"],
        "int8, every MatMul (served onnx-int8)": served["onnx-int8"],
    }
    # quantize_dynamic needs the unfused graph, which the export does not keep.
    traced = work / "traced.onnx"
    export_fp32(folder, traced, embeddings=None)
    ffn_out = [n for n in _matmuls(traced) if "/output/dense/" in n and "/attention/" not in n]
    plans = {
        "int8, FFN output projections in float32": ffn_out,
        "int8, layer 4's FFN output projection in float32": [n for n in ffn_out if "/layer.4/" in n],
    }
    for label, exclude in plans.items():
        graphs[label] = work / f"dynamic-{len(graphs)}.onnx"
        quantise_int8(traced, graphs[label], exclude)
    try:
        for block in (32, 128):
            label = f"8-bit blockwise weights, block {block} (MatMulNBits)"
            graphs[label] = work / f"blockwise-{block}.onnx"
            _blockwise(served["onnx-fp32"], graphs[label], block)
    except ImportError as exc:  # onnx-ir is not a project dependency: these rows are optional
        print(f"# blockwise rows skipped ({exc}): pip install onnx-ir")
        graphs = {k: v for k, v in graphs.items() if "blockwise" not in k}
    return graphs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved passes over the questions and passages")
    parser.add_argument("--split", default="dev", choices=["dev", "test", "all"], help="questions for the cosines")
    args = parser.parse_args()

    settings = Settings()
    folder = ensure_onnx_export(settings.model_cache_dir, adapter=settings.adapter)
    questions = [q.question for q in load_questions() if args.split == "all" or q.split == args.split]
    passages = [p.text for p in load_corpus(DEFAULT_CORPUS_DIR).passages]
    embeddings = np.load(folder / ONNX_DIR / EMBEDDINGS_FILE, mmap_mode="r")
    tokenizer = LeanTokenizer(folder / ONNX_DIR, max_length=MAX_SEQ_LENGTH)
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="ragqa-quant-") as tmp:
        graphs = _graphs(folder, Path(tmp))
        encoders = {
            label: OnnxEncoder(
                folder.name,
                label,
                ort.InferenceSession(str(path), session_options(0, False), providers=["CPUExecutionProvider"]),
                tokenizer,
                embeddings,
            )
            for label, path in graphs.items()
        }
        sizes = {label: path.stat().st_size / 1e6 for label, path in graphs.items()}
        reference = next(iter(encoders))
        q_vectors = {label: e.encode_queries(questions) for label, e in encoders.items()}
        p_vectors = {label: e.encode_passages(passages) for label, e in encoders.items()}
        one: dict[str, list[float]] = {label: [] for label in encoders}
        batch: dict[str, list[float]] = {label: [] for label in encoders}
        for _ in range(args.rounds):  # interleaved, so that the machine's drift hits every graph alike
            for label, encoder in encoders.items():
                times = []
                for question in questions:
                    started = time.perf_counter()
                    encoder.encode_queries([question])
                    times.append(time.perf_counter() - started)
                one[label].append(statistics.median(times) * 1000)
                started = time.perf_counter()
                encoder.encode_passages(passages)
                batch[label].append(time.perf_counter() - started)

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"# {when}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"# model {folder.name}; {len(questions)} {args.split} questions, {len(passages)} passages\n")
    print(
        "| graph | MB | question cosine min / mean | passage cosine min / mean "
        "| one question p50 ms | / float32 | passages s | / float32 |"
    )
    print("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: |")
    one_ref, batch_ref = min(one[reference]), min(batch[reference])
    for label in encoders:
        cq = np.sum(q_vectors[label] * q_vectors[reference], axis=1)
        cp = np.sum(p_vectors[label] * p_vectors[reference], axis=1)
        print(
            f"| {label} | {sizes[label]:.0f} | {cq.min():.4f} / {cq.mean():.4f} | {cp.min():.4f} / {cp.mean():.4f} "
            f"| {min(one[label]):.2f} | {min(one[label]) / one_ref:.2f}× | {min(batch[label]):.2f} "
            f"| {min(batch[label]) / batch_ref:.2f}× |"
        )


if __name__ == "__main__":
    main()

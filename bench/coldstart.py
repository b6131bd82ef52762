"""Cold start per encoder: process spawn to GET /readyz = 200 of `ragqa serve` on a built index, next to a
bare process that imports sentence-transformers, loads the same model and encodes one query.

    python bench/coldstart.py [--encoders torch,onnx,onnx-int8] [--int8-index DIR] [--repeats 3]

(``onnx-int8`` needs an index built with ``RAGQA_ENCODER=onnx-int8``: see bench/query.py.)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from load import encoder_list, serve_with

from ragqa.settings import PROJECT_ROOT

BARE = """
import sys
from sentence_transformers import SentenceTransformer
from index.model.materialise import materialise_e5_small
from ragqa.settings import get_settings
model = SentenceTransformer(str(materialise_e5_small(get_settings().model_cache_dir)), device="cpu")
model.encode(["メタがTPUを導入する理由は？"], prompt="query: ", normalize_embeddings=True)
print("encoded", flush=True)
sys.stdin.read()
"""


def bare_seconds() -> float:
    """Spawn to first vector of a process that only imports sentence-transformers, loads the model, encodes."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", BARE],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    elapsed = time.perf_counter() - started
    proc.communicate("")
    if line != "encoded":
        raise RuntimeError("the bare sentence-transformers process failed: run its code by hand to see why")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", type=encoder_list, default=["torch", "onnx"], help="RAGQA_ENCODER values")
    parser.add_argument("--int8-index", type=Path, help="an index built with RAGQA_ENCODER=onnx-int8")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if "onnx-int8" in args.encoders and args.int8_index is None:
        parser.error("onnx-int8 needs --int8-index DIR (an index built with RAGQA_ENCODER=onnx-int8)")
    bare: list[float] = []
    ready: dict[str, list[float]] = {e: [] for e in args.encoders}
    for _ in range(args.repeats):  # interleaved, so drift in machine speed hits all alike
        bare.append(bare_seconds())
        for e in args.encoders:
            with serve_with(e, args.int8_index if e == "onnx-int8" else None) as server:
                ready[e].append(server.ready_seconds)
    b = min(bare)
    title = f"cold start (best of {args.repeats})"
    print(f"{title:<50} {'seconds':>8} {'ratio':>7} {'≤ 0.5x':>7}")
    print(f"{'bare: import ST + load model + encode one query':<50} {b:>8.2f} {1:>6.2f}x")
    for e, seconds in ready.items():
        r = min(seconds)
        verdict = "yes" if r / b <= 0.5 else "NO"
        print(f"{'ragqa serve, ' + e + ': spawn to /readyz = 200':<50} {r:>8.2f} {r / b:>6.2f}x {verdict:>7}")


if __name__ == "__main__":
    main()

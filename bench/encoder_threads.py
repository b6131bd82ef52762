"""How much encoder capacity one client leaves for others: ONNX Runtime question encodes by thread layout.

The 8-client throughput target compares a server's QPS under 8 clients with its QPS under one. That ratio
can only exceed 1 by the share of the machine one client leaves idle. This script measures, in one run on
the serving encoder (question vectors only, no HTTP, no ranking):

- one question at a time with the session's threads = 1 and = every core (what one client gets);
- two callers at once on one session (what concurrent batches could get), for both thread counts;
- batches of 8 questions (what the server's micro-batching gets under load).

    python bench/encoder_threads.py [--seconds 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import QUESTIONS  # noqa: E402

from index.model import load_encoder  # noqa: E402
from index.model.base import Encoder  # noqa: E402
from ragqa.settings import get_settings  # noqa: E402


def _rate(encoder: Encoder, callers: int, batch: int, seconds: float) -> float:
    """Questions encoded per second by ``callers`` threads, each encoding ``batch`` questions per call."""
    counts = [0] * callers
    stop = time.perf_counter() + seconds

    def work(k: int) -> None:
        i = k * batch
        while time.perf_counter() < stop:
            encoder.encode_queries([QUESTIONS[(i + j) % len(QUESTIONS)] for j in range(batch)])
            i += batch * callers
            counts[k] += batch

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    settings = get_settings()
    cores = os.cpu_count() or 1
    rows = []
    for threads in sorted({1, cores}):
        encoder = load_encoder(settings.model, settings.model_cache_dir, threads, settings.encoder, settings.adapter)
        _rate(encoder, 1, 1, 1.0)  # warm-up
        for callers, batch in ((1, 1), (2, 1), (1, 8)):
            rows.append((threads, callers, batch, _rate(encoder, callers, batch, args.seconds)))
    base = next(rate for threads, callers, batch, rate in rows if threads == cores and callers == 1 and batch == 1)
    print(
        f"encoder {encoder.name} ({settings.encoder}), {cores} cores; "
        f"ratio = questions/s over one caller with {cores} threads"
    )
    print(f"{'threads':>7} {'callers':>7} {'batch':>5} {'q/s':>7} {'ms/q':>6} {'ratio':>6}")
    for threads, callers, batch, rate in rows:
        print(f"{threads:>7} {callers:>7} {batch:>5} {rate:>7.0f} {1000 / rate:>6.2f} {rate / base:>6.2f}")


if __name__ == "__main__":
    main()

"""Query latency against its floor, and throughput under concurrency, measured side by side.

Floor: the bare `SentenceTransformer.encode` of one question (same model, prompt, normalisation).
Then: the in-process `HybridRetriever.search`, and HTTP `/query` over sequential requests to a real
`ragqa serve`. Then QPS with 1 and with 8 concurrent clients. Ratios, because absolute times drift.

    python bench/query.py [--rounds 200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
from urllib.parse import urlparse

from load import QUESTIONS, report, run_load

from index.model import load_encoder
from index.retriever import HybridRetriever
from index.version import load_latest
from ragqa.settings import get_settings
from service.server_process import running_server


def _timed(fn, rounds: int) -> list[float]:
    out = []
    for i in range(rounds):
        question = QUESTIONS[i % len(QUESTIONS)]
        t = time.perf_counter()
        fn(question)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _p(data: list[float], q: float) -> float:
    data = sorted(data)
    return data[min(len(data) - 1, int(q * len(data)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="sequential questions per measurement")
    parser.add_argument("--seconds", type=float, default=20, help="duration of each concurrency run")
    args = parser.parse_args()

    settings = get_settings()
    encoder = load_encoder(settings.model, settings.model_cache_dir, settings.torch_threads)
    retriever = HybridRetriever(load_latest(settings.index_dir, encoder.name)[0], encoder)
    model, prompt = encoder.model, encoder.model.prompts.get("query", "")
    floor_fn = lambda q: model.encode([q], prompt=prompt, normalize_embeddings=True)  # noqa: E731
    search_fn = lambda q: retriever.search(q, 5)  # noqa: E731
    for fn in (floor_fn, search_fn):
        _timed(fn, 20)  # warm-up

    with running_server() as server:
        server.wait_ready(timeout=300)
        base, proc = server.base, server.proc
        # A lean keep-alive client, so the figure is the server's latency rather than the client library's.
        connection = http.client.HTTPConnection(urlparse(base).hostname, urlparse(base).port, timeout=60)

        def http_fn(question: str) -> None:
            body = json.dumps({"question": question, "top_k": 5}).encode()
            connection.request("POST", "/query", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"/query answered {response.status}")

        _timed(http_fn, 20)
        # Interleave the three so that drift in machine speed hits them alike.
        floor, search, over_http = [], [], []
        for _ in range(args.rounds // 20):
            floor += _timed(floor_fn, 20)
            search += _timed(search_fn, 20)
            over_http += _timed(http_fn, 20)
        one = run_load(base, 1, args.seconds, pid=proc.pid)
        eight = run_load(base, 8, args.seconds, pid=proc.pid)

    f50 = statistics.median(floor)
    print(f"{'query path':<34} {'p50 ms':>8} {'p95 ms':>8} {'p50 / floor':>12}")
    for name, data in (
        ("floor: bare encode of the question", floor),
        ("in-process retriever.search", search),
        ("HTTP POST /query (sequential)", over_http),
    ):
        print(
            f"{name:<34} {statistics.median(data):>8.1f} {_p(data, 0.95):>8.1f} {statistics.median(data) / f50:>11.2f}x"
        )
    print()
    print(report(one))
    print(report(eight))
    print(
        f"QPS 8 clients / 1 client: {eight.qps / one.qps:.2f}x;  p99 / p50 at 8 clients: "
        f"{eight.pct(0.99) / eight.pct(0.5):.2f}x;  errors: {one.errors + eight.errors}"
    )


if __name__ == "__main__":
    main()

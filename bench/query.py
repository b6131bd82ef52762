"""Query latency against its floor, and throughput under concurrency, per encoder, side by side.

Floor: the bare `SentenceTransformer.encode` of one question (same model, prompt, normalisation), in this
process. Then, for each encoder (``RAGQA_ENCODER``), a real `ragqa serve`: HTTP ``POST /query`` over
sequential requests (interleaved with the floor, so drift hits all alike), QPS with 1 and with 8 concurrent
clients, and the server's RSS at the end. Ratios, because absolute times drift.

    python bench/query.py [--encoders torch,onnx,onnx-int8] [--int8-index DIR] [--rounds 200] [--seconds 20]

int8 vectors do not mix with float32 ones, so ``onnx-int8`` needs an index built by it
(``RAGQA_ENCODER=onnx-int8 RAGQA_INDEX_DIR=DIR ragqa index``), given as ``--int8-index DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import statistics
import time
from pathlib import Path
from urllib.parse import urlparse

from load import QUESTIONS, encoder_list, report, run_load, serve_with

from index.model import load_encoder
from ragqa.settings import get_settings


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


def _http_client(base: str):  # type: ignore[no-untyped-def]
    """POST /query over one keep-alive connection: the figure is the server's latency, not a client library's."""
    connection = http.client.HTTPConnection(urlparse(base).hostname, urlparse(base).port, timeout=60)

    def ask(question: str) -> None:
        body = json.dumps({"question": question, "top_k": 5}).encode()
        try:
            connection.request("POST", "/query", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closes a keep-alive connection idle for 5 s, as it is while the others are measured.
            connection.close()
            connection.request("POST", "/query", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"/query answered {response.status}")

    return ask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", type=encoder_list, default=["torch", "onnx"], help="RAGQA_ENCODER values")
    parser.add_argument("--int8-index", type=Path, help="an index built with RAGQA_ENCODER=onnx-int8")
    parser.add_argument("--rounds", type=int, default=200, help="sequential questions per measurement")
    parser.add_argument("--seconds", type=float, default=20, help="duration of each concurrency run")
    args = parser.parse_args()
    encoders = list(args.encoders)
    if "onnx-int8" in encoders and args.int8_index is None:
        parser.error("onnx-int8 needs --int8-index DIR (an index built with RAGQA_ENCODER=onnx-int8)")

    settings = get_settings()
    model = load_encoder(settings.model, settings.model_cache_dir, settings.torch_threads, runtime="torch").model
    prompt = model.prompts.get("query", "")
    floor_fn = lambda q: model.encode([q], prompt=prompt, normalize_embeddings=True)  # noqa: E731
    _timed(floor_fn, 20)  # warm-up

    with contextlib.ExitStack() as stack:
        servers = {
            e: stack.enter_context(serve_with(e, args.int8_index if e == "onnx-int8" else None)) for e in encoders
        }
        clients = {e: _http_client(server.base) for e, server in servers.items()}
        for ask in clients.values():
            _timed(ask, 20)  # warm-up
        floor: list[float] = []
        over_http: dict[str, list[float]] = {e: [] for e in encoders}
        for _ in range(max(1, args.rounds // 20)):
            floor += _timed(floor_fn, 20)
            for e, ask in clients.items():
                over_http[e] += _timed(ask, 20)
        loads = {}
        for e, server in servers.items():  # one server under load at a time, the others idle
            loads[e] = (
                run_load(server.base, 1, args.seconds, pid=server.proc.pid),
                run_load(server.base, 8, args.seconds, pid=server.proc.pid),
            )

    f50 = statistics.median(floor)
    print(f"{'query path':<40} {'p50 ms':>8} {'p95 ms':>8} {'p50 / floor':>12} {'≤ 0.6x':>7}")
    print(f"{'floor: bare ST fp32 encode of question':<40} {f50:>8.1f} {_p(floor, 0.95):>8.1f} {1:>11.2f}x")
    for e, data in over_http.items():
        ratio = statistics.median(data) / f50
        print(
            f"{'HTTP POST /query, ' + e:<40} {statistics.median(data):>8.1f} {_p(data, 0.95):>8.1f} "
            f"{ratio:>11.2f}x {'yes' if ratio <= 0.6 else 'NO':>7}"
        )
    print()
    header = ("encoder", "QPS 1", "QPS 8", "8/1", "≥ 1.8x", "p99/p50 @8", "errors", "RSS MB")
    print(f"{header[0]:<10} " + " ".join(f"{h:>{w}}" for h, w in zip(header[1:], (7, 7, 6, 7, 11, 7, 7))))
    for e, (one, eight) in loads.items():
        scale = eight.qps / one.qps if one.qps else float("nan")
        print(
            f"{e:<10} {one.qps:>7.1f} {eight.qps:>7.1f} {scale:>5.2f}x {'yes' if scale >= 1.8 else 'NO':>7} "
            f"{eight.pct(0.99) / eight.pct(0.5):>10.2f}x {one.errors + eight.errors:>7} {eight.rss_mb['end']:>7.0f}"
        )
    for e, (one, eight) in loads.items():
        print(f"\n{e}:\n{report(one)}\n{report(eight)}")


if __name__ == "__main__":
    main()

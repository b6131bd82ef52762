"""Load test: N concurrent clients ask questions for T seconds against a running server on loopback.

Prints throughput, p50/p95/p99 latency, errors, and the server's RSS at start, after warm-up and at
the end (so a leak shows as growth after warm-up).

    python bench/load.py --url http://127.0.0.1:8000 --clients 8 --seconds 30 [--pid PID]
    python bench/load.py --spawn --encoders torch,onnx --clients 8 --seconds 30 [--fresh-index]

``--spawn`` starts one `ragqa serve` per encoder (``RAGQA_ENCODER``), one after the other, and prints them
side by side; ``--fresh-index`` gives each an empty index folder, so it builds the index at start-up
(as `make serve` does on a fresh machine) before the load starts.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import psutil

QUESTIONS = [
    "メタがTPUを導入する理由は？",
    "Why would Meta adopt Google's TPUs?",
    "液冷の普及率はどのくらい？",
    "How many GPUs are in a Helios rack?",
    "FoxconnとOpenAIの提携の狙いは？",
    "Why did OpenAI partner with AMD?",
    "AMDのROCmとは何か",
    "What is software-defined cooling?",
    "NVIDIAのAIチップ市場シェアは？",
    "How much is NVIDIA investing in UK AI infrastructure?",
    "HPEとAMDのHeliosラックの特徴",
    "What is MTIA?",
]
MAX_SECONDS = 600
MAX_CLIENTS = 64


@dataclass
class LoadResult:
    """What one load run measured."""

    clients: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    rss_mb: dict[str, float] = field(default_factory=dict)

    @property
    def qps(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q * len(data)))] if data else float("nan")


def _server_pid(url: str) -> int | None:
    port = urlparse(url).port
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return conn.pid
    return None


def _rss(pid: int | None) -> float:
    try:
        return psutil.Process(pid).memory_info().rss / 1e6 if pid else float("nan")
    except psutil.Error:
        return float("nan")


def run_load(url: str, clients: int, seconds: float, warmup: float = 3.0, pid: int | None = None) -> LoadResult:
    """Drive ``clients`` threads (one keep-alive connection each) for ``seconds`` after ``warmup``."""
    clients = min(clients, MAX_CLIENTS)
    seconds = min(seconds, MAX_SECONDS)
    pid = pid or _server_pid(url)
    result = LoadResult(clients, seconds)
    result.rss_mb["start"] = _rss(pid)
    lock = threading.Lock()
    begin = time.perf_counter() + warmup
    end = begin + seconds

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            i = n
            while (now := time.perf_counter()) < end:
                question = QUESTIONS[i % len(QUESTIONS)]
                i += 1
                t = time.perf_counter()
                try:
                    ok = http.post("/query", json={"question": question, "top_k": 5}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = (time.perf_counter() - t) * 1000
                if now >= begin:
                    with lock:
                        if ok:
                            result.latencies_ms.append(elapsed)
                        else:
                            result.errors += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    result.rss_mb["after warm-up"] = _rss(pid)
    for thread in threads:
        thread.join()
    result.rss_mb["end"] = _rss(pid)
    return result


def report(result: LoadResult) -> str:
    """One table row block for a load run."""
    rss = ", ".join(f"{k} {v:.0f} MB" for k, v in result.rss_mb.items())
    return (
        f"clients {result.clients:>2}  {result.seconds:.0f}s  requests {len(result.latencies_ms):>5}  "
        f"QPS {result.qps:6.1f}  p50 {result.pct(0.5):6.1f} ms  p95 {result.pct(0.95):6.1f} ms  "
        f"p99 {result.pct(0.99):6.1f} ms  errors {result.errors}\n  server RSS: {rss}"
    )


ENCODERS = ("torch", "onnx", "onnx-int8")


def encoder_list(text: str) -> list[str]:
    """``--encoders`` as a list, checked against the RAGQA_ENCODER values."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = sorted(set(names) - set(ENCODERS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"--encoders takes a comma list of {', '.join(ENCODERS)}, got {text!r}")
    return names


@contextlib.contextmanager
def serve_with(encoder: str, index_dir: Path | None = None, fresh: bool = False) -> Iterator[object]:
    """A ready `ragqa serve` with ``RAGQA_ENCODER=encoder`` on ``index_dir`` (default: RAGQA_INDEX_DIR).

    ``fresh``: on an empty index folder, so the server builds the index itself before it is ready.
    """
    from service.server_process import running_server

    with contextlib.ExitStack() as stack:
        if fresh:
            index_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ragqa-bench-"))) / "index"
        server = stack.enter_context(running_server(index_dir=index_dir, env={"RAGQA_ENCODER": encoder}))
        server.wait_ready(timeout=900 if fresh else 300)
        yield server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--spawn", action="store_true", help="start a `ragqa serve` per encoder")
    parser.add_argument("--encoders", type=encoder_list, default=["torch", "onnx"], help="with --spawn")
    parser.add_argument("--fresh-index", action="store_true", help="with --spawn: the server builds the index")
    parser.add_argument("--index", type=Path, help="with --spawn: index folder (default RAGQA_INDEX_DIR)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--pid", type=int, help="server pid for RSS (default: found by port)")
    args = parser.parse_args()
    if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("load tests only target loopback addresses")
    if not args.spawn:
        print(report(run_load(args.url, args.clients, args.seconds, pid=args.pid)))
        return
    results = {}
    for encoder in args.encoders:
        with serve_with(encoder, args.index, args.fresh_index) as server:
            ready = server.ready_seconds
            results[encoder] = run_load(server.base, args.clients, args.seconds, pid=server.proc.pid)
        print(
            f"RAGQA_ENCODER={encoder} (ready in {ready:.1f} s{', index built at start-up' if args.fresh_index else ''})"
        )
        print(report(results[encoder]))
    print()
    print(f"{'encoder':<10} {'QPS':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'RSS end MB':>11} {'≤ 600 MB':>9}")
    for encoder, result in results.items():
        end = result.rss_mb["end"]
        print(
            f"{encoder:<10} {result.qps:>7.1f} {result.pct(0.5):>8.1f} {result.pct(0.99):>8.1f} "
            f"{result.errors:>7} {end:>11.0f} {'yes' if end <= 600 else 'NO':>9}"
        )


if __name__ == "__main__":
    main()

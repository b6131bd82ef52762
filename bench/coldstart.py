"""Cold start: process spawn to GET /readyz = 200, next to the bare cost of importing
sentence-transformers and loading the same model in a fresh process.

    python bench/coldstart.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from ragqa.settings import PROJECT_ROOT
from service.server_process import running_server

BARE = """
import sys
from index.model import load_encoder
from ragqa.settings import get_settings
settings = get_settings()
load_encoder(settings.model, settings.model_cache_dir, settings.torch_threads)
print("loaded", flush=True)
sys.stdin.read()
"""


def bare_seconds() -> float:
    """Spawn to 'model loaded' of a process that only imports sentence-transformers and loads the model."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", BARE],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "loaded"
    elapsed = time.perf_counter() - started
    proc.communicate("")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bare, ready = [], []
    for _ in range(args.repeats):
        bare.append(bare_seconds())
        with running_server() as server:
            server.wait_ready(timeout=300)
            ready.append(server.ready_seconds)
    b, r = min(bare), min(ready)
    title = f"cold start (best of {args.repeats})"
    print(f"{title:<44} {'seconds':>8} {'ratio':>7}")
    print(f"{'bare: import sentence-transformers + load':<44} {b:>8.2f} {1:>6.2f}x")
    print(f"{'ragqa serve: spawn to /readyz = 200':<44} {r:>8.2f} {r / b:>6.2f}x")


if __name__ == "__main__":
    main()

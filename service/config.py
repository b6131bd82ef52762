"""Where the settings become the engine's plain arguments (used by the app factory and `ragqa serve`).

Kept apart from ``main.py`` so `ragqa serve` can start loading the model before the web stack is imported.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from functools import partial

from index.model import Encoder, load_encoder
from index.params import load_rank_params
from index.retriever import set_query_threads
from ragqa.settings import PROJECT_ROOT, Settings
from service.engine import Engine, IndexUpdateError

logger = logging.getLogger(__name__)

#: The settings a `ragqa index` child needs to build the index the server will load.
_BUILD_SETTINGS = (
    "corpus_dir",
    "index_dir",
    "model",
    "model_cache_dir",
    "encoder",
    "adapter",
    "torch_threads",
    "faiss_index",
    "document_format",
    "bm25_tokens",
    "embed_batch_size",
    "keep_versions",
)


def build_in_child(settings: Settings, force: bool = False) -> None:
    """Run `ragqa index` for ``settings`` in a child process: the server keeps none of a full build's memory.

    The child picks the fastest encoder whose vectors mix with the server's (torch for float32), and its
    log (with the progress bar) goes to the server's stderr.
    """
    env = dict(os.environ)
    env.update({f"RAGQA_{name.upper()}": str(getattr(settings, name)) for name in _BUILD_SETTINGS})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-c", "from ragqa.cli import app; app()", "index", *(["--force"] if force else [])]
    logger.info("building the index in a child process: `ragqa index%s`", " --force" if force else "")
    errors: list[str] = []
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, errors="replace") as child:
        assert child.stderr is not None
        for line in child.stderr:  # pass the child's log on, and keep what it said was wrong
            sys.stderr.write(line)
            if line.startswith("error: "):
                errors.append(line.removeprefix("error: ").strip())
    if child.returncode not in (0, 1):  # 1: built, but some posts were rejected (the child logged which)
        reason = "; ".join(errors) or f"`ragqa index` exited with {child.returncode}: see the log above"
        raise IndexUpdateError(f"the index build (in a child process) failed: {reason}")


def engine_from_settings(settings: Settings, encoder: Encoder | None = None) -> Engine:
    """An engine for these settings (``encoder``: one already loaded, else it is loaded at start)."""
    set_query_threads(settings.search_threads)
    return Engine(
        settings.corpus_dir,
        settings.index_dir,
        load_model=partial(
            load_encoder,
            settings.model,
            settings.model_cache_dir,
            settings.torch_threads,
            settings.encoder,
            settings.adapter,
        ),
        encoder=encoder,
        build_options=settings.build_options(),
        rank_params=load_rank_params(),
        poll_seconds=settings.index_poll_seconds,
        load_options=settings.load_options(),
        search_queue_size=settings.search_queue_size,
        # A Milvus Lite file belongs to one process: with Milvus the server builds in its own process.
        first_build=None if settings.backend == "milvus" else partial(build_in_child, settings),
    )

"""The service's shared state: the encoder, the index being served, and index updates.

Queries read one retriever reference per batch; a build makes a new version on disk and the reference
is swapped only once that version is loaded and verified, so queries never see a half-built index.
The engine takes plain arguments; ``service.main`` derives them from the settings.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from corpus.posts import PostsFolder
from index import store
from index.build import BuildOptions, BuildSummary, build_index
from index.filters import Filters, allowed_rows
from index.model import Encoder
from index.params import RankParams
from index.retriever import HybridRetriever, SearchHit
from index.version import load_latest
from service.batcher import SearchBatcher

logger = logging.getLogger(__name__)


class NotReadyError(RuntimeError):
    """The model or the index is not loaded yet (or failed to load)."""


class IndexUpdateError(RuntimeError):
    """The corpus folder cannot be indexed as asked (e.g. removing its last post); nothing was changed."""


@dataclass
class QueryResult:
    """What one question got, from which index version."""

    hits: list[SearchHit]
    version: str
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, for the whole batch it was in


class Engine:
    """Loads the model and index in the background, serves queries, applies index updates."""

    def __init__(
        self,
        corpus_dir: Path,
        index_dir: Path,
        load_model: Callable[[], Encoder] | None = None,
        encoder: Encoder | None = None,
        build_options: BuildOptions | None = None,
        rank_params: RankParams | None = None,
        poll_seconds: float = 2.0,
    ) -> None:
        if encoder is None and load_model is None:
            raise ValueError("give the engine an encoder or a function that loads one")
        self.corpus_dir = corpus_dir
        self.index_dir = index_dir
        self.posts = PostsFolder(corpus_dir)
        self.encoder = encoder
        self._load_model = load_model
        self.build_options = build_options or BuildOptions()
        self.rank_params = rank_params or RankParams()
        self.poll_seconds = poll_seconds
        self._retriever: HybridRetriever | None = None
        self.status = "starting: loading the embedding model"
        self.problems: list[str] = []
        self._build_lock = threading.Lock()
        self._load_lock = threading.Lock()  # one load at a time, so an older load never replaces a newer one
        self._seen_current: str | None = None  # CURRENT as of the last load attempt
        self._stop = threading.Event()
        self._batcher: SearchBatcher | None = None
        self._threads: list[threading.Thread] = []
        self.on_build: Callable[[float, bool], None] | None = None  # (seconds, succeeded) after each build

    # ------------------------------------------------------------------ lifecycle

    def start(self, background: bool = True) -> None:
        """Load model and index (building the index if there is none), then watch for newer versions."""
        if background:
            thread = threading.Thread(target=self._startup, name="ragqa-startup", daemon=True)
            thread.start()
            self._threads.append(thread)
        else:
            self._startup()

    def stop(self) -> None:
        """Stop the background threads."""
        self._stop.set()
        if self._batcher is not None:
            self._batcher.close()

    def _startup(self) -> None:
        try:
            if self.encoder is None:
                assert self._load_model is not None
                self.encoder = self._load_model()
            self._batcher = SearchBatcher(self._search_batch)
            self.status = "starting: loading the index"
            self._load_or_build()
        except Exception as exc:  # noqa: BLE001 - reported through /readyz and the log
            self.status = f"failed: {exc}"
            logger.exception("startup failed")
            if self.encoder is None:
                return
            # With the model loaded, an index that `ragqa index` repairs later is still picked up.
        if self.poll_seconds > 0:
            thread = threading.Thread(target=self._watch, name="ragqa-index-watch", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _load_or_build(self) -> None:
        try:
            self._load()
        except store.IndexMissingError:
            logger.info("no index in %s yet: building it from %s", self.index_dir, self.corpus_dir)
            self.status = "starting: building the index (first run)"
            self.rebuild()
        except store.IndexCorruptError as exc:
            logger.error("no usable index version (%s): rebuilding from the corpus", exc)
            self.status = "starting: rebuilding the index (every version was corrupt)"
            self.rebuild(force=True)
            self.problems = [str(exc), *self.problems]

    def _load(self) -> None:
        encoder = self._require_ready(need_index=False)
        with self._load_lock:
            self._seen_current = store.current_version(self.index_dir)
            loaded, problems = load_latest(self.index_dir, encoder.name)
            serving = self._retriever
            if serving is None or serving.index.version != loaded.version:
                self._retriever = HybridRetriever(loaded, encoder, self.rank_params)
            self.problems = problems
            self.status = "ready"
        if problems:
            logger.error("serving index %s after refusing newer versions: %s", loaded.version, "; ".join(problems))
        elif serving is None or serving.index.version != loaded.version:
            logger.info("serving index %s (%d passages)", loaded.version, len(loaded.passages))

    def poll_once(self) -> None:
        """Swap in the version CURRENT points to if it changed since the last look (e.g. `ragqa index` ran)."""
        current = store.current_version(self.index_dir)
        if current is None or current == self._seen_current:
            return
        if self._build_lock.locked():
            return  # our own build loads its version when it is done
        logger.info("index %s appeared on disk: loading it", current)
        self._load()

    def _watch(self) -> None:
        """Swap in an index another process (``ragqa index``) made current."""
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - keep watching; the current index keeps serving
                logger.exception("could not load the newer index; still serving the previous one")

    # ------------------------------------------------------------------ queries

    def _require_ready(self, need_index: bool = True) -> Encoder:
        """The encoder, once loaded (and, if ``need_index``, once an index is served); else NotReadyError."""
        if self.encoder is None or (need_index and self._retriever is None):
            raise NotReadyError(f"the service is not ready ({self.status}): retry in a few seconds")
        return self.encoder

    @property
    def ready(self) -> bool:
        """True once model and index are loaded."""
        return self._retriever is not None

    @property
    def current(self) -> HybridRetriever | None:
        """The retriever being served, or None before the first index is loaded."""
        return self._retriever

    @property
    def retriever(self) -> HybridRetriever:
        """The retriever being served (NotReadyError before it is loaded)."""
        self._require_ready()
        assert self._retriever is not None
        return self._retriever

    def submit(self, question: str, top_k: int, filters: Filters | None = None) -> Future:
        """Queue a question (answered only from the articles ``filters`` allow); a future of its QueryResult."""
        self._require_ready()
        if self._stop.is_set():
            raise NotReadyError("the service is shutting down: retry against a running instance")
        assert self._batcher is not None
        return self._batcher.submit(question, top_k, filters)

    def _search_batch(
        self, questions: list[str], top_ks: list[int], filters: list[Filters | None] | None = None
    ) -> list[QueryResult]:
        """One encoder call and one search per backend for the batch (the retriever groups by pool and mask)."""
        retriever = self.retriever
        index = retriever.index
        masks = [allowed_rows(f, index.articles, index.passages) for f in filters or [None] * len(questions)]
        timings: dict[str, float] = {}
        ranked = retriever.search_many(questions, top_ks, allowed_rows=masks, timings=timings)
        return [QueryResult(hits, index.version, timings) for hits in ranked]

    # ------------------------------------------------------------------ index updates

    def _build(self, force: bool = False) -> BuildSummary:
        """Build from the corpus folder and serve the result (caller holds the build lock)."""
        encoder = self._require_ready(need_index=False)
        started, built = time.perf_counter(), False
        try:
            summary = build_index(self.corpus_dir, self.index_dir, encoder, self.build_options, force=force)
            built = True
        except (ValueError, FileNotFoundError) as exc:  # an empty or missing corpus folder
            raise IndexUpdateError(str(exc)) from None
        finally:
            if self.on_build is not None:
                self.on_build(time.perf_counter() - started, built)
        self._load()
        return summary

    def _acquire_build(self) -> None:
        if not self._build_lock.acquire(blocking=False):
            raise store.BuildInProgressError("an index build is already running: wait for it to finish, then retry")

    def rebuild(self, force: bool = False) -> BuildSummary:
        """Incremental build from the corpus folder, then swap. BuildInProgressError if one is running."""
        self._acquire_build()
        try:
            return self._build(force)
        finally:
            self._build_lock.release()

    def add_article(self, article_id: str, data: bytes, replace: bool) -> BuildSummary:
        """Save an (already validated) post and index it; on failure the corpus is left as it was."""
        self._require_ready(need_index=False)
        self._acquire_build()
        try:
            with self.posts.write(article_id, data, replace):
                return self._build()
        finally:
            self._build_lock.release()

    def delete_article(self, article_id: str) -> BuildSummary:
        """Remove a post and its passages; on failure the post is restored."""
        self._require_ready(need_index=False)
        self._acquire_build()
        try:
            with self.posts.delete(article_id):
                try:
                    return self._build()
                except IndexUpdateError as exc:
                    raise IndexUpdateError(f"{article_id!r} was not deleted: {exc}") from None
        finally:
            self._build_lock.release()

    @property
    def building(self) -> bool:
        """True while this process builds an index."""
        return self._build_lock.locked()

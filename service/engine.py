"""The service's shared state: the encoder, the index being served, and index updates.

Queries read one retriever reference per batch; a build makes a new version on disk and the reference
is swapped only once that version is loaded and verified, so queries never see a half-built index.
The engine takes plain arguments; ``service.main`` derives them from the settings.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus.posts import PostsFolder
from index import store
from index.build import BuildOptions, BuildSummary, backend_names, build_index
from index.filters import Filters, allowed_rows
from index.model import Encoder
from index.params import RankParams
from index.ranker import open_ranker
from index.retriever import HybridRetriever, SearchHit
from index.vectors import BuildStoppedError
from index.version import load_latest
from service.batcher import SearchBatcher
from service.corpus_sync import CorpusSync

logger = logging.getLogger(__name__)


def release_free_memory() -> None:
    """Give the heap pages freed by a build back to the system (glibc keeps them otherwise; no-op elsewhere)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class NotReadyError(RuntimeError):
    """The model or the index is not loaded yet (or failed to load)."""


class IndexUpdateError(RuntimeError):
    """The corpus folder cannot be indexed as asked (e.g. removing its last post); nothing was changed."""


@dataclass
class QueryResult:
    """What one question got, from which index version."""

    hits: list[SearchHit]
    version: str
    answerable: bool = True  # False: the ranking stage judged that no passage answers the question
    confidence: float | None = None  # P(the first passage answers it), from the ranking stage
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
        load_options: Mapping[str, Mapping[str, Any]] | None = None,
        search_queue_size: int = 256,
        first_build: Callable[[bool], None] | None = None,
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
        self.load_options = load_options or {}  # per registered backend, e.g. the Milvus connection
        self.search_queue_size = search_queue_size
        # Builds the index when there is none (argument: force), e.g. in a child process so that this one
        # keeps none of the build's memory; None: build here, with the serving encoder.
        self._first_build = first_build
        self._retriever: HybridRetriever | None = None
        self.status = "starting: loading the embedding model"
        self.problems: list[str] = []
        self._build_lock = threading.Lock()
        self._load_lock = threading.Lock()  # one load at a time, so an older load never replaces a newer one
        self._seen_current: str | None = None  # CURRENT as of the last load attempt
        self._stop = threading.Event()
        self._batcher: SearchBatcher | None = None
        self._threads: list[threading.Thread] = []
        self.degraded = False  # serving an older version because CURRENT's failed to verify
        self._sync = CorpusSync(corpus_dir)
        self._catch_up_thread: threading.Thread | None = None
        # False until start-up has compared the corpus folder with the loaded index: until then a loaded
        # index may be about to be rebuilt, so /readyz must not call it "ready".
        self._corpus_checked = False
        self._gave_up_on: str | None = None  # fallback version whose rebuild failed (not retried every poll)
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

    def stop(self, build_timeout: float = 10.0) -> None:
        """Stop the background threads; a running build stops at its next batch (waited for up to ``build_timeout``)."""
        self._stop.set()
        if self._batcher is not None:
            self._batcher.close()
        # A build checks the stop flag between embedding batches and undoes its post change: wait for that,
        # so the process exits with the corpus and the index in step.
        if self._build_lock.acquire(timeout=build_timeout):
            self._build_lock.release()
        else:
            logger.error(
                "an index build did not stop within %.0fs; the next start brings the index up to date", build_timeout
            )

    def _startup(self) -> None:
        try:
            if self.encoder is None:
                assert self._load_model is not None
                self.encoder = self._load_model()
            self._batcher = SearchBatcher(self._search_batch, max_queue=self.search_queue_size)
            self.status = "starting: loading the index"
            self.posts.remove_stale_backups()
            self._load_or_build()
            self._start_catch_up()
        except Exception as exc:  # noqa: BLE001 - reported through /readyz and the log
            self.status = f"failed: {exc}"
            logger.exception("startup failed")
            if self.encoder is None:
                return
            # With the model loaded, an index that `ragqa index` repairs later is still picked up.
        finally:
            self._corpus_checked = True
        if self.poll_seconds > 0:
            thread = threading.Thread(target=self._watch, name="ragqa-index-watch", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _load_or_build(self) -> None:
        try:
            self._load()
            served = self._retriever.index.manifest.backends if self._retriever else None
            if served != backend_names(self.build_options):
                # e.g. RAGQA_BACKEND changed: serve the old version until the configured backends hold one.
                logger.info("index uses backends %s, configured %s: rebuilding", served, self.build_options.backend)
                try:
                    self.rebuild()
                except Exception as exc:
                    self.problems = [
                        f"still serving the {served} index: rebuilding for the configured backend failed: {exc}",
                        *self.problems,
                    ]
                    raise
        except store.IndexMissingError:
            logger.info("no index in %s yet: building it from %s", self.index_dir, self.corpus_dir)
            self.status = "starting: building the index (first run)"
            self._build_first(force=False)
        except store.IndexCorruptError as exc:
            logger.error("no usable index version (%s): rebuilding from the corpus", exc)
            self.status = "starting: rebuilding the index (every version was corrupt)"
            self._build_first(force=True)
            self.problems = [str(exc), *self.problems]

    def _build_first(self, force: bool) -> None:
        """Build the index the server starts without: with ``first_build`` if given, else in this process."""
        if self._first_build is None:
            self.rebuild(force=force)
            return
        self._acquire_build()
        try:
            self._first_build(force)
        finally:
            self._build_lock.release()
        self._load()

    def _load(self) -> None:
        encoder = self._require_ready(need_index=False)
        with self._load_lock:
            self._seen_current = store.current_version(self.index_dir)
            loaded, problems = load_latest(self.index_dir, encoder.name, encoder.variant, self.load_options)
            problems = [*getattr(encoder, "problems", []), *problems]
            serving = self._retriever
            degraded = loaded.version != self._seen_current
            swap = serving is None or serving.index.version != loaded.version
            retriever = HybridRetriever(loaded, encoder, self.rank_params, open_ranker(loaded)) if swap else serving
            # /readyz reads these without a lock: while they change it may say "degraded" of a good version,
            # never "ready" of a degraded one.
            self.problems = problems
            self.degraded = self.degraded or degraded
            self._retriever = retriever
            self.degraded = degraded
            self.status = "degraded" if degraded else "ready"
        if problems:
            logger.error("serving index %s after refusing newer versions: %s", loaded.version, "; ".join(problems))
        elif swap:
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
        """Swap in an index another process (``ragqa index``) made current; keep the index in step with the corpus."""
        while not self._stop.wait(self.poll_seconds):
            # OSError included (e.g. EMFILE when connections exhaust the descriptors): the next poll retries.
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - keep watching; the current index keeps serving
                logger.exception("could not load the newer index; still serving the previous one")
            try:
                self._catch_up(settle=True)
            except Exception:  # noqa: BLE001 - keep watching; retried when the folder changes again
                logger.exception("could not bring the index up to date with the corpus folder")

    def _needs_build(self, settle: bool) -> bool:
        serving = self._retriever
        if serving is None or self._build_lock.locked() or self._stop.is_set():
            return False
        if self.degraded:
            return self._gave_up_on != serving.index.version  # one try per fallback; then the operator acts
        return self._sync.out_of_step(serving.index.manifest.corpus_fingerprint, settle=settle)

    def _catch_up(self, settle: bool) -> None:
        """Rebuild (incrementally) when serving a fallback version or the corpus folder changed under the index."""
        if not self._needs_build(settle) or not self._build_lock.acquire(blocking=False):
            return
        self._catch_up_holding_lock()

    def _catch_up_holding_lock(self) -> None:
        reason = "the current version is corrupt" if self.degraded else "the corpus folder changed"
        logger.warning("rebuilding the index from the corpus: %s", reason)
        try:
            self._build()
        except store.BuildInProgressError:
            pass  # another process (`ragqa index`) builds it; the watcher loads its version
        except Exception:  # noqa: BLE001 - the loaded version keeps serving; /readyz shows the state
            logger.exception("could not bring the index up to date with the corpus folder")
            if self.degraded and self._retriever is not None:
                self._gave_up_on = self._retriever.index.version
        finally:
            self._build_lock.release()

    def _start_catch_up(self) -> None:
        """Start ``_catch_up`` on its own thread (serving goes on meanwhile), holding the build lock from now on.

        Taken here, the lock makes /readyz say "building" from the first moment the index is known stale.
        """
        if not self._needs_build(settle=False) or not self._build_lock.acquire(blocking=False):
            return
        thread = threading.Thread(target=self._catch_up_holding_lock, name="ragqa-catch-up", daemon=True)
        self._catch_up_thread = thread
        thread.start()

    def wait_for_catch_up(self, timeout: float | None = None) -> None:
        """Block until the start-up catch-up build (if any) is done."""
        if self._catch_up_thread is not None:
            self._catch_up_thread.join(timeout)

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
        answered = retriever.ask_many(questions, top_ks, allowed_rows=masks, timings=timings)
        return [QueryResult(a.hits, index.version, a.answerable, a.confidence, timings) for a in answered]

    # ------------------------------------------------------------------ index updates

    def _build(self, force: bool = False) -> BuildSummary:
        """Build from the corpus folder and serve the result (caller holds the build lock)."""
        encoder = self._require_ready(need_index=False)
        started, built = time.perf_counter(), False
        try:
            summary = build_index(
                self.corpus_dir, self.index_dir, encoder, self.build_options, force=force, stop=self._stop
            )
            built = True
        except (ValueError, FileNotFoundError) as exc:  # an empty or missing corpus folder
            raise IndexUpdateError(str(exc)) from None
        except BuildStoppedError as exc:
            logger.warning("%s", exc)
            raise
        finally:
            release_free_memory()  # a build's batches and tables would otherwise stay in the server's RSS
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
            if self.posts.find(article_id) is None and self._serves_article(article_id):
                # Its file is already gone (removed by hand, or by a delete that was killed): update the index.
                logger.info("article %r is only in the index: rebuilding without it", article_id)
                return self._build()
            with self.posts.delete(article_id):
                try:
                    return self._build()
                except IndexUpdateError as exc:
                    raise IndexUpdateError(f"{article_id!r} was not deleted: {exc}") from None
        finally:
            self._build_lock.release()

    def _serves_article(self, article_id: str) -> bool:
        serving = self._retriever
        return serving is not None and any(a.id == article_id for a in serving.index.articles)

    @property
    def building(self) -> bool:
        """True while this process builds an index, or, at start-up, until it knows whether it must."""
        return self._build_lock.locked() or not self._corpus_checked

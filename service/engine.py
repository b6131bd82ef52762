"""The service's shared state: the encoder, the index being served, and index updates.

Queries read one retriever reference per batch; a build makes a new version on disk and the reference
is swapped only once that version is loaded and verified, so queries never see a half-built index.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from index import store
from index.build import BuildSummary, build_index
from index.retriever import HybridRetriever, SearchHit, load_latest
from ragqa.settings import Settings
from service.batcher import QueryBatcher

if TYPE_CHECKING:
    from index.embedder import Encoder

logger = logging.getLogger(__name__)


class NotReadyError(RuntimeError):
    """The model or the index is not loaded yet (or failed to load)."""


class ArticleExistsError(RuntimeError):
    """An upload would overwrite a post without asking to."""


class ArticleNotFoundError(LookupError):
    """No such post in the corpus folder."""


class IndexUpdateError(RuntimeError):
    """The corpus folder cannot be indexed as asked (e.g. removing its last post); nothing was changed."""


@dataclass
class QueryResult:
    """What one question got, from which index version."""

    hits: list[SearchHit]
    version: str


class Engine:
    """Loads the model and index in the background, serves queries, applies index updates."""

    def __init__(self, settings: Settings, encoder: Encoder | None = None) -> None:
        self.settings = settings
        self.encoder: Encoder | None = encoder
        self._retriever: HybridRetriever | None = None
        self.status = "starting: loading the embedding model"
        self.problems: list[str] = []
        self._build_lock = threading.Lock()
        self._load_lock = threading.Lock()  # one load at a time, so an older load never replaces a newer one
        self._seen_current: str | None = None  # CURRENT as of the last load attempt
        self._stop = threading.Event()
        self._batcher: QueryBatcher | None = None
        self._threads: list[threading.Thread] = []

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
                from index.embedder import load_encoder

                self.encoder = load_encoder(self.settings)
            self._batcher = QueryBatcher(self._answer_batch)
            self.status = "starting: loading the index"
            self._load_or_build()
        except Exception as exc:  # noqa: BLE001 - reported through /readyz and the log
            self.status = f"failed: {exc}"
            logger.exception("startup failed")
            if self.encoder is None:
                return
            # With the model loaded, an index that `ragqa index` repairs later is still picked up.
        if self.settings.index_poll_seconds > 0:
            thread = threading.Thread(target=self._watch, name="ragqa-index-watch", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _load_or_build(self) -> None:
        try:
            self._load()
        except store.IndexMissingError:
            logger.info("no index in %s yet: building it from %s", self.settings.index_dir, self.settings.corpus_dir)
            self.status = "starting: building the index (first run)"
            self.rebuild()
        except store.IndexCorruptError as exc:
            logger.error("no usable index version (%s): rebuilding from the corpus", exc)
            self.status = "starting: rebuilding the index (every version was corrupt)"
            self.rebuild(force=True)
            self.problems = [str(exc), *self.problems]

    def _load(self) -> None:
        assert self.encoder is not None
        with self._load_lock:
            self._seen_current = store.current_version(self.settings.index_dir)
            loaded, problems = load_latest(self.settings.index_dir, self.encoder.name)
            serving = self._retriever
            if serving is None or serving.index.version != loaded.version:
                self._retriever = HybridRetriever(loaded, self.encoder)
            self.problems = problems
            self.status = "ready"
        if problems:
            logger.error("serving index %s after refusing newer versions: %s", loaded.version, "; ".join(problems))
        elif serving is None or serving.index.version != loaded.version:
            logger.info("serving index %s (%d passages)", loaded.version, len(loaded.passages))

    def poll_once(self) -> None:
        """Swap in the version CURRENT points to if it changed since the last look (e.g. `ragqa index` ran)."""
        current = store.current_version(self.settings.index_dir)
        if current is None or current == self._seen_current:
            return
        if self._build_lock.locked():
            return  # our own build loads its version when it is done
        logger.info("index %s appeared on disk: loading it", current)
        self._load()

    def _watch(self) -> None:
        """Swap in an index another process (``ragqa index``) made current."""
        while not self._stop.wait(self.settings.index_poll_seconds):
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - keep watching; the current index keeps serving
                logger.exception("could not load the newer index; still serving the previous one")

    # ------------------------------------------------------------------ queries

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
        retriever = self._retriever
        if retriever is None:
            raise NotReadyError(f"the service is not ready ({self.status}): retry in a few seconds")
        return retriever

    def submit(self, question: str, top_k: int):  # type: ignore[no-untyped-def]
        """Queue a question; returns a concurrent future of its QueryResult."""
        self.retriever  # noqa: B018
        if self._stop.is_set():
            raise NotReadyError("the service is shutting down: retry against a running instance")
        assert self._batcher is not None
        return self._batcher.submit(question, top_k)

    def _answer_batch(self, questions: list[str], top_ks: list[int]) -> list[QueryResult]:
        """One encoder call for the batch; one search per distinct top_k (the candidate pool depends on it)."""
        retriever = self.retriever
        vectors = retriever.encode(questions)
        results: list[QueryResult | None] = [None] * len(questions)
        for top_k in sorted(set(top_ks)):
            rows = [i for i, k in enumerate(top_ks) if k == top_k]
            ranked = retriever.search_many([questions[i] for i in rows], top_k, vectors=vectors[rows])
            for i, hits in zip(rows, ranked):
                results[i] = QueryResult(hits, retriever.index.version)
        return results  # type: ignore[return-value]

    # ------------------------------------------------------------------ index updates

    def _build(self, force: bool = False) -> BuildSummary:
        """Build from the corpus folder and serve the result (caller holds the build lock)."""
        self._require_encoder()
        try:
            summary = build_index(self.settings, self.encoder, force=force)
        except (ValueError, FileNotFoundError) as exc:  # an empty or missing corpus folder
            raise IndexUpdateError(str(exc)) from None
        self._load()
        return summary

    def _require_encoder(self) -> None:
        if self.encoder is None:
            raise NotReadyError(f"the service is not ready ({self.status}): retry in a few seconds")

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

    def article_path(self, article_id: str) -> Path:
        """Where a post with this id lives in the corpus folder (the id is validated by the caller)."""
        return self.settings.corpus_dir / f"{article_id}.txt"

    def _existing(self, article_id: str) -> Path | None:
        for suffix in (".txt", ".md", ".markdown"):
            path = self.settings.corpus_dir / f"{article_id}{suffix}"
            if path.is_file():
                return path
        return None

    def add_article(self, article_id: str, data: bytes, replace: bool) -> BuildSummary:
        """Save an (already validated) post and index it; on failure the corpus is left as it was."""
        self._require_encoder()
        self._acquire_build()
        try:
            existing = self._existing(article_id)
            if existing is not None and not replace:
                raise ArticleExistsError(
                    f"article {article_id!r} already exists: add ?replace=true to replace it, or choose another id"
                )
            path = existing or self.article_path(article_id)
            previous = path.read_bytes() if existing is not None else None
            self.settings.corpus_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            try:
                summary = self._build()
            except BaseException:
                if previous is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(previous)
                raise
            return summary
        finally:
            self._build_lock.release()

    def delete_article(self, article_id: str) -> BuildSummary:
        """Remove a post and its passages; on failure the post is restored."""
        self._require_encoder()
        self._acquire_build()
        try:
            path = self._existing(article_id)
            if path is None:
                raise ArticleNotFoundError(f"no article {article_id!r}: GET /articles lists the ids")
            previous = path.read_bytes()
            path.unlink()
            try:
                summary = self._build()
            except IndexUpdateError as exc:
                path.write_bytes(previous)
                raise IndexUpdateError(f"{article_id!r} was not deleted: {exc}") from None
            except BaseException:
                path.write_bytes(previous)
                raise
            return summary
        finally:
            self._build_lock.release()

    @property
    def building(self) -> bool:
        """True while this process builds an index."""
        return self._build_lock.locked()

"""Build or update the index from a corpus folder: only new passages are embedded."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel

from corpus.loader import load_corpus
from corpus.models import Article, Passage
from corpus.parse import post_paths
from corpus.text import sentence_spans
from index import store
from index.backends import Backend, BM25Backend, Documents, FaissBackend
from index.backends.dense import IndexKind
from index.documents import DocumentFormat, document_text, embedding_key, sentence_document
from index.late_interaction import TokenTable
from index.lexicon import build_lexicon
from index.model import Encoder, vector_group
from index.tokenize import TokenForm
from index.vectors import BuildStoppedError, embed_documents
from index.version import (
    DENSE,
    LEXICAL,
    Manifest,
    SentenceTable,
    VersionContents,
    read_passage_ids,
    read_reusable_vectors,
    verify_version,
    write_version,
)

if TYPE_CHECKING:
    from index.backends.milvus import MilvusConnection

logger = logging.getLogger(__name__)

BackendKind = Literal["faiss", "milvus"]
BACKEND_KINDS: tuple[BackendKind, ...] = ("faiss", "milvus")


@dataclass(frozen=True)
class BuildOptions:
    """How a build turns passages into an index (the defaults are the service's).

    ``backend`` "faiss" keeps both searches in the version folder (bm25s + FAISS); "milvus" puts them in one
    Milvus collection per version at ``milvus`` (required then).
    """

    document_format: DocumentFormat = "title+section+text"
    bm25_tokens: TokenForm = "lemma"
    faiss_index: IndexKind = "flat"
    embed_batch_size: int = 32
    keep_versions: int = 3
    backend: BackendKind = "faiss"
    milvus: MilvusConnection | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKEND_KINDS:
            raise ValueError(f"unknown index backend {self.backend!r}: use one of {', '.join(BACKEND_KINDS)}")
        if self.backend == "milvus" and self.milvus is None:
            raise ValueError("the milvus backend needs a Milvus URI: set RAGQA_MILVUS_URI (a .db path or http://…)")


def backend_names(options: BuildOptions) -> dict[str, str]:
    """The registered backend each role gets under ``options`` (as a manifest records it)."""
    if options.backend == "milvus":
        from index.backends.milvus import MilvusDense, MilvusLexical

        return {LEXICAL: MilvusLexical.name, DENSE: MilvusDense.name}
    return {LEXICAL: BM25Backend.name, DENSE: FaissBackend.name}


def _make_backends(
    options: BuildOptions, version: str, passages: list[Passage], articles: list[Article]
) -> dict[str, Backend]:
    """Empty backends by role for a new version."""
    if options.backend == "milvus":
        from index.backends.milvus import MilvusCollection, MilvusDense, MilvusLexical, row_meta

        assert options.milvus is not None  # checked by BuildOptions
        meta = row_meta(passages, articles)
        collection = MilvusCollection.new(options.milvus, version, token_form=options.bm25_tokens, meta=meta)
        return {LEXICAL: MilvusLexical(collection), DENSE: MilvusDense(collection)}
    return {LEXICAL: BM25Backend(options.bm25_tokens), DENSE: FaissBackend(options.faiss_index)}


class BuildSummary(BaseModel):
    """What a build did."""

    version: str
    changed: bool
    articles: int
    passages: int
    new: int
    reused: int
    removed: int
    rejected: list[str] = []
    seconds: float
    embed_seconds: float


def corpus_fingerprint(corpus_dir: Path) -> str:
    """Hash of every post file's name and bytes: equal fingerprints mean an unchanged corpus."""
    digest = hashlib.sha256()
    for path in post_paths(corpus_dir):
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _current_manifest(index_dir: Path) -> tuple[Path, Manifest] | None:
    """The folder and manifest of the current version, if it verifies."""
    name = store.current_version(index_dir)
    if name is None:
        return None
    folder = store.versions_dir(index_dir) / name
    try:
        return folder, verify_version(folder)
    except store.IndexStoreError as exc:
        logger.warning("previous index not reused: %s", exc)
        return None


def _newest_good_version(index_dir: Path) -> tuple[Path, Manifest] | None:
    """The current version if it verifies, else the newest older one that does (the one a service falls back to)."""
    current = _current_manifest(index_dir)
    if current is not None:
        return current
    for name in store.candidate_versions(index_dir):
        folder = store.versions_dir(index_dir) / name
        try:
            return folder, verify_version(folder)
        except store.IndexStoreError:
            continue
    return None


def _previous_vectors(
    index_dir: Path, model: str
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], set[str]]:
    """Embeddings of the newest good version by embedding key (empty when none, or another model)."""
    previous = _newest_good_version(index_dir)
    if previous is None:
        return {}, set()
    folder, manifest = previous
    old_ids = read_passage_ids(folder)
    if manifest.model != model:
        logger.info("previous index was built with %s, not %s: embedding everything", manifest.model, model)
        return {}, old_ids
    return read_reusable_vectors(folder), old_ids


def _unchanged(index_dir: Path, fingerprint: str, encoder: Encoder, options: BuildOptions) -> Manifest | None:
    """The current manifest if it was built from this corpus, model, vector group, document format and backends."""
    current = _current_manifest(index_dir)
    if current is None:
        return None
    folder, manifest = current
    same = (
        manifest.corpus_fingerprint == fingerprint
        and manifest.model == encoder.name
        and vector_group(manifest.variant) == vector_group(encoder.variant)
        and manifest.document_format == options.document_format
        and manifest.backends == backend_names(options)
    )
    if same and options.milvus is not None and options.backend == "milvus":
        from index.backends.milvus import collection_exists

        same = collection_exists(folder / DENSE, options.milvus)  # gone with a wiped .db or another prefix
    return manifest if same else None


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    encoder: Encoder,
    options: BuildOptions | None = None,
    show_progress: bool = False,
    force: bool = False,
    stop: threading.Event | None = None,
) -> BuildSummary:
    """Build a new index version from ``corpus_dir`` (incrementally), switch to it, and summarise.

    ``stop``: checked between embedding batches and before the version is written (BuildStoppedError once set).
    """
    options = options or BuildOptions()
    started = time.perf_counter()
    with store.build_lock(index_dir):
        if options.backend == "milvus" and options.milvus is not None:
            options.milvus.client()  # unreachable, or a Lite file another process owns: say so before embedding
        store.remove_partial(index_dir)
        fingerprint = corpus_fingerprint(corpus_dir)
        manifest = None if force else _unchanged(index_dir, fingerprint, encoder, options)
        if manifest is not None:
            return BuildSummary(
                version=manifest.version,
                changed=False,
                articles=manifest.article_count,
                passages=manifest.passage_count,
                new=0,
                reused=manifest.passage_count,
                removed=0,
                seconds=time.perf_counter() - started,
                embed_seconds=0.0,
            )

        corpus = load_corpus(corpus_dir)
        if not corpus.passages:
            raise ValueError(f"no passages in {corpus_dir}: add posts (front matter + body) before indexing")
        passages = corpus.passages
        documents = [document_text(p, options.document_format) for p in passages]
        text_spans = [sentence_spans(p.text) for p in passages]
        sentences = [[sentence_document(p.title, p.text[s:e]) for s, e in doc] for p, doc in zip(passages, text_spans)]
        group = vector_group(encoder.variant)
        keys = [embedding_key(encoder.name, d, s, group) for d, s in zip(documents, sentences)]

        previous, old_ids = _previous_vectors(index_dir, encoder.name)
        todo = [i for i, key in enumerate(keys) if key not in previous]
        embed_started = time.perf_counter()
        new_vectors, new_sentences, new_tokens = embed_documents(
            encoder,
            [documents[i] for i in todo],
            [sentences[i] for i in todo],
            batch_size=options.embed_batch_size,
            show_progress=show_progress,
            stop=stop,
        )
        embed_seconds = time.perf_counter() - embed_started
        fresh = {keys[i]: (new_vectors[j], new_sentences[j], new_tokens[j]) for j, i in enumerate(todo)}
        embedded = [fresh.get(k) or previous[k] for k in keys]
        vectors = np.stack([e[0] for e in embedded]).astype(np.float32)
        sentence_blocks = [np.asarray(e[1], dtype=np.float16) for e in embedded]
        tokens = TokenTable.from_blocks([e[2] for e in embedded], encoder.dimension)

        version = store.new_version_name()
        backends = _make_backends(options, version, passages, corpus.articles)
        for backend in backends.values():  # the Milvus roles share one collection: its second build is a no-op
            backend.build(Documents(documents, vectors))
        contents = VersionContents(
            passages=passages,
            articles=corpus.articles,
            keys=keys,
            vectors=vectors,
            sentences=SentenceTable(
                offsets=np.cumsum([0] + [len(b) for b in sentence_blocks]),
                spans=np.asarray([s for doc in text_spans for s in doc], dtype=np.int32).reshape(-1, 2),
                vectors=np.concatenate(sentence_blocks)
                if sentence_blocks
                else np.zeros((0, encoder.dimension), np.float16),
            ),
            tokens=tokens,
            backends=backends,
            lexicon=build_lexicon([p.text for p in passages]),
        )
        fields = {
            "model": encoder.name,
            "variant": encoder.variant,
            "document_format": options.document_format,
            "corpus_fingerprint": fingerprint,
        }
        if stop is not None and stop.is_set():
            raise BuildStoppedError("the index build was stopped (shutting down): the previous index stays current")
        manifest = write_version(index_dir, contents, fields, version)
        store.prune(index_dir, options.keep_versions)
        if options.backend == "milvus" and options.milvus is not None:
            from index.backends.milvus import publish

            # After CURRENT switched and old folders were pruned: collections follow the versions on disk.
            publish(options.milvus, version, store.candidate_versions(index_dir))
        summary = BuildSummary(
            version=manifest.version,
            changed=True,
            articles=len(corpus.articles),
            passages=len(passages),
            new=len(todo),
            reused=len(passages) - len(todo),
            removed=len(old_ids - {p.id for p in passages}),
            rejected=corpus.rejected,
            seconds=time.perf_counter() - started,
            embed_seconds=embed_seconds,
        )
        logger.info(
            "index %s: %d passages (%d new, %d reused, %d removed) in %.1fs",
            summary.version,
            summary.passages,
            summary.new,
            summary.reused,
            summary.removed,
            summary.seconds,
        )
        return summary

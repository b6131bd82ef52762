"""Build or update the index from a corpus folder: only new passages are embedded."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel

from corpus.loader import load_corpus
from corpus.parse import post_paths
from index import store
from index.backends import Documents
from index.dense import FaissBackend
from index.documents import document_text, embedding_key, sentence_spans
from index.lexical import BM25Backend
from index.vectors import embed_documents, sentence_document
from ragqa.settings import Settings

if TYPE_CHECKING:
    from index.embedder import Encoder

logger = logging.getLogger(__name__)


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


def _previous_vectors(index_dir: Path, model: str) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], set[str]]:
    """Embeddings of the current version by embedding key (empty when none, another model, or corrupt)."""
    name = store.current_version(index_dir)
    if name is None:
        return {}, set()
    folder = store.versions_dir(index_dir) / name
    try:
        manifest = store.verify(folder)
    except store.IndexStoreError as exc:
        logger.warning("previous index not reused: %s", exc)
        return {}, set()
    old_ids = {json.loads(line)["id"] for line in (folder / "passages.jsonl").read_text("utf-8").splitlines()}
    if manifest.model != model:
        logger.info("previous index was built with %s, not %s: embedding everything", manifest.model, model)
        return {}, old_ids
    keys = json.loads((folder / "keys.json").read_text("utf-8"))
    vectors = np.load(folder / "embeddings.npy")
    sentences = np.load(folder / "sentences.npz")
    offsets, sent_vectors = sentences["offsets"], sentences["vectors"]
    found = {key: (vectors[i], sent_vectors[offsets[i] : offsets[i + 1]]) for i, key in enumerate(keys)}
    return found, old_ids


def build_index(
    settings: Settings,
    encoder: Encoder,
    corpus_dir: Path | None = None,
    index_dir: Path | None = None,
    show_progress: bool = False,
    force: bool = False,
) -> BuildSummary:
    """Build a new index version from ``corpus_dir`` (incrementally), switch to it, and summarise."""
    corpus_dir = corpus_dir or settings.corpus_dir
    index_dir = index_dir or settings.index_dir
    started = time.perf_counter()
    with store.build_lock(index_dir):
        store.remove_partial(index_dir)
        fingerprint = corpus_fingerprint(corpus_dir)
        current = store.current_version(index_dir)
        if current and not force:
            try:
                manifest = store.verify(store.versions_dir(index_dir) / current)
            except store.IndexStoreError:
                manifest = None
            if (
                manifest is not None
                and manifest.corpus_fingerprint == fingerprint
                and manifest.model == encoder.name
                and manifest.document_format == settings.document_format
            ):
                return BuildSummary(
                    version=current,
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
        documents = [document_text(p, settings.document_format) for p in passages]
        text_spans = [sentence_spans(p.text) for p in passages]
        sentences = [[sentence_document(p.title, p.text[s:e]) for s, e in doc] for p, doc in zip(passages, text_spans)]
        keys = [embedding_key(encoder.name, d, s) for d, s in zip(documents, sentences)]

        previous, old_ids = _previous_vectors(index_dir, encoder.name)
        todo = [i for i, key in enumerate(keys) if key not in previous]
        embed_started = time.perf_counter()
        new_vectors, new_sentences = embed_documents(
            encoder,
            [documents[i] for i in todo],
            [sentences[i] for i in todo],
            batch_size=settings.embed_batch_size,
            show_progress=show_progress,
        )
        embed_seconds = time.perf_counter() - embed_started
        fresh = {keys[i]: (new_vectors[j], new_sentences[j]) for j, i in enumerate(todo)}
        vectors = np.stack([(fresh.get(k) or previous[k])[0] for k in keys]).astype(np.float32)
        sentence_blocks = [np.asarray((fresh.get(k) or previous[k])[1], dtype=np.float16) for k in keys]
        new_ids = {p.id for p in passages}

        def write(folder: Path) -> dict:
            with (folder / "passages.jsonl").open("w", encoding="utf-8") as handle:
                for passage in passages:
                    handle.write(passage.model_dump_json() + "\n")
            store.write_json(folder / "articles.json", [a.model_dump() for a in corpus.articles])
            store.write_json(folder / "keys.json", keys)
            np.save(folder / "embeddings.npy", vectors)
            offsets = np.cumsum([0] + [len(b) for b in sentence_blocks])
            np.savez(
                folder / "sentences.npz",
                offsets=offsets,
                spans=np.asarray([s for doc in text_spans for s in doc], dtype=np.int32).reshape(-1, 2),
                vectors=np.concatenate(sentence_blocks) if sentence_blocks else np.zeros((0, encoder.dim), np.float16),
            )
            lexical = BM25Backend(settings.bm25_tokens)
            lexical.build(Documents(documents))
            (folder / "bm25").mkdir()
            lexical.save(folder / "bm25")
            dense = FaissBackend(settings.faiss_index)
            dense.build(Documents(documents, vectors))
            dense.save(folder)
            return {
                "model": encoder.name,
                "dim": int(vectors.shape[1]),
                "document_format": settings.document_format,
                "corpus_fingerprint": fingerprint,
                "passage_count": len(passages),
                "article_count": len(corpus.articles),
            }

        manifest = store.write_version(index_dir, store.new_version_name(), write)
        store.prune(index_dir, settings.keep_versions)
        summary = BuildSummary(
            version=manifest.version,
            changed=True,
            articles=len(corpus.articles),
            passages=len(passages),
            new=len(todo),
            reused=len(passages) - len(todo),
            removed=len(old_ids - new_ids),
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

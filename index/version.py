"""What an index version contains, and the one place that writes and reads it.

A version folder holds ``manifest.json`` (written by ``store``) and::

    passages.jsonl    one Passage per line: row i of every table below is passage i
    articles.json     the Article list
    keys.json         per row, the embedding key under which its vectors are reused by the next build
    embeddings.npy    (rows, dimension) float32 unit passage vectors
    sentences.npz     offsets (rows + 1), spans (sentences, 2) into the passage text, vectors float16
    tokens.npy        (tokens, dimension) float32 unit vectors of every passage's content tokens, row after row
    token_offsets.npy (rows + 1) int64: row i's tokens are tokens.npy[offsets[i]:offsets[i + 1]]
    lexicon.json      English phrase → the corpus's Japanese words for it (index/lexicon.py; may be {})
    bm25/, dense/     one sub-folder per role (lexical "bm25", vector "dense"), written by the backend's own
                      ``save``; the manifest names the registered backend that fills each role (bm25s/FAISS
                      files, or for Milvus a ``milvus.json`` naming the version's collection)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from corpus.files import write_json
from corpus.models import Article, Passage
from corpus.text import char_ngrams
from index import store
from index.backends import Backend, get_backend
from index.late_interaction import TokenTable
from index.model.base import vector_group

logger = logging.getLogger(__name__)

#: Bump when the layout above changes: older versions are refused with "run `ragqa index` to rebuild".
FORMAT_VERSION = 4  # 4: token vectors for the ranking stage's MaxSim feature
LEXICAL, DENSE = "bm25", "dense"  # the roles a version's backends fill (and their sub-folders)
PASSAGES = "passages.jsonl"
ARTICLES = "articles.json"
KEYS = "keys.json"
EMBEDDINGS = "embeddings.npy"
SENTENCES = "sentences.npz"
LEXICON = "lexicon.json"
TOKENS = "tokens.npy"
TOKEN_OFFSETS = "token_offsets.npy"


class IndexModelMismatchError(store.IndexStoreError):
    """The index was built with another embedding model (or vector group) than the one configured."""


class Manifest(BaseModel):
    """What a version is: enough to verify it, to refuse it to the wrong model, and to skip a no-op build."""

    format_version: int = FORMAT_VERSION
    version: str
    model: str
    variant: str
    dimension: int
    document_format: str
    corpus_fingerprint: str
    passage_count: int
    article_count: int
    backends: dict[str, str]  # role (sub-folder) -> registered backend name, e.g. {"dense": "dense"}
    created_at: str
    files: dict[str, str]
    manifest_sha256: str  # of the fields above (store.manifest_checksum)


@dataclass
class SentenceTable:
    """Every passage's sentences: rows ``offsets[i]:offsets[i + 1]`` of ``spans`` and ``vectors`` are row i's."""

    offsets: np.ndarray
    spans: np.ndarray
    vectors: np.ndarray

    def rows(self, row: int) -> slice:
        """Where passage ``row``'s sentences are in ``spans`` and ``vectors``."""
        return slice(int(self.offsets[row]), int(self.offsets[row + 1]))


@dataclass
class VersionContents:
    """Everything a version holds, in memory; ``backends`` is keyed by role ("bm25", "dense")."""

    passages: list[Passage]
    articles: list[Article]
    keys: list[str]
    vectors: np.ndarray
    sentences: SentenceTable
    tokens: TokenTable
    backends: dict[str, Backend]
    lexicon: dict[str, list[str]] = field(default_factory=dict)  # index/lexicon.py: English phrase → corpus words


@dataclass
class LoadedIndex:
    """A verified index version in memory; its backends (by role) are reached through the ``Backend`` protocol."""

    manifest: Manifest
    passages: list[Passage]
    articles: list[Article]
    vectors: np.ndarray
    sentences: SentenceTable
    tokens: TokenTable
    backends: dict[str, Backend]
    lexicon: dict[str, list[str]] | None = None  # None: a version built before lexicons were stored
    _grams: dict[int, set[str]] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """The version's name."""
        return self.manifest.version

    def grams(self, row: int) -> set[str]:
        """Character 5-grams of a passage (cached)."""
        if row not in self._grams:
            self._grams[row] = char_ngrams(self.passages[row].text)
        return self._grams[row]


LoadOptions = Mapping[str, Mapping[str, Any]]  # registered backend name -> keyword arguments for its ``load``


def write_version(
    index_dir: Path, contents: VersionContents, fields: dict[str, Any], name: str | None = None
) -> Manifest:
    """Write ``contents`` as a new version (manifest ``fields``: model, variant, document format, ...) and serve it.

    ``name`` is the version's name when the backends needed it before (Milvus names a collection after it).
    """

    def write(folder: Path) -> dict[str, Any]:
        with (folder / PASSAGES).open("w", encoding="utf-8") as handle:
            for passage in contents.passages:
                handle.write(passage.model_dump_json() + "\n")
        write_json(folder / ARTICLES, [a.model_dump() for a in contents.articles])
        write_json(folder / KEYS, contents.keys)
        write_json(folder / LEXICON, contents.lexicon)
        np.save(folder / EMBEDDINGS, contents.vectors)
        table = contents.sentences
        np.savez(folder / SENTENCES, offsets=table.offsets, spans=table.spans, vectors=table.vectors)
        np.save(folder / TOKENS, contents.tokens.vectors.astype(np.float32, copy=False))
        np.save(folder / TOKEN_OFFSETS, contents.tokens.offsets.astype(np.int64, copy=False))
        for role, backend in contents.backends.items():
            (folder / role).mkdir()
            backend.save(folder / role)
        return {
            **fields,
            "format_version": FORMAT_VERSION,
            "dimension": int(contents.vectors.shape[1]),
            "passage_count": len(contents.passages),
            "article_count": len(contents.articles),
            "backends": {role: backend.name for role, backend in contents.backends.items()},
        }

    return Manifest.model_validate(store.write_version(index_dir, name or store.new_version_name(), write))


def verify_version(folder: Path) -> Manifest:
    """Check a version's format and checksums; its manifest."""
    manifest = store.verify(folder, FORMAT_VERSION)
    try:
        return Manifest.model_validate(manifest)
    except ValueError as exc:
        raise store.IndexCorruptError(f"index version {folder.name}: manifest incomplete ({exc})") from None


def read_passage_ids(folder: Path) -> set[str]:
    """The passage ids of a version (to count what a build removed)."""
    return {json.loads(line)["id"] for line in (folder / PASSAGES).read_text("utf-8").splitlines()}


def read_reusable_vectors(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A version's (passage vector, sentence vectors, token vectors) by embedding key, for the next build to reuse."""
    keys = json.loads((folder / KEYS).read_text("utf-8"))
    vectors = np.load(folder / EMBEDDINGS)
    table = _read_sentences(folder, np.float16)
    tokens = _read_tokens(folder, mmap=False)
    return {key: (vectors[i], table.vectors[table.rows(i)], tokens.block(i)) for i, key in enumerate(keys)}


def _read_tokens(folder: Path, mmap: bool, rows: int | None = None) -> TokenTable:
    """The token table (of ``rows`` passages, if given); memory-mapped when served (only pool pages are read)."""
    offsets = np.load(folder / TOKEN_OFFSETS)
    # A plain ndarray over the mapping (the memmap subclass costs per slice); it keeps the mapping alive.
    vectors = np.asarray(np.load(folder / TOKENS, mmap_mode="r" if mmap else None))
    if (
        offsets.ndim != 1
        or vectors.ndim != 2
        or int(offsets[-1]) != len(vectors)
        or rows not in (None, len(offsets) - 1)
    ):
        raise store.IndexCorruptError(f"index version {folder.name}: token table and offsets disagree")
    return TokenTable(offsets, vectors)


def _read_sentences(folder: Path, dtype: type) -> SentenceTable:
    data = np.load(folder / SENTENCES)
    return SentenceTable(data["offsets"], data["spans"], data["vectors"].astype(dtype))


def load_version(
    folder: Path, model: str | None = None, variant: str | None = None, load_options: LoadOptions | None = None
) -> LoadedIndex:
    """Verify a version's checksums (and model, and that ``variant``'s vectors mix with its own) and load it.

    ``load_options`` reach its backends' ``load`` (e.g. the Milvus URI).
    """
    manifest = verify_version(folder)
    if model is not None and manifest.model != model:
        raise IndexModelMismatchError(
            f"the index in {folder.parent.parent} was built with model {manifest.model!r}, but the configured "
            f"model (RAGQA_MODEL with RAGQA_ADAPTER) is {model!r}: run `ragqa index` to rebuild it for this model"
        )
    if variant is not None and vector_group(manifest.variant) != vector_group(variant):
        raise IndexModelMismatchError(
            f"the index in {folder.parent.parent} holds {manifest.variant} vectors, which do not mix with the "
            f"{variant} encoder configured (RAGQA_ENCODER): run `ragqa index` to re-embed it for {variant} "
            f"(passages already embedded as {variant} are reused), or set RAGQA_ENCODER back"
        )
    passages = [Passage.model_validate_json(line) for line in (folder / PASSAGES).read_text("utf-8").splitlines()]
    articles = [Article.model_validate(a) for a in json.loads((folder / ARTICLES).read_text("utf-8"))]
    lexicon = json.loads((folder / LEXICON).read_text("utf-8")) if (folder / LEXICON).is_file() else None
    return LoadedIndex(
        manifest=manifest,
        passages=passages,
        articles=articles,
        vectors=np.load(folder / EMBEDDINGS),
        sentences=_read_sentences(folder, np.float32),
        tokens=_read_tokens(folder, mmap=True, rows=len(passages)),
        backends={
            role: get_backend(name).load(folder / role, **(load_options or {}).get(name, {}))
            for role, name in manifest.backends.items()
        },
        lexicon=lexicon,
    )


def load_latest(
    index_dir: Path,
    model: str | None = None,
    variant: str | None = None,
    load_options: LoadOptions | None = None,
) -> tuple[LoadedIndex, list[str]]:
    """The newest good version (CURRENT first); the list says which versions were refused and why."""
    store.cleanup_if_idle(index_dir)
    problems: list[str] = []
    for name in store.candidate_versions(index_dir):
        try:
            return load_version(store.versions_dir(index_dir) / name, model, variant, load_options), problems
        except IndexModelMismatchError:
            raise
        except (store.IndexStoreError, OSError, ValueError) as exc:
            logger.error("index version %s refused: %s", name, exc)
            problems.append(str(exc))
    if problems:
        raise store.IndexCorruptError(
            "no usable index version: " + "; ".join(problems) + ": run `ragqa index` to rebuild"
        )
    raise store.IndexMissingError(f"no index in {index_dir}: run `ragqa index` to build it")

"""Load a verified index version and answer questions with ranked, cited, highlighted passages."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from corpus.models import Article, Passage
from corpus.text import char_ngrams, containment
from index import store
from index.backends import Hits, Queries
from index.dense import FaissBackend
from index.fusion import reciprocal_rank_fusion, weighted_fusion
from index.lexical import BM25Backend

if TYPE_CHECKING:
    from index.embedder import Encoder

logger = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25", "rrf"]
MODES: tuple[Mode, ...] = ("bm25", "dense", "rrf", "hybrid")
# Chosen on eval/questions.jsonl (see eval/expected.json for the ablation): BM25 adds to the dense score
# for Japanese questions only, and the best sentence's cosine weighs 0.4 against the passage's.
LEXICAL_WEIGHT = 0.05
SENTENCE_WEIGHT = 0.4
LATIN_LEXICAL_SHARE = 0.0
NEAR_COPY = 0.6  # a passage this much inside one already shown is a near-copy: it would waste a slot
CANDIDATES = 50


class IndexModelMismatchError(store.IndexStoreError):
    """The index was built with another embedding model than the one configured."""


@dataclass
class SearchHit:
    """One ranked passage with the sentence that best answers the question."""

    rank: int
    row: int
    score: float
    passage: Passage
    highlight: str
    highlight_score: float


@dataclass
class LoadedIndex:
    """A verified index version in memory."""

    folder: Path
    manifest: store.Manifest
    passages: list[Passage]
    articles: list[Article]
    vectors: np.ndarray
    sentence_offsets: np.ndarray
    sentence_spans: np.ndarray
    sentence_vectors: np.ndarray
    lexical: BM25Backend
    dense: FaissBackend
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


def load_version(folder: Path, model: str | None = None) -> LoadedIndex:
    """Verify a version's checksums (and model) and load it."""
    manifest = store.verify(folder)
    if model is not None and manifest.model != model:
        raise IndexModelMismatchError(
            f"the index in {folder.parent.parent} was built with model {manifest.model!r}, but RAGQA_MODEL is "
            f"{model!r}: run `ragqa index` to rebuild it for this model"
        )
    passages = [
        Passage.model_validate_json(line) for line in (folder / "passages.jsonl").read_text("utf-8").splitlines()
    ]
    articles = [Article.model_validate(a) for a in json.loads((folder / "articles.json").read_text("utf-8"))]
    sentences = np.load(folder / "sentences.npz")
    return LoadedIndex(
        folder=folder,
        manifest=manifest,
        passages=passages,
        articles=articles,
        vectors=np.load(folder / "embeddings.npy"),
        sentence_offsets=sentences["offsets"],
        sentence_spans=sentences["spans"],
        sentence_vectors=sentences["vectors"].astype(np.float32),
        lexical=BM25Backend.load(folder / "bm25"),
        dense=FaissBackend.load(folder),
    )


def load_latest(index_dir: Path, model: str | None = None) -> tuple[LoadedIndex, list[str]]:
    """The newest good version (CURRENT first); the list says which versions were refused and why."""
    store.cleanup_if_idle(index_dir)
    problems: list[str] = []
    for name in store.candidate_versions(index_dir):
        try:
            return load_version(store.versions_dir(index_dir) / name, model), problems
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


class HybridRetriever:
    """BM25 + FAISS over one loaded index version, fused per question."""

    def __init__(
        self,
        index: LoadedIndex,
        encoder: Encoder,
        lexical_weight: float = LEXICAL_WEIGHT,
        sentence_weight: float = SENTENCE_WEIGHT,
        latin_lexical_share: float = LATIN_LEXICAL_SHARE,
    ) -> None:
        self.index = index
        self.encoder = encoder
        self.lexical_weight = lexical_weight
        self.sentence_weight = sentence_weight
        self.latin_lexical_share = latin_lexical_share

    def encode(self, questions: list[str]) -> np.ndarray:
        """Question vectors (one encoder call for the batch)."""
        return self.encoder.encode_queries(questions)

    def search(self, question: str, top_k: int = 5, mode: Mode = "hybrid") -> list[SearchHit]:
        """Ranked passages for one question."""
        return self.search_many([question], top_k, mode)[0]

    def search_many(
        self, questions: list[str], top_k: int = 5, mode: Mode = "hybrid", vectors: np.ndarray | None = None
    ) -> list[list[SearchHit]]:
        """Ranked passages for a batch of questions; pass ``vectors`` if they are already encoded."""
        if vectors is None:
            vectors = self.encode(questions)
        queries = Queries(questions, vectors)
        pool = max(CANDIDATES, 4 * top_k)
        dense_all = self.index.dense.search(queries, pool) if mode != "bm25" else [[] for _ in questions]
        lexical_all = self.index.lexical.search(queries, pool) if mode != "dense" else [[] for _ in questions]
        results = []
        for question, vector, dense, lexical in zip(questions, vectors, dense_all, lexical_all):
            ranked = self._rank(question, vector, dense, lexical, mode)
            results.append(self._hits(vector, ranked, top_k))
        return results

    def _rank(self, question: str, vector: np.ndarray, dense: Hits, lexical: Hits, mode: Mode) -> Hits:
        if mode == "dense":
            return dense
        if mode == "bm25":
            return lexical
        if mode == "rrf":
            return reciprocal_rank_fusion(dense, lexical)
        # Exact cosines for every candidate, so a BM25-only candidate is not judged on a made-up dense score.
        rows = list(dict.fromkeys([r for r, _ in dense] + [r for r, _ in lexical]))
        cosines = self.index.vectors[rows] @ vector
        if self.sentence_weight:
            cosines = (1 - self.sentence_weight) * cosines + self.sentence_weight * self._best_sentence_scores(
                rows, vector
            )
        return weighted_fusion(
            question, list(zip(rows, cosines.tolist())), lexical, self.lexical_weight, self.latin_lexical_share
        )

    def _best_sentence_scores(self, rows: list[int], vector: np.ndarray) -> np.ndarray:
        """For each row, the cosine of its sentence closest to the question."""
        offsets = self.index.sentence_offsets
        out = np.empty(len(rows), dtype=np.float32)
        for i, row in enumerate(rows):
            start, end = offsets[row], offsets[row + 1]
            out[i] = float((self.index.sentence_vectors[start:end] @ vector).max()) if end > start else 0.0
        return out

    def _hits(self, vector: np.ndarray, ranked: Hits, top_k: int) -> list[SearchHit]:
        chosen: list[SearchHit] = []
        for row, score in ranked:
            grams = self.index.grams(row)
            if any(
                containment(grams, self.index.grams(h.row)) >= NEAR_COPY
                or containment(self.index.grams(h.row), grams) >= NEAR_COPY
                for h in chosen
            ):
                continue
            highlight, h_score = self.best_sentence(row, vector)
            chosen.append(SearchHit(len(chosen) + 1, row, float(score), self.index.passages[row], highlight, h_score))
            if len(chosen) == top_k:
                break
        return chosen

    def best_sentence(self, row: int, vector: np.ndarray) -> tuple[str, float]:
        """The passage's sentence closest to the question, and its cosine."""
        start, end = self.index.sentence_offsets[row], self.index.sentence_offsets[row + 1]
        text = self.index.passages[row].text
        if end <= start:
            return text, 0.0
        scores = self.index.sentence_vectors[start:end] @ vector
        best = int(np.argmax(scores))
        s, e = self.index.sentence_spans[start + best]
        return text[s:e], float(scores[best])

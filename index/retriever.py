"""Answer questions over a loaded index version with ranked, cited, highlighted passages."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, ParamSpec

import numpy as np

from corpus.models import Passage
from corpus.text import containment
from index.backends import Hits, Queries
from index.backends.dense import set_search_threads
from index.fusion import reciprocal_rank_fusion, weighted_fusion
from index.late_interaction import content_tokens
from index.model import Encoder
from index.params import RankParams
from index.ranker import PoolRanker, set_ranking_threads
from index.version import DENSE, LEXICAL, LoadedIndex

logger = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25", "rrf", "ranked"]
MODES: tuple[Mode, ...] = ("bm25", "dense", "rrf", "hybrid", "ranked")


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
class Answered:
    """One question's ranked passages and whether the corpus answers it (always True outside mode 'ranked')."""

    hits: list[SearchHit]
    answerable: bool = True
    confidence: float | None = None  # P(the first passage answers the question); None without a ranker file


class _BestSentences:
    """Per passage row, its sentence closest to one question: computed once, reused by ranking and highlight."""

    def __init__(self, index: LoadedIndex, vector: np.ndarray) -> None:
        self._index = index
        self._vector = vector
        self._best: dict[int, tuple[int, float]] = {}

    def get(self, row: int) -> tuple[int, float]:
        """(sentence number in the table, cosine) of the row's best sentence; (-1, 0.0) if it has none."""
        if row not in self._best:
            rows = self._index.sentences.rows(row)
            if rows.stop <= rows.start:
                self._best[row] = (-1, 0.0)
            else:
                scores = self._index.sentences.vectors[rows] @ self._vector
                best = int(np.argmax(scores))
                self._best[row] = (rows.start + best, float(scores[best]))
        return self._best[row]

    def highlight(self, row: int) -> tuple[str, float]:
        """The row's best sentence text and its cosine (the whole passage when it has no sentences)."""
        sentence, score = self.get(row)
        text = self._index.passages[row].text
        if sentence < 0:
            return text, 0.0
        s, e = self._index.sentences.spans[sentence]
        return text[s:e], score


def set_query_threads(threads: int) -> None:
    """Cap, for this whole process, the threads of a query's work beside the encoder's: FAISS's searches (OpenMP)
    and the ranking stage's products (BLAS). 0 leaves both libraries as they are. What a serving process applies
    from ``RAGQA_SEARCH_THREADS``, and the in-process benchmarks with it.
    """
    set_search_threads(threads)
    set_ranking_threads(threads)


@contextmanager
def _timed(timings: dict[str, float] | None, stage: str) -> Iterator[None]:
    """Add the seconds the block takes to ``timings[stage]`` (nothing when there is no dict)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - started


P = ParamSpec("P")


def _hits_only(ask: Callable[P, list[Answered]]) -> Callable[P, list[list[SearchHit]]]:
    """``ask`` (``HybridRetriever.ask_many``) keeping only each question's ranked passages."""

    def search_many(*args: P.args, **kwargs: P.kwargs) -> list[list[SearchHit]]:
        """Ranked passages for a batch of questions: :meth:`ask_many`'s arguments, its hits only."""
        return [a.hits for a in ask(*args, **kwargs)]

    return search_many


class HybridRetriever:
    """BM25 + FAISS over one loaded index version, fused per question."""

    def __init__(
        self,
        index: LoadedIndex,
        encoder: Encoder,
        params: RankParams | None = None,
        ranker: PoolRanker | None = None,
    ) -> None:
        self.index = index
        self.encoder = encoder
        self.params = params or RankParams()
        self.ranker = ranker
        if ranker is not None:  # the abstention features read the encoder's vocabulary (unknown names)
            ranker.use_vocabulary_of(encoder)

    def encode(self, questions: list[str]) -> np.ndarray:
        """Question vectors (one encoder call for the batch)."""
        return self.encoder.encode_queries(questions)

    def encode_with_tokens(self, questions: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Question vectors and each question's content-token vectors (one encoder call; what mode 'ranked' reads)."""
        encoding = self.encoder.encode_tokens(questions, "query")
        return encoding.vectors, content_tokens(encoding)

    @property
    def default_mode(self) -> Mode:
        """'ranked' when a ranker file is loaded (it beat 'hybrid' on dev by CV), else 'hybrid'."""
        return "ranked" if self.ranker is not None else "hybrid"

    def search(
        self, question: str, top_k: int = 5, mode: Mode | None = None, allowed_rows: np.ndarray | None = None
    ) -> list[SearchHit]:
        """Ranked passages for one question (only from ``allowed_rows``, a bool mask over rows, if given)."""
        return self.search_many([question], top_k, mode, allowed_rows=[allowed_rows])[0]

    def ask_many(
        self,
        questions: list[str],
        top_k: int | list[int] = 5,
        mode: Mode | None = None,
        vectors: np.ndarray | None = None,
        allowed_rows: Sequence[np.ndarray | None] | None = None,
        timings: dict[str, float] | None = None,
        tokens: Sequence[np.ndarray] | None = None,
    ) -> list[Answered]:
        """Ranked passages for a batch of questions, ``top_k`` for all or one per question, and in mode 'ranked'
        also whether (and how surely) the corpus answers each.

        Pass ``vectors`` if the questions are already encoded, and for mode 'ranked' their ``tokens`` too
        (``encode_with_tokens``): given vectors without tokens, the questions are encoded again for them.
        ``allowed_rows`` (one bool row mask or None per question) restricts a question to those rows inside
        each backend, before its top k are taken.
        Questions with the same candidate pool (which grows with top_k) and mask share one search per backend.
        ``timings``, if given, gets the seconds spent per stage ("encode", "dense", "lexical", "rank") added.
        """
        mode = mode or self.default_mode
        if mode == "ranked" and self.ranker is None:
            raise ValueError("mode 'ranked' needs a ranker file (index/ranker.json): train one or use 'hybrid'")
        top_ks = [top_k] * len(questions) if isinstance(top_k, int) else list(top_k)
        if len(top_ks) != len(questions):
            raise ValueError(f"{len(top_ks)} top_k values for {len(questions)} questions: give one per question")
        masks = list(allowed_rows) if allowed_rows is not None else [None] * len(questions)
        if len(masks) != len(questions):
            raise ValueError(f"{len(masks)} row masks for {len(questions)} questions: give one (or None) per question")
        if mode == "ranked" and tokens is None:
            with _timed(timings, "encode"):
                encoded, tokens = self.encode_with_tokens(questions)
            vectors = encoded if vectors is None else vectors
        elif vectors is None:
            with _timed(timings, "encode"):
                vectors = self.encode(questions)
        if tokens is not None and len(tokens) != len(questions):
            raise ValueError(f"{len(tokens)} token matrices for {len(questions)} questions: give one per question")
        results: list[Answered] = [Answered([]) for _ in questions]
        groups: dict[tuple[int, bytes | None], list[int]] = {}
        for i, (k, mask) in enumerate(zip(top_ks, masks)):
            key = (self.params.pool(k), None if mask is None else np.packbits(np.asarray(mask, dtype=bool)).tobytes())
            groups.setdefault(key, []).append(i)
        for (pool, _), rows in sorted(groups.items(), key=lambda item: item[0][0]):
            mask = masks[rows[0]]
            if mask is not None and not np.any(mask):
                continue  # nothing may match: no search at all
            queries = Queries([questions[i] for i in rows], vectors[rows])
            no_hits: list[Hits] = [[] for _ in rows]
            with _timed(timings, "dense"):
                dense_all = self.index.backends[DENSE].search(queries, pool, mask) if mode != "bm25" else no_hits
            with _timed(timings, "lexical"):
                lexical_all = self.index.backends[LEXICAL].search(queries, pool, mask) if mode != "dense" else no_hits
            with _timed(timings, "rank"):
                for i, dense, lexical in zip(rows, dense_all, lexical_all):
                    best = _BestSentences(self.index, vectors[i])
                    if mode == "ranked":
                        assert tokens is not None  # encoded above
                        results[i] = self._ranked(questions[i], vectors[i], tokens[i], dense, lexical, top_ks[i], best)
                        continue
                    ranked = self._rank(questions[i], vectors[i], dense, lexical, mode, best)
                    results[i] = Answered(self._hits(ranked, top_ks[i], best))
        return results

    # The same arguments as ask_many, one definition: for callers that want only the ranked passages.
    search_many = _hits_only(ask_many)

    def _ranked(
        self,
        question: str,
        vector: np.ndarray,
        tokens: np.ndarray,
        dense: Hits,
        lexical: Hits,
        top_k: int,
        best: _BestSentences,
    ) -> Answered:
        assert self.ranker is not None
        rows = np.fromiter(dict.fromkeys([r for r, _ in dense] + [r for r, _ in lexical]), dtype=np.int64)
        pool = self.ranker.rank(question, vector, tokens, rows)
        return Answered(self._hits(pool.ranked, top_k, best), pool.answer, pool.confidence)

    def _rank(
        self, question: str, vector: np.ndarray, dense: Hits, lexical: Hits, mode: Mode, best: _BestSentences
    ) -> Hits:
        if mode == "dense":
            return dense
        if mode == "bm25":
            return lexical
        p = self.params
        if mode == "rrf":
            return reciprocal_rank_fusion(dense, lexical, k=p.rrf_k)
        # Exact cosines for every candidate, so a BM25-only candidate is not judged on a made-up dense score.
        rows = list(dict.fromkeys([r for r, _ in dense] + [r for r, _ in lexical]))
        cosines = self.index.vectors[rows] @ vector
        if p.sentence_weight:
            sentence = np.asarray([best.get(r)[1] for r in rows], dtype=np.float32)
            cosines = (1 - p.sentence_weight) * cosines + p.sentence_weight * sentence
        return weighted_fusion(
            question,
            list(zip(rows, cosines.tolist())),
            lexical,
            p.lexical_weight,
            p.latin_lexical_share,
            p.fusion_confidence_floor,
        )

    def _hits(self, ranked: Hits, top_k: int, best: _BestSentences) -> list[SearchHit]:
        chosen: list[SearchHit] = []
        near_copy = self.params.near_copy
        for row, score in ranked:
            grams = self.index.grams(row)
            if any(
                containment(grams, self.index.grams(h.row)) >= near_copy
                or containment(self.index.grams(h.row), grams) >= near_copy
                for h in chosen
            ):
                continue
            highlight, h_score = best.highlight(row)
            chosen.append(SearchHit(len(chosen) + 1, row, float(score), self.index.passages[row], highlight, h_score))
            if len(chosen) == top_k:
                break
        return chosen

"""The learned ranking stage and the answer-or-abstain models: linear models applied with numpy.

The parameters come from ``index/ranker.json``, written by ``python -m eval.train_ranker`` (training
needs scikit-learn and the reference questions, so it lives in eval/); serving is a dot product.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.backends import Hits
from index.features import (
    ABSTENTION_FEATURES,
    FEATURES,
    CharBigramBM25,
    GlossBridge,
    QuestionSignals,
    abstention_features,
    best_two_sentences,
    latin_terms,
    passage_terms,
    pool_features,
)
from index.fusion import japanese_share
from index.late_interaction import maxsim
from index.lexicon import build_lexicon, translate
from index.tokenize import japanese_tokenizer
from index.version import LEXICAL, LoadedIndex

logger = logging.getLogger(__name__)

RANKER_PATH = Path(__file__).resolve().parent / "ranker.json"
RANKER_FORMAT = 2  # 2: the confidence reported when abstaining
# The confidence model reads the absolute features plus the ranker's top logit and its lead over the second.
CONFIDENCE_FEATURES: tuple[str, ...] = (*ABSTENTION_FEATURES, "top_logit", "logit_gap")


class RankerFileError(ValueError):
    """index/ranker.json is missing, unreadable or does not fit the features this code computes."""


@dataclass(frozen=True)
class LinearModel:
    """A standardised linear model: sigmoid(((x - mean) / scale) · coef + intercept)."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        """The linear score of each row of ``x`` (columns in ``features`` order)."""
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def probability(self, x: np.ndarray) -> np.ndarray:
        """The model's probability for each row of ``x``."""
        return 1.0 / (1.0 + np.exp(-self.logit(x)))

    @classmethod
    def from_dict(cls, data: dict[str, Any], expected: tuple[str, ...], what: str) -> LinearModel:
        """Read one model's block of the ranker file, checking its features are the ones computed here."""
        features = tuple(data["features"])
        if features != expected:
            raise RankerFileError(
                f"the {what} in the ranker file uses features {list(features)}, this code computes "
                f"{list(expected)}: retrain with `python -m eval.train_ranker`"
            )
        arrays = [np.asarray(data[k], dtype=np.float32) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(features),) for a in arrays):
            raise RankerFileError(f"the {what} in the ranker file has arrays of the wrong length: retrain it")
        return cls(features, arrays[0], arrays[1], arrays[2], float(data["intercept"]))


@dataclass(frozen=True)
class RankerModels:
    """The pool ranker, the answerability model (+ threshold) and the rank-1 confidence model."""

    ranker: LinearModel
    answerable: LinearModel
    answer_threshold: float  # answer only when P(answerable) is at least this
    confidence: LinearModel
    confidence_when_abstaining: float  # dev: how often rank 1 was right where the service abstained
    encoder: str  # the encoder variant the models were trained with
    info: dict[str, Any]


def load_ranker(path: Path | None = None) -> RankerModels:
    """The models in ``path`` (default: the checked-in ``index/ranker.json``); RankerFileError if unusable."""
    path = path or RANKER_PATH
    if not path.is_file():
        raise RankerFileError(
            f"no ranker file at {path}: train one with `python -m eval.train_ranker`, or search with mode 'hybrid'"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != RANKER_FORMAT:
            raise RankerFileError(
                f"ranker file {path} has format {data.get('format')!r}, this code reads {RANKER_FORMAT}: "
                "retrain with `python -m eval.train_ranker`"
            )
        return RankerModels(
            ranker=LinearModel.from_dict(data["ranker"], FEATURES, "ranker"),
            answerable=LinearModel.from_dict(data["answerable"], ABSTENTION_FEATURES, "answerability model"),
            answer_threshold=float(data["answerable"]["threshold"]),
            confidence=LinearModel.from_dict(data["confidence"], CONFIDENCE_FEATURES, "confidence model"),
            confidence_when_abstaining=float(data["confidence"]["when_abstaining"]),
            encoder=str(data.get("encoder", "")),
            info={k: data[k] for k in ("command", "data_sha256", "cv", "trained_at") if k in data},
        )
    except RankerFileError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise RankerFileError(
            f"ranker file {path} is corrupt ({type(exc).__name__}: {exc}): "
            "restore it from git or retrain with `python -m eval.train_ranker`"
        ) from None


@dataclass
class RankedPool:
    """One question's pool ranked by the learned model, with what the answer decision needs."""

    ranked: Hits  # (row, ranker logit), best first
    answerable: float  # P(the corpus answers the question), from absolute similarity only
    confidence: float  # P(the first passage answers it); when not answering, the dev rate for abstentions
    answer: bool  # answerable >= the model's threshold


class PoolRanker:
    """Computes features over a question's candidate pool and applies the ranker file's models."""

    def __init__(self, index: LoadedIndex, models: RankerModels | None) -> None:
        """``models`` may be None to compute features only (training)."""
        self.index = index
        self.models = models
        texts = [p.text for p in index.passages]
        self.lexical = _scoring_bm25(index)
        self.tokenize = japanese_tokenizer("lemma", drop_stopwords=True)
        self.char_bm25 = CharBigramBM25(texts)
        self.bridge = GlossBridge(texts)
        self.terms = passage_terms(
            texts, self.tokenize, [a.title for a in index.articles], [p.paragraph for p in index.passages]
        )
        # A version built before lexicons were stored gets one now (JMdict is read once per process).
        self.lexicon = index.lexicon if index.lexicon is not None else build_lexicon(texts)
        self.common_word: Callable[[str], bool] | None = None  # set by use_vocabulary_of

    def use_vocabulary_of(self, encoder: object) -> None:
        """Tell names from common words by the encoder's subword vocabulary (``whole_words``), if it exposes one."""
        self.common_word = whole_words(encoder)

    def signals(self, question: str, vector: np.ndarray) -> QuestionSignals:
        """Corpus-wide lexical scores and term sets of one question."""
        bm25 = self.lexical.scores(question)  # type: ignore[attr-defined]
        glossed = self.bridge.translate(question)
        bridge = self.lexical.scores(" ".join(glossed)) if glossed else np.zeros_like(bm25)  # type: ignore[attr-defined]
        # Only a question with no Japanese at all needs its words turned into the corpus's Japanese ones.
        phrases = translate(self.lexicon, question) if japanese_share(question) == 0 else []
        bridged = [form for forms in phrases for form in forms]
        lemmas = frozenset(self.tokenize(question))
        return QuestionSignals(
            text=question,
            vector=vector,
            bm25=bm25,
            bm25_bridge=bridge,
            char_bm25=self.char_bm25.scores(question),
            lemmas=lemmas,
            latin=frozenset(latin_terms(question)),
            unknown_names=self.terms.unknown_names(question, self.common_word),
            known_share=self.terms.known_share(lemmas),
            bm25_jmdict=self.lexical.scores(" ".join(bridged)) if bridged else None,  # type: ignore[attr-defined]
            jmdict_phrases=phrases,
        )

    def sentence_scores(self, vector: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best and second-best sentence cosine of each of ``rows``."""
        best, second = best_two_sentences(self.index.sentences.offsets, self.index.sentences.vectors @ vector)
        return best[rows], second[rows]

    def features(
        self, question: str, vector: np.ndarray, tokens: np.ndarray, rows: np.ndarray
    ) -> tuple[QuestionSignals, np.ndarray]:
        """The question's signals and the feature matrix of ``rows``.

        ``tokens``: the question's content-token vectors (``late_interaction.content_tokens``).
        """
        signals = self.signals(question, vector)
        late = maxsim(self.index.tokens, rows, tokens)
        x = pool_features(signals, rows, self.index.vectors, self.sentence_scores(vector, rows), self.terms, late)
        return signals, x

    def rank(self, question: str, vector: np.ndarray, tokens: np.ndarray, rows: np.ndarray) -> RankedPool:
        """The pool ordered by the ranker, and whether (and how surely) to answer."""
        signals, x = self.features(question, vector, tokens, rows)
        return self.decide(signals, rows, x)

    def decide(self, signals: QuestionSignals, rows: np.ndarray, x: np.ndarray) -> RankedPool:
        """Apply the three models to an already computed feature matrix."""
        m = self.models
        if m is None:
            raise RuntimeError("this PoolRanker computes features only: give it the models of a ranker file")
        logits = m.ranker.logit(x) if len(rows) else np.zeros(0, dtype=np.float32)
        order = np.argsort(-logits, kind="stable")
        ranked = [(int(rows[i]), float(logits[i])) for i in order]
        absolute = abstention_features(signals, x)
        answerable = float(m.answerable.probability(absolute[None, :])[0])
        top = float(logits[order[0]]) if len(order) else 0.0
        gap = top - float(logits[order[1]]) if len(order) > 1 else 0.0
        answer = answerable >= m.answer_threshold
        features = np.append(absolute, [top, gap])[None, :].astype(np.float32)
        confidence = float(m.confidence.probability(features)[0]) if answer else m.confidence_when_abstaining
        return RankedPool(ranked, answerable, confidence, answer)


def set_ranking_threads(threads: int) -> None:
    """Cap the BLAS threads of numpy's products for this whole process (0: the library's default, every core).

    The ranking stage's products (MaxSim over a pool's token spans, sentence cosines) are small. With BLAS's own
    threads they spin against the encoder's: a served query took twice as long (bench/RESULTS.md §18).
    """
    if threads > 0:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")  # OpenBLAS's limit is process-wide, for every thread


def open_ranker(index: LoadedIndex, path: Path | None = None) -> PoolRanker | None:
    """The ranking stage for ``index``, or None (logged: search falls back to 'hybrid') if the file is unusable."""
    try:
        return PoolRanker(index, load_ranker(path))
    except RankerFileError as exc:
        logger.error("ranking stage off, answers use the hybrid ranking without abstention: %s", exc)
        return None


def whole_words(encoder: object) -> Callable[[str], bool] | None:
    """Whether the encoder's tokenizer holds a word (as written) in one piece; None if it exposes no tokenizer.

    A multilingual vocabulary keeps common words whole (British, States, Samsung) and splits rare names into
    pieces (Cerebras → Cer·e·bras, CoreWeave → Core·We·ave): a rare name the corpus never mentions is what marks
    a question about something else.
    """
    tokenizer = getattr(encoder, "tokenizer", None)  # the ONNX encoder: a LeanTokenizer
    if tokenizer is not None and hasattr(tokenizer, "piece_count"):
        return lambda word: tokenizer.piece_count(word) == 1
    hf_tokenizer = getattr(getattr(encoder, "model", None), "tokenizer", None)  # sentence-transformers
    if hf_tokenizer is not None and hasattr(hf_tokenizer, "tokenize"):
        return lambda word: len(hf_tokenizer.tokenize(word)) == 1
    logger.warning("encoder %r exposes no tokenizer: every unknown capitalised word counts as a name", encoder)
    return None


def _scoring_bm25(index: LoadedIndex) -> Any:
    """The index's BM25 backend if it scores every row (bm25s), else an in-process one over the same documents.

    The features need a score for every pool row; a remote backend (Milvus) returns only its top hits.
    """
    lexical = index.backends[LEXICAL]
    if hasattr(lexical, "scores"):
        return lexical
    from index.backends import BM25Backend, Documents
    from index.documents import document_text

    local = BM25Backend("lemma")
    local.build(Documents([document_text(p, index.manifest.document_format) for p in index.passages]))  # type: ignore[arg-type]
    return local

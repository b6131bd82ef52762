"""Mined hard negatives for adapter training: the same-article paragraphs the model itself confuses with the answer.

Before training, every training question (``query: ``) and every paragraph an example can use (``passage: ``)
is embedded once with the model about to be trained. For each question the negatives kept are the ``k``
paragraphs of its article that answer none of its gold substrings (``Example.negatives``) and lie closest to
the question, minus near-copies of the answering paragraph: the articles repeat chunks with rewording that the
corpus's deduplication (character 5-gram containment ≥ 0.9) lets through, and such a copy is a false negative.

Near-copies are found by the corpus's own measure (``corpus.text.containment`` of character 5-grams), not by
vector cosine: with the base model, same-article paragraphs have a median cosine of 0.94 (the shared title
line), and unrelated paragraphs reach 0.989 while reworded copies sit at 0.97-0.99, so no cosine separates them.
Containment does: its median over the 3,622 same-article (positive, negative) pairs of the training data is
0.02 and its 99th percentile 0.24, and the 45 pairs at ≥ 0.2 are reworded or partly repeated passages.

The selection (``select_negatives``, ``assign_mined_negatives``) is pure numpy over unit vectors and texts;
only ``mine_negatives`` runs the model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from corpus.text import char_ngrams, containment
from index.model.materialise import PASSAGE_PROMPT, QUERY_PROMPT
from index.model.training_data import Example

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

#: A candidate sharing at least this share of its own or of the answering paragraph's character 5-grams with
#: the other is taken for a reworded copy of it and never used as a negative (the module docstring says why).
NEAR_COPY_CONTAINMENT = 0.2


@lru_cache(maxsize=4096)
def _body_grams(document: str) -> frozenset[str]:
    # Training documents are "title / section\ntext" (training_data.DOCUMENT_FORMAT): the title line is shared
    # by the whole article, so only the paragraph text is compared.
    body = document.partition("\n")[2] or document
    return frozenset(char_ngrams(body))


def near_copies(positive: str, candidates: list[str], threshold: float = NEAR_COPY_CONTAINMENT) -> np.ndarray:
    """Boolean mask: which candidate documents repeat the positive's paragraph text (5-gram containment either way)."""
    ours = _body_grams(positive)
    mask = np.zeros(len(candidates), dtype=bool)
    for i, candidate in enumerate(candidates):
        theirs = _body_grams(candidate)
        mask[i] = max(containment(theirs, ours), containment(ours, theirs)) >= threshold
    return mask


def select_negatives(
    query: np.ndarray, candidates: np.ndarray, k: int, excluded: np.ndarray | None = None
) -> list[int]:
    """The (at most ``k``) rows of ``candidates`` (unit vectors) nearest ``query``, best first, minus ``excluded``."""
    if k <= 0 or len(candidates) == 0:
        return []
    to_query = candidates @ query
    allowed = np.arange(len(candidates)) if excluded is None else np.flatnonzero(~np.asarray(excluded, dtype=bool))
    # A stable sort: equal scores keep the article's order, so a run is reproducible.
    order = allowed[np.argsort(-to_query[allowed], kind="stable")]
    return [int(i) for i in order[:k]]


def assign_mined_negatives(
    examples: list[Example],
    question_vectors: Mapping[str, np.ndarray],
    passage_vectors: Mapping[str, np.ndarray],
    k: int,
    near_copy: float = NEAR_COPY_CONTAINMENT,
) -> list[Example]:
    """Copies of ``examples`` whose ``mined_negatives`` are their ``k`` closest non-answering, non-copy paragraphs."""
    mined = []
    copies = 0
    for example in examples:
        # Only the example's own negatives are candidates: they already exclude every paragraph holding
        # one of the question's gold substrings; the positive's text is excluded in case it recurs.
        candidates = [n for n in dict.fromkeys(example.negatives) if n != example.positive]
        chosen: list[str] = []
        if candidates:
            excluded = near_copies(example.positive, candidates, near_copy)
            copies += int(excluded.sum())
            rows = select_negatives(
                question_vectors[example.question], np.stack([passage_vectors[n] for n in candidates]), k, excluded
            )
            chosen = [candidates[i] for i in rows]
        mined.append(replace(example, mined_negatives=chosen))
    logger.info(
        "mined %d negatives for %d questions (%d question-paragraph pairs skipped as near-copies, containment ≥ %.2f)",
        sum(len(e.mined_negatives) for e in mined),
        len(mined),
        copies,
        near_copy,
    )
    return mined


def encode_texts(model: SentenceTransformer, texts: list[str], prompt: str, batch_size: int = 32) -> np.ndarray:
    """Unit vectors of ``texts`` with ``prompt`` prepended (no gradients: sentence-transformers' encode)."""
    vectors = model.encode(
        [prompt + t for t in texts],
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)


def mine_negatives(
    model: SentenceTransformer, examples: list[Example], k: int, near_copy: float = NEAR_COPY_CONTAINMENT
) -> list[Example]:
    """Embed the questions and paragraphs once with ``model`` and give each example its ``k`` mined negatives."""
    questions = list(dict.fromkeys(e.question for e in examples))
    passages = list(dict.fromkeys(t for e in examples for t in (e.positive, *e.negatives)))
    logger.info("mining negatives: embedding %d questions and %d paragraphs", len(questions), len(passages))
    question_vectors = dict(zip(questions, encode_texts(model, questions, QUERY_PROMPT), strict=True))
    passage_vectors = dict(zip(passages, encode_texts(model, passages, PASSAGE_PROMPT), strict=True))
    return assign_mined_negatives(examples, question_vectors, passage_vectors, k, near_copy)

"""The one place the evaluation calls the retriever: rankings per configuration, and what was searched.

When the retriever's interface changes, only :func:`retrieve` changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corpus.models import Passage

if TYPE_CHECKING:
    from index.retriever import HybridRetriever

__all__ = ["CONFIGURATIONS", "DEFAULT_CONFIGURATION", "Ranking", "Retrieved", "retrieve"]

CONFIGURATIONS: tuple[str, ...] = ("bm25", "dense", "rrf", "hybrid", "ranked")
DEFAULT_CONFIGURATION = "ranked"


@dataclass
class Ranking:
    """What one configuration returned for one question."""

    passage_ids: list[str]
    # None while the retriever does not say; set once results carry `answer` (None = abstained) / `confidence`.
    abstained: bool | None = None
    confidence: float | None = None


@dataclass
class Retrieved:
    """Rankings per configuration (one per question, in question order) and the index they came from."""

    passages: list[Passage]
    rankings: dict[str, list[Ranking]]
    model: str
    index_version: str
    parameters: dict[str, Any] = field(default_factory=dict)


def retrieve(retriever: HybridRetriever, questions: list[str], configurations: list[str], depth: int) -> Retrieved:
    """Rank passages for every question under each configuration (questions are encoded once)."""
    unknown = sorted(set(configurations) - set(CONFIGURATIONS))
    if unknown:
        raise ValueError(f"unknown configuration(s) {unknown}: choose from {', '.join(CONFIGURATIONS)}")
    # The ranking stage also reads each question's token vectors: from the same encoder pass when it is scored.
    tokens = None
    if "ranked" in configurations:
        vectors, tokens = retriever.encode_with_tokens(questions)
    else:
        vectors = retriever.encode(questions)
    rankings: dict[str, list[Ranking]] = {}
    for configuration in configurations:
        # Only the ranking stage decides whether to answer; the other configurations rank and nothing more.
        if configuration == "ranked":
            results = retriever.ask_many(questions, depth, "ranked", vectors=vectors, tokens=tokens)
        else:
            results = retriever.search_many(questions, depth, configuration, vectors=vectors)  # type: ignore[arg-type]
        rankings[configuration] = [_ranking(result) for result in results]
    index = retriever.index
    parameters = {
        **retriever.params.as_dict(),
        "document_format": index.manifest.document_format,
        "variant": index.manifest.variant,
    }
    return Retrieved(index.passages, rankings, index.manifest.model, index.version, parameters)


def _ranking(result: Any) -> Ranking:
    """One question's result as a Ranking; a result object with `answer`/`confidence` also gives abstention."""
    hits = getattr(result, "hits", result)
    ranking = Ranking([hit.passage.id for hit in hits])
    if hasattr(result, "answer"):
        ranking.abstained = result.answer is None
    elif getattr(result, "confidence", None) is not None:  # a ranked result: it says whether it answers
        ranking.abstained = not result.answerable
    if getattr(result, "confidence", None) is not None:
        ranking.confidence = float(result.confidence)
    return ranking

"""Every number that shapes ranking, in one frozen object, read from ``index/rank_params.json`` if present.

Chosen on eval/questions.jsonl (see eval/expected.json for the ablation). Knobs that trade speed for
search quality but do not change the ranking rule (FAISS HNSW/IVF settings, corpus dedup ratios) live as
named constants in their own modules.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

RANK_PARAMS_PATH = Path(__file__).resolve().parent / "rank_params.json"


@dataclass(frozen=True)
class RankParams:
    """The ranking numbers of the retriever, the fusion and the extractive answer."""

    lexical_weight: float = 0.05  # how much BM25 adds to the dense score (Japanese questions)
    sentence_weight: float = 0.4  # the best sentence's cosine against the passage's
    latin_lexical_share: float = 0.0  # BM25's language factor for an English question
    candidates: int = 50  # candidate pool per backend, at least ...
    candidates_per_hit: int = 4  # ... this many per requested hit
    fusion_confidence_floor: float = 0.3  # BM25 confidence never counts for less than this
    rrf_k: int = 60  # reciprocal-rank fusion constant (the rrf ablation mode)
    near_copy: float = 0.6  # a hit this much inside one already listed is a near-copy and is skipped
    answer_margin: float = 0.04  # a later sentence joins the answer if this close to the best one's cosine
    answer_near_copy: float = 0.5  # an answer sentence this much inside a chosen one is left out

    def pool(self, top_k: int) -> int:
        """How many candidates each backend returns for a question that asks for ``top_k`` hits."""
        return max(self.candidates, self.candidates_per_hit * top_k)

    def as_dict(self) -> dict[str, float | int]:
        """The parameters as a plain dict (what eval reports record)."""
        return asdict(self)


def load_rank_params(path: Path | None = None) -> RankParams:
    """The parameters in ``path`` (default: the checked-in ``index/rank_params.json``), else the defaults."""
    path = path or RANK_PARAMS_PATH
    if not path.is_file():
        return RankParams()
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"ranking parameters in {path} are not valid JSON ({exc}): fix or delete the file") from None
    known = {f.name for f in fields(RankParams)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"unknown ranking parameters in {path}: {', '.join(unknown)}; known are {', '.join(sorted(known))}"
        )
    return RankParams(**values)

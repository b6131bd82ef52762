"""Query-aware fusion of lexical and dense results.

Japanese BM25 cannot match English words, and on paraphrased questions its ranking is noisier than the
dense one; plain reciprocal-rank fusion lets it drag good dense rankings down. So the lexical side only
adds to the dense score, weighted by how Japanese the question is and by how much BM25's best match
stands out from the rest.
"""

from __future__ import annotations

import unicodedata

from index.backends import Hits
from index.params import RankParams

_DEFAULTS = RankParams()


def japanese_share(text: str) -> float:
    """Share of the question's letters that are kana or kanji (0.0 for English, ~1.0 for Japanese)."""
    japanese = latin = 0
    for char in text:
        if char.isspace() or unicodedata.category(char)[0] in "PSZ":
            continue
        name = unicodedata.name(char, "")
        if name.startswith(("CJK UNIFIED", "HIRAGANA", "KATAKANA")):
            japanese += 1
        elif char.isalnum():
            latin += 1
    total = japanese + latin
    return japanese / total if total else 0.0


def bm25_confidence(lexical: Hits) -> float:
    """How clearly BM25's top hit beats the pack: 1 - mean(top 2..5) / top, in [0, 1]."""
    if not lexical or lexical[0][1] <= 0:
        return 0.0
    top = lexical[0][1]
    rest = [s for _, s in lexical[1:5]]
    return 1.0 - (sum(rest) / len(rest)) / top if rest else 1.0


def weighted_fusion(
    question: str,
    dense: Hits,
    lexical: Hits,
    weight: float,
    latin_share: float = 0.0,
    confidence_floor: float = _DEFAULTS.fusion_confidence_floor,
) -> Hits:
    """Dense cosine plus ``weight`` × language factor × BM25 confidence × normalised BM25 score.

    The language factor is 1 for a Japanese question and ``latin_share`` for an English one.
    """
    dense_scores = dict(dense)
    if not lexical:
        return sorted(dense, key=lambda h: -h[1])
    top = lexical[0][1]
    share = japanese_share(question)
    language = share + (1.0 - share) * latin_share
    gain = weight * language * max(confidence_floor, bm25_confidence(lexical))
    floor = min(dense_scores.values(), default=0.0)
    fused = {row: score for row, score in dense}
    for row, score in lexical:
        fused[row] = fused.get(row, floor) + gain * score / top
    return sorted(fused.items(), key=lambda h: -h[1])


def reciprocal_rank_fusion(*rankings: Hits, k: int = _DEFAULTS.rrf_k) -> Hits:
    """Plain RRF (kept for the ablation in `ragqa eval`)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (row, _) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda h: -h[1])

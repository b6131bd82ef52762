"""Search hits as cited passages, and the short extractive answer built from them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from corpus.models import Source
from corpus.text import char_ngrams, containment
from index.params import RankParams
from index.retriever import SearchHit


class CitedPassage(BaseModel):
    """One ranked passage as returned by `ragqa ask --json` and the HTTP API."""

    rank: int = Field(description="1-based rank; the answer's [n] markers refer to it.")
    score: float
    id: str
    article_id: str
    title: str
    date: str
    section: str | None
    paragraph: int
    text: str
    highlight: str = Field(description="The sentence of the passage that best answers the question.")
    sources: list[Source]


def cite(hit: SearchHit) -> CitedPassage:
    """A search hit in the public schema."""
    p = hit.passage
    return CitedPassage(
        rank=hit.rank,
        score=round(hit.score, 6),
        id=p.id,
        article_id=p.article_id,
        title=p.title,
        date=p.date,
        section=p.section,
        paragraph=p.paragraph,
        text=p.text,
        highlight=hit.highlight,
        sources=p.sources,
    )


def compose_answer(hits: list[SearchHit], params: RankParams | None = None, max_sentences: int = 3) -> str:
    """One to three answering sentences from the top passages, each followed by its citation [rank]."""
    params = params or RankParams()
    if not hits:
        return ""
    best = hits[0].highlight_score
    chosen = [hits[0]]
    for hit in hits[1:3]:
        if len(chosen) == max_sentences:
            break
        if hit.highlight_score < best - params.answer_margin:
            continue
        grams = char_ngrams(hit.highlight)
        if any(containment(grams, char_ngrams(c.highlight)) >= params.answer_near_copy for c in chosen):
            continue
        chosen.append(hit)
    return " ".join(f"{h.highlight} [{h.rank}]" for h in chosen)

"""The corpus stage as one call: a folder of posts → articles, passages, rejections and statistics."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from corpus.clean import CleanStats, Paragraph, clean_body
from corpus.dedupe import MIN_PASSAGE_CHARS, NEAR_DUPLICATE, dedupe_paragraphs, split_long
from corpus.models import Article, Passage, Source
from corpus.parse import PostError, RawPost, post_paths, read_post
from corpus.text import char_ngrams, containment, passage_id

logger = logging.getLogger(__name__)


class ArticleStats(BaseModel):
    """One row of ``ragqa passages --stats``."""

    article_id: str
    raw_lines: int
    passages: int
    exact: int
    truncated: int
    near_duplicate: int
    merged_lines_split: int
    continuations_joined: int
    markers: int
    headings: int
    stray: int


@dataclass
class Corpus:
    """Everything the corpus stage produces."""

    articles: list[Article]
    passages: list[Passage]
    rejected: list[str] = field(default_factory=list)
    stats: list[ArticleStats] = field(default_factory=list)

    def article(self, article_id: str) -> Article | None:
        """The article with this id, if any."""
        return next((a for a in self.articles if a.id == article_id), None)


def build_passages(posts: list[RawPost]) -> tuple[list[Passage], list[ArticleStats]]:
    """Clean, deduplicate and cap the paragraphs of parsed posts into passages."""
    paragraphs: list[Paragraph] = []
    clean_stats: dict[str, CleanStats] = {}
    for post in sorted(posts, key=lambda p: p.article.id):
        found, stats = clean_body(post.article.id, post.article.title, post.body)
        paragraphs.extend(found)
        clean_stats[post.article.id] = stats
    kept, report = dedupe_paragraphs(paragraphs)

    articles = {p.article.id: p.article for p in posts}
    passages: list[Passage] = []
    ordinal: dict[str, int] = {}
    for survivor in kept:
        para = survivor.paragraph
        article = articles[para.article_id]
        sources = [Source(article_id=a, line=n) for a, n in sorted(survivor.sources)]
        for piece in split_long(para.text):
            if len(piece) < MIN_PASSAGE_CHARS:
                continue
            ordinal[article.id] = ordinal.get(article.id, 0) + 1
            passages.append(
                Passage(
                    id=passage_id(piece),
                    article_id=article.id,
                    title=article.title,
                    date=article.date,
                    section=para.section,
                    paragraph=ordinal[article.id],
                    text=piece,
                    sources=sources,
                )
            )
    passages = _drop_contained(passages)

    table = []
    for article_id, cs in clean_stats.items():
        table.append(
            ArticleStats(
                article_id=article_id,
                raw_lines=cs.raw_lines,
                passages=sum(1 for p in passages if p.article_id == article_id),
                exact=report.exact[article_id],
                truncated=report.truncated[article_id],
                near_duplicate=report.near_duplicate[article_id],
                merged_lines_split=cs.collapsed_lines,
                continuations_joined=cs.continuations_joined,
                markers=cs.markers,
                headings=cs.headings,
                stray=report.stray[article_id],
            )
        )
    return passages, table


def _drop_contained(passages: list[Passage]) -> list[Passage]:
    """After capping, drop a passage that is a near-duplicate of a longer one (pieces can line up with short copies)."""
    grams = [char_ngrams(p.text) for p in passages]
    keep = []
    for i, passage in enumerate(passages):
        larger = (j for j in range(len(passages)) if (len(passages[j].text), j) > (len(passage.text), i))
        inside = any(containment(grams[i], grams[j]) >= NEAR_DUPLICATE for j in larger)
        if inside:
            logger.debug("passage %s is contained in another after capping; dropped", passage.id)
        else:
            keep.append(passage)
    return keep


def load_corpus(corpus_dir: Path) -> Corpus:
    """Read every post in ``corpus_dir``; bad posts are logged and listed in ``rejected``, not raised."""
    if not corpus_dir.is_dir():
        raise FileNotFoundError(
            f"corpus folder {corpus_dir} does not exist: create it or set RAGQA_CORPUS_DIR to your posts"
        )
    posts: list[RawPost] = []
    rejected: list[str] = []
    for path in post_paths(corpus_dir):
        try:
            posts.append(read_post(path))
        except PostError as exc:
            logger.warning("rejected post: %s", exc)
            rejected.append(str(exc))
    passages, stats = build_passages(posts)
    return Corpus(articles=[p.article for p in posts], passages=passages, rejected=rejected, stats=stats)

"""The corpus stage as one call: a folder of posts → articles, passages, rejections and statistics."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from corpus.clean import CleanStats, Paragraph, clean_body
from corpus.dedupe import MAX_PASSAGE_CHARS, MIN_PASSAGE_CHARS, NEAR_DUPLICATE, dedupe_paragraphs, split_long
from corpus.models import Article, Passage, Source
from corpus.neardup import ContainmentIndex
from corpus.parse import PostError, RawPost, post_paths, read_post
from corpus.text import char_ngrams, passage_id

logger = logging.getLogger(__name__)

# Per post: the shipped posts have at most ~300 lines; these bound the work one post can cause.
MAX_PARAGRAPHS_PER_POST = 2000
MAX_PASSAGES_PER_POST = 2000


class PostTooLargeError(PostError):
    """A post with more paragraphs or passages than one post may have."""


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


def _check_count(article_id: str, count: int, what: str, limit: int) -> None:
    if count > limit:
        raise PostTooLargeError(
            f"{article_id}: has {count:,} {what}, over the limit of {limit:,} per post: split it into several posts"
        )


def build_passages(posts: list[RawPost], rejected: list[str] | None = None) -> tuple[list[Passage], list[ArticleStats]]:
    """Clean, deduplicate and cap the paragraphs of parsed posts into passages.

    A post over the per-post limits raises PostTooLargeError, or, when ``rejected`` is given, is left
    out and its reason appended there.
    """
    paragraphs: list[Paragraph] = []
    clean_stats: dict[str, CleanStats] = {}
    for post in sorted(posts, key=lambda p: p.article.id):
        found, stats = clean_body(post.article.id, post.article.title, post.body)
        try:
            _check_count(post.article.id, len(found), "paragraphs", MAX_PARAGRAPHS_PER_POST)
            # split_long cuts each paragraph into at least ⌈length / cap⌉ passages.
            _check_count(
                post.article.id,
                sum(-(-len(p.text) // MAX_PASSAGE_CHARS) for p in found),
                "passages",
                MAX_PASSAGES_PER_POST,
            )
        except PostTooLargeError as exc:
            if rejected is None:
                raise
            logger.warning("rejected post: %s", exc)
            rejected.append(str(exc))
            continue
        paragraphs.extend(found)
        clean_stats[post.article.id] = stats
    kept, report = dedupe_paragraphs(paragraphs)

    articles = {p.article.id: p.article for p in posts if p.article.id in clean_stats}
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
    index = ContainmentIndex()
    for g in grams:
        index.add(g)
    keep = []
    for i, passage in enumerate(passages):
        inside = any(
            j != i and (len(passages[j].text), j) > (len(passage.text), i)
            for j in index.containing(grams[i], NEAR_DUPLICATE)
        )
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
        except Exception as exc:  # noqa: BLE001 - one unreadable post must not stop the others being indexed
            logger.exception("rejected post %s", path.name)
            rejected.append(f"{path.name}: could not be parsed ({exc.__class__.__name__}): check the file")
    passages, stats = build_passages(posts, rejected)
    kept = {row.article_id for row in stats}
    articles = [p.article for p in posts if p.article.id in kept]
    return Corpus(articles=articles, passages=passages, rejected=rejected, stats=stats)

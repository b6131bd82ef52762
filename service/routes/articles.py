"""The posts and passages in the index; uploading and deleting posts (admin)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status

from corpus.models import Passage
from index.build import BuildSummary
from index.filters import facet_counts
from service.deps import AdminDep, EngineDep, SettingsDep
from service.metrics import Metrics
from service.schemas import ArticleChoice, ArticleDetail, ArticleSummary, Facets, IndexUpdate, error_responses
from service.uploads import OPENAPI_BODY, read_upload, validate_post

router = APIRouter(tags=["articles"])
ARTICLE_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"
_ID_RE = re.compile(ARTICLE_ID)


def update_response(summary: BuildSummary, started: float, article_id: str | None) -> IndexUpdate:
    """An index build's summary as the API reports it."""
    return IndexUpdate(
        article_id=article_id,
        version=summary.version,
        passages_new=summary.new,
        passages_reused=summary.reused,
        passages_removed=summary.removed,
        passages_total=summary.passages,
        took_ms=round((time.perf_counter() - started) * 1000, 1),
        rejected=summary.rejected,
    )


@router.get("/articles", response_model=list[ArticleSummary])
def list_articles(engine: EngineDep) -> list[ArticleSummary]:
    """Every post in the index with its passage count."""
    index = engine.retriever.index
    counts: dict[str, int] = {}
    for passage in index.passages:
        counts[passage.article_id] = counts.get(passage.article_id, 0) + 1
    return [
        ArticleSummary(id=a.id, title=a.title, date=a.date, tags=a.tags, passages=counts.get(a.id, 0))
        for a in index.articles
    ]


@router.get("/facets", response_model=Facets)
def facets(engine: EngineDep) -> Facets:
    """What questions can be narrowed to: the articles (newest first), dates, categories and tags with counts."""
    articles = sorted(engine.retriever.index.articles, key=lambda a: (a.date, a.id), reverse=True)
    dates = [a.date for a in articles]
    return Facets(
        articles=[ArticleChoice(id=a.id, title=a.title, date=a.date) for a in articles],
        first_date=min(dates, default=None),
        last_date=max(dates, default=None),
        categories=facet_counts([a.categories for a in articles]),
        tags=facet_counts([a.tags for a in articles]),
    )


def _count(request: Request, kind: str, succeeded: bool) -> None:
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        counter = metrics.uploads if kind == "upload" else metrics.deletes
        counter.labels("ok" if succeeded else "error").inc()


@router.get("/articles/{article_id}", response_model=ArticleDetail, responses=error_responses(404))
def get_article(article_id: str, engine: EngineDep) -> ArticleDetail:
    """One post's metadata and its passages."""
    index = engine.retriever.index
    article = next((a for a in index.articles if a.id == article_id), None)
    if article is None:
        raise HTTPException(404, f"no article {article_id!r}: GET /articles lists the ids")
    passages = [p for p in index.passages if p.article_id == article_id]
    return ArticleDetail(**article.model_dump(), passage_count=len(passages), passages=passages)


@router.get("/passages/{passage_id}", response_model=Passage, responses=error_responses(404))
def get_passage(passage_id: str, engine: EngineDep) -> Passage:
    """One passage with its citation data."""
    passage = next((p for p in engine.retriever.index.passages if p.id == passage_id), None)
    if passage is None:
        raise HTTPException(404, f"no passage {passage_id!r}: passage ids come from /query results")
    return passage


def _check_id(article_id: str) -> str:
    if not _ID_RE.fullmatch(article_id):
        raise HTTPException(
            422,
            "article id must be 1–100 letters, digits, '_' or '-' (no paths): e.g. 005_my_post",
        )
    return article_id


@router.post(
    "/articles",
    response_model=IndexUpdate,
    status_code=status.HTTP_201_CREATED,
    dependencies=[AdminDep],
    responses=error_responses(400, 401, 403, 409, 413, 415, 422, 503),
    openapi_extra=OPENAPI_BODY,
)
async def upload_article(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    article_id: Annotated[
        str | None, Query(alias="id", description="File stem for the post, e.g. 005_my_post; default: a hash.")
    ] = None,
    replace: Annotated[bool, Query(description="Replace an existing post with this id.")] = False,
) -> IndexUpdate:
    """Upload one post (the raw file: front matter + body) and index it incrementally.

    The post is validated before anything is written; if indexing fails, the corpus is left as it was.
    """
    started = time.perf_counter()
    if article_id is not None:
        _check_id(article_id)
    data = await read_upload(request, settings.max_upload_bytes)
    article_id = _check_id(article_id or hashlib.sha1(data).hexdigest()[:16])
    post = await asyncio.to_thread(validate_post, data, article_id)  # CPU work: keep the event loop free
    try:
        summary = await asyncio.to_thread(engine.add_article, article_id, post, replace)
    except Exception:
        _count(request, "upload", False)
        raise
    _count(request, "upload", True)
    return update_response(summary, started, article_id)


@router.delete(
    "/articles/{article_id}",
    response_model=IndexUpdate,
    dependencies=[AdminDep],
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
async def delete_article(article_id: Annotated[str, Path()], engine: EngineDep, request: Request) -> IndexUpdate:
    """Remove a post and its passages from the corpus and the index."""
    started = time.perf_counter()
    _check_id(article_id)
    try:
        summary = await asyncio.to_thread(engine.delete_article, article_id)
    except Exception:
        _count(request, "delete", False)
        raise
    _count(request, "delete", True)
    return update_response(summary, started, article_id)
